"""HIPS autograd's ``autograd.core`` names that user programs import: ``make_vjp(fun, x)`` and ``make_jvp(fun,
x)`` (of a function of one argument, for operators written with ``autonp.wrap_util.unary_to_nary``), the
primitive definitions older programs take from here (``primitive`` with its deprecated ``defgrad``/``defvjp``
methods, ``defvjp``, ``defjvp`` and their argnum forms: :mod:`autonp.extend`'s), reverse mode by hand
(``VJPNode``, ``backward_pass``: see :mod:`autonp.tracer`) and ``vspace(x)``, the space a value lives in.
HIPS's tables (``primitive_vjps``) and new kinds of vector space have no counterpart."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from . import wrappers
from .extend import defjvp, defjvp_argnum, defjvp_argnums, defvjp, defvjp_argnum, defvjp_argnums, primitive
from .functional import _Arg, _evaluating, _grads, _records
from .pytree import flatten
from .tensor import Tensor, _toposort, gradients
from .tracer import Box, Start, VJPNode, getval, isbox, start_of

__all__ = ["make_vjp", "make_jvp", "primitive", "defvjp", "defvjp_argnum", "defvjp_argnums", "defjvp",
           "defjvp_argnum", "defjvp_argnums", "VJPNode", "backward_pass", "vspace", "VSpace", "getval", "isbox",
           "Box"]


def make_vjp(fun: Callable, x: Any) -> tuple[Callable, Any]:
    """``(vjp, fun(x))``: the pullback v ↦ vᵀ ∂fun/∂x first, as HIPS's core returns them."""
    return wrappers.make_vjp(fun)(x)


def make_jvp(fun: Callable, x: Any) -> Callable:
    """``make_jvp(fun, x)(v) -> (fun(x), J·v)``: forward mode at x."""
    return wrappers.make_jvp(fun)(x)


def backward_pass(g: Any, end_node: Any) -> Any:
    """gᵀ ∂end/∂start: ``end_node`` is a result's ``_node`` (a Tensor, or a tuple, list or dict of them) or a node
    :func:`autonp.tracer.trace` built; ``start`` is the value that :func:`autonp.tracer.new_box` (or ``trace``)
    made variables of, which the result depends on. The gradient comes in the start's structure; it is recorded
    (a Tensor) when ``g`` is itself being differentiated, or when the start was. The graph is kept, so the pass
    can run again with another ``g`` (a Jacobian row by row)."""
    if isinstance(end_node, VJPNode):
        if end_node.end is None:
            return g  # the start itself (HIPS: the trace of the identity)
        end_node = end_node.end
    ends, tree = flatten(end_node)
    gs, g_tree = flatten(g)
    if g_tree != tree:
        raise ValueError(f"backward_pass: g has {len(gs)} values in its structure, the result {len(ends)}")
    live = [(e, v) for e, v in zip(ends, gs) if isinstance(e, Tensor) and e.requires_grad]
    start = _start([e for e, _ in live])
    fresh = [r() for r in start.fresh]
    wanted = [t for t in fresh if t is not None]
    record = start.nested or _records([v for _, v in live])
    with _evaluating():
        got = iter(gradients([e for e, _ in live], wanted, grad_outputs=[v for _, v in live], retain_graph=True,
                             create_graph=record))
    stand_ins = [t if t is not None else Tensor(np.zeros(shape, dtype)) for t, (shape, dtype) in
                 zip(fresh, start.metas)]
    return _grads(_Arg(start.tree, start.leaves, stand_ins), [next(got) if t is not None else None for t in fresh],
                  record)


