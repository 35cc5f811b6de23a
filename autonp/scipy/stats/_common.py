"""What the distributions share: SciPy's own function when no Tensor is involved (its values exactly),
the differentiable formula otherwise (and for anp.compile's stand-ins of plain arrays, which SciPy's function
would convert with asarray: the replay could not follow)."""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ...ops import where
from ...pytree import flatten
from ...tensor import _data
from ..special import _scipys


def formula(scipy_fn: Callable, valid: Callable | None = None) -> Callable[[Callable], Callable]:
    """Decorate the differentiable formula of ``scipy_fn``: plain arguments go to SciPy. ``valid(*args, **kwargs)``
    (on the arguments' values) says where the parameters are in their domain (a scale > 0, a shape > 0): elsewhere
    the result is NaN, SciPy's value, where the formula would give a number (a normal CDF of scale −2 is one)."""
    def wrap(composed: Callable) -> Callable:
        @functools.wraps(composed)
        def fn(*args: Any, **kwargs: Any) -> Any:
            if _scipys(*flatten([args, kwargs])[0]):
                return scipy_fn(*args, **kwargs)
            if valid is None:
                return composed(*args, **kwargs)
            ok = valid(*(_data(a) for a in args), **{k: _data(v) for k, v in kwargs.items()})
            if np.all(ok):  # (no np.asarray: a compiled trace follows the check on its stand-ins)
                return composed(*args, **kwargs)
            with np.errstate(all="ignore"):  # (the formula off its domain: NaNs and infinities, all replaced)
                return where(ok, composed(*args, **kwargs), np.nan)
        return fn
    return wrap


def on_support(inside: Any, z: Any, safe: float, density: Callable, outside: float) -> Any:
    """``density(z)`` where ``inside`` (an array of bools: the support), and SciPy's value off it (0 for a pdf, −∞
    for its log, 0 or 1 for a CDF), which is constant there: gradient 0. Off the support the formula is not the
    distribution's (gamma's (a−1) log z − z at z = −1 is a number, and NaN for other a), so it is given ``safe``,
    a point of the support, instead of z: a discarded branch's NaN would still reach the gradient as 0·NaN."""
    inside = _data(inside)
    return where(inside, density(where(inside, z, safe)), outside)
