"""Student's t: log p = log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) − log scale − (ν+1)/2 · log(1 + z²/ν)."""
import math

import numpy as np
import scipy.special as sc
import scipy.stats

from ...ops import exp, log, log1p
from ..special import _lgamma_gap, _wrt_x
from ._common import formula

_d = scipy.stats.t


def _valid(x, df, loc=0.0, scale=1.0):
    """SciPy's domain of the parameters: the result is NaN outside it."""
    return np.greater(df, 0) & np.greater(scale, 0)


@formula(_d.logpdf, _valid)
def logpdf(x, df, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return (_lgamma_gap(df / 2.0, 0.5) - 0.5 * log(df * math.pi) - log(scale)
            - (df + 1.0) / 2.0 * log1p(z * z / df))


@formula(_d.pdf, _valid)
def pdf(x, df, loc=0.0, scale=1.0):
    return exp(logpdf(x, df, loc, scale))


# the t CDF in its standard variable, differentiable in t (the degrees of freedom refused)
stdtr = _wrt_x("stdtr", sc.stdtr, lambda df, t, ans: exp(logpdf(t, df)), 2, "gradient in t only (df refused)")


@formula(_d.cdf, _valid)
def cdf(x, df, loc=0.0, scale=1.0):
    return stdtr(df, (x - loc) / scale)


@formula(_d.logcdf, _valid)
def logcdf(x, df, loc=0.0, scale=1.0):
    return log(cdf(x, df, loc, scale))
