"""Dense (fully connected) layer: y = x Wᵀ + b, PyTorch's nn.Linear.

The weight has PyTorch's layout (out_features, in_features) so a torch state_dict loads
as is.  Its weight and bias form one block xⁱ of [Yu et al. 2017,
§4] ("the weight matrix and the bias … used in the ith layer").
"""

from __future__ import annotations

from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Dense: {name} must be a positive integer, got {value!r}")
    return value


class Dense(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features) and b of shape (out_features,).

    Default initialization is PyTorch's nn.Linear one: W ~ U(−1/√in, 1/√in) (that is
    kaiming_uniform with a = √5) and b ~ U(−1/√in, 1/√in), drawn on the host
    (weight first, then bias) in ``dtype`` (default ``tg.get_default_dtype()``).
    ``x`` may have leading dimensions (…, in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features = _check_size("in_features", in_features)
        self.out_features = _check_size("out_features", out_features)
        shape = (out_features, in_features)
        self.weight = Parameter(init.linear_default_weight(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(init.linear_default_bias((out_features,), in_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        x = check_input_features(self, x)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def check_input_features(layer, x) -> Tensor:
    """``x`` as a Tensor whose last axis has ``layer.in_features`` entries; otherwise a
    ValueError naming the layer and both sizes (shared by the dense-like layers)."""
    if not isinstance(x, Tensor):
        try:
            x = Tensor(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{layer.layer_name()}: input must be a real numeric array or Tensor, "
                            f"got {type(x).__name__} that does not convert ({e})") from None
    kind = getattr(x.dtype, "kind", "")
    if kind not in "biuf" or not kind:  # strings, objects, complex: no real matrix product
        raise TypeError(f"{layer.layer_name()}: input must be a real numeric array or Tensor, "
                        f"got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != layer.in_features:
        found = x.shape[-1] if x.ndim else "no"
        raise ValueError(f"{layer.layer_name()} (in_features={layer.in_features}, "
                         f"out_features={layer.out_features}): input has {found} features "
                         f"(shape {x.shape}), expected {layer.in_features}")
    return x
