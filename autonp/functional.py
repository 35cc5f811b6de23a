"""Function transforms in the style of HIPS autograd / JAX, built on :func:`autonp.gradients`.

Arguments may be arrays or Tensors. When an argument is a Tensor that requires grad, the
result stays on the tape (``create_graph``), so transforms nest: ``grad(grad(f))``,
``hessian = jacobian(grad(f))``.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import numpy as np

from .ops.shape import copy
from .tensor import Tensor, _mode, as_array, gradients

__all__ = ["grad", "value_and_grad", "elementwise_grad", "vjp", "jvp", "hvp", "jacobian", "hessian", "checkpoint",
           "backward_in_blocks", "block_backward"]


class _Depth(threading.local):
    n = 0  # how many transforms are running in this thread (their functions are being evaluated)


_depth = _Depth()


def _records(values: Sequence) -> bool:
    """Must a derivative be recorded? When the caller records, and an outer transform is running or a
    value is already on a tape (an outer derivative may differentiate it)."""
    return _mode.enabled and (_depth.n > 0 or any(isinstance(v, Tensor) and v.requires_grad for v in values))


def _prepare(args: Sequence, argnums: Sequence[int]) -> tuple[list, bool]:
    """Make the differentiated arguments fresh Tensors that require grad, and say whether the
    derivative must itself be recorded (``nested``): when an outer transform or tape may differentiate
    it (a transform is running, or an argument already requires grad), and the caller records.

    A fresh variable per transform is what keeps nested derivatives apart (no perturbation
    confusion): in ``grad(lambda x: grad(lambda y: x * y)(x))`` the inner ``y`` is a recorded copy of
    the outer ``x``, so the inner derivative counts only the paths through ``y``."""
    args = list(args)
    nested = _records(args)
    for i in argnums:
        a = args[i]
        if isinstance(a, Tensor) and a.requires_grad and nested:
            args[i] = copy(a)  # on the outer tape: the outer derivative flows through it
        else:
            data = as_array(a._arr if isinstance(a, Tensor) else a)
            if data.dtype.kind not in "fc":
                data = data.astype(np.float64)
            args[i] = Tensor(data, requires_grad=True)
    return args, nested


class _evaluating:
    """While a transform evaluates its function: recording on (a transform differentiates whatever mode
    its caller is in: under ``no_grad``, inside a VJP) and the depth counted for inner transforms."""

    def __enter__(self) -> None:
        self._prev = _mode.enabled
        _mode.enabled = True
        _depth.n += 1

    def __exit__(self, *exc: Any) -> None:
        _depth.n -= 1
        _mode.enabled = self._prev


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    return ((argnums,), True) if isinstance(argnums, int) else (tuple(argnums), False)


def _zeros_if_none(g, x: Tensor):
    return Tensor(np.zeros_like(x.data)) if g is None else g


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``value_and_grad(f)(*args) -> (f(*args), ∂f/∂args[argnums])`` for scalar-valued ``f``.

    The value comes back detached (its graph is spent), unless the call is itself being
    differentiated (an argument already required grad). With ``has_aux``, ``f`` returns
    ``(value, aux)`` and the result is ``((value, aux), grads)``, as in JAX.
    """
    nums, single = _argnums(argnums)

    def wrapped(*args, **kwargs):
        args, nested = _prepare(args, nums)
        with _evaluating():
            out = f(*args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("grad(has_aux=True): f must return a pair (scalar value, auxiliary data)")
            out, aux = out
        if not isinstance(out, Tensor) or out.size != 1:
            raise TypeError(f"grad: f must return a scalar Tensor, got {type(out).__name__} "
                            f"of shape {np.shape(out)}")
        xs = [args[i] for i in nums]
        if not out.requires_grad:
            gs = [None] * len(xs)
        else:
            with _evaluating():
                gs = gradients(out, xs, create_graph=nested)
        gs = [_zeros_if_none(g, x) for g, x in zip(gs, xs)]
        value = out if nested else out.detach()
        return ((value, aux) if has_aux else value), (gs[0] if single else tuple(gs))

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``grad(f)(*args)``: the gradient of scalar-valued ``f`` with respect to ``args[argnums]``
    (with ``has_aux``: ``(gradient, aux)``)."""
    vg = value_and_grad(f, argnums, has_aux)
    if has_aux:
        return lambda *args, **kwargs: (lambda r: (r[1], r[0][1]))(vg(*args, **kwargs))
    return lambda *args, **kwargs: vg(*args, **kwargs)[1]


def elementwise_grad(f: Callable, argnum: int = 0) -> Callable:
    """∂ Σ f(x) / ∂x: for a function applied elementwise, each element's derivative."""
    def summed(*args):
        out = f(*args)
        return out.sum() if isinstance(out, Tensor) else Tensor(np.sum(out))
    return grad(summed, argnum)


def vjp(f: Callable, *args) -> tuple[Tensor, Callable]:
    """``out, pullback = vjp(f, *args)``; ``pullback(v)`` gives vᵀ ∂out/∂args (one per arg; a single
    argument's gradient is returned alone). Arguments ``out`` does not depend on get zeros."""
    args, nested = _prepare(args, range(len(args)))
    with _evaluating():
        out = f(*args)
    single = len(args) == 1

    def pullback(v):
        if not isinstance(out, Tensor) or not out.requires_grad:
            res = tuple(_zeros_if_none(None, x) for x in args)
        else:
            record = nested or _records((v,))
            with _evaluating():
                gs = gradients(out, args, grad_outputs=v, retain_graph=True, create_graph=record)
            res = tuple(_zeros_if_none(g, x) for g, x in zip(gs, args))
        return res[0] if single else res

    return out, pullback


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Tensor, Tensor]:
    """Forward mode: ``(f(*primals), ∂f·tangents)``. Computed by transposing the VJP: the pullback
    u ↦ uᵀJ is linear in u, so its own VJP at the tangent is J·t (VJPs are differentiable)."""
    primals, tangents = list(primals), list(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    nested = _records(primals + tangents)
    args, _ = _prepare(primals, range(len(primals)))
    with _evaluating():
        out = f(*args)
        if not isinstance(out, Tensor) or not out.requires_grad:
            return out, Tensor(np.zeros(np.shape(out)))
        u = Tensor(np.zeros(out.shape, dtype=out.dtype), requires_grad=True)
        gs = gradients(out, args, grad_outputs=u, retain_graph=True, create_graph=True)
        total = None
        for g, t in zip(gs, tangents):
            if g is not None and g.requires_grad:
                if not isinstance(t, Tensor):
                    t = as_array(t).astype(g.dtype, copy=False)
                term = (g * t).sum()
                total = term if total is None else total + term
        if total is None:
            return (out if nested else out.detach()), Tensor(np.zeros(out.shape, dtype=out.dtype))
        (jt,) = gradients(total, [u], create_graph=nested)
    return (out if nested else out.detach()), _zeros_if_none(jt, u)


def hvp(f: Callable, argnum: int = 0) -> Callable:
    """``hvp(f)(*args, v)``: the Hessian of scalar ``f`` at ``args[argnum]`` times ``v``, without
    forming the Hessian (the gradient of ∇f·v)."""
    def wrapped(*args_and_v):
        *args, v = args_and_v
        g_dot_v = lambda *a: (grad(f, argnum)(*a) * v).sum()  # noqa: E731
        return grad(g_dot_v, argnum)(*args)
    return wrapped


def jacobian(f: Callable, argnum: int = 0) -> Callable:
    """``jacobian(f)(*args)``: array of shape ``out.shape + args[argnum].shape`` (one VJP per output)."""

    def wrapped(*args):
        args, nested = _prepare(args, (argnum,))
        x = args[argnum]
        with _evaluating():
            out = f(*args)
            return _jacobian_rows(out, x, nested)

    return wrapped


def _jacobian_rows(out: Tensor, x: Tensor, nested: bool) -> Tensor:
    """One VJP per element of ``out``, stacked: shape ``out.shape + x.shape``."""
    rows = []
    for k in range(out.size):
        seed = np.zeros(out.size, dtype=out.dtype)
        seed[k] = 1
        if out.requires_grad:
            (g,) = gradients(out, [x], grad_outputs=seed.reshape(out.shape), retain_graph=True, create_graph=nested)
        else:
            g = None
        rows.append(_zeros_if_none(g, x))
    if nested:
        from .ops import reshape, stack
        return reshape(stack(rows), out.shape + x.shape)
    return Tensor(np.stack([r._arr for r in rows]).reshape(out.shape + x.shape))


def hessian(f: Callable, argnum: int = 0) -> Callable:
    """``hessian(f)(*args)``: the Jacobian of the gradient, shape ``x.shape + x.shape``."""
    return jacobian(grad(f, argnum), argnum)


def checkpoint(f: Callable, *args: Any) -> Tensor:
    """``f(*args)`` without keeping its intermediates: the forward runs without recording, and the
    backward runs ``f`` again to get them (memory for time, as ``torch.utils.checkpoint``).
    ``f`` must be deterministic (seed any randomness)."""
    from .tensor import Primitive, no_grad

    def forward(*vals):
        with no_grad():
            out = f(*(Tensor(v) if isinstance(v, np.ndarray) else v for v in vals))
        return out._arr if isinstance(out, Tensor) else as_array(out)

    def vjp_for(i):
        def vjp_i(g, ans, *vals):
            # plain arrays in an ordinary backward, Tensors under create_graph (then the result is recorded too)
            vals = [Tensor(v) if isinstance(v, np.ndarray) else v for v in vals]
            _, pullback = vjp(lambda xi: f(*vals[:i], xi, *vals[i + 1:]), vals[i])
            gi = pullback(g)
            return gi if isinstance(g, Tensor) else gi._arr
        return vjp_i

    name = f"checkpoint({getattr(f, '__name__', 'f')})"
    prim = Primitive(name, forward, [vjp_for(i) for i in range(len(args))])
    return prim(*args)


def block_backward(loss: Callable[[], Tensor], weight: float) -> float:
    """Backward of one block's mean loss seeded with its weight n_b/n (so that the blocks' gradients
    add up to the full batch's); returns weight · loss. The unit of ``backward_in_blocks`` and of
    ``autonp.distributed.data_parallel``'s tasks."""
    out = loss()
    out.backward(np.asarray(weight, dtype=out.dtype))
    return weight * out.item()


def check_block_rows(who: str, block_rows: Any) -> None:
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) or block_rows < 1:
        raise ValueError(f"{who}: block_rows must be a positive integer, got {block_rows!r}")


def backward_in_blocks(loss_fn: Callable, *arrays: Any, block_rows: int = 2048) -> float:
    """Accumulate into ``.grad`` the gradient of a full-batch *mean* loss, computed block by block.

    ``loss_fn(*blocks)`` gets row blocks of ``arrays`` (views, no copies) and returns the mean loss
    over its rows. Since the full-batch mean is Σ_b (n_b/n)·loss_b, each block's ``backward`` is
    seeded with n_b/n: mathematically the same gradient as one full-batch backward (equal to
    rounding), but each block of the data is still in cache when backward reads it again
    (``X_bᵀ @ dz``), and the intermediates are block-sized. Returns the full-batch loss.
    (``autonp.distributed.data_parallel`` runs the same blocks on Dask.)
    """
    check_block_rows("backward_in_blocks", block_rows)
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"backward_in_blocks: arrays have different numbers of rows {[len(a) for a in arrays]}")
    if n == 0:
        raise ValueError("backward_in_blocks: no rows (the mean loss over no rows is undefined)")
    total = 0.0
    for start in range(0, n, block_rows):
        blocks = [a[start:start + block_rows] for a in arrays]
        total += block_backward(lambda: loss_fn(*blocks), len(blocks[0]) / n)
    return total
