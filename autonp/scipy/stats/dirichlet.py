"""The Dirichlet distribution: log p = Σ (αᵢ − 1) log xᵢ + log Γ(Σ α) − Σ log Γ(αᵢ); x's first axis holds
the components (as SciPy: shape (K,) or (K, N))."""
import numpy as np
import scipy.stats

from ...ops import exp
from ...ops import sum as _sum
from ..special import gammaln, xlogy
from ._common import formula

_d = scipy.stats.dirichlet


@formula(_d.logpdf)
def logpdf(x, alpha):
    a = alpha.reshape((-1,) + (1,) * (np.ndim(x) - 1)) if np.ndim(x) > 1 else alpha
    return _sum(xlogy(a - 1.0, x), axis=0) + gammaln(_sum(alpha)) - _sum(gammaln(alpha))


@formula(_d.pdf)
def pdf(x, alpha):
    return exp(logpdf(x, alpha))


rvs = _d.rvs
