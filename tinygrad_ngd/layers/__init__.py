"""Layers: Module, Sequential and the building blocks of the notes' networks."""

from . import init
from .activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential"]
__all__ += ["init", "Dense", "Sigmoid", "Tanh", "ReLU", "Softplus", "Softmax", "LogSoftmax",
            "Identity", "Dropout", "Flatten"]

from .batchnorm import BatchNorm1d, BatchNorm2d  # noqa: E402
from .conv import Conv1d, Conv2d  # noqa: E402
from .embedding import Embedding  # noqa: E402
from .lstm import LSTM, detach_state  # noqa: E402
from .pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d  # noqa: E402
from .resnet import BasicBlock, CifarResNet, resnet20, resnet32, resnet44, resnet56, resnet110  # noqa: E402

__all__ += ["Conv2d", "Conv1d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "BatchNorm1d",
            "BatchNorm2d", "LSTM", "detach_state", "Embedding", "BasicBlock", "CifarResNet",
            "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]

from .whitened import WhitenedDense, whiten, whitened_layers  # noqa: E402

__all__ += ["WhitenedDense", "whiten", "whitened_layers"]
