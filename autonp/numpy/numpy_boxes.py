"""HIPS autograd's ``autograd.numpy.numpy_boxes.ArrayBox``, for the check programs make of it:
``if isinstance(x, ArrayBox): x = x._value`` (take the values off the tape, to plot them or hand them to a
library that reads arrays). In autonp a value being differentiated is a Tensor that requires grad, so that is
what ``isinstance(x, ArrayBox)`` asks; ``x._value`` is its values. Boxes are not made by hand."""
from __future__ import annotations

import numpy as np

from ..tracer import Box

__all__ = ["ArrayBox"]


class ArrayBox(Box):
    """``isinstance(x, ArrayBox)``: is ``x`` a Tensor being differentiated (one that requires grad)."""

    @classmethod
    def register(cls, value_type: type) -> None:
        """``ArrayBox.register(MyArray)`` for an ndarray subclass: nothing to do, a Tensor holds any ndarray (a box
        for values of another kind has no counterpart, as ``Box.register`` says)."""
        if not (isinstance(value_type, type) and issubclass(value_type, np.ndarray)):
            super().register(value_type)
