"""Every hyper-parameter check of the optimizers, in one place.

Each check raises ValueError (a wrong value) or TypeError (a wrong kind of thing) whose
message names the argument and says what was expected; nothing is changed before it
passes.  A number is any real scalar a NumPy/PyTorch user would pass: Python ``int`` /
``float`` and NumPy scalars (``np.float32(0.1)``, ``np.int64(3)``).  Booleans, strings,
NaN and ±inf are refused.  :func:`plain_number` turns an accepted NumPy scalar into the
Python number the optimizers store (so state dicts hold plain numbers).
"""

from __future__ import annotations

import math
import numbers

from .. import backend as B


def is_number(value) -> bool:
    """True for a finite real scalar (Python or NumPy), False for bools, strings, NaN, ±inf."""
    # numbers.Real covers NumPy's floating and integer scalars, not np.bool_; Python's bool
    # is an int, so it is excluded by name
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def plain_number(value):
    """``np.float32(0.1)`` → ``0.1000000015`` (a Python float); lists/tuples element-wise;
    anything else unchanged."""
    if isinstance(value, (list, tuple)):
        return type(value)(plain_number(v) for v in value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, int, float)) and hasattr(value, "item"):
        return value.item()
    return value


def _values(value):
    return value if isinstance(value, (list, tuple)) else [value]


def check_number(name: str, value) -> None:
    """ValueError naming the argument unless value is a finite number."""
    if not is_number(value):
        raise ValueError(f"invalid {name}: {value!r} (expected a finite number)")


def check_nonnegative(name: str, value) -> None:
    """ValueError naming the argument unless value >= 0 (scalar or per-block sequence)."""
    for v in _values(value):
        if not is_number(v) or v < 0:
            raise ValueError(f"invalid {name}: {value!r} (expected a finite number >= 0)")


def check_positive(name: str, value) -> None:
    """ValueError naming the argument unless value > 0 (scalar or per-block sequence)."""
    for v in _values(value):
        if not is_number(v) or v <= 0:
            raise ValueError(f"invalid {name}: {value!r} (expected a finite number > 0)")


def check_fraction(name: str, value, what: str = "a number in [0, 1)") -> None:
    """A decay rate or averaging weight (β, ρ, μ, φ): 0 <= value < 1."""
    if not is_number(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"invalid {name}: {value!r} (expected {what})")


def check_decay(name: str, value) -> None:
    """A decay rate (β, ρ) must lie in [0, 1)."""
    check_fraction(name, value)


def check_momentum(name: str, value) -> None:
    """A momentum coefficient m of [Kolasiński 2018, §5]: 0 <= m < 1."""
    check_fraction(name, value, f"0 <= {name} < 1")


def check_betas(betas, name: str = "betas") -> None:
    """Adam's / Adamax's pair (β₁, β₂), each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"invalid {name}: {betas!r} (expected a pair (β₁, β₂))")
    check_decay(f"{name}[0]", betas[0])
    check_decay(f"{name}[1]", betas[1])


def check_eps(name: str, eps, dtype) -> None:
    """ε must be > 0 and must not round to 0 in the parameter dtype."""
    check_positive(name, eps)
    if B.xp().asarray(eps, dtype=dtype) == 0:
        raise ValueError(f"invalid {name}: {eps!r} rounds to 0 in {dtype}")


def check_choice(name: str, value, allowed) -> None:
    """ValueError naming the argument unless value is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"invalid {name}: {value!r} (expected one of {tuple(allowed)})")


def check_eps_mode(eps_mode, allowed) -> None:
    """Where ε goes (each optimizer lists the placements the sources use)."""
    check_choice("eps_mode", eps_mode, allowed)


def check_int(name: str, value, minimum: int) -> None:
    """An integer count (Python or NumPy int, not a bool) >= minimum."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"invalid {name}: {value!r} (expected an integer >= {minimum})")


def check_pair(name: str, pair, lo_ok, what: str) -> None:
    """A pair of numbers (lo, hi) for which ``lo_ok(lo, hi)`` holds (Rprop's etas, step_sizes)."""
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(is_number(v) for v in pair)
            or not lo_ok(*pair)):
        raise ValueError(f"invalid {name}: {pair!r} (expected {what})")


def check_range(lo_name: str, lo, hi_name: str, hi) -> None:
    """lo <= hi for two already-checked bounds."""
    if lo > hi:
        raise ValueError(f"invalid {lo_name} > {hi_name}: {lo!r} > {hi!r} (expected {lo_name} <= {hi_name})")


def check_norm(norm, who: str) -> str:
    """ValueError naming ``who`` and listing the valid norms of [Kolasiński 2018, §2]."""
    from .norms import NORMS
    if norm not in NORMS:
        raise ValueError(f"{who}: unknown norm {norm!r}; expected one of {NORMS}")
    return norm


def check_scope(scope, who: str) -> str:
    """ValueError naming ``who`` unless scope is "block" (per layer) or "global"."""
    from .norms import SCOPES
    if scope not in SCOPES:
        raise ValueError(f"{who}: unknown scope {scope!r}; expected one of {SCOPES}")
    return scope


def check_norm_type(norm_type) -> None:
    """The p of a p-norm (clipping): a number > 0, or math.inf."""
    if not (norm_type == math.inf or (is_number(norm_type) and norm_type > 0)):
        raise ValueError(f"invalid norm_type: {norm_type!r} (expected a number > 0 or math.inf)")


def check_lr(lr, n_blocks: int) -> None:
    """A learning rate: a number >= 0, or one number >= 0 per block."""
    if isinstance(lr, (list, tuple)) and len(lr) != n_blocks:
        raise ValueError(f"invalid lr: {len(lr)} values for {n_blocks} blocks")
    check_nonnegative("lr", lr)
