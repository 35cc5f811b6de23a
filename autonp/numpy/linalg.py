"""``autonp.numpy.linalg``: NumPy's ``linalg``; the functions autonp differentiates also accept sequences
holding Tensors."""
import numpy.linalg as _la
from numpy.linalg import *  # noqa: F403

from ._wrap import differentiable_namespace

globals().update(differentiable_namespace(_la, skip=set()))
del globals()["array"]


def __getattr__(name: str):
    return getattr(_la, name)
