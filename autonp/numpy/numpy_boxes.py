"""HIPS autograd's ``autograd.numpy.numpy_boxes.ArrayBox``, for the check programs make of it:
``if isinstance(x, ArrayBox): x = x._value`` (take the values off the tape, to plot them or hand them to a
library that reads arrays). In autonp a value being differentiated is a Tensor that requires grad, so that is
what ``isinstance(x, ArrayBox)`` asks; ``x._value`` is its values. Boxes are not made by hand."""
from __future__ import annotations

from typing import Any

from ..tracer import isbox

__all__ = ["ArrayBox"]


class _BoxType(type):
    def __instancecheck__(cls, x: Any) -> bool:
        return cls._holds(x)


class ArrayBox(metaclass=_BoxType):
    """``isinstance(x, ArrayBox)``: is ``x`` a Tensor being differentiated (one that requires grad)."""

    _holds = staticmethod(isbox)

    def __new__(cls, *args: Any, **kwargs: Any):
        raise TypeError(f"autonp has no {cls.__name__} to make: a value being differentiated is a Tensor "
                        f"(anp.Tensor(values, requires_grad=True))")
