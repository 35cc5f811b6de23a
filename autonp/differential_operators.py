"""HIPS autograd's ``autograd.differential_operators``, for programs that import the operators from there: the
same functions as ``autonp``'s top level (``make_jvp_reversemode`` is ``make_jvp``: autonp's forward mode is the
transposed reverse mode already), and ``unary_to_nary`` for writing new ones."""
from __future__ import annotations

from . import wrappers
from .functional import checkpoint, elementwise_grad, grad, hessian, jacobian, value_and_grad
from .wrap_util import unary_to_nary
from .wrappers import *  # noqa: F403 - the HIPS-named operators, the same objects as autonp's top level

make_jvp_reversemode = wrappers.make_jvp

__all__ = ["checkpoint", "elementwise_grad", "grad", "hessian", "jacobian", "value_and_grad", "unary_to_nary",
           "make_jvp_reversemode", *wrappers.__all__]
