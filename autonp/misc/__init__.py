"""HIPS autograd's ``autograd.misc``: :func:`flatten` and ``flatten_func``, the optimizers that take a
gradient function over any pytree (:mod:`.optimizers`), and implicit differentiation of fixed points
(:mod:`.fixed_points`), and ``const_graph`` (:mod:`.tracers`)."""
from .flatten import flatten, flatten_func
from .tracers import const_graph

__all__ = ["flatten", "flatten_func", "const_graph"]
