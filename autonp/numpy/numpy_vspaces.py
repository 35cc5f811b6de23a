"""HIPS autograd's ``autograd.numpy.numpy_vspaces``: the vector spaces of real and complex arrays (and of NumPy's
float and complex scalars), which ``autonp.core.vspace`` hands out; programs import them to register types of
their own (``ArrayVSpace.register(MyArray)``) or to check ``isinstance(vspace(x), ArrayVSpace)``."""
from __future__ import annotations

from ..core import ArrayVSpace, ComplexArrayVSpace

__all__ = ["ArrayVSpace", "ComplexArrayVSpace"]
