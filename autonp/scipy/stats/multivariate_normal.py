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


def _cutoff(w):
    """SciPy's cutoff for Σ's eigenvalues ``w``: 1e6·eps·max|λ| in float64, 1e3·eps·max|λ| in float32."""
    return (1e3 if w.dtype == np.float32 else 1e6) * np.finfo(w.dtype).eps * np.abs(w).max(initial=0.0)


def _rank(S, allow_singular: bool) -> int:
    """Σ's rank, after SciPy's checks of it (on its eigenvalues: one below −cutoff is not positive semidefinite, one
    within the cutoff makes Σ singular). Σ must be symmetric (to rounding): SciPy reads its lower triangle, the
    formula here the whole matrix, and of a non-symmetric Σ they give different numbers."""
    Sd = _data(S)  # (ndarray methods below, not np.max and np.min: a third of the time, on a small Σ)
    if np.abs(Sd - np.swapaxes(Sd, -1, -2)).max(initial=0.0) > 1e-8 * np.abs(Sd).max(initial=0.0):
        raise ValueError("multivariate_normal: cov is not symmetric (SciPy reads its lower triangle, autonp's formula "
                         "the whole matrix: symmetrise it, e.g. (cov + cov.T) / 2)")
    w = np.linalg.eigvalsh(Sd)
    cutoff = _cutoff(w)
    smallest = w.min(initial=np.inf)
    if smallest < -cutoff:
        raise ValueError("The input matrix must be symmetric positive semidefinite.")
    if not allow_singular and smallest <= cutoff:
        raise np.linalg.LinAlgError("When `allow_singular is False`, the input matrix must be symmetric positive "
                                    "definite.")
    return int(np.count_nonzero(w > cutoff))


def _pseudo(S):
    """(rank, log pseudo-determinant, eigenvectors, the inverses of the eigenvalues kept (0 for the others), which
    are kept, the cutoff) from the eigenvalues above SciPy's cutoff (``_cutoff``)."""
    w, v = eigh(S)
    wd = _data(w)
    cutoff = _cutoff(wd)
    keep = wd > cutoff
    safe = where(keep, w, 1.0)
    return int(keep.sum()), _sum(log(safe)), v, where(keep, 1.0 / safe, 0.0), keep, cutoff


@formula(_d.logpdf)
def logpdf(x, mean=None, cov=1, allow_singular=False):
    if mean is None:
        mean = np.zeros(np.shape(x)[-1])
    d = _dim(mean, cov)
    S = _matrix(cov, d)
    diff = x - mean
    rows = diff.reshape(-1, d)
    if _rank(S, allow_singular) < d:  # scipy's pseudo-inverse and pseudo-determinant, from eigh (full rank: the
        # formula below, whose gradient eigh's cannot give where eigenvalues repeat, as for Σ = I)
        rank, log_det, v, inv_w, keep, cutoff = _pseudo(S)
        along = rows @ v
        quad = _sum(along ** 2 * inv_w, axis=-1)
        out = -0.5 * (rank * LOG_2PI + log_det + quad)
        off = np.linalg.norm(_data(along) * ~keep, axis=-1) >= cutoff  # a point off Σ's range: density 0, as SciPy
        out = where(off, -np.inf, out) if np.any(off) else out
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
    S = _matrix(cov, d)
    _rank(S, False)
    return 0.5 * (d * (1.0 + LOG_2PI) + slogdet(S)[1])


