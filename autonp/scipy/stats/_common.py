"""What the distributions share: SciPy's own function when no Tensor is involved (its values exactly),
the differentiable formula otherwise."""
from __future__ import annotations

import functools
from typing import Any, Callable

from ...pytree import flatten
from ...tensor import Tensor


def formula(scipy_fn: Callable) -> Callable[[Callable], Callable]:
    """Decorate the differentiable formula of ``scipy_fn``: plain arguments go to SciPy."""
    def wrap(composed: Callable) -> Callable:
        @functools.wraps(composed)
        def fn(*args: Any, **kwargs: Any) -> Any:
            if any(isinstance(v, Tensor) for v in flatten([args, kwargs])[0]):
                return composed(*args, **kwargs)
            return scipy_fn(*args, **kwargs)
        return fn
    return wrap
