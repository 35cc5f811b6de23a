"""The χ² distribution: z = (x − loc)/scale, log p = (ν/2 − 1) log z − z/2 − log Γ(ν/2) − (ν/2) log 2 − log scale
on z ≥ 0 (−∞ off it, as SciPy)."""
import math

import numpy as np
import scipy.stats

from ...ops import exp, log
from ...tensor import _data
from ..special import gammainc, gammaln, xlogy
from ._common import formula, on_support

_d = scipy.stats.chi2


def _valid(x, df, loc=0.0, scale=1.0):
    """SciPy's domain of the parameters: the result is NaN outside it."""
    return np.greater(df, 0) & np.greater(scale, 0)


@formula(_d.logpdf, _valid)
def logpdf(x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return on_support(_data(z) >= 0, z, 1.0, lambda z: xlogy(df / 2.0 - 1.0, z) - z / 2.0 - gammaln(df / 2.0)
                      - (df / 2.0) * math.log(2.0) - log(scale), -np.inf)


@formula(_d.pdf, _valid)
def pdf(x, df, loc=0.0, scale=1.0):
    return exp(logpdf(x, df, loc, scale))


@formula(_d.cdf, _valid)
def cdf(x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return on_support(_data(z) >= 0, z, 1.0, lambda z: gammainc(df / 2.0, z / 2.0), 0.0)