def _start(ends: list[Tensor]) -> Start:
    """The start the results belong to: of the starts they depend on, the one of the innermost trace that was
    open when they were computed (HIPS: the trace of their boxes). After ``backward_pass`` inside a nested
    trace, the gradient depends on the inner start too, but belongs to the outer trace once the inner closed."""
    seqs = {t.node.seq if t.node is not None else None for t in ends}
    seq = None if None in seqs or not seqs else max(seqs)
    found = {id(s): s for t in _toposort(ends) if (s := start_of(t)) is not None and s.was_open(seq)}
    if not found:
        raise ValueError("backward_pass: the result does not depend on a value boxed by autonp.tracer.new_box "
                         "(or traced by autonp.tracer.trace) in a trace open when it was computed" if ends else
                         "backward_pass: the result is not being differentiated (it holds no box)")
    top = max(s.trace for s in found.values())
    innermost = [s for s in found.values() if s.trace == top]
    if len(innermost) > 1:
        raise ValueError(f"backward_pass: the result depends on {len(innermost)} values boxed separately in trace "
                         f"{top}; HIPS autograd would pull back to one of them only. Box them together (new_box of "
                         f"a tuple), or use autonp.grad / autonp.vjp")
    return innermost[0]


# ---------------------------------------------------------------------------------------------- vector spaces

class VSpace:
    """The vector space a value lives in (``vspace(x)``): its ``shape``, ``dtype`` and ``size``, and values of it
    (``zeros()``, ``ones()``, ``randn()``, ``standard_basis()``), with its operations (``add``, ``mut_add``,
    ``scalar_mul``, ``inner_prod``, ``covector``), which Tensors pass through on the tape."""

    mappings: dict = {}
    iscomplex = False

    def __init__(self, value: Any) -> None:
        pass

    def zeros(self) -> Any:
        raise NotImplementedError(repr(self))

    def ones(self) -> Any:
        raise NotImplementedError(repr(self))

    def randn(self) -> Any:
        raise NotImplementedError(repr(self))

    def standard_basis(self) -> Iterator[Any]:
        raise NotImplementedError(repr(self))

    def add(self, x: Any, y: Any) -> Any:
        return x + y

    def mut_add(self, x_prev: Any, x_new: Any) -> Any:
        """x_prev + x_new, into x_prev where it is a plain array (zeros for None)."""
        if x_prev is None:
            x_prev = self.zeros()
        if type(x_prev) is np.ndarray and not isinstance(x_new, Tensor):
            x_prev += x_new
            return x_prev
        return self.add(x_prev, x_new)

    def scalar_mul(self, x: Any, a: Any) -> Any:
        return x * a

    def inner_prod(self, x: Any, y: Any) -> Any:
        raise NotImplementedError(repr(self))

    def covector(self, x: Any) -> Any:
        return x

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}_{vars(self)}"

    @classmethod
    def register(cls, value_type: type, vspace_maker: Callable | None = None) -> None:
        VSpace.mappings[value_type] = vspace_maker or cls


def vspace(value: Any) -> VSpace:
    """The vector space of an array, a number, a Tensor (of its values), or a tuple, list or dict of them."""
    maker = VSpace.mappings.get(type(value))
    if maker is not None:
        return maker(value)
    if isinstance(value, Tensor):
        return vspace(value._arr)
    raise TypeError(f"Can't find vector space for value {value!r} of type {type(value)}. Valid types are "
                    f"{list(VSpace.mappings)}")


class ArrayVSpace(VSpace):
    """Real arrays of one shape and dtype."""

    def __init__(self, value: Any) -> None:
        value = np.asarray(value)
        self.shape = value.shape
        self.dtype = value.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def zeros(self) -> np.ndarray:
        return np.zeros(self.shape, self.dtype)

    def ones(self) -> np.ndarray:
        return np.ones(self.shape, self.dtype)

    def randn(self) -> np.ndarray:
        return np.array(np.random.randn(*self.shape)).astype(self.dtype)

    def standard_basis(self) -> Iterator[np.ndarray]:
        for i in np.ndindex(*self.shape):
            e = self.zeros()
            e[i] = 1
            yield e

    def inner_prod(self, x: Any, y: Any) -> Any:
        """⟨x, y⟩ = Σ x·y."""
        from .numpy import dot, ravel
        return dot(ravel(x), ravel(y))


