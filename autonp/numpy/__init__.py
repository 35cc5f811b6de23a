"""``import autonp.numpy as np``: NumPy for programs written for HIPS autograd (``import autograd.numpy as np``).

Every NumPy name is here. On plain arrays each function is NumPy's own and returns what NumPy returns;
given Tensors, NumPy's protocols route the call to autonp's differentiable op (or a refusal naming it).
What plain NumPy cannot do, this module adds:

- sequences holding Tensors: ``np.array([x, 2 * x])``, ``np.std([a, b])``, ``np.append([t], v)`` keep the graph
  (NumPy would turn the list into an array first and lose it);
- ``np.asarray(t)`` returns the Tensor itself, and ``np.full(shape, t)`` broadcasts it, on the tape;
- ``np.r_`` / ``np.c_`` concatenate Tensors.

``np.random`` is NumPy's; ``np.linalg`` and ``np.fft`` follow the same rules as this module.
"""
from __future__ import annotations

import importlib as _importlib

import numpy as _np
from numpy import *  # noqa: F403 - the whole NumPy namespace, overridden below where Tensors need it

from ._wrap import ITERABLE_FIRST, SEQUENCE_NATIVE, differentiable_namespace, iterable_first
from ._wrap import asarray as asarray
from ._wrap import c_ as c_
from ._wrap import full as full
from ._wrap import make_diagonal as make_diagonal
from ._wrap import r_ as r_
from ._wrap import where as where

globals().update(differentiable_namespace(_np, skip=SEQUENCE_NATIVE | {"asarray", "full", "where"}))
globals().update({name: iterable_first(getattr(_np, name)) for name in ITERABLE_FIRST if hasattr(_np, name)})
# imported by name: ``from . import linalg`` would find NumPy's linalg, which the * import bound here
linalg = _importlib.import_module(__name__ + ".linalg")
fft = _importlib.import_module(__name__ + ".fft")
random = _importlib.import_module(__name__ + ".random")


def __getattr__(name: str):
    """Anything else NumPy has (``np.newaxis``, ``np.float64``, ``np.lib`` ...) is NumPy's."""
    return getattr(_np, name)
