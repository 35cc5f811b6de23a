"""HIPS autograd's ``autograd.tracer`` names that user programs import: ``primitive`` and ``notrace_primitive``
(the same as :mod:`autonp.extend`'s), ``getval`` (the values under a traced value) and ``isbox`` (is it traced?).
autonp's traced values are Tensors that require grad, where HIPS's are boxes; HIPS's tracing machinery itself
(``trace``, ``Node``) is here as a walk of autonp's tape: ``trace(start_node, f, x)`` runs ``f`` on a Tensor and
builds a node of ``start_node``'s class for every recorded op that reads ``x`` (HIPS's ``print_trace.py`` and
``dot_graph.py`` run as they are).

Libraries that drive HIPS's reverse mode by hand (pymoo's Jacobians, PennyLane's independence check) run too:

    x_box = new_box(x, 0, VJPNode.new_root())   # a fresh Tensor that requires grad
    y = f(x_box)
    backward_pass(g, y._node)                   # gᵀ ∂y/∂x (autonp.core)

A Tensor is its own ``_node``; ``Box`` asks what ``isbox`` asks. Making new kinds of boxes has no counterpart."""
from __future__ import annotations

import warnings
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from .extend import notrace_primitive, primitive
from .pytree import LEAF, TreeDef
from .tensor import Tensor, _mode, _seq, enable_grad

__all__ = ["primitive", "notrace_primitive", "getval", "isbox", "Node", "VJPNode", "trace", "new_box", "Box",
           "trace_stack", "TraceStack"]


