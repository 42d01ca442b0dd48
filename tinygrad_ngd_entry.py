"""The ``tinygrad-ngd`` console script's entry point (setup.cfg ``console_scripts``).

It lives outside the package on purpose: the entry point a console script names is imported
*before* anything runs, and naming ``tinygrad_ngd.cli:main`` would import ``tinygrad_ngd``
(NumPy included, about a quarter of a second) with no handler in place, so a Ctrl-C in that
window printed a traceback. Here the handler is installed first and the package is imported
inside it: Ctrl-C at any point of the command ends in the one line ``interrupted`` and exit
status 130, like Ctrl-C later in :func:`tinygrad_ngd.cli.main`.

Code that does ``import tinygrad_ngd`` itself never goes through this module, so there a
Ctrl-C stays an ordinary ``KeyboardInterrupt``.
"""

import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command


def main() -> int:
    try:
        from tinygrad_ngd.cli import main as cli_main  # the package import happens here, handled
        return cli_main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
