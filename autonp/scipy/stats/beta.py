"""The beta distribution: z = (x − loc)/scale, log p = (a−1) log z + (b−1) log(1−z) − log B(a, b) − log scale on
0 ≤ z ≤ 1 (−∞ off it, as SciPy)."""
import numpy as np
import scipy.stats

from ...ops import exp, log
from ...tensor import _data
from ..special import betainc, betaln, xlog1py, xlogy
from ._common import formula, on_support

_d = scipy.stats.beta


def _valid(x, a, b, loc=0.0, scale=1.0):
    """SciPy's domain of the parameters: the result is NaN outside it."""
    return np.greater(a, 0) & np.greater(b, 0) & np.greater(scale, 0)


def _inside(z):
    zd = _data(z)
    return (zd >= 0) & (zd <= 1)


@formula(_d.logpdf, _valid)
def logpdf(x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return on_support(_inside(z), z, 0.5, lambda z: xlogy(a - 1.0, z) + xlog1py(b - 1.0, -z) - betaln(a, b)
                      - log(scale), -np.inf)


@formula(_d.pdf, _valid)
def pdf(x, a, b, loc=0.0, scale=1.0):
    return exp(logpdf(x, a, b, loc, scale))


@formula(_d.cdf, _valid)
def cdf(x, a, b, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return on_support(_inside(z), z, 0.5, lambda z: betainc(a, b, z), (_data(z) > 1).astype(float))
