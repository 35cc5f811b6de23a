"""The beta distribution on (0, 1): log p = (a−1) log x + (b−1) log(1−x) − log B(a, b)."""
import scipy.stats

from ...ops import exp
from ..special import betainc, betaln, xlog1py, xlogy
from ._common import formula

_d = scipy.stats.beta


@formula(_d.logpdf)
def logpdf(x, a, b):
    return xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - betaln(a, b)


@formula(_d.pdf)
def pdf(x, a, b):
    return exp(logpdf(x, a, b))


@formula(_d.cdf)
def cdf(x, a, b):
    return betainc(a, b, x)
