"""HIPS autograd's ``autograd.tracer`` names that user programs import: ``primitive`` and ``notrace_primitive``
(the same as :mod:`autonp.extend`'s), ``getval`` (the values under a traced value) and ``isbox`` (is it traced?).
autonp's traced values are Tensors that require grad, where HIPS's are boxes; HIPS's tracing machinery itself
(``trace``, ``Node``, ``Box``) has no counterpart: ``anp.tape`` and ``anp.viz`` show the graph."""
from __future__ import annotations

from typing import Any

from .extend import notrace_primitive, primitive
from .tensor import Tensor

__all__ = ["primitive", "notrace_primitive", "getval", "isbox"]


def getval(x: Any) -> Any:
    """The array under a Tensor (HIPS: the value in a box, at any depth); anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def isbox(x: Any) -> bool:
    """Is ``x`` being differentiated (a Tensor on the tape)? (HIPS: is it a box.)"""
    return isinstance(x, Tensor) and x.requires_grad
