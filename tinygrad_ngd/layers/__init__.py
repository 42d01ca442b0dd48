"""Layers: Module, Sequential and the building blocks of the notes' networks."""

from .module import Module, Parameter, Sequential
from . import init
from .activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten

__all__ = ["Module", "Parameter", "Sequential"]
__all__ += ["init", "Dense", "Sigmoid", "Tanh", "ReLU", "Softplus", "Softmax", "LogSoftmax",
            "Identity", "Dropout", "Flatten"]
