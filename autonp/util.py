"""HIPS autograd's ``autograd.util``: ``quick_grad_check``, deprecated there since 1.2 (use
``autonp.test_util.check_grads``, or ``anp.gradcheck``, which names the op that is wrong)."""
from __future__ import annotations

import warnings
from typing import Any, Callable

from .test_util import check_grads

__all__ = ["quick_grad_check"]


def quick_grad_check(fun: Callable, arg0: Any, extra_args: tuple = (), kwargs: dict | None = None,
                     verbose: bool = True, eps: float = 1e-4, rtol: float = 1e-4, atol: float = 1e-6,
                     rs: Any = None) -> None:
    """Checks ∂fun/∂arg0 against finite differences (reverse mode, first order)."""
    warnings.warn("quick_grad_check is deprecated (as in HIPS autograd); use autonp.test_util.check_grads",
                  DeprecationWarning, stacklevel=2)
    check_grads(lambda x: fun(x, *extra_args, **(kwargs or {})), modes=["rev"], order=1)(arg0)
    if verbose:
        print("Gradient projection OK")
