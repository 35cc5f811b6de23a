"""``scipy.stats`` distributions with gradients, one module each as in HIPS autograd
(``from autonp.scipy.stats import norm``; ``norm.logpdf(x, loc, scale)``). On plain arrays each function is
SciPy's own; with Tensors it is the density's formula in differentiable ops (equal to SciPy's values to
rounding, and differentiable in every argument the formula has: x, loc, scale, shape parameters), except the
CDFs, differentiable in x (and μ for poisson) only — the others are refused."""
from . import beta, chi2, dirichlet, gamma, multivariate_normal, norm, poisson, t

__all__ = ["beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]
