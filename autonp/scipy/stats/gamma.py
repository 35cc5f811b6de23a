"""The gamma distribution: z = (x − loc)/scale, log p = (a−1) log z − z − log Γ(a) − log scale on z ≥ 0 (−∞
off it, as SciPy)."""
import numpy as np
import scipy.stats

from ...ops import exp, log
from ...tensor import _data
from ..special import gammainc, gammaln, xlogy
from ._common import formula, on_support

_d = scipy.stats.gamma


def _valid(x, a, loc=0.0, scale=1.0):
    """SciPy's domain of the parameters: the result is NaN outside it."""
    return np.greater(a, 0) & np.greater(scale, 0)


@formula(_d.logpdf, _valid)
def logpdf(x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return on_support(_data(z) >= 0, z, 1.0, lambda z: xlogy(a - 1.0, z) - z - gammaln(a) - log(scale), -np.inf)


@formula(_d.pdf, _valid)
def pdf(x, a, loc=0.0, scale=1.0):
    return exp(logpdf(x, a, loc, scale))


@formula(_d.cdf, _valid)
def cdf(x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return on_support(_data(z) >= 0, z, 1.0, lambda z: gammainc(a, z), 0.0)
