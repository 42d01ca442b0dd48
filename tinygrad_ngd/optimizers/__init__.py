"""Optimizers on one flat parameter vector (see base.Optimizer); one file per method family."""

from .base import Optimizer

__all__ = ["Optimizer"]

# The normalized-gradient family ([Kolasiński 2018] and [Yu et al. 2017])
from .adagrad_bng import AdaGradBNG  # noqa: E402
from .adaptive_ngd import AdaptiveNGD  # noqa: E402
from .block_normalized import BlockNormalized  # noqa: E402
from .clipping import ClipGradNorm  # noqa: E402
from .ng_adap import NGAdap  # noqa: E402
from .ngd import NGD  # noqa: E402
from .sgd_bb import SGDBB  # noqa: E402
from .wrapper import GradientWrapper  # noqa: E402

__all__ += ["NGD", "AdaptiveNGD", "BlockNormalized", "NGAdap", "ClipGradNorm", "AdaGradBNG", "SGDBB",
            "GradientWrapper"]

# First-order methods of [Misra], [Soto], [Ravasi] and PyTorch's torch.optim equivalents
from .adadelta import Adadelta  # noqa: E402
from .adagrad import Adagrad  # noqa: E402
from .adam import Adam, AdamW  # noqa: E402
from .adamax import Adamax  # noqa: E402
from .averaging import ASGD, PolyakAverage, evaluate_at  # noqa: E402
from .clipping import add_weight_decay, clip_grad_norm_, clip_grad_value_, decoupled_weight_decay_, grad_norm  # noqa: E402
from .delta_bar_delta import DeltaBarDelta  # noqa: E402
from .rmsprop import RMSprop  # noqa: E402
from .rprop import Rprop  # noqa: E402
from .schedules import (  # noqa: E402
            ExponentialLR,
            LinearDecayToConstant,
            LinearLR,
            MomentumWarmup,
            MultiStepLR,
            ReduceLROnPlateau,
            StepLR,
)
from .sgd import SGD  # noqa: E402
from .sgd_history import SGDHistory  # noqa: E402

__all__ += ["SGD", "SGDHistory", "Rprop", "DeltaBarDelta", "Adagrad", "RMSprop", "Adadelta", "Adam",
            "AdamW", "Adamax", "ASGD", "PolyakAverage", "evaluate_at", "clip_grad_norm_",
            "clip_grad_value_", "grad_norm", "add_weight_decay", "decoupled_weight_decay_", "StepLR",
            "MultiStepLR", "ExponentialLR", "LinearLR", "ReduceLROnPlateau", "LinearDecayToConstant",
            "MomentumWarmup"]

# Natural gradient and PRONG ([Misra, "Natural Gradients", "PRONG"])
from .natural_gradient import CGNotConverged, NaturalGradient  # noqa: E402
from .prong import PRONG  # noqa: E402

__all__ += ["NaturalGradient", "CGNotConverged", "PRONG"]

# Curvature-using methods ([Kolasiński 2018, §1], [Misra], [Soto], [Ravasi]): Newton, truncated Newton,
# Hessian-free, scaled conjugate gradient, vSGD, equilibrated SGD
from .esgd import ESGD  # noqa: E402
from .hessian_free import HessianFree  # noqa: E402
from .newton import Newton  # noqa: E402
from .newton_cg import NewtonCG  # noqa: E402
from .scg import ScaledConjugateGradient  # noqa: E402
from .vsgd import VSGD  # noqa: E402

__all__ += ["Newton", "NewtonCG", "HessianFree", "ScaledConjugateGradient", "VSGD", "ESGD"]
