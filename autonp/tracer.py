"""HIPS autograd's ``autograd.tracer`` names that user programs import: ``primitive`` and ``notrace_primitive``
(the same as :mod:`autonp.extend`'s), ``getval`` (the values under a traced value) and ``isbox`` (is it traced?).
autonp's traced values are Tensors that require grad, where HIPS's are boxes; HIPS's tracing machinery itself
(``trace``, ``Node``) is here as a walk of autonp's tape: ``trace(start_node, f, x)`` runs ``f`` on a Tensor and
builds a node of ``start_node``'s class for every recorded op that reads ``x`` (HIPS's ``print_trace.py`` and
``dot_graph.py`` run as they are). ``Box`` and ``VSpace`` (new kinds of traced value) have no counterpart."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .extend import notrace_primitive, primitive
from .tensor import Tensor, _mode, enable_grad

__all__ = ["primitive", "notrace_primitive", "getval", "isbox", "Node", "trace"]


def getval(x: Any) -> Any:
    """The array under a Tensor (HIPS: the value in a box, at any depth); anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def isbox(x: Any) -> bool:
    """Is ``x`` being differentiated (a Tensor on the tape)? (HIPS: is it a box.)"""
    return isinstance(x, Tensor) and x.requires_grad


class Node:
    """A node of :func:`trace`'s graph, HIPS's interface: subclass it with ``__init__(self, value, fun, args, kwargs,
    parent_argnums, parents)`` (one recorded op: ``value = fun(*args, **kwargs)``, ``parents`` the nodes of the
    arguments at ``parent_argnums``) and ``initialize_root(self, *args, **kwargs)``; start with ``new_root``."""

    __slots__ = ()

    def __init__(self, value: Any, fun: Any, args: tuple, kwargs: dict, parent_argnums: tuple, parents: list):
        raise NotImplementedError("subclass autonp.tracer.Node and define __init__ and initialize_root")

    def initialize_root(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("subclass autonp.tracer.Node and define __init__ and initialize_root")

    @classmethod
    def new_root(cls, *args: Any, **kwargs: Any) -> "Node":
        root = cls.__new__(cls)
        root.initialize_root(*args, **kwargs)
        return root


def _value(arr: Any) -> Any:
    """A 0-d array as NumPy's scalar (what HIPS's boxes hold for a number); anything else as it is."""
    return arr[()] if isinstance(arr, np.ndarray) and arr.ndim == 0 else arr


def trace(start_node: Node, fun: Any, x: Any) -> tuple[Any, Any]:
    """Run ``fun(x)``, building a node of ``type(start_node)`` for each recorded op that reads ``x`` (directly or
    through earlier such ops) as the op runs, with its parents' nodes. Returns ``(value of fun(x), node of the
    result)``, or ``(fun(x), None)`` with a warning when the result does not depend on ``x``. ``x`` is a new leaf
    of the tape, unless it is a Tensor that requires grad already (a trace inside a trace); through ``grad`` the
    ops of the backward pass are recorded, and built, too."""
    root = x if isinstance(x, Tensor) and x.requires_grad else Tensor(x, requires_grad=True)
    built: dict[int, tuple[Any, Any]] = {_key(root): (root, start_node)}  # keeps each entry alive: ids stay unique
    outer = _mode.observer

    def observe(t: Tensor) -> None:
        if outer is not None:
            outer(t)
        node = t.node
        argnums = tuple(i for i, a in enumerate(node.args) if isinstance(a, Tensor) and _key(a) in built)
        if argnums:
            built[_key(t)] = (node, type(start_node)(
                _value(t._arr), node.prim, tuple(_value(v) for v in node.vals), dict(node.kwargs), argnums,
                [built[_key(node.args[i])][1] for i in argnums]))

    _mode.observer = observe
    try:
        with enable_grad():
            out = fun(root)
    finally:
        _mode.observer = outer
    if not isinstance(out, Tensor) or _key(out) not in built:
        warnings.warn("Output seems independent of input.", stacklevel=2)
        return out, None
    return _value(out._arr), built[_key(out)][1]


def _key(t: Tensor) -> int:
    """What identifies a traced value: its tape entry (an in-place change makes a new object on the same entry
    for the earlier value), or the leaf itself."""
    return id(t.node) if t.node is not None else id(t)
