"""The normal distribution: z = (x − loc)/scale, log p = −z²/2 − log scale − log √(2π)."""
import math

import numpy as np
import scipy.stats

from ...ops import exp, log
from ..special import log_ndtr, ndtr
from ._common import formula

_d = scipy.stats.norm


def _valid(x, loc=0.0, scale=1.0):
    """SciPy's domain of the parameters: the result is NaN outside it."""
    return np.greater(scale, 0)


LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@formula(_d.logpdf, _valid)
def logpdf(x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return -0.5 * z * z - log(scale) - LOG_SQRT_2PI


@formula(_d.pdf, _valid)
def pdf(x, loc=0.0, scale=1.0):
    return exp(logpdf(x, loc, scale))


@formula(_d.cdf, _valid)
def cdf(x, loc=0.0, scale=1.0):
    return ndtr((x - loc) / scale)


@formula(_d.logcdf, _valid)
def logcdf(x, loc=0.0, scale=1.0):
    return log_ndtr((x - loc) / scale)


@formula(_d.sf, _valid)
def sf(x, loc=0.0, scale=1.0):
    return ndtr((loc - x) / scale)


@formula(_d.logsf, _valid)
def logsf(x, loc=0.0, scale=1.0):
    return log_ndtr((loc - x) / scale)
