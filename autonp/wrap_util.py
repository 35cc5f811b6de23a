"""HIPS autograd's ``autograd.wrap_util.unary_to_nary``: write a differential operator for a function of one
argument, ``op(fun, x, ...)``, and get ``op(fun, argnum=0, ...)(*args, **kwargs)`` for functions of many (a tuple
of argnums differentiates with respect to that tuple of arguments). With ``autonp.core.make_vjp(fun, x)`` this is
how HIPS users define their own operators."""
from __future__ import annotations

import functools
from typing import Any, Callable

from .wrappers import _unary

__all__ = ["unary_to_nary"]


def unary_to_nary(unary_operator: Callable) -> Callable:
    """``unary_operator(fun, x, *rest, **kw)`` → ``operator(fun, argnum=0, *rest, **kw)(*args, **kwargs)``."""
    @functools.wraps(unary_operator)
    def nary_operator(fun: Callable, argnum: Any = 0, *rest: Any, **kw: Any) -> Callable:
        def at(*args: Any, **kwargs: Any) -> Any:
            of, x = _unary(fun, argnum, args, kwargs)
            return unary_operator(of, x, *rest, **kw)
        name = getattr(fun, "__name__", "f")
        at.__name__ = f"{unary_operator.__name__}_of_{name}_wrt_argnum_{argnum}"
        return at
    return nary_operator
