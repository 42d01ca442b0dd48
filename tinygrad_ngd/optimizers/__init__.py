"""Optimizers on one flat parameter vector (see base.Optimizer); one file per method family."""

from .base import Optimizer

__all__ = ["Optimizer"]

# The normalized-gradient family (notes 000 and 001)
from .adagrad_bng import AdaGradBNG  # noqa: E402
from .adaptive_ngd import AdaptiveNGD  # noqa: E402
from .block_normalized import BlockNormalized  # noqa: E402
from .clip import ClipGradNorm  # noqa: E402
from .ng_adap import NGAdap  # noqa: E402
from .ngd import NGD  # noqa: E402
from .sgd_bb import SGDBB  # noqa: E402
from .wrapper import GradientWrapper  # noqa: E402

__all__ += ["NGD", "AdaptiveNGD", "BlockNormalized", "NGAdap", "ClipGradNorm", "AdaGradBNG", "SGDBB",
            "GradientWrapper"]
