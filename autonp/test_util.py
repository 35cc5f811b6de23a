"""HIPS autograd's ``autograd.test_util``: ``check_grads(f, modes=["fwd", "rev"], order=2)(*args)`` compares
autonp's derivatives of ``f`` with central differences along random directions, in forward mode (J·v) and
reverse mode (uᵀJ·v against the difference quotient), and to higher orders by checking the derivative
functions themselves. Arguments and results may be pytrees. Directions come from ``numpy.random``.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from .functional import jvp, vjp
from .pytree import flatten, tree_map
from .tensor import Tensor
from .wrappers import _unary

__all__ = ["check_grads", "check_vjp", "check_jvp", "check_equivalent", "combo_check", "scalar_close",
           "make_numerical_jvp"]

TOL = 1e-6
RTOL = 1e-6
EPS = 1e-6


def _value(v: Any) -> np.ndarray:
    v = v.data if isinstance(v, Tensor) else v
    return np.asarray(v, dtype=complex if np.iscomplexobj(v) else float)


def _values(x: Any) -> Any:
    return tree_map(_value, x)


def _randn(v: np.ndarray) -> np.ndarray:
    r = np.random.randn(*np.shape(v))
    return r + 1j * np.random.randn(*np.shape(v)) if np.iscomplexobj(v) else r


def _randn_like(x: Any) -> Any:
    return tree_map(_randn, _values(x))


def _add(x: Any, v: Any, s: float) -> Any:
    return tree_map(lambda a, b: a + s * b, _values(x), v)


def _inner(a: Any, b: Any) -> float:
    """Σ Re(conj(a)·b): the real inner product (complex numbers as pairs of reals)."""
    return float(sum(np.sum(np.real(np.conj(p) * q)) for p, q in zip(flatten(_values(a))[0], flatten(_values(b))[0])))


def _conj(x: Any) -> Any:
    return tree_map(np.conj, _values(x))


def scalar_close(a: float, b: float) -> bool:
    """|a − b| < 1e-6, or relatively so."""
    return abs(a - b) < TOL or abs(a - b) / abs(a + b) < RTOL


_close = scalar_close


def _name(f: Callable) -> str:
    return getattr(f, "__name__", repr(f))


def _numerical_jvp(f: Callable, x: Any, v: Any) -> Any:
    plus, minus = _values(f(_add(x, v, EPS / 2))), _values(f(_add(x, v, -EPS / 2)))
    return tree_map(lambda p, m: (p - m) / EPS, plus, minus)


def make_numerical_jvp(f: Callable, x: Any) -> Callable[[Any], Any]:
    """``v ↦ (f(x + v·ε/2) − f(x − v·ε/2)) / ε``: J·v by central differences, HIPS's signature."""
    return lambda v: _numerical_jvp(f, x, v)


def check_vjp(f: Callable, x: Any) -> None:
    """uᵀ(J v) from autonp's VJP against the same from central differences. Complex values are pairs of reals:
    in HIPS's convention the adjoint of J is u ↦ conj(pullback(conj(u)))."""
    y, pullback = vjp(f, x)
    x_v, y_v = _randn_like(x), _randn_like(y)
    exact = _inner(x_v, _conj(pullback(_conj(y_v))))
    numeric = _inner(y_v, _numerical_jvp(f, x, x_v))
    assert _close(numeric, exact), (f"Derivative (VJP) check of {_name(f)} failed with arg {x}:\n"
                                    f"analytic: {exact}\nnumeric:  {numeric}")


def check_jvp(f: Callable, x: Any) -> None:
    """J v from autonp's forward mode against central differences."""
    x_v = _randn_like(x)
    check_equivalent(jvp(f, (x,), (x_v,))[1], _numerical_jvp(f, x, x_v))


def check_equivalent(x: Any, y: Any) -> None:
    """Same structure and shapes, and the same value along a random direction."""
    (xs, xt), (ys, yt) = flatten(_values(x)), flatten(_values(y))
    assert xt == yt and [np.shape(a) for a in xs] == [np.shape(b) for b in ys], \
        f"Structure mismatch:\nx: {x}\ny: {y}"
    v = _randn_like(x)
    assert _close(_inner(x, v), _inner(y, v)), f"Value mismatch:\nx: {x}\ny: {y}"


def check_grads(f: Callable, argnum: int | Sequence[int] = 0, modes: Sequence[str] | None = None,
                order: int = 2) -> Callable:
    """``check_grads(f, modes=..., order=...)(*args)``: raises AssertionError naming ``f``, the mode and
    the order when a derivative disagrees with finite differences."""
    modes = ["fwd", "rev"] if modes is None else list(modes)
    if any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {modes}")

    def check(*args: Any, **kwargs: Any) -> None:
        unary, x = _unary(f, argnum, args, kwargs)
        unary.__name__ = _name(f)
        _check(unary, x, modes, order)

    return check


def _unpacked(f: Callable) -> Callable:
    def of_pair(xv):
        return f(*xv)
    of_pair.__name__ = f.__name__
    return of_pair


def _check(f: Callable, x: Any, modes: list, order: int) -> None:
    if "fwd" in modes:
        check_jvp(f, x)
        if order > 1:
            def jvp_f(x, v):
                return jvp(f, (x,), (v,))[1]
            jvp_f.__name__ = f"jvp_{_name(f)}"
            _check(_unpacked(jvp_f), (x, _randn_like(x)), modes, order - 1)
    if "rev" in modes:
        check_vjp(f, x)
        if order > 1:
            def vjp_f(x, v):
                return vjp(f, x)[1](v)
            vjp_f.__name__ = f"vjp_{_name(f)}"
            _check(_unpacked(vjp_f), (x, _randn_like(f(x))), modes, order - 1)




def combo_check(fun: Callable, *check_args: Any, **check_kwargs: Any) -> Callable:
    """``combo_check(f, argnum, modes=...)(values_0, values_1, ..., kw=[values])``: ``check_grads`` at every
    combination of the candidate values given for each argument and keyword."""
    def each(*candidates: Any, **kw_candidates: Any) -> None:
        keyed = [[(k, v) for v in vs] for k, vs in kw_candidates.items()]
        for args in itertools.product(*candidates):
            for kwargs in itertools.product(*keyed):
                check_grads(fun, *check_args, **check_kwargs)(*args, **dict(kwargs))
    return each
