"""GradientWrapper: transform the gradient block by block, then let any optimizer step.

[Yu et al. 2017, §3] splits a first-order method in two: a direction
built from the mini-batch gradient (normalized per block, Algorithm 1, line 3) and a
step-size rule (SGD, momentum, AdaGrad, Adam, …) that turns it into an update.  A
wrapper is the first half: ``step()`` reads the raw gradient, builds the new direction
(:meth:`transform`) and calls ``base.step(grad=direction)``.  The base optimizer keeps
all the state; ``params.grad`` is never modified.
"""

from __future__ import annotations

from .. import backend as B
from ..tensor import enable_grad
from .base import Optimizer
from .state_checks import check_hyper, check_state, require_dict, require_keys


class GradientWrapper:
    """Base of BlockNormalized, NGAdap and ClipGradNorm.

    ``base_optimizer`` is any :class:`Optimizer` (or another wrapper); ``params``, when
    given, must be the very FlatParameters the base optimizer was built on (a wrapper
    over an optimizer of other parameters would normalize one vector and update another).
    """

    def __init__(self, base_optimizer, params=None, **hyper):
        if not isinstance(base_optimizer, (Optimizer, GradientWrapper)):
            raise TypeError(f"{type(self).__name__}: base_optimizer must be an Optimizer (or a "
                            f"GradientWrapper), got {type(base_optimizer).__name__}")
        if params is not None and params is not base_optimizer.params:
            raise ValueError(f"{type(self).__name__}: the base optimizer "
                             f"{type(base_optimizer).__name__} was built on other parameters than "
                             "the ones given to the wrapper; build it on the same FlatParameters")
        self.base = base_optimizer
        self.params = base_optimizer.params
        self.hyper = dict(hyper)

    def transform(self, g):  # pragma: no cover - abstract
        """The new direction (a new flat array) from the raw flat gradient ``g``."""
        raise NotImplementedError

    def step(self, grad=None, closure=None):
        """Transform the gradient (default ``params.grad``) and step the base optimizer with it;
        returns the closure's loss when a closure is given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if grad is None:
            g = self.params.grad
        else:
            data = grad if B.is_backend_array(grad) else getattr(grad, "data", grad)  # a Tensor's array
            if B.is_numpy_array(data) and not B.is_placed(data):
                data = B.asarray(data)  # a host gradient on a device backend: one explicit copy
            g = self.params.check_vector(data, f"{type(self).__name__}.step: grad")
        self.base.step(grad=self.transform(g))
        return loss

    def zero_grad(self) -> None:
        self.base.zero_grad()

    # the base optimizer's learning rate and counters, so schedules and loops need not care
    # (a scheduler given a wrapper schedules the base's lr)
    @property
    def lr(self):
        return self.base.lr

    @lr.setter
    def lr(self, value):
        self.base.lr = value

    @property
    def step_count(self) -> int:
        return self.base.step_count

    @property
    def skip_nonfinite(self) -> bool:
        return self.base.skip_nonfinite

    def check_gradient(self, g) -> bool:
        """The base optimizer's check of the raw gradient (see ``Optimizer.check_gradient``):
        a loop can check before the step; the base still checks the transformed gradient
        when it is a new array (deferred on a device: no transfer)."""
        return self.base.check_gradient(g)

    @property
    def skipped_steps(self) -> int:
        return self.base.skipped_steps

    @property
    def state(self) -> dict:
        return self.base.state

    def state_dict(self) -> dict:
        return {"wrapper": type(self).__name__, "hyper": dict(self.hyper), "base": self.base.state_dict()}

    def check_state_dict(self, state) -> None:
        """Check a :meth:`state_dict` for this wrapper *and* its base (recursively) without
        changing anything: the wrapper's class and hyper-parameters, then the base's class,
        hyper-parameters, counters and arrays (:mod:`.state_checks`)."""
        require_dict(self, state)
        name = type(self).__name__
        if state.get("wrapper") != name:
            raise ValueError(f"{name}.load_state_dict: expected a state_dict of a {name}, got "
                             f"wrapper={state.get('wrapper')!r} (the state was saved by "
                             f"{state.get('wrapper')}, not by {name})")
        require_keys(self, state, ("wrapper", "hyper", "base"))
        check_hyper(self, state["hyper"], self._constructor_argument())
        check_state(self.base, state["base"])

    def _constructor_argument(self):
        """What the constructor takes first, for the hyper-parameter check (None: no check run)."""
        return self.base

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (the base's state included); everything is
        checked first (:meth:`check_state_dict`) and on refusal nothing changes."""
        self.check_state_dict(state)
        self.base.load_state_dict(state["base"])
        self.hyper = dict(state["hyper"])

    def __repr__(self):
        hyper = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({self.base!r}, {hyper})"
