"""The multivariate normal: log p = −½ (d log 2π + log det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)), rows of x are points."""
import math

import numpy as np
import scipy.stats

from ...ops import diag, exp, slogdet, solve
from ...ops import sum as _sum
from ._common import formula

_d = scipy.stats.multivariate_normal
LOG_2PI = math.log(2 * math.pi)


def _matrix(cov, d):
    if np.ndim(cov) == 0:
        return cov * np.eye(d)
    if np.ndim(cov) == 1:
        return diag(cov)
    return cov


def _dim(mean, cov):
    return int(np.shape(cov)[-1]) if np.ndim(cov) == 2 else int(np.size(mean) if np.ndim(mean) else 1)


@formula(_d.logpdf)
def logpdf(x, mean=None, cov=1, allow_singular=False):
    if mean is None:
        mean = np.zeros(np.shape(x)[-1])
    d = _dim(mean, cov)
    S = _matrix(cov, d)
    diff = x - mean
    rows = diff.reshape(-1, d)
    quad = _sum(rows * solve(S, rows.T).T, axis=-1)
    out = -0.5 * (d * LOG_2PI + slogdet(S)[1] + quad)
    shape = np.shape(diff)[:-1]
    return out.reshape(shape) if shape else out.reshape(())


@formula(_d.pdf)
def pdf(x, mean=None, cov=1, allow_singular=False):
    return exp(logpdf(x, mean, cov, allow_singular))


@formula(_d.entropy)
def entropy(mean=None, cov=1):
    d = _dim(mean, cov)
    return 0.5 * (d * (1.0 + LOG_2PI) + slogdet(_matrix(cov, d))[1])