class ComplexArrayVSpace(ArrayVSpace):
    """Complex arrays, a real space of twice the size: ⟨x, y⟩ = Re Σ x̄·y."""

    iscomplex = True

    @property
    def size(self) -> int:
        return 2 * int(np.prod(self.shape))

    def ones(self) -> np.ndarray:
        return np.full(self.shape, 1 + 1j, self.dtype)

    def randn(self) -> np.ndarray:
        return (np.array(np.random.randn(*self.shape)).astype(self.dtype)
                + 1j * np.array(np.random.randn(*self.shape)).astype(self.dtype))

    def standard_basis(self) -> Iterator[np.ndarray]:
        for i in np.ndindex(*self.shape):
            for unit in (1.0, 1.0j):
                e = self.zeros()
                e[i] = unit
                yield e

    def inner_prod(self, x: Any, y: Any) -> Any:
        from .numpy import conj, dot, ravel, real
        return real(dot(conj(ravel(x)), ravel(y)))

    def covector(self, x: Any) -> Any:
        from .numpy import conj
        return conj(x)


VSpace.register(np.ndarray, lambda x: ComplexArrayVSpace(x) if np.iscomplexobj(x) else ArrayVSpace(x))
for _t in (float, np.longdouble, np.float64, np.float32, np.float16):
    ArrayVSpace.register(_t)
for _t in (complex, np.clongdouble, np.complex64, np.complex128):
    ComplexArrayVSpace.register(_t)


class ContainerVSpace(VSpace):
    """A tuple, list or dict of values: the product of their spaces (``shape`` holds each one's space)."""

    def __init__(self, value: Any) -> None:
        self.shape = self._map(vspace, value)

    def _map(self, f: Callable, *containers: Any) -> Any:  # f over the children, in the container's kind
        raise NotImplementedError

    def _children(self, x: Any) -> list:
        raise NotImplementedError

    def _replaced(self, x: Any, key: Any, child: Any) -> Any:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return sum(vs.size for vs in self._children(self.shape))

    def zeros(self) -> Any:
        return self._map(lambda vs: vs.zeros(), self.shape)

    def ones(self) -> Any:
        return self._map(lambda vs: vs.ones(), self.shape)

    def randn(self) -> Any:
        return self._map(lambda vs: vs.randn(), self.shape)

    def standard_basis(self) -> Iterator[Any]:
        zero = self.zeros()
        for key, vs in self._items(self.shape):
            for e in vs.standard_basis():
                yield self._replaced(zero, key, e)

    def add(self, xs: Any, ys: Any) -> Any:
        return self._map(lambda vs, x, y: vs.add(x, y), self.shape, xs, ys)

    def mut_add(self, xs: Any, ys: Any) -> Any:
        if xs is None:
            xs = self.zeros()
        return self._map(lambda vs, x, y: vs.mut_add(x, y), self.shape, xs, ys)

    def scalar_mul(self, xs: Any, a: Any) -> Any:
        return self._map(lambda vs, x: vs.scalar_mul(x, a), self.shape, xs)

    def inner_prod(self, xs: Any, ys: Any) -> Any:
        return sum(self._children(self._map(lambda vs, x, y: vs.inner_prod(x, y), self.shape, xs, ys)))

    def covector(self, xs: Any) -> Any:
        return self._map(lambda vs, x: vs.covector(x), self.shape, xs)

    def _items(self, x: Any) -> Any:
        return enumerate(x)


class SequenceVSpace(ContainerVSpace):
    kind: type = tuple

    def _map(self, f: Callable, *containers: Any) -> Any:
        return self.kind(map(f, *containers))

    def _children(self, x: Any) -> list:
        return list(x)

    def _replaced(self, x: Any, key: Any, child: Any) -> Any:
        items = list(x)
        items[key] = child
        return self.kind(items)


class TupleVSpace(SequenceVSpace):
    kind = tuple


class ListVSpace(SequenceVSpace):
    kind = list


class DictVSpace(ContainerVSpace):
    def _map(self, f: Callable, *containers: Any) -> Any:
        return {k: f(*(c[k] for c in containers)) for k in containers[0]}

    def _children(self, x: Any) -> list:
        return list(x.values())

    def _replaced(self, x: Any, key: Any, child: Any) -> Any:
        return {**x, key: child}

    def _items(self, x: Any) -> Any:
        return x.items()


TupleVSpace.register(tuple)
ListVSpace.register(list)
DictVSpace.register(dict)
