"""Pytrees as one flat vector and back: ``flat, unflatten = flatten(params)``.

Both directions are made of differentiable ops, so they work inside differentiated code: ``flatten`` of
Tensors is a Tensor on the tape, and ``unflatten`` of a Tensor gives Tensors whose gradients flow back.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..ops import concatenate, ravel, reshape
from ..pytree import flatten as tree_flatten
from ..pytree import leaf_paths
from ..pytree import unflatten as tree_unflatten
from ..tensor import Tensor


def flatten(value: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``(vector, unflatten)``: the leaves of ``value`` (nested tuples, lists and dicts — dicts in sorted key
    order — of arrays, Tensors and numbers) raveled and joined, and the function that rebuilds the
    structure from such a vector. Numbers come back as 0-d arrays (or 0-d Tensors). A leaf that is not numbers
    (a string, None, a bool, an object array) is refused, as HIPS autograd refuses it: joined with the others
    it made a vector of strings or objects."""
    leaves, tree = tree_flatten(value)
    for i, leaf in enumerate(leaves):
        if not _numeric(leaf):
            raise TypeError(f"flatten: the leaf at {leaf_paths(tree)[i] or 'the top'} is a {type(leaf).__name__}"
                            f"{f' of {leaf.dtype}' if isinstance(leaf, np.ndarray) else ''}, not numbers; "
                            f"flatten takes arrays, Tensors and numbers")
    shapes = [np.shape(leaf) for leaf in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    if any(isinstance(leaf, Tensor) for leaf in leaves):
        vector = concatenate([ravel(leaf) for leaf in leaves]) if leaves else Tensor(np.zeros(0))
    else:
        vector = np.concatenate([np.ravel(leaf) for leaf in leaves]) if leaves else np.zeros(0)

    def unflatten(vec: Any) -> Any:
        if np.shape(vec) != (sum(sizes),):
            raise ValueError(f"unflatten: expected a vector of {sum(sizes)} values, got shape {np.shape(vec)}")
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            piece = vec[start:start + size]
            parts.append(reshape(piece, shape) if isinstance(piece, Tensor) else piece.reshape(shape))
            start += size
        return tree_unflatten(tree, parts)

    return vector, unflatten


def _numeric(leaf: Any) -> bool:
    if isinstance(leaf, Tensor):
        return True
    if isinstance(leaf, (np.ndarray, np.generic)):
        return leaf.dtype.kind in "iufc"
    return type(leaf) in (int, float, complex)


def flatten_func(func: Callable, example: Any) -> tuple[Callable, Callable, Any]:
    """``(flat_func, unflatten, flat_example)``: ``func`` of a pytree as a function of a flat vector
    (``flat_func(vector, *args)``), for optimizers and solvers that work on vectors."""
    flat_example, unflatten = flatten(example)

    def flat_func(vector: Any, *args: Any) -> Any:
        return flatten(func(unflatten(vector), *args))[0]

    return flat_func, unflatten, flat_example
