"""The same values in other memory: Fortran order, byte-swapped, strided and reversed views, read-only and
unaligned arrays. autonp's fast paths (NumPy's BLAS called directly, the numba kernels) each choose by layout
and dtype; whatever they choose, the numbers must be those of the C-ordered array — whose gradients
tests/test_op_table.py and tests/test_nn_layers.py check against central differences — or NumPy's own
forward on the same array.

Found this way: max-pool on a byte-swapped array raised numba's TypingError from inside autonp (its kernels
took '>f8' for float64)."""
import warnings

import numpy as np
import pytest

import autonp as anp
from autonp import nn
from autonp.nn import functional as F
from op_db import CASES

LAYOUTS = ["fortran", "byteswapped", "strided", "reversed", "readonly", "unaligned"]


def in_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """x's values in another memory layout (asserted equal)."""
    if layout == "fortran":
        out = np.asfortranarray(x)
    elif layout == "byteswapped":
        out = x.astype(x.dtype.newbyteorder(">" if x.dtype.isnative and np.little_endian else "<"))
    elif layout == "strided":                      # every other element of a wider array
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        wide[..., ::2] = x
        out = wide[..., ::2]
    elif layout == "reversed":                     # negative strides
        out = x[..., ::-1].copy()[..., ::-1]
    elif layout == "readonly":
        out = x.copy()
        out.flags.writeable = False
    else:                                          # one byte past an aligned buffer
        out = np.ndarray(x.shape, x.dtype, buffer=np.zeros(x.nbytes + 1, np.uint8), offset=1)
        out[...] = x
        assert not out.flags.aligned
    np.testing.assert_array_equal(out, x)
    return out


def _forward_and_grads(f, xs):
    ts = [anp.Tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    weights = np.random.default_rng(1).normal(size=out.shape)
    grads = anp.gradients((out * weights).sum(), ts)
    return np.asarray(out.numpy()), [g.numpy() for g in grads]


def _assert_same(got, want, dtype, what):
    tol = 1e-12 if dtype == np.float64 else 1e-5
    (out, grads), (out0, grads0) = got, want
    np.testing.assert_allclose(out, out0, rtol=tol, atol=tol, err_msg=f"{what}: forward")
    for i, (g, g0) in enumerate(zip(grads, grads0)):
        np.testing.assert_allclose(g, g0, rtol=tol, atol=tol, err_msg=f"{what}: gradient of input {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_op_table_row_gives_the_same_numbers_in_every_layout(case, dtype):
    if dtype == np.float32 and not case.float32:
        pytest.skip("float64 only")
    xs = case.inputs(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _forward_and_grads(lambda *a: case.f(np, *a), xs)
        np.testing.assert_allclose(want[0], case.f(np, *xs), rtol=1e-6, atol=1e-6)  # NumPy's own forward
        for i in range(len(xs)):
            for layout in LAYOUTS:
                args = list(xs)
                args[i] = in_layout(xs[i], layout)
                _assert_same(_forward_and_grads(lambda *a: case.f(np, *a), args), want, dtype,
                             f"{case.name}, input {i} {layout}")


NN = {  # the layers with fast paths of their own (BLAS into views, numba kernels), at shapes that take them
    "conv2d stride 1": (lambda x, w, b: F.conv2d(x, w, b, padding=1), [(4, 3, 9, 8), (5, 3, 3, 3), (5,)]),
    "conv2d 8->16": (lambda x, w, b: F.conv2d(x, w, b), [(4, 8, 9, 8), (16, 8, 3, 3), (16,)]),
    "conv2d 1->8": (lambda x, w, b: F.conv2d(x, w, b, padding=1), [(4, 1, 12, 12), (8, 1, 3, 3), (8,)]),
    "conv2d stride 2": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [(4, 3, 9, 8), (5, 3, 3, 3), (5,)]),
    "conv2d groups": (lambda x, w, b: F.conv2d(x, w, b, groups=2, dilation=2, padding=2),
                      [(2, 4, 9, 8), (6, 2, 3, 3), (6,)]),
    "max_pool2d 2x2": (lambda x: F.max_pool2d(x, 2), [(3, 2, 8, 6)]),
    "max_pool2d 3x3": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [(3, 2, 8, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2), [(3, 2, 8, 6)]),
    "batch_norm 2d": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(4, 3, 5, 5), (3,), (3,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (6,), w, b), [(4, 6), (6,), (6,)]),
    "relu of a dense layer": (lambda x, w, b: nn.ReLU()(x @ w + b), [(256, 784), (784, 16), (16,)]),
    "cross_entropy": (lambda x: nn.cross_entropy(x, np.array([1, 0, 3, 2, 2])), [(5, 4)]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(NN))
def test_layers_give_the_same_numbers_in_every_layout_eager_and_compiled(name, dtype):
    """Eager, and a compiled value-and-gradient traced on C-ordered arrays then replayed on the others."""
    f, shapes = NN[name]
    xs = [np.random.default_rng(0).normal(size=s).astype(dtype) for s in shapes]
    want = _forward_and_grads(f, xs)
    weights = np.random.default_rng(1).normal(size=want[0].shape)

    def loss(*a):
        return np.sum(f(*a) * weights)
    compiled = anp.compile(anp.value_and_grad(loss, argnum=tuple(range(len(xs)))))
    compiled(*xs)
    for i in range(len(xs)):
        for layout in LAYOUTS:
            args = list(xs)
            args[i] = in_layout(xs[i], layout)
            _assert_same(_forward_and_grads(f, args), want, dtype, f"{name}, input {i} {layout}")
            value, grads = compiled(*args)
            _assert_same((value, grads), (np.sum(want[0] * weights), want[1]), dtype,
                         f"{name} compiled, input {i} {layout}")
