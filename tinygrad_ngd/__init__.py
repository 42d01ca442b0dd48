"""tinygrad_ngd: a readable, exact NumPy/CuPy reference for optimization methods in deep learning.

The public API (see README.md): backend switch, Tensor and grad, functional ops, layers,
FlatParameters, optimizers and curvature tools.
"""

from . import backend, functional
from .backend import get_backend, get_default_dtype, manual_seed, set_backend, set_default_dtype
from .tensor import Function, Tensor, enable_grad, forward_mode, grad, is_grad_enabled, jvp, no_grad

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "grad", "jvp", "forward_mode", "no_grad", "enable_grad", "is_grad_enabled",
           "set_backend", "get_backend", "set_default_dtype", "get_default_dtype", "manual_seed",
           "backend", "functional", "__version__"]


def __getattr__(name):
    # Heavier subpackages load on first use so `import tinygrad_ngd` stays light.
    import importlib
    if name in ("layers", "optimizers", "curvature", "datasets", "verify", "testing", "flat"):
        return importlib.import_module(f".{name}", __name__)
    if name == "FlatParameters":
        from .flat import FlatParameters
        return FlatParameters
    raise AttributeError(f"module 'tinygrad_ngd' has no attribute {name!r}")
