"""``cupy-emulated``: CuPy's API and host/device rules, computed by NumPy on the CPU —
for checking code without a GPU; its speed means nothing.

``tinygrad_ngd.backend`` imports :mod:`.cupy` and :mod:`.cupyx` in place of the real
modules and then takes exactly the code path of the ``cupy`` backend.  The rules
(strict: no implicit host conversion, no NumPy arrays in arithmetic, only names real CuPy
has, every host <-> device copy counted) are in :mod:`._core`; the names in
``manifest.txt``, checked against real CuPy by ``tools/check_cupy_manifest.py``.
"""

from . import cupy, cupyx
from ._core import TRANSFERS

__all__ = ["cupy", "cupyx", "TRANSFERS"]
