"""The Poisson distribution: log p(k) = k log μ − μ − log k!; the CDF is Q(⌊k⌋+1, μ), differentiable in μ."""
import numpy as np
import scipy.stats

from ...ops import exp
from ...tensor import _data
from ..special import gammaincc, gammaln, xlogy
from ._common import formula

_d = scipy.stats.poisson


@formula(_d.logpmf)
def logpmf(k, mu):
    return xlogy(k, mu) - gammaln(k + 1.0) - mu


@formula(_d.pmf)
def pmf(k, mu):
    return exp(logpmf(k, mu))


@formula(_d.cdf)
def cdf(k, mu):
    return gammaincc(np.floor(_data(k)) + 1.0, mu)
