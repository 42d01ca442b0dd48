"""Helpers shared by the layer tests (imported as a sibling module: pytest puts tests/ on
sys.path). Layers are compared with PyTorch at TOL, a norm-wise relative error."""

import numpy as np

TOL = 1e-10


def rel_err(a, b):
    """max |a − b| / max |b| (norm-wise, defined where b has zeros)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def torch_state(module):
    """A torch module's state_dict as host NumPy arrays (loads into our layers as is)."""
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
