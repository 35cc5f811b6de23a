"""Function transforms in the style of HIPS autograd / JAX, built on :func:`autonp.gradients`.

Arguments may be arrays or Tensors. When an argument is a Tensor that requires grad, the
result stays on the tape (``create_graph``), so transforms nest: ``grad(grad(f))``,
``hessian = jacobian(grad(f))``.
"""
from __future__ import annotations

import functools
import threading
import warnings
import weakref
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from .ops.elementwise import real
from .ops.shape import copy
from .pytree import TreeDef, flatten, leaf_paths, tree_map, unflatten
from .tensor import Tensor, _data, _is_stand_in, _mode, as_array, describe, gradients

__all__ = ["grad", "value_and_grad", "elementwise_grad", "vjp", "jvp", "hvp", "jacobian", "hessian", "checkpoint",
           "recomputing", "backward_in_blocks", "block_backward", "refuse_in_blocks"]


class _Depth(threading.local):
    n = 0  # how many transforms are running in this thread (their functions are being evaluated)


_depth = _Depth()


def _records(values: Sequence) -> bool:
    """Must a derivative be recorded? When the caller records, and an outer transform is running or a
    value (anywhere in the argument pytrees) is already on a tape (an outer derivative may differentiate it)."""
    return _mode.enabled and (_depth.n > 0 or any(isinstance(v, Tensor) and v.requires_grad
                                                  for v in flatten(list(values))[0]))


class _Arg(NamedTuple):
    """One differentiated argument: its structure, the caller's leaves and the fresh Tensors standing for them."""
    tree: TreeDef
    leaves: list
    fresh: list


# the variables a transform made from Python numbers: anp.compile keys a trace on such numbers' values, so
# the constants it bakes in for them are right (its check for hidden Tensors passes these by)
number_variables: weakref.WeakSet = weakref.WeakSet()


def _fresh(leaf: Any, nested: bool, who: str, where: str) -> Tensor:
    if isinstance(leaf, Tensor):
        if leaf.requires_grad and nested:
            return copy(leaf)  # on the outer tape: the outer derivative flows through it
        data = leaf._arr
    else:
        data = as_array(leaf)
        if data.dtype.kind not in "biufc":
            raise TypeError(f"{who}: argument {where} is a {type(leaf).__name__} ({data.dtype}); only arrays, "
                            f"Tensors and numbers — alone or in tuples, lists and dicts — can be differentiated")
    if data.dtype.kind not in "fc":
        data = data.astype(np.float64)
    fresh = Tensor(data, requires_grad=True)
    if not isinstance(leaf, (Tensor, np.ndarray)) and not _is_stand_in(leaf):
        number_variables.add(fresh)
    return fresh


def _prepare(args: Sequence, argnums: Sequence[int], who: str = "grad") -> tuple[list, bool, list[_Arg]]:
    """Make the leaves of the differentiated arguments (arrays, or pytrees of them) fresh Tensors that
    require grad, and say whether the derivative must itself be recorded (``nested``): when an outer
    transform or tape may differentiate it (a transform is running, or an argument already requires
    grad), and the caller records.

    A fresh variable per transform is what keeps nested derivatives apart (no perturbation
    confusion): in ``grad(lambda x: grad(lambda y: x * y)(x))`` the inner ``y`` is a recorded copy of
    the outer ``x``, so the inner derivative counts only the paths through ``y``."""
    args = list(args)
    nested = _records(args)
    prepared, made = [], {}
    for i in argnums:
        if not -len(args) <= i < len(args):
            raise IndexError(f"{who}: argnum {i} but the function was called with {len(args)} positional arguments")
        i %= len(args)
        if i not in made:  # an argument named twice (argnum=(0, 0), or (1, -1)) is one variable, listed twice
            leaves, tree = flatten(args[i])
            paths = leaf_paths(tree, str(i))
            fresh = [_fresh(leaf, nested, who, p) for leaf, p in zip(leaves, paths)]
            args[i] = unflatten(tree, fresh)
            made[i] = _Arg(tree, leaves, fresh)
        prepared.append(made[i])
    return args, nested, prepared


def _zeros_if_none(g, x: Tensor):
    return Tensor(np.zeros_like(x.data)) if g is None else g


def _has_tensor(values: Any) -> bool:
    return any(isinstance(v, Tensor) for v in flatten(values)[0])


