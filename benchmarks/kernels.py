"""The optional numba kernels (autonp[fast]) against the NumPy code they replace, and the ones tried and left
out, on the CNN example's shapes (batch 128, float32). Medians of interleaved rounds.

    python benchmarks/kernels.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import timed_together  # noqa: E402

from autonp.ops import _numba  # noqa: E402
from autonp.ops.nn import _max_pool, _max_pool_vjp, _relu_vjp  # noqa: E402


def col2im_numba():
    import numba

    @numba.njit(cache=True, parallel=True)
    def col2im(dcols, shifts, out):
        for c in numba.prange(dcols.shape[0]):
            for k in range(dcols.shape[1]):
                s = shifts[k]
                for t in range(dcols.shape[2]):
                    out[c, t + s] += dcols[c, k, t]
    return col2im


def main() -> None:
    if not _numba.ENABLED:
        print("numba is not installed (pip install 'autonp[fast]'), or AUTONP_NUMBA=0: nothing to compare")
        return
    rng = np.random.default_rng(0)
    for shape in [(128, 16, 28, 28), (128, 32, 14, 14)]:
        x = rng.random(shape, dtype=np.float32)
        n, c, h, w = shape
        ans = x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        g = rng.random(ans.shape, dtype=np.float32)
        _numba.ENABLED = False
        reference = _max_pool_vjp(g, ans, x, (2, 2), (2, 2))
        _numba.ENABLED = True
        assert np.array_equal(reference, _numba.max_pool_backward(x, ans, g, (2, 2), (2, 2)))

        def numpy_path():
            _numba.ENABLED = False
            _max_pool_vjp(g, ans, x, (2, 2), (2, 2))
            _numba.ENABLED = True
        t = timed_together({"numpy": numpy_path,
                            "numba": lambda: _numba.max_pool_backward(x, ans, g, (2, 2), (2, 2))}, 21)
        print(f"max-pool backward {shape}: NumPy {t['numpy'] * 1e3:.2f} ms, numba {t['numba'] * 1e3:.2f} ms "
              f"({t['numpy'] / t['numba']:.2f}x)")
        for name, call in [("max-pool forward", lambda: _max_pool(x, (2, 2), (2, 2))),
                           ("ReLU backward", lambda: _relu_vjp(x, None, x))]:
            def numpy_path(call=call):
                _numba.ENABLED = False
                call()
                _numba.ENABLED = True
            t = timed_together({"numpy": numpy_path, "numba": call}, 21)
            print(f"{name} {shape}: NumPy {t['numpy'] * 1e3:.2f} ms, numba {t['numba'] * 1e3:.2f} ms "
                  f"({t['numpy'] / t['numba']:.2f}x)")
    col2im = col2im_numba()
    for channels, size, wp in [(16, 128 * 16 * 16, 16), (8, 128 * 30 * 30, 30)]:
        dcols = rng.random((channels, 9, size), dtype=np.float32)
        shifts = np.array([p * wp + q for p in range(3) for q in range(3)])
        out = np.zeros((channels, size + 2 * wp + 2), np.float32)

        def numpy_col2im():
            out[:] = 0
            for k, s in enumerate(shifts):
                out[:, s:s + size] += dcols[:, k]

        def numba_col2im():
            out[:] = 0
            col2im(dcols, shifts, out)
        t = timed_together({"numpy": numpy_col2im, "numba": numba_col2im}, 21)
        print(f"col2im ({channels} channels, {size} positions), left out: NumPy {t['numpy'] * 1e3:.2f} ms, "
              f"numba {t['numba'] * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
