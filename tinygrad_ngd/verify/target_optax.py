"""``--against optax``: each case mapped to optax's transformations (JAX on CPU, float64).

The rate of each step is the suite's (the schedule applied; a momentum schedule's μ
too), injected with ``optax.inject_hyperparams`` into the optax alias (``optax.sgd``, ``adam``, ``adamw``,
``adamax``, ``adagrad``, ``rmsprop``, ``adadelta``); coupled weight decay is
``optax.add_decayed_weights`` before it, ``maximize`` is ``optax.scale(-1)`` first and
``ClipGradNorm(scope="global")`` is ``optax.clip_by_global_norm`` first; a per-block lr
is ``optax.multi_transform`` over the blocks.  No jit: the
update runs op by op (JAX's jit would cost more than these small problems).

optax's own conventions are used (its defaults, as a user of optax gets them); where a
case follows another one the factory returns a :class:`.suite.Convention` naming our
flag that reproduces optax's.  Cases optax cannot express are skipped with the reason.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .suite import Convention, Skip

_CLASSES = ("SGD", "Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta", "Rprop")
# Not a convention: optax's scale_by_rprop returns the *previous* step's update (its state's
# prev_updates), so every update comes one step late.  tests/test_verify_suite.py checks
# this against the witness below and fails once optax changes it (then map Rprop).
RPROP_ONE_STEP_LATE = ("optax.rprop applies each update one step late (θ₁ = θ₀): gradients 1, 1, 1, −1, 1 "
                       "at lr 0.1 give θ = 0, −0.1, −0.22, −0.22, −0.22 where torch.optim.Rprop gives "
                       "−0.1, −0.22, −0.364, −0.364, −0.4504; not compared")


def _jax():
    try:
        import jax
        import optax
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("--against optax needs JAX and optax (pip install 'tinygrad_ngd[verify]')") from exc
    return jax, optax


@contextlib.contextmanager
def session():
    """JAX on the CPU with 64-bit floats while the suite runs (restored afterwards)."""
    jax, _ = _jax()
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        with jax.default_device(jax.devices("cpu")[0]):
            yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def _unsupported(optimizer, hyper, case) -> str | None:
    if case.momentum is not None and optimizer != "SGD":
        return "a momentum schedule is mapped for SGD only"
    if optimizer == "Adagrad" and hyper.get("lr_decay", 0):
        return "optax.adagrad has no lr_decay"
    if optimizer not in _CLASSES:
        return f"optax has no {optimizer}"
    if optimizer == "SGD" and hyper.get("dampening", 0):
        return "optax.sgd has no dampening"
    if optimizer in ("Adam", "AdamW") and hyper.get("amsgrad"):
        return ("optax.amsgrad takes the maximum of the bias-corrected v̂ (PyTorch and ours: of v); "
                "no flag of ours reproduces that")
    if optimizer == "Rprop":
        return RPROP_ONE_STEP_LATE
    return None


def _convention(optimizer, hyper):
    """(reason, our hyper-parameters reproducing optax) where optax's default differs."""
    if optimizer == "SGD" and hyper.get("form", "pytorch") != "pytorch":
        return ("optax.sgd applies lr after the momentum trace (PyTorch's form); form='notes' puts it "
                "inside the velocity", {"form": "pytorch"})
    if optimizer in ("Adam", "AdamW") and hyper.get("eps_mode") == "hat":
        return "optax.adam adds ε to √v̂ (bias-corrected); eps_mode='hat' adds it to √v", {"eps_mode": "outside_sqrt"}
    if optimizer == "Adagrad" and hyper.get("eps_mode", "outside_sqrt") == "outside_sqrt":
        return ("optax.adagrad divides by √(r + ε) (rsqrt(r + ε)); PyTorch's and our default by √r + ε",
                {"eps_mode": "inside_sqrt"})
    if optimizer == "RMSprop" and hyper.get("eps_mode", "outside_sqrt") != "inside_sqrt":
        return ("optax.rmsprop divides by √(v + ε) (eps_in_sqrt=True, its default); PyTorch's and our "
                "default by √v + ε", {"eps_mode": "inside_sqrt"})
    return None


def factory(case):
    optimizer, hyper, clip = case.optimizer, dict(case.hyper), None
    if optimizer == "ClipGradNorm":
        if hyper.get("scope", "global") != "global":
            return Skip("optax.clip_by_global_norm clips the global norm only")
        clip = hyper
        optimizer, hyper = case.base_optimizer, dict(case.base_hyper)
    reason = _unsupported(optimizer, hyper, case)
    if reason:
        return Skip(reason)
    ours = {}
    reasons = []
    conv = _convention(optimizer, hyper)
    if conv:
        reasons.append(conv[0])
        hyper = {**hyper, **conv[1]}
        ours.update(conv[1] if clip is None else {"base": conv[1]})
    if clip is not None and clip.get("eps", 0.0) != 0.0:
        reasons.append("optax.clip_by_global_norm adds nothing to the norm (torch adds 1e-6)")
        ours["eps"] = 0.0
    stepper = _stepper(case, optimizer, hyper, clip)
    return Convention("; ".join(reasons), ours, stepper) if ours else stepper


