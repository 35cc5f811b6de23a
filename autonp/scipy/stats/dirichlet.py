"""The Dirichlet distribution: log p = Σ (αᵢ − 1) log xᵢ + log Γ(Σ α) − Σ log Γ(αᵢ); x's first axis holds
the components (as SciPy: shape (K,) or (K, N), or K − 1 of them, the last being 1 − Σ). An x off the simplex is
refused with SciPy's own messages (the formula would give it a number)."""
import numpy as np
import scipy.stats

from ...ops import concatenate, exp
from ...ops import sum as _sum
from ...tensor import _data
from ..special import gammaln, xlogy
from ._common import formula

_d = scipy.stats.dirichlet


def _on_simplex(x, alpha):
    """x with all K components, checked as SciPy checks it."""
    k = np.shape(alpha)[0]
    if np.shape(x)[0] not in (k, k - 1):
        raise ValueError(f"Vector 'x' must have either the same number of entries as, or one entry fewer than, "
                         f"parameter vector 'a', but alpha.shape = {np.shape(alpha)} and x.shape = {np.shape(x)}.")
    if np.shape(x)[0] == k - 1:
        x = concatenate([x, 1.0 - _sum(x, axis=0, keepdims=True)], axis=0)
    xd, ad = _data(x), _data(alpha)
    if np.min(ad) <= 0:
        raise ValueError("All parameters must be greater than 0")
    if np.min(xd) < 0:
        raise ValueError("Each entry in 'x' must be greater than or equal to zero.")
    if np.max(xd) > 1:
        raise ValueError("Each entry in 'x' must be smaller or equal one.")
    below_one = np.reshape(ad, (-1,) + (1,) * (np.ndim(xd) - 1)) < 1
    if np.any((xd == 0) & below_one):
        raise ValueError("Each entry in 'x' must be greater than zero if its alpha is less than one.")
    if np.any(np.abs(np.sum(xd, 0) - 1.0) > 10e-10):
        raise ValueError("The input vector 'x' must lie within the normal simplex: its components must sum to 1.")
    return x


@formula(_d.logpdf)
def logpdf(x, alpha):
    x = _on_simplex(x, alpha)
    a = alpha.reshape((-1,) + (1,) * (np.ndim(x) - 1)) if np.ndim(x) > 1 else alpha
    return _sum(xlogy(a - 1.0, x), axis=0) + gammaln(_sum(alpha)) - _sum(gammaln(alpha))


@formula(_d.pdf)
def pdf(x, alpha):
    return exp(logpdf(x, alpha))


rvs = _d.rvs
