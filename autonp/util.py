"""HIPS autograd's ``autograd.util``: ``quick_grad_check``, deprecated there since 1.2 (use
``autonp.test_util.check_grads``, or ``anp.gradcheck``, which names the op that is wrong), and the small helpers
programs import from it: ``subval``/``subvals`` (a tuple with entries replaced), ``toposort`` (of HIPS nodes, as
:func:`autonp.tracer.trace` builds them) and ``func``."""
from __future__ import annotations

import operator
import warnings
from typing import Any, Callable, Iterable, Iterator

from .test_util import check_grads

__all__ = ["quick_grad_check", "subval", "subvals", "toposort", "func"]


def subvals(x: Iterable, ivs: Iterable[tuple[int, Any]]) -> tuple:
    """``x`` as a tuple, with ``x[i] = v`` for each ``(i, v)``."""
    items = list(x)
    for i, v in ivs:
        items[i] = v
    return tuple(items)


def subval(x: Iterable, i: int, v: Any) -> tuple:
    """``x`` as a tuple, with ``x[i] = v``."""
    return subvals(x, [(i, v)])


def func(f: Callable) -> Callable:
    """``f`` itself (HIPS kept it for Python 2's unbound methods)."""
    return f


def toposort(end_node: Any, parents: Callable[[Any], Iterable] = operator.attrgetter("parents")) -> Iterator:
    """The nodes ``end_node`` depends on, each after every node that depends on it (``end_node`` first)."""
    children: dict[Any, int] = {}
    stack = [end_node]
    while stack:
        node = stack.pop()
        if node in children:
            children[node] += 1
        else:
            children[node] = 1
            stack.extend(parents(node))
    ready = [end_node]
    while ready:
        node = ready.pop()
        yield node
        for parent in parents(node):
            children[parent] -= 1
            if children[parent] == 0:
                ready.append(parent)


def quick_grad_check(fun: Callable, arg0: Any, extra_args: tuple = (), kwargs: dict | None = None,
                     verbose: bool = True, eps: float = 1e-4, rtol: float = 1e-4, atol: float = 1e-6,
                     rs: Any = None) -> None:
    """Checks ∂fun/∂arg0 against finite differences (reverse mode, first order)."""
    warnings.warn("quick_grad_check is deprecated (as in HIPS autograd); use autonp.test_util.check_grads",
                  DeprecationWarning, stacklevel=2)
    check_grads(lambda x: fun(x, *extra_args, **(kwargs or {})), modes=["rev"], order=1)(arg0)
    if verbose:
        print("Gradient projection OK")