def _alias(optax, optimizer, h):
    """The optax alias for our optimizer (a function of learning_rate) and its keywords."""
    betas = tuple(h.get("betas", (0.9, 0.999)))
    if optimizer == "SGD":
        mu = h.get("momentum", 0.0)
        return optax.sgd, {"momentum": mu or None, "nesterov": bool(h.get("nesterov", False))}
    if optimizer in ("Adam", "AdamW"):
        decoupled = optimizer == "AdamW" or h.get("decoupled_weight_decay", False)
        eps = 0.0 if h.get("eps_mode") == "none" else h.get("eps", 1e-8)
        kw = {"b1": betas[0], "b2": betas[1], "eps": eps}
        if decoupled:
            return optax.adamw, {**kw, "weight_decay": h.get("weight_decay", 1e-2)}
        return optax.adam, kw
    if optimizer == "Adamax":
        eps = 0.0 if h.get("eps_mode") == "none" else h.get("eps", 1e-8)
        return optax.adamax, {"b1": betas[0], "b2": betas[1], "eps": eps}
    if optimizer == "RMSprop":
        return optax.rmsprop, {"decay": h.get("alpha", 0.99), "eps": h.get("eps", 1e-8),
                               "centered": bool(h.get("centered", False)),
                               "momentum": h.get("momentum", 0.0) or None}
    if optimizer == "Adagrad":                 # eps_mode "inside_sqrt" (optax's form) or "none" (eps = 0)
        eps = 0.0 if h.get("eps_mode") == "none" else h.get("eps", 1e-10)
        return optax.adagrad, {"initial_accumulator_value": h.get("initial_accumulator_value", 0.0), "eps": eps}
    if optimizer == "Adadelta":
        return optax.adadelta, {"rho": h.get("rho", 0.9), "eps": h.get("eps", 1e-6)}
    raise AssertionError(optimizer)


def _stepper(case, optimizer, h, clip):
    """Parameters as a tuple of blocks; a per-block lr is ``optax.multi_transform`` with
    one injected alias per block."""
    jax, optax = _jax()
    import jax.numpy as jnp
    alias, kw = _alias(optax, optimizer, h)
    lr0 = case.lr_at(0)
    per_block = isinstance(lr0, tuple)
    sizes = case.block_sizes if per_block else [case.theta0.shape[0]]   # blocks only for the rates
    bounds = np.cumsum([0] + list(sizes))
    if per_block:
        core = optax.multi_transform(
            {i: optax.inject_hyperparams(alias)(learning_rate=v, **kw) for i, v in enumerate(lr0)},
            tuple(range(len(sizes))))
    else:
        core = optax.inject_hyperparams(alias)(learning_rate=lr0, **kw)
    parts = []
    if clip is not None:
        parts.append(optax.clip_by_global_norm(clip["max_norm"]))
    if h.get("maximize"):
        parts.append(optax.scale(-1.0))
    coupled = h.get("weight_decay", 0.0) and not (optimizer == "AdamW" or h.get("decoupled_weight_decay"))
    if coupled:
        parts.append(optax.add_decayed_weights(h["weight_decay"]))
    tx = optax.chain(*parts, core)
    theta0 = np.array(case.theta0, dtype=np.float64)
    params = tuple(jnp.asarray(theta0[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
    state = {"opt": tx.init(params), "params": params, "k": 0}
    core_index = len(parts)

    def injected(opt_state):
        inner = opt_state[core_index]
        if not per_block:
            return [inner.hyperparams]
        return [inner.inner_states[i].inner_state.hyperparams for i in range(len(sizes))]

    def step(grad, lr):
        opt_state = state["opt"]
        rates = lr if per_block else (lr,)
        for hyperparams, rate in zip(injected(opt_state), rates):
            hyperparams["learning_rate"] = jnp.asarray(rate, dtype=jnp.float64)
            if case.momentum is not None:             # MomentumWarmup: μ of this step
                hyperparams["momentum"] = jnp.asarray(case.momentum[state["k"]], dtype=jnp.float64)
        state["k"] += 1
        g = tuple(jnp.asarray(grad[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
        updates, opt_state = tx.update(g, opt_state, state["params"])
        state["params"] = optax.apply_updates(state["params"], updates)
        state["opt"] = opt_state
        return np.concatenate([np.asarray(p, dtype=np.float64) for p in state["params"]])
    return step
