"""The χ² distribution: log p = (ν/2 − 1) log x − x/2 − log Γ(ν/2) − (ν/2) log 2."""
import math

import scipy.stats

from ...ops import exp
from ..special import gammainc, gammaln, xlogy
from ._common import formula

_d = scipy.stats.chi2


@formula(_d.logpdf)
def logpdf(x, df):
    return xlogy(df / 2.0 - 1.0, x) - x / 2.0 - gammaln(df / 2.0) - (df / 2.0) * math.log(2.0)


@formula(_d.pdf)
def pdf(x, df):
    return exp(logpdf(x, df))


@formula(_d.cdf)
def cdf(x, df):
    return gammainc(df / 2.0, x / 2.0)
