"""``autonp.numpy.linalg``: NumPy's ``linalg``; the functions autonp differentiates also accept sequences
holding Tensors."""
import numpy as _np
import numpy.linalg as _la
from numpy.linalg import *  # noqa: F403

from ._wrap import differentiable_namespace

globals().update(differentiable_namespace(_la, skip=set()))
del globals()["array"]


def __getattr__(name: str):
    return getattr(_la, name)


def T(x):
    """The transpose of the last two axes (a helper HIPS autograd's linalg module has)."""
    return _np.swapaxes(x, -1, -2)


def _dot(a, b):
    """Batched matrix product (HIPS autograd's linalg helper, which its programs and tests use)."""
    return _np.matmul(a, b)
