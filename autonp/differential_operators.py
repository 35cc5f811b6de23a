"""HIPS autograd's ``autograd.differential_operators``, for programs that import the operators from there: the
same functions as ``autonp``'s top level (``make_jvp_reversemode`` is ``make_jvp``: autonp's forward mode is the
transposed reverse mode already), and ``unary_to_nary`` for writing new ones."""
from __future__ import annotations

from .functional import checkpoint, elementwise_grad, grad, hessian, jacobian, value_and_grad
from .wrap_util import unary_to_nary
from .wrappers import (
    deriv,
    grad_and_aux,
    grad_named,
    hessian_tensor_product,
    hessian_vector_product,
    holomorphic_grad,
    make_ggnvp,
    make_hvp,
    make_jvp,
    make_vjp,
    multigrad_dict,
    tensor_jacobian_product,
    vector_jacobian_product,
)

make_jvp_reversemode = make_jvp

__all__ = ["checkpoint", "deriv", "elementwise_grad", "grad", "grad_and_aux", "grad_named", "hessian",
           "hessian_tensor_product", "hessian_vector_product", "holomorphic_grad", "jacobian", "make_ggnvp",
           "make_hvp", "make_jvp", "make_jvp_reversemode", "make_vjp", "multigrad_dict", "tensor_jacobian_product",
           "unary_to_nary", "value_and_grad", "vector_jacobian_product"]
