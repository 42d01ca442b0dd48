"""Layers: Module, Sequential and the building blocks of the notes' networks."""

from .module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential"]
