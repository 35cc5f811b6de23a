"""Every primitive, by family: forward and vector-Jacobian products side by side.

- :mod:`.shape` — reshaping, broadcasting, indexing, joining, splitting, padding, ``where``
- :mod:`.reductions` — sum, mean, max, min, prod, var, std, cumsum, cumprod, diff, sort
- :mod:`.elementwise` — exp, log, trigonometric, hyperbolic, rounding, maximum, clip, ...
- :mod:`.arithmetic` — + − × ÷, powers, remainders
- :mod:`.linalg` — matmul, einsum and the products built on it, ``np.linalg``
- :mod:`.nn` — sigmoid, relu, softmax family, fused cross-entropy, max pooling
- :mod:`.conv` — stride-1 convolution and its two adjoints, each one product on the padded grid
- :mod:`.numpy_api` — the tables mapping NumPy's ufuncs/functions to these, and the protocols

Adding an op touches its family's file (forward + VJPs) and, for a NumPy name, one row of the
table in :mod:`.numpy_api`. VJPs use operators and autonp ops (not raw ``np.`` calls on their
arguments) so that they also run on Tensors under ``create_graph=True``.
"""
from ._define import primitive
from .arithmetic import add, div, divmod_, floor_divide, fmod, mod, mul, neg, power, sub
from .elementwise import (
    abs,
    angle,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    cbrt,
    ceil,
    clip,
    conj,
    cos,
    cosh,
    deg2rad,
    exp,
    exp2,
    expm1,
    fabs,
    floor,
    fmax,
    fmin,
    hypot,
    imag,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    maximum,
    minimum,
    nan_to_num,
    positive,
    rad2deg,
    real,
    real_if_close,
    reciprocal,
    rint,
    sign,
    sin,
    sinc,
    sinh,
    sqrt,
    square,
    tan,
    tanh,
    trunc,
)
from .linalg import (
    cholesky,
    det,
    dot,
    eigh,
    einsum,
    inner,
    inv,
    kron,
    linear,
    matmul,
    matrix_power,
    multi_dot,
    norm,
    outer,
    slogdet,
    solve,
    svd,
    tensordot,
    trace,
    vdot,
)
from .nn import log, log_softmax, logsumexp, relu, sigmoid, softmax, softmax_cross_entropy
from .numpy_api import (
    FUNCTIONS,
    UFUNCS,
    cumprod,
    cumsum,
    install,
    mean,
    prod,
    reshape,
    round_,
    transpose,
    where,
)
from .numpy_api import max_ as max
from .numpy_api import min_ as min
from .numpy_api import sum_ as sum
from .reductions import average, diff, sort, std, var
from .shape import (
    append,
    array,
    array_split,
    astype,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    broadcast_arrays,
    broadcast_to,
    column_stack,
    concatenate,
    copy,
    diag,
    diagonal,
    dsplit,
    dstack,
    expand_dims,
    flip,
    fliplr,
    flipud,
    getitem,
    hsplit,
    hstack,
    moveaxis,
    pad,
    ravel,
    repeat,
    roll,
    rollaxis,
    rot90,
    select,
    setitem,
    split,
    squeeze,
    stack,
    sum_to,
    swapaxes,
    take,
    take_along_axis,
    tile,
    tril,
    triu,
    vsplit,
    vstack,
)

round = round_  # noqa: A001
divmod = divmod_  # noqa: A001
pow = power  # noqa: A001
true_divide = divide = div
subtract, multiply, negative, absolute = sub, mul, neg, abs
remainder = mod
radians, degrees = deg2rad, rad2deg
flatten = ravel

install()

__all__ = sorted(n for n, v in list(globals().items())
                 if callable(v) and not n.startswith("_") and not n.endswith("_") and n != "install")
