"""The gamma distribution: z = (x − loc)/scale, log p = (a−1) log z − z − log Γ(a) − log scale."""
import scipy.stats

from ...ops import exp, log
from ..special import gammainc, gammaln, xlogy
from ._common import formula

_d = scipy.stats.gamma


@formula(_d.logpdf)
def logpdf(x, a, loc=0.0, scale=1.0):
    z = (x - loc) / scale
    return xlogy(a - 1.0, z) - z - gammaln(a) - log(scale)


@formula(_d.pdf)
def pdf(x, a, loc=0.0, scale=1.0):
    return exp(logpdf(x, a, loc, scale))


@formula(_d.cdf)
def cdf(x, a, loc=0.0, scale=1.0):
    return gammainc(a, (x - loc) / scale)
