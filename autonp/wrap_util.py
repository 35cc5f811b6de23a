"""HIPS autograd's ``autograd.wrap_util.unary_to_nary``: write a differential operator for a function of one
argument, ``op(fun, x, ...)``, and get ``op(fun, argnum=0, ...)(*args, **kwargs)`` for functions of many (a tuple
of argnums differentiates with respect to that tuple of arguments). With ``autonp.core.make_vjp(fun, x)`` this is
how HIPS users define their own operators."""
from __future__ import annotations

import functools
from typing import Any, Callable

from .wrappers import _unary

__all__ = ["unary_to_nary", "wraps", "wrap_nary_f", "get_name"]


def get_name(f: Any) -> str:
    return getattr(f, "__name__", "[unknown name]")


def wraps(fun: Callable, namestr: str = "{fun}", docstr: str = "{doc}",
          **kwargs: Any) -> Callable[[Callable], Callable]:
    """A decorator naming the function it decorates after ``fun`` (``namestr``/``docstr`` are format strings of
    ``fun``, ``doc`` and ``kwargs``), as HIPS names its operators' results."""
    def named(f: Callable) -> Callable:
        try:
            f.__name__ = namestr.format(fun=get_name(fun), **kwargs)
            f.__doc__ = docstr.format(fun=get_name(fun), doc=getattr(fun, "__doc__", "") or "", **kwargs)
        except (AttributeError, KeyError, IndexError, ValueError, TypeError):
            pass  # a name that cannot be set or formatted: the function keeps its own
        return f
    return named


def wrap_nary_f(fun: Callable, op: Callable, argnum: Any) -> Callable[[Callable], Callable]:
    """Names an operator's result ``{op}_of_{fun}_wrt_argnum_{argnum}``."""
    return wraps(fun, "{op}_of_{fun}_wrt_argnum_{argnum}",
                 "{op} of function {fun} with respect to argument number {argnum}. Takes the same arguments as "
                 "{fun} but returns the {op}.", op=get_name(op), argnum=argnum)


def unary_to_nary(unary_operator: Callable) -> Callable:
    """``unary_operator(fun, x, *rest, **kw)`` → ``operator(fun, argnum=0, *rest, **kw)(*args, **kwargs)``."""
    @functools.wraps(unary_operator)
    def nary_operator(fun: Callable, argnum: Any = 0, *rest: Any, **kw: Any) -> Callable:
        def at(*args: Any, **kwargs: Any) -> Any:
            of, x = _unary(fun, argnum, args, kwargs)
            return unary_operator(of, x, *rest, **kw)
        return wrap_nary_f(fun, unary_operator, argnum)(at)
    return nary_operator
