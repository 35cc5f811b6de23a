"""The normal distribution: z = (x − loc)/scale, log p = −z²/2 − log scale − log √(2π)."""
import math

import scipy.stats

from ...ops import exp, log
from ..special import log_ndtr, ndtr
from ._common import formula

_d = scipy.stats.norm
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@formula(_d.logpdf)
def logpdf(x, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return -0.5 * z * z - log(scale) - LOG_SQRT_2PI


@formula(_d.pdf)
def pdf(x, loc=0.0, scale=1.0):
    return exp(logpdf(x, loc, scale))


@formula(_d.cdf)
def cdf(x, loc=0.0, scale=1.0):
    return ndtr((x - loc) / scale)


@formula(_d.logcdf)
def logcdf(x, loc=0.0, scale=1.0):
    return log_ndtr((x - loc) / scale)


@formula(_d.sf)
def sf(x, loc=0.0, scale=1.0):
    return ndtr((loc - x) / scale)


@formula(_d.logsf)
def logsf(x, loc=0.0, scale=1.0):
    return log_ndtr((loc - x) / scale)
