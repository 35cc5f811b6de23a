"""``const_graph(fun, *args, **kwargs)``, as HIPS autograd's ``autograd.misc.const_graph``: the ops ``fun``
records on its first call are replayed on later calls — the Python code around them does not run again.

That is only right when ``fun`` records the same ops whatever its inputs (no branch, loop count or shape
that depends on them): the caller asserts it, nothing checks it. ``anp.compile`` is the checked version
(guards on what the trace read, side effects refused); use it unless a program was written for this.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..functional import _evaluating
from ..pytree import flatten, unflatten
from ..tensor import Tensor, _as_recorded, _assigned, _toposort, recorded_args

__all__ = ["const_graph"]


def const_graph(fun: Callable, *args: Any, **kwargs: Any) -> Callable:
    """``fun`` with ``args``/``kwargs`` bound, as a function of its remaining positional arguments whose
    recorded ops are replayed after the first call."""
    graph: dict = {}

    @functools.wraps(fun)
    def replayed(*inputs: Any) -> Any:
        leaves, tree = flatten(list(inputs))
        if not graph:
            xs = [Tensor(np.asarray(v.data if isinstance(v, Tensor) else v, dtype=float), requires_grad=True)
                  for v in leaves]
            with _evaluating(function=True):
                out = fun(*args, *unflatten(tree, xs), **kwargs)
            outs, out_tree = flatten(out)
            graph.update(inputs=[id(x) for x in xs], keep=(xs, outs), out_tree=out_tree,
                         order=_toposort([o for o in outs if isinstance(o, Tensor)]))
            if not any(isinstance(v, Tensor) for v in leaves):  # the traced values are the answer
                return unflatten(out_tree, [o.data if isinstance(o, Tensor) else o for o in outs])
        return _replay(graph, leaves)

    return replayed


def _replay(graph: dict, leaves: list) -> Any:
    """Each recorded op again, on the new inputs: the ones computed from parameters too (with their values
    as they are now, and gradients flowing to them)."""
    values = dict(zip(graph["inputs"], leaves))
    assigned = _assigned.count
    for t in graph["order"]:
        node = t.node
        if node is None or id(t) in values:
            continue
        args = [values.get(id(_as_recorded(node, i, a) if assigned and isinstance(a, Tensor) else a), a)
                for i, a in enumerate(recorded_args(node))]
        values[id(t)] = node.prim(*args, **node.kwargs)
    outs = [values.get(id(o), o) if isinstance(o, Tensor) else o for o in graph["keep"][1]]
    return unflatten(graph["out_tree"], outs)