def _plain(x: Any) -> Any:
    """A result for a caller who passed plain arrays: an ndarray (a NumPy scalar for one value of a 0-d result)."""
    arr = x._arr if isinstance(x, Tensor) else x
    return arr[()] if isinstance(arr, np.ndarray) and arr.ndim == 0 else arr


def _value(out: Any, nested: bool, tensors_in: bool) -> Any:
    """What a transform hands back of f's own result: still on the tape when the call is being
    differentiated; else detached (Tensors in) or plain (arrays in), leaf by leaf."""
    if nested:
        return out
    return tree_map(lambda v: (v.detach() if tensors_in else _plain(v)) if isinstance(v, Tensor) else v, out)


def _grads(arg: _Arg, gs: Sequence, keep: bool) -> Any:
    """The gradients of one argument, in its structure. Each leaf's gradient has the leaf's kind: a Tensor
    for a Tensor (and for everything while the call is recorded), an ndarray for an array, a NumPy
    scalar for a number; zeros where f does not depend on it."""
    out = []
    for leaf, x, g in zip(arg.leaves, arg.fresh, gs):
        g = _zeros_if_none(g, x)
        if keep or isinstance(leaf, Tensor):
            out.append(g)
        elif isinstance(leaf, np.ndarray) or _is_stand_in(leaf):
            out.append(g._arr)
        else:
            out.append(_plain(g))
    return unflatten(arg.tree, out)


class _evaluating:
    """While a transform evaluates its function (``function=True``: the user's; ``float(t)`` of a Tensor that
    requires grad is refused there) or its gradients: recording on (a transform differentiates whatever mode its
    caller is in: under ``no_grad``, inside a VJP) and the depth counted for inner transforms."""

    def __init__(self, function: bool = False):
        self.function = function

    def __enter__(self) -> None:
        self._prev = _mode.enabled
        _mode.enabled = True
        _depth.n += 1
        _mode.in_function += self.function

    def __exit__(self, *exc: Any) -> None:
        _mode.in_function -= self.function
        _depth.n -= 1
        _mode.enabled = self._prev


def _argnums(argnums: Any, argnum: Any = None) -> tuple[tuple[int, ...], bool]:
    """``argnums`` (JAX's keyword) or ``argnum`` (HIPS autograd's): an int, or a tuple/list of ints."""
    if argnum is not None:
        argnums = argnum
    if isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool):
        return (int(argnums),), True
    if isinstance(argnums, (tuple, list)) and all(isinstance(i, (int, np.integer)) for i in argnums):
        return tuple(int(i) for i in argnums), False
    raise TypeError(f"argnum must be an int or a tuple of ints, got {argnums!r}")


class IndependentOutputWarning(UserWarning):
    """A transform's function returned a value that does not depend on the differentiated arguments."""


def _warn_independent(who: str, out: Any) -> None:
    """The gradient is then zeros — right for a constant, wrong if the graph was cut on the way (``.item()``,
    ``.data``, ``.detach()``, ``float()``, a library that converted to NumPy): say so, as HIPS autograd does."""
    warnings.warn(f"{who}: the output ({describe(out)}) does not depend on the differentiated arguments, so "
                  f"the gradient is zeros. If it should depend on them, something cut the graph on the way: "
                  f"t.item(), t.data, t.detach(), float(t), or a library that converted a Tensor to NumPy",
                  IndependentOutputWarning, stacklevel=3)


