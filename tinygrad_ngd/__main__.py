"""``python -m tinygrad_ngd`` = the ``tinygrad-ngd`` command (see :mod:`tinygrad_ngd.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
