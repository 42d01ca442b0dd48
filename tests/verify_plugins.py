"""Outside plug-ins for the conformance-suite tests (plain NumPy, the documented protocol):
``factory`` (SGD and Adam in PyTorch's conventions) and ``factory_eps_in_sqrt`` (the same
with a planted bug: Adam's ε inside the square root)."""

import numpy as np


def _per_coordinate(lr, sizes):
    return np.repeat(np.asarray(lr, dtype=float), sizes) if isinstance(lr, tuple) else lr


def _adam(theta, sizes, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
          maximize=False, decoupled=False, eps_in_sqrt=False):
    b1, b2 = betas
    s = {"theta": theta, "m": np.zeros_like(theta), "v": np.zeros_like(theta),
         "vmax": np.zeros_like(theta), "t": 0}

    def step(g, lr):
        s["t"] += 1
        a = _per_coordinate(lr, sizes)
        d = -g if maximize else g
        if decoupled:
            s["theta"] = s["theta"] * (1 - a * weight_decay)
        else:
            d = d + weight_decay * s["theta"]
        s["m"] = b1 * s["m"] + (1 - b1) * d
        s["v"] = b2 * s["v"] + (1 - b2) * d * d
        s["vmax"] = np.maximum(s["vmax"], s["v"]) if amsgrad else s["v"]
        m_hat, v_hat = s["m"] / (1 - b1 ** s["t"]), s["vmax"] / (1 - b2 ** s["t"])
        denom = np.sqrt(v_hat + eps) if eps_in_sqrt else np.sqrt(v_hat) + eps
        s["theta"] = s["theta"] - a * m_hat / denom
        return s["theta"]
    return step


def _sgd(theta, sizes, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    s = {"theta": theta, "buf": None}

    def step(g, lr):
        d = (-g if maximize else g) + weight_decay * s["theta"]
        if momentum:
            b = d.copy() if s["buf"] is None else momentum * s["buf"] + (1 - dampening) * d
            s["buf"] = b
            d = d + momentum * b if nesterov else b
        s["theta"] = s["theta"] - _per_coordinate(lr, sizes) * d
        return s["theta"]
    return step


def _make(case, eps_in_sqrt):
    h = dict(case.hyper)
    if case.optimizer not in ("SGD", "Adam", "AdamW") or case.momentum is not None:
        return None
    if h.pop("form", "pytorch") != "pytorch" or h.pop("eps_mode", "outside_sqrt") != "outside_sqrt":
        return None
    sizes = case.block_sizes or [case.theta0.size]
    if case.optimizer == "SGD":
        return _sgd(case.theta0.copy(), sizes, **h)
    decoupled = case.optimizer == "AdamW" or h.pop("decoupled_weight_decay", False)
    wd = 1e-2 if case.optimizer == "AdamW" else 0.0
    return _adam(case.theta0.copy(), sizes, decoupled=decoupled, eps_in_sqrt=eps_in_sqrt,
                 **{"weight_decay": wd, **h})


def factory(case):
    return _make(case, eps_in_sqrt=False)


def factory_eps_in_sqrt(case):
    return _make(case, eps_in_sqrt=True)


def factory_wrong_shape(case):
    return (lambda g, lr: np.zeros(3)) if case.name == "sgd_plain" else None
