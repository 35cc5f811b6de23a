"""The optional numba kernels (autonp[fast]) against the NumPy code they replace, and the ones tried and left
out, on the CNN example's shapes (batch 128, float32). Medians of interleaved rounds.

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


def correlate3x3_numba():
    """The direct 3×3 correlation on the padded grid that was tried for the convolution (left out): four
    output channels at a time, nine shifted reads of an input channel per step, vectorised across grid
    positions (no sum reordered, no fastmath); images [n0, n1) only, so that two threads can share them."""
    import numba

    @numba.njit(cache=True, nogil=True)
    def correlate(src, w9, offsets, wp, block, out, n0, n1):  # block: an image's positions on the grid
        f_, k_, ho, wo = out.shape[1], src.shape[0], out.shape[2], out.shape[3]
        m = (ho - 1) * wp + wo
        buf = np.empty((4, m), out.dtype)
        for n in range(n0, n1):
            s0 = n * block
            for f in range(0, f_, 4):
                o0, o1, o2, o3 = buf[0], buf[1], buf[2], buf[3]
                o0[:], o1[:], o2[:], o3[:] = 0, 0, 0, 0
                for k in range(k_):
                    xs = src[k]
                    y0, y1, y2 = xs[s0 + offsets[0]:], xs[s0 + offsets[1]:], xs[s0 + offsets[2]:]
                    y3, y4, y5 = xs[s0 + offsets[3]:], xs[s0 + offsets[4]:], xs[s0 + offsets[5]:]
                    y6, y7, y8 = xs[s0 + offsets[6]:], xs[s0 + offsets[7]:], xs[s0 + offsets[8]:]
                    a, b, c, d = w9[f, k], w9[f + 1, k], w9[f + 2, k], w9[f + 3, k]
                    a0, a1, a2, a3, a4, a5, a6, a7, a8 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]
                    b0, b1, b2, b3, b4, b5, b6, b7, b8 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]
                    c0, c1, c2, c3, c4, c5, c6, c7, c8 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
                    d0, d1, d2, d3, d4, d5, d6, d7, d8 = d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]
                    for i in range(m):  # the weights in locals: with a[0] here, stores to o0 could alias them
                        x0, x1, x2, x3, x4 = y0[i], y1[i], y2[i], y3[i], y4[i]
                        x5, x6, x7, x8 = y5[i], y6[i], y7[i], y8[i]
                        o0[i] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3 + a4 * x4 + a5 * x5 + a6 * x6 + a7 * x7 + a8 * x8
                        o1[i] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3 + b4 * x4 + b5 * x5 + b6 * x6 + b7 * x7 + b8 * x8
                        o2[i] += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3 + c4 * x4 + c5 * x5 + c6 * x6 + c7 * x7 + c8 * x8
                        o3[i] += d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3 + d4 * x4 + d5 * x5 + d6 * x6 + d7 * x7 + d8 * x8
                for r in range(4):
                    for i in range(ho):
                        out[n, f + r, i, :] = buf[r, i * wp:i * wp + wo]
    return correlate


def direct_convolution(rng) -> None:
    """The 8->16 layer's forward: the BLAS path against the compiled correlation on one thread and split
    with a helper thread, each alone and each right after a threaded OpenBLAS product (whose worker
    thread then spins for ~0.1 s, taking the second core from any other thread)."""
    from concurrent.futures import ThreadPoolExecutor

    from autonp.ops import conv
    x = rng.standard_normal((128, 8, 28, 28), dtype=np.float32)
    w = rng.standard_normal((16, 8, 3, 3), dtype=np.float32)
    grid = conv._grid(x.shape, (3, 3), (1, 1))
    offsets = np.array([p * grid.wp + q for p in range(3) for q in range(3)])
    w9, block = w.reshape(16, 8, 9).copy(), grid.hp * grid.wp
    correlate, helper, a = correlate3x3_numba(), ThreadPoolExecutor(1), np.ones((512, 512), np.float32)

    def compiled(threads: int):
        def run():
            src = conv._on_grid(x, grid, 1, 1, "input")
            out = np.empty((128, 16, 28, 28), np.float32)
            if threads == 1:
                correlate(src, w9, offsets, grid.wp, block, out, 0, 128)
            else:
                other = helper.submit(correlate, src, w9, offsets, grid.wp, block, out, 64, 128)
                correlate(src, w9, offsets, grid.wp, block, out, 0, 64)
                other.result()
            return out
        return run
    assert np.allclose(compiled(2)(), conv._conv(x, w, None, (1, 1)), atol=1e-4)
    paths = {"BLAS path": lambda: conv._conv(x, w, None, (1, 1)), "numba, 1 thread": compiled(1),
             "numba, 2 threads": compiled(2)}
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
    for situation, times in [("each path alone", alone), ("each call right after an OpenBLAS product", after)]:
        print(f"conv 8->16 forward, {situation}, left out: "
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
