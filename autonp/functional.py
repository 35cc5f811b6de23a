"""Function transforms in the style of HIPS autograd / JAX, built on :func:`autonp.gradients`.

Arguments may be arrays or Tensors. When an argument is a Tensor that requires grad, the
result stays on the tape (``create_graph``), so transforms nest: ``grad(grad(f))``,
``hessian = jacobian(grad(f))``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .tensor import Tensor, gradients

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "hessian", "backward_in_blocks"]


def _prepare(args: Sequence, argnums: Sequence[int]) -> tuple[list, bool]:
    """Make the differentiated arguments Tensors that require grad; report whether any was already
    on an outer tape (then the inner derivative must itself be recorded)."""
    args = list(args)
    nested = False
    for i in argnums:
        a = args[i]
        if isinstance(a, Tensor) and a.requires_grad:
            nested = True
        else:
            data = np.asarray(a.data if isinstance(a, Tensor) else a)
            if data.dtype.kind not in "fc":
                data = data.astype(np.float64)
            args[i] = Tensor(data, requires_grad=True)
    return args, nested


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    return ((argnums,), True) if isinstance(argnums, int) else (tuple(argnums), False)


def _zeros_if_none(g, x: Tensor):
    return Tensor(np.zeros_like(x.data)) if g is None else g


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``value_and_grad(f)(*args) -> (f(*args), ∂f/∂args[argnums])`` for scalar-valued ``f``."""
    nums, single = _argnums(argnums)

    def wrapped(*args, **kwargs):
        args, nested = _prepare(args, nums)
        out = f(*args, **kwargs)
        if not isinstance(out, Tensor) or out.size != 1:
            raise TypeError(f"grad: f must return a scalar Tensor, got {type(out).__name__} "
                            f"of shape {np.shape(out)}")
        xs = [args[i] for i in nums]
        if not out.requires_grad:
            gs = [None] * len(xs)
        else:
            gs = gradients(out, xs, create_graph=nested)
        gs = [_zeros_if_none(g, x) for g, x in zip(gs, xs)]
        return out, (gs[0] if single else tuple(gs))

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``grad(f)(*args)``: the gradient of scalar-valued ``f`` with respect to ``args[argnums]``."""
    vg = value_and_grad(f, argnums)
    return lambda *args, **kwargs: vg(*args, **kwargs)[1]


def vjp(f: Callable, *args) -> tuple[Tensor, Callable]:
    """``out, pullback = vjp(f, *args)``; ``pullback(v)`` gives vᵀ ∂out/∂args (one per arg)."""
    args, nested = _prepare(args, range(len(args)))
    out = f(*args)

    def pullback(v):
        if not out.requires_grad:
            return tuple(_zeros_if_none(None, x) for x in args)
        gs = gradients(out, args, grad_outputs=v, retain_graph=True, create_graph=nested)
        res = tuple(_zeros_if_none(g, x) for g, x in zip(gs, args))
        return res[0] if len(res) == 1 else res

    return out, pullback


def jacobian(f: Callable, argnum: int = 0) -> Callable:
    """``jacobian(f)(*args)``: array of shape ``out.shape + args[argnum].shape`` (one VJP per output)."""

    def wrapped(*args):
        args, nested = _prepare(args, (argnum,))
        x = args[argnum]
        out = f(*args)
        rows = []
        for k in range(out.size):
            seed = np.zeros(out.size, dtype=out.dtype)
            seed[k] = 1
            if out.requires_grad:
                (g,) = gradients(out, [x], grad_outputs=seed.reshape(out.shape), retain_graph=True,
                                 create_graph=nested)
            else:
                g = None
            rows.append(_zeros_if_none(g, x))
        if nested:
            from .ops import reshape, stack
            return reshape(stack(rows), out.shape + x.shape)
        return Tensor(np.stack([np.asarray(r.data) for r in rows]).reshape(out.shape + x.shape))

    return wrapped


def hessian(f: Callable, argnum: int = 0) -> Callable:
    """``hessian(f)(*args)``: the Jacobian of the gradient, shape ``x.shape + x.shape``."""
    return jacobian(grad(f, argnum), argnum)


def backward_in_blocks(loss_fn: Callable, *arrays: Any, block_rows: int = 2048) -> float:
    """Accumulate into ``.grad`` the gradient of a full-batch *mean* loss, computed block by block.

    ``loss_fn(*blocks)`` gets row blocks of ``arrays`` (views, no copies) and returns the mean loss
    over its rows. Since the full-batch mean is Σ_b (n_b/n)·loss_b, each block's ``backward`` is
    seeded with n_b/n: mathematically the same gradient as one full-batch backward (equal to
    rounding), but each block of the data is still in cache when backward reads it again
    (``X_bᵀ @ dz``), and the intermediates are block-sized. Returns the full-batch loss.
    """
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"backward_in_blocks: arrays have different numbers of rows {[len(a) for a in arrays]}")
    total = 0.0
    for start in range(0, n, block_rows):
        blocks = [a[start:start + block_rows] for a in arrays]
        loss = loss_fn(*blocks)
        weight = len(blocks[0]) / n
        loss.backward(np.asarray(weight, dtype=loss.dtype))
        total += weight * loss.item()
    return total
