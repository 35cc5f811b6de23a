"""autonp: reverse-mode automatic differentiation for NumPy.

>>> import autonp as anp
>>> x = anp.Tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.numpy()
array([2., 4.])
"""
from . import _malloc, data, datasets, nn, optim, pytree, viz  # the modules built on the core
from .builtins import dict, isinstance, list, tuple, type  # noqa: A004 - HIPS autograd exports them; Python's own
from .distributed import data_parallel
from .functional import (
    IndependentOutputWarning,
    backward_in_blocks,
    checkpoint,
    elementwise_grad,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)
from .gradcheck import GradcheckError, check_ops, compare_gradients, gradcheck, gradgradcheck
from .ops import *  # noqa: F403 - every op, under its NumPy name
from .ops import _blas_threads, _numba, linalg, primitive
from .serialize import FormatError, load, save
from .tape import Tape, TapeEntry, tape
from .tensor import (
    AnomalyError,
    FreedGraphWarning,
    GraphFreedError,
    LeafAssignmentError,
    Node,
    OpError,
    Primitive,
    Tensor,
    detect_anomaly,
    enable_grad,
    from_numpy,
    gradients,
    guard_memory,
    is_grad_enabled,
    name_scope,
    no_grad,
)
from .wrappers import (
    deriv,
    grad_and_aux,
    grad_named,
    hessian_tensor_product,
    hessian_vector_product,
    holomorphic_grad,
    make_ggnvp,
    make_hvp,
    make_jvp,
    make_vjp,
    multigrad_dict,
    tensor_jacobian_product,
    vector_jacobian_product,
)

__version__ = "0.1.0"


# HIPS autograd's modules that ``import autograd`` makes attributes (``autograd.core.primitive``), and the others
# a program reaches by name after importing the package alone: loaded when first asked for
_SUBMODULES = {"core", "differential_operators", "util", "wrap_util", "extend", "tracer", "test_util", "misc",
               "scipy", "numpy", "compiler"}


def __getattr__(name: str):
    """``anp.compile`` and ``anp.CompileError``: the compiler is loaded when first asked for (eager code
    never needs it, and every object a module adds is one more for Python's cyclic GC to walk)."""
    if name in ("compile", "CompileError"):
        from . import compiler
        value = globals()[name] = getattr(compiler, name)
        return value
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'autonp' has no attribute {name!r}")

_malloc.keep_freed_memory()  # glibc: freed arrays stay for the next step (see autonp/_malloc.py)
if _numba.ENABLED:  # autonp[fast]: OpenBLAS's idle threads leave the second core soon (autonp/ops/_blas_threads.py)
    _blas_threads.shorten_spin()
