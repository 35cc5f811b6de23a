"""NumPy as the oracle of what to accept and what to return: every op-table row on hostile inputs — an axis of
length 0, 0-d and size-1 arguments, one more axis, an infinite or NaN entry, a zero, a subnormal, a huge number
— run on plain arrays and on Tensors that require grad. Where NumPy raises, autonp raises; where NumPy returns,
autonp returns its values (NaN where NumPy's are NaN) and can run backward. The sweeps that found the wrong numbers
of the nineteenth session (the fft family wrapping an axis out of bounds, einsum's ∞·0 in a trace, linspace's
endpoint, quantile at an infinite end, interp's fallbacks, ...); the few differences left are listed with why."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import autonp as anp
from conftest import central_diff
from op_db import CASES

# (row, variant) -> why autonp differs from NumPy there
KNOWN = {
    ("einsum_diag", "arg0 of shape (0, 4)"): "NumPy returns a diagonal of length 4 from a (0, 4) array (and refuses "
                                             "(4, 0)); autonp refuses both, as NumPy does for any other mismatch",
    ("cond", "arg0 holding 1e+308"): "NumPy's ∞ comes from its SVD without vectors overflowing; autonp's, with vectors "
                                     "(for the gradient), gives the finite 1.48e308",
}
SVD_ROWS = {"svd_values", "svd_vectors_tall", "svd_vectors_wide", "cond", "norm_nuc", "norm_2_matrix"}


def _shape_variants(case):
    for k, shape in enumerate(case.shapes):
        for axis in range(len(shape)):
            empty = tuple(0 if a == axis else n for a, n in enumerate(shape))
            yield f"arg{k} of shape {empty}", k, empty
        yield f"arg{k} 0-d", k, ()
        yield f"arg{k} of size-1 axes", k, (1,) * len(shape)
        yield f"arg{k} with one more axis", k, (2,) + tuple(shape)


def _values(case, k, shape):
    xs = [np.abs(np.random.default_rng(0).normal(size=s)) + 0.5 for s in case.shapes]
    xs[k] = np.abs(np.random.default_rng(1).normal(size=shape)) + 0.5
    return xs


def _run(case, xs, tensors: bool):
    args = [anp.Tensor(x, requires_grad=True) for x in xs] if tensors else xs
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = case.f(np, *args)
    return args, out


def _same(got, want) -> bool:
    got = got.numpy() if isinstance(got, anp.Tensor) else np.asarray(got)
    want = np.asarray(want)
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-6, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_shapes_are_accepted_and_refused_as_numpy_does(case):
    for variant, k, shape in _shape_variants(case):
        if (case.name, variant) in KNOWN:
            continue
        xs = _values(case, k, shape)
        try:
            _, want = _run(case, xs, tensors=False)
        except Exception:  # noqa: BLE001 - NumPy refuses: so must autonp
            with pytest.raises(Exception):  # noqa: B017 - NumPy's kind varies; that it raises is the point
                _run(case, xs, tensors=True)
            continue
        args, got = _run(case, xs, tensors=True)
        assert _same(got, want), f"{case.name}, {variant}"
        if isinstance(got, anp.Tensor) and got.requires_grad and got.dtype.kind == "f" and np.isfinite(want).all():
            with warnings.catch_warnings(), np.errstate(all="ignore"):  # (‖x‖₃ of nothing: 0, where ∂ is ∞ · an
                warnings.simplefilter("ignore")                          # empty gradient)
                np.sum(got).backward()
            assert all(a.grad is None or a.grad.shape == a.shape for a in args), f"{case.name}, {variant}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_an_infinite_or_nan_entry_gives_numpys_values(case):
    for k in range(len(case.shapes)):
        for value in (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, 5e-324):
            variant = f"arg{k} holding {value}"
            if (case.name, variant) in KNOWN:
                continue
            xs = case.inputs()
            xs[k] = xs[k].copy()
            xs[k].flat[min(1, xs[k].size - 1)] = value
            try:
                _, want = _run(case, xs, tensors=False)
            except Exception:  # noqa: BLE001
                with pytest.raises(Exception):  # noqa: B017
                    _run(case, xs, tensors=True)
                continue
            if case.name in SVD_ROWS and np.isinf(value):  # LAPACK's SVD with vectors never returns there
                with pytest.raises(np.linalg.LinAlgError, match="infinite or NaN"):
                    _run(case, xs, tensors=True)
                continue
            _, got = _run(case, xs, tensors=True)
            assert _same(got, want), f"{case.name}, {variant}"


def _special(x, name):
    """SciPy's function on arrays, autonp.scipy's on Tensors (SciPy's own refuses Tensors that require grad)."""
    import scipy.special

    import autonp.scipy.special
    return getattr(autonp.scipy.special if isinstance(x, anp.Tensor) else scipy.special, name)


def _along(name):
    return lambda np_, x, a: getattr(np_, name)(x, axis=a)


AXIS_FUNCTIONS = {  # name -> f(np_, x, axis): NumPy's functions that take an axis (or axes)
    **{name: _along(name) for name in (
        "sum", "mean", "prod", "max", "min", "std", "var", "ptp", "average", "median", "nansum", "nanmean",
        "nanvar", "nanmax", "nanprod", "nanmedian", "cumsum", "cumprod", "nancumsum", "cumulative_sum", "diff",
        "sort", "flip", "trapezoid", "gradient", "count_nonzero", "nanstd")},
    "quantile": lambda np_, x, a: np_.quantile(x, 0.3, axis=a),
    "percentile": lambda np_, x, a: np_.percentile(x, 30, axis=a),
    "roll": lambda np_, x, a: np_.roll(x, 1, axis=a),
    "concatenate": lambda np_, x, a: np_.concatenate([x, x], axis=a),
    "stack": lambda np_, x, a: np_.stack([x, x], axis=a),
    "split": lambda np_, x, a: np_.split(x, 1, axis=a)[0],
    "expand_dims": lambda np_, x, a: np_.expand_dims(x, a),
    "squeeze": lambda np_, x, a: np_.squeeze(x[:1], axis=a),
    "moveaxis": lambda np_, x, a: np_.moveaxis(x, a, 0),
    "swapaxes": lambda np_, x, a: np_.swapaxes(x, a, 0),
    "take": lambda np_, x, a: np_.take(x, [0], axis=a),
    "repeat": lambda np_, x, a: np_.repeat(x, 2, axis=a),
    "unstack": lambda np_, x, a: np_.unstack(x, axis=a)[0],
    "linalg.norm": lambda np_, x, a: np_.linalg.norm(x, axis=a),
    "norm1": lambda np_, x, a: np_.linalg.norm(x, 1, axis=a),
    "vector_norm": lambda np_, x, a: np_.linalg.vector_norm(x, axis=a),
    "norm fro": lambda np_, x, a: np_.linalg.norm(x, "fro", axis=(a, 0) if not isinstance(a, tuple) else a),
    "cross": lambda np_, x, a: np_.cross(x[:, :3], x[:, 1:], axis=a),
    "vecdot": lambda np_, x, a: np_.linalg.vecdot(x, x, axis=a),
    "fft": lambda np_, x, a: np_.fft.fft(x, axis=a),
    "rfft": lambda np_, x, a: np_.fft.rfft(x, axis=a),
    "irfft": lambda np_, x, a: np_.fft.irfft(x, axis=a),
    "hfft": lambda np_, x, a: np_.fft.hfft(x, axis=a),
    "fftn": lambda np_, x, a: np_.fft.fftn(x, axes=a if isinstance(a, tuple) else (a,)),
    "rfftn": lambda np_, x, a: np_.fft.rfftn(x, axes=a if isinstance(a, tuple) else (a,)),
    "irfftn": lambda np_, x, a: np_.fft.irfftn(x, axes=a if isinstance(a, tuple) else (a,)),
    "fftshift": lambda np_, x, a: np_.fft.fftshift(x, axes=a),
    "ifftshift": lambda np_, x, a: np_.fft.ifftshift(x, axes=a),
    "apply_along_axis": lambda np_, x, a: np_.apply_along_axis(lambda v: v * 2, a, x),
    "tensordot": lambda np_, x, a:
        np_.tensordot(x, x, axes=([a], [a]) if not isinstance(a, tuple) else (list(a), list(a))),
    "take_along_axis": lambda np_, x, a: np_.take_along_axis(x, np.zeros((3, 4), int), axis=a),
    "logsumexp": lambda np_, x, a: _special(x, "logsumexp")(x, axis=a),
    "softmax": lambda np_, x, a: _special(x, "softmax")(x, axis=a),
    "log_softmax": lambda np_, x, a: _special(x, "log_softmax")(x, axis=a),
    "max keepdims": lambda np_, x, a: np_.max(x, axis=a, keepdims=True),
    "partition": lambda np_, x, a: np_.partition(x, 1, axis=a),
    "sum where": lambda np_, x, a: np_.sum(x, axis=a, where=np.asarray(x.data if isinstance(x, anp.Tensor) else x) > 0),
    "append": lambda np_, x, a: np_.append(x, x, axis=a),
    "array_split": lambda np_, x, a: np_.array_split(x, 2, axis=a)[0],
    "sum_initial": lambda np_, x, a: np_.sum(x, axis=a, initial=1.0),
    "logaddexp_reduce": lambda np_, x, a: np_.logaddexp.reduce(x, axis=a),
    "add_reduce": lambda np_, x, a: np_.add.reduce(x, axis=a),
    "add_accumulate": lambda np_, x, a: np_.add.accumulate(x, axis=a),
    "multiply_reduce": lambda np_, x, a: np_.multiply.reduce(x, axis=a),
}

BAD_AXES = [2, -3, 7, -9, (0, 0), (0, 2), (1, -1), (-3, 0), ()]


@pytest.mark.parametrize("name", list(AXIS_FUNCTIONS))
def test_axes_out_of_bounds_and_repeated_are_refused_as_numpy_does(name):
    """An axis out of bounds is NumPy's error, never another axis (the fft family wrapped axis 2 of a 2-D array to
    axis 0, tensordot took repeated and out-of-bounds axes); where NumPy takes the axes, autonp returns its values."""
    f, x = AXIS_FUNCTIONS[name], np.random.default_rng(0).uniform(0.5, 2.0, (3, 4))
    for axis in BAD_AXES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = f(np, x, axis)
        except Exception:  # noqa: BLE001 - NumPy refuses: so must autonp
            with pytest.raises(Exception):  # noqa: B017
                f(np, anp.Tensor(x, requires_grad=True), axis)
            continue
        try:
            got = f(np, anp.Tensor(x, requires_grad=True), axis)
        except (TypeError, ValueError, IndexError, NotImplementedError):  # a refusal by name is allowed
            continue
        assert _same(got, want), f"{name}, axis={axis}"


# --------------------------------------------------------------------------- a Tensor in every array slot

def _slot_signatures():
    """Every NumPy function autonp implements, with the parameters that can take an array: the required ones, and the
    optional ones whose default is None, a number or NumPy's no-value (weights=, initial=, q, spacing, ...)."""
    import inspect

    from autonp.ops.numpy_api import FUNCTIONS
    not_arrays = {"axis", "axes", "out", "dtype", "n", "k", "ddof", "ord", "norm", "bins", "axis1", "axis2",
                  "decimals", "N", "deg", "offset", "num", "base", "s", "edge_order"}
    for f in FUNCTIONS:
        try:
            params = inspect.signature(f).parameters.values()
        except (TypeError, ValueError):
            continue
        required = [p.name for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
        optional = [p.name for p in params if p.default is not p.empty and p.name not in not_arrays
                    and (p.default is None or p.default is np._NoValue or type(p.default) in (int, float))]
        yield f, required, optional


def _judged(ours, theirs, x, rng):
    """One argument, judged: (autonp's gradient of Σ w·ours(x), central differences of Σ w·theirs(x)), where the
    reference returns finite floats for x and autonp does not refuse by name; None otherwise. A gradient of zeros
    said with the independent-output warning counts as a gradient."""
    from autonp.functional import IndependentOutputWarning
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = theirs(x.copy())
    except Exception:  # noqa: BLE001 - the reference refuses these arguments: nothing to compare
        return None
    if not (isinstance(out, (np.ndarray, np.generic)) and out.dtype.kind == "f" and np.all(np.isfinite(out))):
        return None
    w = rng.normal(size=np.shape(out))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = central_diff(lambda v: np.sum(np.asarray(theirs(v)) * w), x)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", IndependentOutputWarning)
            got = np.asarray(anp.grad(lambda v: np.sum(ours(v) * w))(x))
    except IndependentOutputWarning:
        got = np.zeros_like(x)
    except (TypeError, ValueError, NotImplementedError):  # a refusal by name is allowed
        return None
    return got, want


def _agree(got, want) -> bool:
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_tensor_in_any_array_slot_is_differentiated_or_refused():
    """Each NumPy function autonp implements, with a Tensor that requires grad in each parameter that takes an array
    (one at a time; the others plain arrays, sorted draws in [0.1, 0.9] so that interp's samples increase): autonp's
    gradient equals central differences of NumPy's own function, or autonp refuses. Found: np.percentile read q's
    numbers and returned a gradient of zeros (with the independent-output warning); np.gradient did so with its
    spacing, and the reductions with a Tensor ``initial=`` beside a plain array (see the next test)."""
    rng = np.random.default_rng(0)
    checked, wrong = 0, []
    for f, required, optional in _slot_signatures():
        if f is np.empty_like:  # uninitialised values: nothing to differentiate
            continue
        for shape in [(3, 4), (4,), ()]:
            for extra in [None, *optional]:
                names = required + ([extra] if extra else [])
                values = {p: np.sort(rng.uniform(0.1, 0.9, shape), axis=None).reshape(shape) for p in names}
                for slot in names:
                    def call(x, slot=slot, values=values, names=names):
                        kw = {**values, slot: x}
                        return f(*[kw[p] for p in required], **{p: kw[p] for p in names[len(required):]})
                    judged = _judged(call, call, values[slot], rng)
                    if judged is not None:
                        checked += 1
                        if not _agree(*judged):
                            wrong.append(f"{f.__name__}({', '.join(names)}) {shape}, the Tensor as {slot}")
    assert checked > 250, checked
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("call", [
    lambda t: np.sum(np.ones(3), initial=t), lambda t: np.max(np.ones(3), initial=t),
    lambda t: np.prod(np.ones(3), initial=t), lambda t: np.nansum(np.ones(3), initial=t),
    lambda t: np.interp([-1.0, 0.5], [0.0, 1.0], [1.0, 2.0], left=t),
    lambda t: np.interp([2.0, 0.5], [0.0, 1.0], [1.0, 2.0], right=t),
], ids=["sum", "max", "prod", "nansum", "interp_left", "interp_right"])
def test_a_tensor_numpy_reads_as_a_number_is_refused(call):
    """NumPy dispatches on some arguments only (a reduction's array, interp's three arrays): a Tensor passed as
    ``initial=`` or ``left=`` beside plain arrays was read by NumPy's own code as float(t), and the result came back
    a plain number with the gradient gone (zeros under grad). Refused now, naming the function; float(t) said by the
    user stays the values (and the result's value with a plain number is NumPy's)."""
    t = anp.Tensor(np.array(0.7), requires_grad=True)
    with pytest.raises((TypeError, ValueError)) as e:
        anp.grad(call)(t)
    assert "read as a number" in str(e.value) + str(e.value.__cause__)
    assert float(t) == 0.7 and np.array_equal(call(0.7), call(anp.Tensor(np.array(0.7))))


def _scipy_pairs():
    import scipy.special as ss
    import scipy.stats as sst

    import autonp.scipy.special as special
    import autonp.scipy.stats as stats
    for name in dir(special):
        if not name.startswith("_") and callable(getattr(special, name)) and hasattr(ss, name):
            yield f"special.{name}", getattr(special, name), getattr(ss, name)
    for dist in dir(stats):
        if dist.startswith("_") or not hasattr(sst, dist) or dist in ("multivariate_normal", "dirichlet"):
            continue
        for method in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "pmf", "logpmf", "ppf", "isf"):
            ours, theirs = getattr(getattr(stats, dist), method, None), getattr(getattr(sst, dist), method, None)
            if ours is not None and theirs is not None:
                yield f"stats.{dist}.{method}", ours, theirs


def test_a_tensor_in_any_argument_of_scipy_is_differentiated_or_refused():
    """autonp.scipy's special functions and distributions, called with 1–4 arguments of increasing values in (0.2, 0.8)
    or (1.5, 3): where SciPy returns finite numbers, a Tensor that requires grad in each argument gets central
    differences of SciPy's own function as its gradient, or a refusal. Found: jn (SciPy's jn is jv, of any real
    order) gave its order a gradient of zeros; yn of a fractional order (SciPy truncates it) differentiated in x
    along the untruncated recurrence, 1.27 off, and raised a SystemError without a Tensor."""
    rng = np.random.default_rng(0)
    checked, wrong = 0, []
    for name, ours, theirs in _scipy_pairs():
        for nargs in range(1, 5):
            for lo, hi in [(0.2, 0.8), (1.5, 3.0)]:
                values = [np.sort(rng.uniform(lo, hi, 4)) for _ in range(nargs)]
                for i in range(nargs):
                    def call(x, f, i=i, values=values):
                        return f(*values[:i], x, *values[i + 1:])
                    judged = _judged(lambda x: call(x, ours), lambda x: call(x, theirs), values[i], rng)
                    if judged is not None:
                        checked += 1
                        if not _agree(*judged):
                            wrong.append(f"{name} of {nargs} arguments in ({lo}, {hi}), the Tensor as argument {i}")
    assert checked > 250, checked
    assert not wrong, "\n".join(wrong)


def test_scipy_ufunc_warnings_are_said_at_the_users_line_not_a_system_error():
    """SciPy's yn truncates a fractional order with a RuntimeWarning of its own; the filter that makes NumPy's warnings
    errors on the forward's line made it a SystemError (the ufunc cannot pass an exception on). It is SciPy's warning
    again, at the user's line, with SciPy's values. In a fresh interpreter: the suite turns RuntimeWarnings into
    errors (and with that filter, the user's, it is raised as a RuntimeWarning at the op)."""
    import subprocess
    import sys
    script = "\n".join([
        "import numpy as np, scipy.special as ss, autonp as anp",
        "from autonp.scipy.special import yn",
        "x = np.array([1.5, 2.5])",
        "got = yn(0.3, anp.Tensor(x, requires_grad=True))",   # line 4
        "assert np.array_equal(got.numpy(), ss.yn(0, x)) and np.array_equal(yn(2.7, x), ss.yn(2, x))",  # line 5
    ])
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    sites = re.findall(r"^<string>:(\d+): RuntimeWarning: (.*)$", run.stderr, flags=re.M)
    assert sites == [("4", "floating point number truncated to an integer"),
                     ("5", "floating point number truncated to an integer")], run.stderr
    assert "autonp" not in run.stderr and "SystemError" not in run.stderr
    with pytest.raises(RuntimeWarning, match="truncated"):  # the suite's filter: an error, raised at the op
        from autonp.scipy.special import yn
        yn(0.3, anp.Tensor(np.array([1.5]), requires_grad=True))


@pytest.mark.parametrize("call", [
    lambda np_, x: np_.squeeze(x, axis=0), lambda np_, x: np_.squeeze(x, axis=-1),
    lambda np_, x: np_.squeeze(x, axis=(0,)), lambda np_, x: np_.squeeze(x, axis=1),
    lambda np_, x: np_.pad(x, 1), lambda np_, x: np_.pad(x, ((2, 1),)), lambda np_, x: np_.pad(x, 1, mode="edge"),
    lambda np_, x: np_.pad(x, ((1, 1), (1, 1))),
], ids=["squeeze0", "squeeze-1", "squeeze(0,)", "squeeze1", "pad1", "pad_pair", "pad_edge", "pad_two_pairs"])
def test_a_zero_d_array_squeezed_or_padded_as_numpy_does(call):
    """NumPy takes axis 0 or −1 (as an int) of a 0-d array in squeeze, and pads a 0-d array to itself after checking
    the widths; autonp refused both (found by the HIPS-namespace sweep)."""
    x = np.array(1.3)
    try:
        want = call(np, x)
    except Exception:  # noqa: BLE001 - NumPy refuses: so must autonp
        with pytest.raises((ValueError, TypeError, IndexError)):
            call(np, anp.Tensor(x, requires_grad=True))
        return
    got = call(np, anp.Tensor(x, requires_grad=True))
    assert got.shape == np.shape(want) and float(got) == float(want)
    assert float(anp.grad(lambda t: call(np, t) * 3.0)(x)) == 3.0


@pytest.mark.parametrize("shift,axis", [(np.array([1.5, 0.2, 3.0, 1.0]), None), ([1, 2], (0, 1)),
                                        (np.array([1, -2]), (0, 1)), ((1, 1), 0), (np.int64(3), None), (-5, 1)])
def test_roll_takes_every_shift_numpy_takes(shift, axis):
    """np.roll's shift as NumPy takes it — an array, a sequence repeated along one axis (the shifts add up), a NumPy
    integer, fractions it truncates: the values NumPy's, the gradient central differences'. An array shift raised
    'only 0-dimensional arrays can be converted to Python scalars' from inside the backward."""
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_array_equal(np.roll(anp.Tensor(x), shift, axis).numpy(), np.roll(x, shift, axis))
    f = lambda v: np.sum(np.roll(v, shift, axis) * w)  # noqa: E731
    np.testing.assert_allclose(np.asarray(anp.grad(f)(x)), central_diff(f, x), rtol=1e-7, atol=1e-9)


I64 = np.int64
INTEGER_ARGUMENTS = {  # axes, counts and shapes given as NumPy integers or arrays (as np.argmax and friends make them)
    "expand_dims": lambda v: np.expand_dims(v, I64(0)),
    "expand_dims_tuple": lambda v: np.expand_dims(v, (I64(0), 2)),
    "transpose_array": lambda v: np.transpose(v, np.array([1, 0])),
    "reshape_array": lambda v: np.reshape(v, np.array([4, 3])),
    "repeat_array": lambda v: np.repeat(v, np.array([1, 2, 1]), axis=0),
    "tile_array": lambda v: np.tile(v, np.array([2, 1])),
    "take": lambda v: np.take(v, I64(1), axis=I64(0)),
    "moveaxis": lambda v: np.moveaxis(v, I64(0), I64(1)),
    "sum_axes": lambda v: np.sum(v, axis=(I64(0), np.int32(1))),
    "split_array": lambda v: np.split(v, np.array([1, 2]), 1)[1],
    "diff": lambda v: np.diff(v, n=I64(2), axis=I64(1)),
    "pad_array": lambda v: np.pad(v, np.array([[1, 0], [0, 2]])),
    "norm": lambda v: np.linalg.norm(v, ord=I64(2), axis=I64(1)),
    "rot90": lambda v: np.rot90(v, k=I64(3)),
    "var_ddof": lambda v: np.var(v, axis=I64(0), ddof=I64(1)),
    "fft_n": lambda v: np.real(np.fft.fft(v, n=I64(6), axis=I64(1))),
    "matrix_power": lambda v: np.linalg.matrix_power(v[:, :3], I64(3)),
    "power": lambda v: v ** I64(3),
    "partition": lambda v: np.partition(v, np.array([1, 2]), axis=1),
    "diagonal": lambda v: np.diagonal(v, offset=I64(1)),
}


@pytest.mark.parametrize("name", list(INTEGER_ARGUMENTS))
def test_numpy_integers_and_arrays_are_taken_where_numpy_takes_them(name):
    """An axis, a count or a shape given as np.int64 or as an array, as NumPy takes them: NumPy's values and central
    differences' gradients. np.expand_dims refused an np.int64 axis ('no len()'), np.transpose an array of axes
    ('truth value of an array ... is ambiguous')."""
    f = INTEGER_ARGUMENTS[name]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (3, 4))
    want = np.asarray(f(x))
    np.testing.assert_allclose(f(anp.Tensor(x)).numpy(), want, rtol=1e-13, atol=1e-13)
    w = rng.normal(size=want.shape)
    loss = lambda v: np.sum(f(v) * w)  # noqa: E731
    np.testing.assert_allclose(np.asarray(anp.grad(loss)(x)), central_diff(loss, x), rtol=1e-5, atol=1e-7)
