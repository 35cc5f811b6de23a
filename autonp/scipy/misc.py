"""``autograd.scipy.misc``: ``logsumexp`` (SciPy moved it to ``scipy.special``)."""
from .special import logsumexp

__all__ = ["logsumexp"]