def _scalar_output(who: str, out: Any) -> None:
    if isinstance(out, Tensor):
        if out.size == 1 and out.dtype.kind != "c":
            return
    elif np.size(out) == 1 and as_array(out).dtype.kind in "iuf":
        return
    if np.iscomplexobj(out.data if isinstance(out, Tensor) else out):
        raise TypeError(f"{who}: f returned a complex value ({describe(out)}); the gradient is defined for real "
                        f"scalars: return np.real(...) or np.abs(...) of it, or use holomorphic_grad")
    raise TypeError(f"{who}: f must return a scalar (one real value), got {describe(out)}; for a function with "
                    f"several outputs use jacobian, elementwise_grad or vjp")


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
                   argnum: int | Sequence[int] | None = None) -> Callable:
    """``value_and_grad(f)(*args) -> (f(*args), ∂f/∂args[argnums])`` for scalar-valued ``f``.

    Each differentiated argument may be an array, a Tensor, a number, or a pytree of them (nested
    tuples, lists and dicts); its gradient comes back in the same structure, each leaf of the leaf's
    kind (arrays in, arrays out, as in HIPS autograd and JAX). The value is plain when plain arrays
    came in, detached when Tensors did, and stays on the tape when the call is itself differentiated.
    With ``has_aux``, ``f`` returns ``(value, aux)`` and the result is ``((value, aux), grads)``.
    """
    nums, single = _argnums(argnums, argnum)

    def wrapped(*args, **kwargs):
        tensors_in = _has_tensor(args)
        args, nested, prepared = _prepare(args, nums, "grad")
        with _evaluating(function=True):
            out = f(*args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("grad(has_aux=True): f must return a pair (scalar value, auxiliary data)")
            out, aux = out
        _scalar_output("grad", out)
        distinct = list({id(a): a for a in prepared}.values())
        xs = [x for a in distinct for x in a.fresh]
        if isinstance(out, Tensor) and out.requires_grad:
            with _evaluating():
                gs = gradients(out, xs, create_graph=nested)
        else:
            _warn_independent("grad", out)
            gs = [None] * len(xs)
        of, k = {}, 0
        for a in distinct:
            of[id(a)] = _grads(a, gs[k:k + len(a.fresh)], nested)
            k += len(a.fresh)
        grads = [of[id(a)] for a in prepared]
        value = _value(out, nested, tensors_in)
        if has_aux:
            value = (value, _value(aux, nested, tensors_in))
        return value, (grads[0] if single else tuple(grads))

    return wrapped


def _named(op: str, f: Callable, argnum: Any, wrapped: Callable) -> Callable:
    """``grad_of_f_wrt_argnum_0``, with a docstring saying so (as HIPS autograd names them)."""
    name = getattr(f, "__name__", "f")
    wrapped.__name__ = f"{op}_of_{name}_wrt_argnum_{argnum}"
    wrapped.__doc__ = (f"    {op} of function {name} with respect to argument number {argnum}. Takes the\n"
                       f"    same arguments as {name} but returns the {op}.\n")
    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
         argnum: int | Sequence[int] | None = None) -> Callable:
    """
    Returns a function which computes the gradient of scalar-valued ``f`` with respect to ``args[argnums]``
    (``argnum=`` as HIPS autograd spells it), in the argument's structure (with ``has_aux``:
    ``(gradient, aux)``)."""
    vg = value_and_grad(f, argnums, has_aux, argnum=argnum)
    if has_aux:
        return _named("grad", f, argnums if argnum is None else argnum,
                      lambda *args, **kwargs: (lambda r: (r[1], r[0][1]))(vg(*args, **kwargs)))
    return _named("grad", f, argnums if argnum is None else argnum,
                  lambda *args, **kwargs: vg(*args, **kwargs)[1])


def elementwise_grad(f: Callable, argnum: int = 0, *, argnums: int | None = None) -> Callable:
    """∂ Σ f(x) / ∂x: for a function applied elementwise, each element's derivative."""
    def summed(*args, **kwargs):
        out = f(*args, **kwargs)
        return out.sum() if isinstance(out, Tensor) else Tensor(np.sum(out))
    return grad(summed, argnum if argnums is None else argnums)


def _pull(outs: list, vs: list, xs: list, record: bool) -> list:
    """vᵀ ∂outs/∂xs over the outputs that are on the tape (the others contribute nothing)."""
    live = [(o, v) for o, v in zip(outs, vs) if isinstance(o, Tensor) and o.requires_grad]
    if not live:
        return [None] * len(xs)
    with _evaluating():
        return gradients([o for o, _ in live], xs, grad_outputs=[v for _, v in live], retain_graph=True,
                         create_graph=record)


