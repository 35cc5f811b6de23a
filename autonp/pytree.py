"""Pytrees: nested tuples, lists and dicts (namedtuples and dict subclasses too) whose leaves are arrays,
Tensors or numbers — the argument structures every transform accepts, as in HIPS autograd and JAX. ``None`` is a
structure with no leaves (JAX's rule): ``{"W": W, "b": None}`` has one leaf, and its gradient is ``{"W": ∂W, "b":
None}``.

``leaves, tree = flatten(x)`` then ``unflatten(tree, leaves)`` rebuilds the same structure. Dict entries
are visited in sorted key order (as HIPS and JAX do), so two dicts with the same keys flatten alike, and come
back in that order; an OrderedDict keeps its own order.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, NamedTuple

__all__ = ["flatten", "unflatten", "tree_map", "TreeDef", "leaf_paths"]


class TreeDef(NamedTuple):
    """The structure of a pytree: ``kind`` is ``None`` for a leaf, else the container's type;
    ``keys`` the dict keys in the order their children were flattened."""
    kind: Any
    children: tuple
    keys: tuple = ()

    @property
    def num_leaves(self) -> int:
        return 1 if self.kind is None else sum(c.num_leaves for c in self.children)


LEAF = TreeDef(None, ())
NONE = TreeDef(type(None), ())


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _dict_keys(d: dict) -> list:
    if isinstance(d, OrderedDict):  # its order is part of its meaning
        return list(d)
    try:
        return sorted(d)
    except TypeError:  # keys of mixed types: insertion order
        return list(d)


def flatten(tree: Any) -> tuple[list, TreeDef]:
    """The leaves of ``tree`` in a fixed order, and its structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(x: Any, leaves: list) -> TreeDef:
    if x is None:  # a structure with nothing in it (an absent bias), as in JAX: it comes back as None
        return NONE
    if isinstance(x, (tuple, list)):
        return TreeDef(type(x), tuple(_flatten(v, leaves) for v in x))
    if isinstance(x, dict):
        keys = _dict_keys(x)
        return TreeDef(type(x), tuple(_flatten(x[k], leaves) for k in keys), tuple(keys))
    leaves.append(x)
    return LEAF


def unflatten(tree: TreeDef, leaves: list) -> Any:
    """The structure ``tree`` with ``leaves`` in place of its leaves."""
    it = iter(leaves)
    out = _build(tree, it)
    if next(it, _END) is not _END:
        raise ValueError(f"unflatten: more leaves than the structure's {tree.num_leaves}")
    return out


_END = object()


def _build(tree: TreeDef, it) -> Any:
    if tree.kind is None:
        leaf = next(it, _END)
        if leaf is _END:
            raise ValueError("unflatten: fewer leaves than the structure has")
        return leaf
    if tree is NONE or tree.kind is type(None):
        return None
    children = [_build(c, it) for c in tree.children]
    if issubclass(tree.kind, dict):
        d = dict(zip(tree.keys, children))
        return d if tree.kind is dict else tree.kind(d)
    if issubclass(tree.kind, tuple) and hasattr(tree.kind, "_fields"):
        return tree.kind(*children)
    return tree.kind(children)


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """``f`` applied leaf by leaf (``rest``: trees of the same structure, their leaves passed alongside)."""
    leaves, td = flatten(tree)
    others = [flatten(r) for r in rest]
    for _, td_r in others:
        if td_r != td:
            raise ValueError(f"tree_map: the trees differ in structure ({_describe(td)} vs {_describe(td_r)})")
    return unflatten(td, [f(*xs) for xs in zip(leaves, *(lv for lv, _ in others))])


def leaf_paths(tree: TreeDef, prefix: str = "") -> list[str]:
    """Where each leaf sits, as Python would index it: ``["[0]['W']", "[0]['b']", ...]``."""
    if tree.kind is None:
        return [prefix]
    if tree.kind is type(None):
        return []
    if issubclass(tree.kind, dict):
        return [p for k, c in zip(tree.keys, tree.children) for p in leaf_paths(c, f"{prefix}[{k!r}]")]
    return [p for i, c in enumerate(tree.children) for p in leaf_paths(c, f"{prefix}[{i}]")]


def _describe(td: TreeDef) -> str:
    if td.kind is None:
        return "*"
    if td.kind is type(None):
        return "None"
    inner = ", ".join(_describe(c) for c in td.children)
    if issubclass(td.kind, dict):
        inner = ", ".join(f"{k!r}: {_describe(c)}" for k, c in zip(td.keys, td.children))
        return "{" + inner + "}"
    return ("[" + inner + "]") if issubclass(td.kind, list) else ("(" + inner + ")")
