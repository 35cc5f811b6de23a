"""NumPy as the oracle of what to accept and what to return: every op-table row on hostile inputs — an axis of
length 0, 0-d and size-1 arguments, one more axis, an infinite or NaN entry, a zero, a subnormal, a huge number
— run on plain arrays and on Tensors that require grad. Where NumPy raises, autonp raises; where NumPy returns,
autonp returns its values (NaN where NumPy's are NaN) and can run backward. The sweeps that found the wrong numbers
of the nineteenth session (the fft family wrapping an axis out of bounds, einsum's ∞·0 in a trace, linspace's
endpoint, quantile at an infinite end, interp's fallbacks, ...); the few differences left are listed with why."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import autonp as anp
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
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-6, atol=1e-300, equal_nan=True)


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
