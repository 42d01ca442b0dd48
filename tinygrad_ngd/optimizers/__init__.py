"""Optimizers on one flat parameter vector (see base.Optimizer); one file per method family."""

from .base import Optimizer

__all__ = ["Optimizer"]
