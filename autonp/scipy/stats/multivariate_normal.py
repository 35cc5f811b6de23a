"""The multivariate normal: log p = −½ (d log 2π + log det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)), rows of x are points.
With ``allow_singular=True``, as SciPy: the rank, pseudo-determinant and pseudo-inverse of Σ (from its
eigenvalues above the cutoff) in their places."""
import math

import numpy as np
import scipy.stats

from ...ops import diag, eigh, exp, log, slogdet, solve, where
from ...ops import sum as _sum
from ...tensor import _data
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


def _pseudo(S):
    """(rank, log pseudo-determinant, the matrix whose quadratic form is the pseudo-inverse's) from the
    eigenvalues above SciPy's cutoff (1e6·eps·max|λ| in float64)."""
    w, v = eigh(S)
    wd = _data(w)
    keep = wd > (1e3 if wd.dtype == np.float32 else 1e6) * np.finfo(wd.dtype).eps * np.max(np.abs(wd))
    safe = where(keep, w, 1.0)
    return int(keep.sum()), _sum(log(safe)), v, where(keep, 1.0 / safe, 0.0)


@formula(_d.logpdf)
def logpdf(x, mean=None, cov=1, allow_singular=False):
    if mean is None:
        mean = np.zeros(np.shape(x)[-1])
    d = _dim(mean, cov)
    S = _matrix(cov, d)
    diff = x - mean
    rows = diff.reshape(-1, d)
    if allow_singular:  # scipy's pseudo-inverse and pseudo-determinant, from eigh
        rank, log_det, v, inv_w = _pseudo(S)
        quad = _sum((rows @ v) ** 2 * inv_w, axis=-1)
        out = -0.5 * (rank * LOG_2PI + log_det + quad)
    else:
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