def getval(x: Any) -> Any:
    """The array under a Tensor (HIPS: the value in a box, at any depth); anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def isbox(x: Any) -> bool:
    """Is ``x`` being differentiated (a Tensor on the tape)? (HIPS: is it a box.)"""
    return isinstance(x, Tensor) and x.requires_grad


class _BoxType(type):
    def __instancecheck__(cls, x: Any) -> bool:
        return cls._holds(x)


class Box(metaclass=_BoxType):
    """``isinstance(x, Box)``: is ``x`` being differentiated (a Tensor that requires grad). Boxes come from
    :func:`new_box` or from ops on them; they are not made by hand."""

    _holds = staticmethod(isbox)

    def __new__(cls, *args: Any, **kwargs: Any):
        raise TypeError(f"autonp has no {cls.__name__} to make: a value being differentiated is a Tensor "
                        f"(anp.Tensor(values, requires_grad=True), or autonp.tracer.new_box(value, 0, "
                        f"VJPNode.new_root()))")

    @classmethod
    def register(cls, value_type: type) -> None:
        raise NotImplementedError(f"autonp traces Tensors only: a box for {value_type.__name__} values has no "
                                  f"counterpart (differentiate a function of arrays, or of a pytree of them)")


class TraceStack:
    """HIPS's ``trace_stack``: ``with trace_stack.new_trace() as t`` opens trace ``t`` (0, 1, ... as they nest).
    autonp keeps nested derivatives apart by fresh variables (``new_box`` makes them); the traces say which of
    them a result belongs to: the innermost that was open when it was computed (see ``autonp.core.backward_pass``)."""

    def __init__(self) -> None:
        self.open: list[Level] = []

    @property
    def top(self) -> int:
        """The number of the innermost open trace (-1: none)."""
        return len(self.open) - 1

    @contextmanager
    def new_trace(self) -> Iterator[int]:
        self.open.append(Level())
        try:
            yield self.top
        finally:
            self.open.pop().closed = next(_seq)


class Level:
    """One opened trace: when it closed (a tape sequence number), or None while open."""

    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed: int | None = None


trace_stack = TraceStack()


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


class VJPNode(Node):
    """HIPS's reverse-mode node. ``VJPNode.new_root()`` starts a trace (:func:`new_box`, :func:`trace`), and
    ``autonp.core.backward_pass(g, node)`` pulls ``g`` back to that start from a node :func:`trace` built (or from
    ``y._node`` of a result ``y``). ``parents`` are the nodes of the arguments the op read."""

    __slots__ = ("parents", "end")

    def __init__(self, value: Any, fun: Any, args: tuple, kwargs: dict, parent_argnums: tuple, parents: list):
        self.parents = parents
        self.end: Tensor | None = None  # the op's result, set by trace()

    def initialize_root(self, *args: Any, **kwargs: Any) -> None:
        self.parents = []
        self.end = None


class Start:
    """What :func:`new_box` (or :func:`trace`) made variables of: the structure, the caller's leaves, the fresh
    Tensors standing for them (weakly: a result's graph keeps those it needs alive) with their shapes and dtypes,
    whether a derivative through them must itself be recorded, and the trace they start: its number, when it
    opened, and its :class:`Level` (None for a number no ``trace_stack.new_trace`` opened: it never closes)."""

    __slots__ = ("tree", "leaves", "fresh", "metas", "nested", "trace", "opened", "level")

    def __init__(self, tree: TreeDef, leaves: list, fresh: list[Tensor], nested: bool, trace: int,
                 opened: int) -> None:
        self.tree, self.leaves, self.nested, self.trace, self.opened = tree, leaves, nested, trace, opened
        self.fresh = [weakref.ref(t) for t in fresh]
        self.metas = [(t.shape, t.dtype) for t in fresh]
        self.level = trace_stack.open[trace] if 0 <= trace <= trace_stack.top else None
        for t in fresh:
            _started[id(t)] = self
            weakref.finalize(t, _forget, id(t), self)

    def was_open(self, seq: int | None) -> bool:
        """Was this trace open when the tape entry numbered ``seq`` was made (None: a variable, at any time)?"""
        if seq is None:
            return True
        closed = None if self.level is None else self.level.closed
        return self.opened <= seq and (closed is None or seq < closed)


_started: dict[int, Start] = {}  # id of a fresh variable -> the Start it belongs to (while it lives)


def _forget(key: int, start: Start) -> None:
    if _started.get(key) is start:
        del _started[key]


def start_of(t: Tensor) -> Start | None:
    """The :class:`Start` a Tensor is a variable of, if :func:`new_box` or :func:`trace` made it (of a box: a recorded
    copy, not a leaf)."""
    start = _started.get(id(t))
    return start if start is not None and any(r() is t for r in start.fresh) else None


class BoxedTuple(tuple):
    """A tuple of boxes, as :func:`new_box` of a tuple returns it: a tuple, with HIPS's ``_value``, ``_trace`` and
    ``_node`` (PennyLane compares ``_trace``s)."""

    @property
    def _value(self) -> tuple:
        return tuple(getval(x) for x in self)

    _trace = 0

    @property
    def _node(self) -> "BoxedTuple":
        return self


def new_box(value: Any, trace_id: int, node: Node) -> Any:
    """HIPS's ``new_box(value, trace, node)``: ``value`` (an array, a number, or a tuple, list or dict of them) as the
    start of a trace, to be pulled back to by ``autonp.core.backward_pass``: fresh Tensors that require grad, in
    its structure. ``trace`` and ``node`` are HIPS's bookkeeping, which autonp needs neither of."""
    from .functional import _prepare
    opened = next(_seq)  # before the fresh variables: of a box, they are recorded copies
    args, nested, (arg,) = _prepare([value], [0], "new_box")
    Start(arg.tree, arg.leaves, arg.fresh, nested, trace_id, opened)
    boxed = args[0]
    return BoxedTuple(boxed) if type(boxed) is tuple else boxed


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
            if isinstance(built[_key(t)][1], VJPNode):
                built[_key(t)][1].end = t

    _mode.observer = observe
    try:
        with enable_grad(), trace_stack.new_trace() as t:
            Start(LEAF, [x], [root], root is x, t, next(_seq))  # for backward_pass(g, end_node)
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