def vjp(f: Callable, *args) -> tuple[Any, Callable]:
    """``out, pullback = vjp(f, *args)``; ``pullback(v)`` gives vᵀ ∂out/∂args (one per arg, each in its
    argument's structure; a single argument's gradient is returned alone). ``out`` and ``v`` may be pytrees
    of the same structure. Arguments ``out`` does not depend on get zeros."""
    tensors_in = _has_tensor(args)
    args, nested, prepared = _prepare(args, range(len(args)), "vjp")
    with _evaluating(function=True):
        out = f(*args)
    outs, out_tree = flatten(out)
    xs = [x for a in prepared for x in a.fresh]

    def pullback(v):
        vs, v_tree = flatten(v)
        if v_tree != out_tree:
            raise ValueError(f"vjp: the cotangent's structure differs from the output's ({len(vs)} vs "
                             f"{len(outs)} leaves)")
        record = nested or _records(vs)
        gs = _pull(outs, vs, xs, record)
        res, k = [], 0
        for a in prepared:
            res.append(_grads(a, gs[k:k + len(a.fresh)], record))
            k += len(a.fresh)
        return res[0] if len(res) == 1 else tuple(res)

    return _value(out, nested, tensors_in), pullback


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), ∂f·tangents)``; primals, tangents and the output may be pytrees.
    Computed by transposing the VJP: the pullback u ↦ uᵀJ is linear in u, so its own VJP at the
    tangent is J·t (VJPs are differentiable)."""
    primals, tangents = list(primals), list(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    nested = _records(primals + tangents)
    tensors_in = _has_tensor(primals + tangents)
    args, _, prepared = _prepare(primals, range(len(primals)), "jvp")
    ts = []
    for a, t in zip(prepared, tangents):
        t_leaves, t_tree = flatten(t)
        if t_tree != a.tree:
            raise ValueError("jvp: a tangent's structure differs from its primal's")
        ts.extend(t_leaves)
    xs = [x for a in prepared for x in a.fresh]
    keep = nested or tensors_in
    with _evaluating(function=True):
        out = f(*args)
        outs, out_tree = flatten(out)
        us = [Tensor(np.zeros(np.shape(o), dtype=o.dtype), requires_grad=True)
              if isinstance(o, Tensor) and o.requires_grad else None for o in outs]
        gs = _pull(outs, us, xs, True)
        total = None
        for g, t in zip(gs, ts):
            if g is not None and g.requires_grad:
                if not isinstance(t, Tensor):
                    t = as_array(t).astype(g.dtype, copy=False)
                term = (g * t).sum()
                if term.dtype.kind == "c":  # J·t = ∂/∂u of Re Σ t·pullback(u), in HIPS's complex convention
                    term = real(term)
                total = term if total is None else total + term
        live = [u for u in us if u is not None]
        jts = gradients(total, live, create_graph=nested) if total is not None else [None] * len(live)
    it = iter(jts)
    res = []
    for o, u in zip(outs, us):
        jt = next(it) if u is not None else None
        if jt is None:
            jt = Tensor(np.zeros(np.shape(o), dtype=o.dtype if isinstance(o, Tensor) else np.float64))
        res.append(jt if keep else _plain(jt))
    return _value(out, nested, tensors_in), unflatten(out_tree, res)


def _tree_vdot(a: Any, b: Any) -> Any:
    """Σ over the leaves of two pytrees of the same structure of Σ a ⊙ b."""
    total = None
    for x, y in zip(flatten(a)[0], flatten(b)[0]):
        term = (x * y).sum() if isinstance(x, Tensor) or isinstance(y, Tensor) else np.sum(x * y)
        total = term if total is None else total + term
    return 0.0 if total is None else total


def hvp(f: Callable, argnum: int = 0) -> Callable:
    """``hvp(f)(*args, v)``: the Hessian of scalar ``f`` at ``args[argnum]`` (an array or a pytree) times
    ``v`` (of the same structure), without forming the Hessian (the gradient of ∇f·v)."""
    def wrapped(*args_and_v, **kwargs):
        *args, v = args_and_v
        g_dot_v = lambda *a: _tree_vdot(grad(f, argnum)(*a, **kwargs), v)  # noqa: E731
        return grad(g_dot_v, argnum)(*args)
    return wrapped


def jacobian(f: Callable, argnum: int | Sequence[int] = 0, *, argnums: int | Sequence[int] | None = None) -> Callable:
    """``jacobian(f)(*args)``: ∂out/∂x for x = ``args[argnum]``, of shape ``out.shape + x.shape`` (one VJP per
    output element). Either may be a pytree, as in JAX: the output's structure outside, the argument's inside,
    each leaf of shape ``out_leaf.shape + x_leaf.shape``; several ``argnums`` give a tuple inside."""
    nums, single = _argnums(argnum if argnums is None else argnums)

    def wrapped(*args, **kwargs):
        args, nested, prepared = _prepare(args, nums, "jacobian")
        distinct = list({id(a): a for a in prepared}.values())
        xs = [x for a in distinct for x in a.fresh]
        with _evaluating(function=True):
            out = f(*args, **kwargs)
            outs, out_tree = flatten(out)
            blocks = []
            for o in outs:
                if not isinstance(o, Tensor):
                    o = Tensor(as_array(o).astype(np.float64))
                jacs, of, k = _jacobian_rows(o, xs, nested), {}, 0
                for a in distinct:
                    of[id(a)] = unflatten(a.tree, [j if nested or isinstance(leaf, Tensor) else j._arr
                                                   for j, leaf in zip(jacs[k:k + len(a.fresh)], a.leaves)])
                    k += len(a.fresh)
                blocks.append(of[id(prepared[0])] if single else tuple(of[id(a)] for a in prepared))
        return unflatten(out_tree, blocks)

    return wrapped


def _jacobian_rows(out: Tensor, xs: list, nested: bool) -> list:
    """One VJP per element of ``out``, stacked: for each of ``xs``, shape ``out.shape + x.shape``."""
    rows: list = [[] for _ in xs]
    for k in range(out.size):
        seed = np.zeros(out.size, dtype=out.dtype)
        seed[k] = 1
        if out.requires_grad:
            gs = gradients(out, xs, grad_outputs=seed.reshape(out.shape), retain_graph=True, create_graph=nested)
        else:
            gs = [None] * len(xs)
        for r, g, x in zip(rows, gs, xs):
            r.append(_zeros_if_none(g, x))
    if nested:
        from .ops import reshape, stack
        return [reshape(stack(r), out.shape + x.shape) if r else _empty_jacobian(out, x) for r, x in zip(rows, xs)]
    return [Tensor(np.stack([g._arr for g in r]).reshape(out.shape + x.shape)) if r else _empty_jacobian(out, x)
            for r, x in zip(rows, xs)]


def _empty_jacobian(out: Tensor, x: Tensor) -> Tensor:
    """The Jacobian of an output with no elements: nothing to stack."""
    return Tensor(np.zeros(out.shape + x.shape, dtype=np.result_type(out.dtype, x.dtype)))


def hessian(f: Callable, argnum: int | Sequence[int] = 0, *, argnums: int | Sequence[int] | None = None) -> Callable:
    """``hessian(f)(*args)``: the Jacobian of the gradient, shape ``x.shape + x.shape`` (for a pytree x, a pytree of
    pytrees: ``H[i][j]`` of shape ``x_i.shape + x_j.shape``; for several ``argnums``, a tuple of tuples)."""
    nums = argnum if argnums is None else argnums
    return jacobian(grad(f, nums), nums)


# NumPy's global generator, read and set past anp.compile's recording of np.random (bound before any trace patches it)
_get_global_rng, _set_global_rng = np.random.get_state, np.random.set_state


def _recomputed_differs(out: Any, ans: Any) -> bool:
    """The values ``f`` gave when run again for the backward differ from the forward's by more than rounding (the
    recording forward may round differently: ``log(softmax)`` is ``log_softmax`` on the tape)."""
    out, ans = _data(out), _data(ans)  # (NumPy calls only: under anp.compile these are traced values)
    if np.shape(out) != np.shape(ans):
        return True
    if not np.size(ans):
        return False
    eps = np.finfo(ans.dtype).eps if np.dtype(ans.dtype).kind == "f" else 0.0
    scale = 1.0 + np.max(np.where(np.isfinite(ans), np.abs(ans), 0.0))
    same = (np.abs(out - ans) <= 1e3 * eps * scale) | (out == ans) | (np.isnan(out) & np.isnan(ans))
    return not bool(np.all(same))


def checkpoint(f: Callable, *args: Any, **kwargs: Any) -> Any:
    """``f(*args)`` without keeping its intermediates: the forward's graph is dropped once its values are out,
    and the backward runs ``f`` again to get them (memory for time, as ``torch.utils.checkpoint``). The Tensors
    ``f`` reads besides its arguments (a Module's parameters, in ``checkpoint(model, x)``) get their gradients
    too. NumPy's global generator is put back where the forward found it for the run again (``np.random.normal``
    inside ``f`` draws the same numbers, as PyTorch's checkpoint does with its RNG), and batch norm does not move
    its running statistics a second time; if the run again still gives other values (a ``np.random.Generator``
    or an ``nn.Dropout`` of its own inside ``f``), the backward refuses: its gradient would be another
    function's. ``f`` returns one array; its arguments may be pytrees. ``checkpoint(f)`` alone returns the
    checkpointed function (HIPS autograd's form)."""
    if not args and not kwargs:
        @functools.wraps(f)
        def checkpointed(*a, **k):
            return checkpoint(f, *a, **k)
        return checkpointed
    from .tensor import Primitive

    leaves, tree = flatten(list(args))

    def call(vals):
        return f(*unflatten(tree, [Tensor(v) if isinstance(v, np.ndarray) else v for v in vals]), **kwargs)

    if not _mode.enabled:  # nothing is recorded: f's values (a Tensor if one came in, as any op gives)
        out = call([_data(v) if isinstance(v, Tensor) else v for v in leaves])
        values = out._arr if isinstance(out, Tensor) else as_array(out)
        return Tensor._make(values, None) if any(isinstance(v, Tensor) for v in leaves) else values
    # the forward, recorded so as to find what else f reads (its graph is dropped at the end of this call)
    rng_at_forward = _get_global_rng()
    out, hidden = run_reading(lambda: call([_data(v) if isinstance(v, Tensor) else v for v in leaves]))
    values = out._arr if isinstance(out, Tensor) else as_array(out)
    del out
    n = len(leaves)
    name = f"checkpoint({getattr(f, '__name__', 'f')})"

    def all_grads(g, ans, vals, kwargs_):
        record = isinstance(g, Tensor)  # create_graph: vals are the Tensors, and the gradients are recorded
        xs = [copy(v) if record and isinstance(v, Tensor) and v.requires_grad
              else Tensor(_data(v) if isinstance(v, Tensor) else v, requires_grad=True) for v in vals[:n]]
        # each Tensor read from outside as a variable of its own (its partial derivative: whatever else leads to it
        # is the outer backward's to follow), recorded from the original under create_graph
        stand_ins = [copy(h) if record else Tensor(_data(h), requires_grad=True) for h in vals[n:]]
        rng_now = _get_global_rng()
        _set_global_rng(rng_at_forward)
        _recomputing.active, prev_re = True, _recomputing.active
        try:
            with _evaluating(function=True), substituted(hidden, stand_ins):
                again = call(xs)
        finally:
            _recomputing.active = prev_re
            _set_global_rng(rng_now)
        if _recomputed_differs(again, ans):
            raise RuntimeError(f"{name}: f gave other values when run again for the backward, so its gradient "
                               f"would be another function's: it is not deterministic (a np.random.Generator or "
                               f"an nn.Dropout inside f?). Draw the random numbers outside f and pass them in, "
                               f"or checkpoint only the deterministic part")
        wrt = xs + stand_ins
        if not (isinstance(again, Tensor) and again.requires_grad):
            gs = [None] * len(wrt)
        else:
            with _evaluating():
                gs = gradients(again, wrt, grad_outputs=g, create_graph=record)
        out_ = [_zeros_if_none(gi, x) for gi, x in zip(gs, wrt)]
        return out_ if record else [gi._arr for gi in out_]

    prim = Primitive(name, lambda *vals: values)
    prim.vjp_all = all_grads
    prim.complex_ok = True  # its VJP is f's own, recorded op by op: they accept or refuse complex values there
    return prim(*leaves, *hidden)


class _Recomputing(threading.local):
    active = False  # checkpoint is running f again for a backward


_recomputing = _Recomputing()


def recomputing() -> bool:
    """Is ``checkpoint`` running ``f`` again for a backward? (State such as batch norm's running statistics must
    not move a second time.)"""
    return _recomputing.active


def run_reading(run: Callable[[], Any]) -> tuple[Any, list]:
    """``run()``, and the Tensors requiring grad it reads besides those it makes: its graph walked to where it leaves
    that call (a solver's or a checkpoint's function reads a Module's parameters from its closure: they must be
    differentiated, not taken as constants). None are found while nothing is recorded."""
    from .tensor import _seq
    start = next(_seq)
    result = run()
    return result, _read_from_outside(result, start) if _mode.enabled else []


class substituted:
    """While active, an op given one of ``tensors`` takes its replacement instead (stand-ins, so that a function's
    reads from outside can be differentiated as arguments of their own)."""

    def __init__(self, tensors: Sequence, replacements: Sequence):
        self.map = {id(t): r for t, r in zip(tensors, replacements)}

    def __enter__(self) -> None:
        self.prev = _mode.substitutes
        _mode.substitutes = {**(self.prev or {}), **self.map}

    def __exit__(self, *exc: Any) -> None:
        _mode.substitutes = self.prev


def _read_from_outside(out: Any, start: int) -> list:
    """The Tensors requiring grad that the ops recorded after ``start`` (a tape entry number) read but did not
    make: the graph from ``out`` down to where it leaves that stretch of the tape."""
    found: dict = {}
    if not isinstance(out, Tensor) or out.node is None or out.node.seq <= start:
        return []
    seen, stack = set(), [out.node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for a in node.args:
            if isinstance(a, Tensor) and a.requires_grad:
                if a.node is not None and a.node.seq > start:
                    stack.append(a.node)
                else:
                    found.setdefault(id(a), a)
    return list(found.values())


class _InBlocks(threading.local):
    active = False  # a block's loss is being computed (block_backward)


_in_blocks = _InBlocks()


def refuse_in_blocks(who: str, why: str, instead: str) -> None:
    """Called by ops that compute over all the rows of a batch together (batch statistics): inside
    ``block_backward`` a block's value would not be its share of the full batch's, so they refuse there."""
    if _in_blocks.active:
        raise ValueError(f"{who} inside backward_in_blocks / data_parallel: {why}, so the blocks would not add up to "
                         f"the full batch's loss and gradient. {instead}")


def block_backward(loss: Callable[[], Tensor], weight: float, only: Sequence | None = None) -> float:
    """Backward of one block's mean loss seeded with its weight n_b/n (so that the blocks' gradients
    add up to the full batch's); returns weight · loss. The unit of ``backward_in_blocks`` and of
    ``autonp.distributed.data_parallel``'s tasks. The rows of a block must not interact: batch statistics
    (batch norm in training) refuse here (they gave a loss 2e-3 and gradients 0.065 off the full batch's,
    and moved the running statistics once per block). With ``only``: the Tensors the gradient is wanted for; one
    that requires grad read besides them (a parameter in ``f``'s closure) is refused before the backward."""
    prev, _in_blocks.active = _in_blocks.active, True
    try:
        out, read = run_reading(loss) if only is not None else (loss(), [])
    finally:
        _in_blocks.active = prev
    if only is not None:
        wanted = {id(t) for t in only}
        other = [t for t in read if id(t) not in wanted]
        if other:
            raise ValueError(f"data_parallel: f reads {len(other)} Tensor(s) that require grad besides its parameter "
                             f"arguments ({', '.join(describe(t) for t in other[:3])}: a closure or a global?). "
                             f"Their gradients would be lost on the workers: pass them among the arguments named "
                             f"by argnums, or use their values (t.detach())")
    out.backward(np.asarray(weight, dtype=out.dtype))
    return weight * out.item()


def check_positive_int(who: str, name: str, value: Any) -> None:
    """Refuse a count, size or step that is not an integer ≥ 1 (bools too), naming the function and argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer, got {value!r}")


def check_block_rows(who: str, block_rows: Any) -> None:
    check_positive_int(who, "block_rows", block_rows)


def backward_in_blocks(loss_fn: Callable, *arrays: Any, block_rows: int = 2048, only: Sequence | None = None) -> float:
    """Accumulate into ``.grad`` the gradient of a full-batch *mean* loss, computed block by block.

    ``loss_fn(*blocks)`` gets row blocks of ``arrays`` (views, no copies) and returns the mean loss
    over its rows. Since the full-batch mean is Σ_b (n_b/n)·loss_b, each block's ``backward`` is
    seeded with n_b/n: mathematically the same gradient as one full-batch backward (equal to
    rounding), but each block of the data is still in cache when backward reads it again
    (``X_bᵀ @ dz``), and the intermediates are block-sized. Returns the full-batch loss.
    (``autonp.distributed.data_parallel`` runs the same blocks on Dask.) ``only``: see ``block_backward``.
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
        total += block_backward(lambda: loss_fn(*blocks), len(blocks[0]) / n, only)
    return total
