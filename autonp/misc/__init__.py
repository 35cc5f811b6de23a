"""HIPS autograd's ``autograd.misc``: :func:`flatten` and ``flatten_func``, the optimizers that take a
gradient function over any pytree (:mod:`.optimizers`), and implicit differentiation of fixed points
(:mod:`.fixed_points`)."""
from .flatten import flatten, flatten_func

__all__ = ["flatten", "flatten_func"]
