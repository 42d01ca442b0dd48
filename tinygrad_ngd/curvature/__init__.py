"""Curvature tools: Hessian-vector products (forward-over-reverse, i.e. Pearlmutter's
R-operator, or reverse-over-reverse) and Gauss-Newton products (J v by forward mode, Jᵀu by
reverse mode), the dense Hessian for small models, the spectrum (power iteration, Lanczos,
Hutchinson), conjugate gradient and [Ravasi]'s step-safety bound.  See docs/curvature.md.

The closure contract: ``loss_fn()`` returns the scalar loss Tensor at the current
``params.data`` (the model's parameters are views into it); ``output_fn()`` returns the
network output for the Gauss-Newton products.  Neither calls backward.
"""

from .cg import CGResult, conjugate_gradient
from .dense import check_size, dense_matrix, hessian, hessian_at, hessian_diagonal, rademacher
from .gauss_newton import (
                           GaussNewtonOperator,
                           OutputJacobian,
                           as_targets,
                           gauss_newton_operator,
                           gnvp,
                           loss_hessian_product,
                           loss_value,
)
from .hvp import METHODS as HVP_METHODS
from .hvp import HessianOperator, evaluate_loss, gradient, gradient_at, hessian_operator, hvp, hvp_at
from .operator import LinearOperator
from .safety import StepSafety, step_safety
from .spectrum import (
                           ConditionEstimate,
                           Eigenpairs,
                           LanczosResult,
                           TraceEstimate,
                           condition_number,
                           hutchinson_trace,
                           lanczos,
                           spectral_density,
                           top_eigenvalues,
)

__all__ = ["hvp", "hvp_at", "gradient", "gradient_at", "evaluate_loss", "HessianOperator",
           "hessian_operator", "LinearOperator",
           "gnvp", "GaussNewtonOperator", "OutputJacobian", "gauss_newton_operator",
           "loss_hessian_product", "loss_value",
           "hessian", "hessian_at", "hessian_diagonal", "dense_matrix",
           "top_eigenvalues", "lanczos", "spectral_density", "hutchinson_trace", "condition_number",
           "Eigenpairs", "LanczosResult", "TraceEstimate", "ConditionEstimate",
           "conjugate_gradient", "CGResult", "step_safety", "StepSafety",
           "HVP_METHODS", "check_size", "rademacher", "as_targets"]

from .fisher import FisherOperator, empirical_fvp, fisher_operator, fvp, per_example_gradients  # noqa: E402

__all__ += ["FisherOperator", "fisher_operator", "fvp", "empirical_fvp", "per_example_gradients"]
