"""The Poisson distribution: log p(k) = k log μ − μ − log k! for k = 0, 1, 2, … (−∞ at other k, as SciPy); the CDF is
Q(⌊k⌋+1, μ) for k ≥ 0 (0 below), differentiable in μ."""
import numpy as np
import scipy.stats

from ...ops import exp
from ...tensor import _data
from ..special import gammaincc, gammaln, xlogy
from ._common import formula, on_support

_d = scipy.stats.poisson


@formula(_d.logpmf)
def logpmf(k, mu):
    kd = _data(k)
    return on_support((kd >= 0) & (kd == np.floor(kd)), k, 0.0, lambda k: xlogy(k, mu) - gammaln(k + 1.0) - mu,
                      -np.inf)


@formula(_d.pmf)
def pmf(k, mu):
    return exp(logpmf(k, mu))


@formula(_d.cdf)
def cdf(k, mu):
    kd = _data(k)
    return on_support(kd >= 0, np.floor(kd) + 1.0, 1.0, lambda n: gammaincc(n, mu), 0.0)
