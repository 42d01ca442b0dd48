"""Derivative checkers: gradcheck, gradgradcheck, jvpcheck and hvpcheck (float64, central
differences).

The first-derivative test is the dot-product test along random directions:
    ⟨(f(x + εu) − f(x − εu)) / 2ε, w⟩  ≈  ⟨u, Jᵀ w⟩
with a random direction u for each input separately (so errors in two inputs cannot
cancel) and a *random* upstream gradient w — never all ones, which would hide errors in
normalizing operations (softmax, batch-norm) whose Jacobian annihilates constant vectors.
gradgradcheck applies the same test to the map (x, w) ↦ Jᵀw computed with
create_graph=True, so it checks the second derivative that HVPs rely on.
jvpcheck checks forward mode: the tangent J u from :func:`tinygrad_ngd.jvp` against
(f(x + εu) − f(x − εu)) / 2ε, elementwise, for random directions u on all inputs at once.
hvpcheck compares grad-of-grad Hessian-vector products with a dense Hessian built
column by column from central differences of the gradient.
"""

from __future__ import annotations

import numpy as np

from . import backend as B
from .tensor import Tensor, grad, jvp, no_grad


class GradcheckError(AssertionError):
    """A derivative disagrees with its finite-difference estimate."""


def _as_list(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _random_like(rng, t: Tensor):
    return B.asarray(rng.standard_normal(t.shape)).astype(t.dtype)


def _evaluate(fn, inputs):
    # grad mode stays on: gradgradcheck's function itself calls grad()
    return [o.data.copy() if isinstance(o, Tensor) else None for o in _as_list(fn(*inputs))]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-9, rtol=1e-6, n_directions=3, seed=0,
              raise_exception=True):
    """Check first derivatives of ``fn(*inputs)`` (a Tensor or tuple of Tensors).

    Inputs that require grad must be float64.  Returns True, or raises GradcheckError
    (returns False when ``raise_exception=False``).
    """
    rng = np.random.default_rng(seed)
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {x.dtype}; use float64 for finite differences")
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: no input requires grad")
    try:
        for _ in range(n_directions):
            outputs = _as_list(fn(*inputs))
            ws = [Tensor(_random_like(rng, o)) for o in outputs]
            live = [(o, w) for o, w in zip(outputs, ws) if o.requires_grad]
            if live:
                analytic = grad([o for o, _ in live], [inputs[i] for i in diff_idx],
                                grad_outputs=[w for _, w in live], allow_unused=True)
            else:
                analytic = [None] * len(diff_idx)
            for k, i in enumerate(diff_idx):
                x = inputs[i]
                u = _random_like(rng, x)
                lhs = 0.0 if analytic[k] is None else float(B.to_numpy((analytic[k].data * u).sum()))
                saved = x.data
                try:
                    x.data = saved + eps * u
                    plus = _evaluate(fn, inputs)
                    x.data = saved - eps * u
                    minus = _evaluate(fn, inputs)
                finally:
                    x.data = saved
                rhs = sum(float(B.to_numpy((((p - m) / (2 * eps)) * w.data).sum()))
                          for p, m, w in zip(plus, minus, ws) if p is not None)
                scale = max(abs(lhs), abs(rhs))
                if not abs(lhs - rhs) <= atol + rtol * scale:
                    raise GradcheckError(f"gradcheck: input {i} (shape {x.shape}): analytic ⟨u, Jᵀw⟩ "
                                         f"= {lhs!r}, finite differences = {rhs!r} "
                                         f"(|diff| {abs(lhs - rhs):.3e})")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-8, rtol=1e-5, n_directions=3, seed=1,
                  raise_exception=True):
    """Check second derivatives: gradcheck of (inputs, w) ↦ Jᵀw built with create_graph=True.

    The upstream gradients w are random and are themselves inputs of the checked map.
    """
    rng = np.random.default_rng(seed + 1000)
    inputs = list(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    with no_grad():
        outs0 = _as_list(fn(*inputs))
    ws = [Tensor(_random_like(rng, o), requires_grad=True) for o in outs0]
    n_in = len(inputs)

    def first_derivative(*args):
        xs, w = list(args[:n_in]), list(args[n_in:])
        outputs = _as_list(fn(*xs))
        live = [(o, wi) for o, wi in zip(outputs, w) if o.requires_grad]
        gs = grad([o for o, _ in live], [xs[i] for i in diff_idx], grad_outputs=[wi for _, wi in live],
                  create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(B.array_module(xs[i].data).zeros_like(xs[i].data))
                     for g, i in zip(gs, diff_idx))

    return gradcheck(first_derivative, inputs + ws, eps=eps, atol=atol, rtol=rtol,
                     n_directions=n_directions, seed=seed, raise_exception=raise_exception)


def jvpcheck(fn, inputs, eps=1e-6, atol=1e-9, rtol=1e-6, n_directions=3, seed=0,
             raise_exception=True):
    """Check forward-mode derivatives of ``fn(*inputs)`` (a Tensor or tuple of Tensors).

    The inputs that require grad (float64) get random tangents u; the other inputs are
    held constant.  Every output's tangent from :func:`tinygrad_ngd.jvp` must equal the
    central difference (f(x + εu) − f(x − εu)) / 2ε elementwise, within
    ``atol + rtol · max|difference quotient|``.  Returns True or raises GradcheckError.
    """
    rng = np.random.default_rng(seed)
    inputs = list(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("jvpcheck: no input requires grad")
    for i in diff_idx:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"jvpcheck: input {i} is {inputs[i].dtype}; use float64 for finite differences")

    def at(*ds):
        xs = list(inputs)
        for k, i in enumerate(diff_idx):
            xs[i] = ds[k]
        return fn(*xs)

    try:
        for _ in range(n_directions):
            us = [_random_like(rng, inputs[i]) for i in diff_idx]
            primals = tuple(Tensor(inputs[i].data) for i in diff_idx)
            _, tangents = jvp(lambda *ds: tuple(_as_list(at(*ds))), primals, tuple(Tensor(u) for u in us))
            with no_grad():
                plus = _as_list(at(*[Tensor(inputs[i].data + eps * u) for i, u in zip(diff_idx, us)]))
                minus = _as_list(at(*[Tensor(inputs[i].data - eps * u) for i, u in zip(diff_idx, us)]))
            for k, (t, p, m) in enumerate(zip(tangents, plus, minus)):
                fd = B.to_numpy((p.data - m.data) / (2 * eps))
                got = B.to_numpy(t.data)
                if got.shape != fd.shape:
                    raise GradcheckError(f"jvpcheck: output {k}: tangent shape {got.shape}, output shape {fd.shape}")
                err = float(np.max(np.abs(got - fd))) if fd.size else 0.0
                scale = float(np.max(np.abs(fd))) if fd.size else 0.0
                if not err <= atol + rtol * scale:
                    raise GradcheckError(f"jvpcheck: output {k} (shape {fd.shape}): max |J u − finite "
                                         f"differences| = {err:.3e} (max |finite differences| {scale:.3e})")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def dense_hessian_fd(f, x0, eps=1e-5):
    """Dense Hessian of a scalar function of a 1-D float64 Tensor, column by column from
    central differences of its gradient (computed by backward)."""
    n = x0.shape[0]
    xp = B.array_module(x0.data)
    H = xp.zeros((n, n), dtype=x0.dtype)

    def gradient(at):
        x = Tensor(at, requires_grad=True)
        (g,) = grad(f(x), [x])
        return g.data

    for j in range(n):
        e = xp.zeros(n, dtype=x0.dtype)
        e[j] = eps
        H[:, j] = (gradient(x0.data + e) - gradient(x0.data - e)) / (2 * eps)
    return 0.5 * (H + H.T)


def hvp_by_double_backward(f, x0, v):
    """H v for a scalar function of a 1-D tensor, by grad of ⟨∇f, v⟩."""
    x = Tensor(x0.data.copy(), requires_grad=True)
    (g,) = grad(f(x), [x], create_graph=True)
    (hv,) = grad((g * Tensor(v)).sum(), [x])
    return hv.data


def hvpcheck(f, x0, hvp_fn=None, n_directions=3, eps=1e-5, atol=1e-7, rtol=1e-6, seed=0,
             raise_exception=True):
    """Check Hessian-vector products of f at x0 (a 1-D float64 Tensor) against a dense
    finite-difference Hessian.  ``hvp_fn(f, x0, v)`` defaults to grad-of-grad."""
    hvp_fn = hvp_fn or hvp_by_double_backward
    rng = np.random.default_rng(seed)
    H = dense_hessian_fd(f, x0, eps=eps)
    for _ in range(n_directions):
        v = B.asarray(rng.standard_normal(x0.shape[0])).astype(x0.dtype)
        got = B.to_numpy(hvp_fn(f, x0, v))
        want = B.to_numpy(H @ v)
        err = float(np.max(np.abs(got - want)))
        if not err <= atol + rtol * float(np.max(np.abs(want))):
            if raise_exception:
                raise GradcheckError(f"hvpcheck: max |Hv − H_fd v| = {err:.3e} "
                                     f"(|H_fd v|max = {np.max(np.abs(want)):.3e})")
            return False
    return True
