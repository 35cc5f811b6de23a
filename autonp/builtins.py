"""HIPS autograd's ``autograd.builtins``: ``tuple``, ``list``, ``dict``, ``isinstance`` and ``type``. autograd
needed its own containers to carry gradients through them; autonp's transforms take Python's containers as
pytrees, so those are Python's own, here so that ``from autograd.builtins import tuple`` ports by its name.
``isinstance`` and ``type`` see a Tensor as the ndarray it stands for (as autograd's do for its boxes), so
``isinstance(x, np.ndarray)`` in differentiated code stays true."""
import builtins

import numpy as np

from .numpy.numpy_boxes import ArrayBox
from .tensor import Tensor

tuple = builtins.tuple  # noqa: A001
list = builtins.list  # noqa: A001
dict = builtins.dict  # noqa: A001

__all__ = ["tuple", "list", "dict", "isinstance", "type", "SequenceBox", "DictBox"]


def isinstance(obj, classinfo):  # noqa: A001
    """Python's isinstance, with a Tensor also an instance of ``np.ndarray``, and a 0-d one of its scalar type as
    well (``np.float64``, so a ``float``: what ``grad`` makes of a Python float is one, as HIPS's box of it is)."""
    if builtins.isinstance(obj, classinfo):
        return True
    if not builtins.isinstance(obj, Tensor):
        return False
    return issubclass(np.ndarray, classinfo) or (obj.ndim == 0 and issubclass(obj.dtype.type, classinfo))


def type(obj):  # noqa: A001
    """Python's type, with ``np.ndarray`` for a Tensor."""
    return np.ndarray if builtins.isinstance(obj, Tensor) else builtins.type(obj)


def _holds_box(x) -> bool:
    from .pytree import flatten
    from .tracer import isbox
    return builtins.any(isbox(leaf) for leaf in flatten(x)[0])


class SequenceBox(ArrayBox):
    """``isinstance(x, SequenceBox)``: a list or tuple holding a Tensor being differentiated (HIPS boxes such a
    sequence; autonp's transforms hand the function the list or tuple itself)."""

    _holds = staticmethod(lambda x: builtins.isinstance(x, (builtins.list, builtins.tuple)) and _holds_box(x))


class DictBox(ArrayBox):
    """``isinstance(x, DictBox)``: a dict holding a Tensor being differentiated."""

    _holds = staticmethod(lambda x: builtins.isinstance(x, builtins.dict) and _holds_box(x))
