"""SciPy for differentiated programs, as HIPS autograd's ``autograd.scipy``: ``special``, ``stats``, ``signal``,
``linalg``, ``integrate`` and ``misc``. Imported on first use of a submodule (SciPy is an optional dependency:
``pip install autonp[scipy]``). SciPy's own special-function ufuncs differentiate on Tensors with no import
change at all: ``scipy.special.gammaln(t)``.
"""
import importlib

__all__ = ["special", "stats", "signal", "linalg", "integrate", "misc"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'autonp.scipy' has no attribute {name!r}")
