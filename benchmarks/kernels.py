"""The optional numba kernels (autonp[fast]) against the NumPy code they replace, and the ones tried and left
out, on the CNN example's shapes (batch 128, float32). Medians of interleaved rounds. The compiled
convolution's whole layer, forward and backward, is a row of ``benchmarks/run.py --only conv``.

    python benchmarks/kernels.py
"""
from __future__ import annotations

import statistics
import sys
import time
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


def direct_convolution(rng) -> None:
    """The 8->16 layer's forward: the BLAS path against the compiled correlation (``_numba.correlate_3x3``)
    on one thread and split with its helper thread, each alone and each right after a threaded OpenBLAS
    product. Whether OpenBLAS's worker then spins for ~0.1 s, taking the second core from the helper, is
    ``OPENBLAS_THREAD_TIMEOUT``'s to say (``autonp/ops/_blas_threads.py``): run this with it set to 28 to see."""
    from autonp.ops import _blas_threads, conv
    x = rng.standard_normal((128, 8, 28, 28), dtype=np.float32)
    w = rng.standard_normal((16, 8, 3, 3), dtype=np.float32)
    grid = conv._grid(x.shape, (3, 3), (1, 1))
    a = np.ones((512, 512), np.float32)

    def compiled(threads: int):
        def run():
            cpus, _blas_threads.CPUS = _blas_threads.CPUS, threads
            try:
                flat = np.zeros((8, (grid.n + 1) * grid.hp * grid.wp), np.float32)
                return _numba.correlate_3x3(x, 1, 1, flat, w, None, grid.wp, grid.hp * grid.wp, (128, 16, 28, 28))
            finally:
                _blas_threads.CPUS = cpus
        return run

    def blas_path():
        correlates, _numba.correlates = _numba.correlates, lambda *a, **k: False
        try:
            return conv._conv(x, w, None, (1, 1))
        finally:
            _numba.correlates = correlates
    assert np.allclose(compiled(2)(), blas_path(), atol=1e-4)
    paths = {"BLAS path": blas_path, "numba, 1 thread": compiled(1), "numba, 2 threads": compiled(2)}
    alone: dict = {name: [] for name in paths}
    after: dict = {name: [] for name in paths}
    for _ in range(5):  # blocks of calls, 0.15 s apart: no OpenBLAS thread still spinning from another path
        for name, fn in paths.items():
            time.sleep(0.15)
            for i in range(8):
                start = time.perf_counter()
                fn()
                if i >= 2:
                    alone[name].append(time.perf_counter() - start)
    for _ in range(21):  # interleaved, each call timed right after a product (the product not timed)
        for name, fn in paths.items():
            a @ a
            start = time.perf_counter()
            fn()
            after[name].append(time.perf_counter() - start)
    print(f"OpenBLAS's idle threads spin 2^{_blas_threads.spin()} ticks")
    for situation, times in [("each path alone", alone), ("each call right after an OpenBLAS product", after)]:
        print(f"conv 8->16 forward, {situation}: "
              + ", ".join(f"{k} {statistics.median(v) * 1e3:.2f} ms" for k, v in times.items()))


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
    direct_convolution(rng)


if __name__ == "__main__":
    main()
