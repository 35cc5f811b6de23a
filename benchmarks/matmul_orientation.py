"""Is a tall-narrow product faster turned around on this machine's BLAS?

    python benchmarks/matmul_orientation.py

``autonp.ops._matmul`` computes ``x @ y`` as ``(yᵀ @ xᵀ)ᵀ`` for narrow products (the blog's
``X @ W1`` and ``Xᵀ @ dz1``): the same dot products, a different OpenBLAS kernel. This prints both
orientations, timed in the same run (best of 7), for the two forms and both float dtypes, so the
rule in ``_matmul`` can be re-checked on another machine or BLAS.
"""
from __future__ import annotations

import numpy as np
from run import timed  # this folder's benchmark helpers (median after a warm-up)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"NumPy {np.__version__}; ratio < 1: turned around is faster")
    print("| dtype | m x k, n | X @ W | (Wᵀ Xᵀ)ᵀ | ratio | Xᵀ @ G | (Gᵀ X)ᵀ | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        for m, k, n in ((1024, 784, 5), (2048, 784, 5), (60000, 784, 5), (60000, 784, 10), (8192, 256, 64)):
            X = rng.random((m, k)).astype(dtype)
            W = rng.random((k, n)).astype(dtype)
            G = rng.random((m, n)).astype(dtype)
            a, b = timed(lambda: X @ W, 7), timed(lambda: (W.T @ X.T).T, 7)
            c, d = timed(lambda: X.T @ G, 7), timed(lambda: (G.T @ X).T, 7)
            print(f"| {np.dtype(dtype).name} | {m} x {k}, {n} | {a * 1e3:.2f} ms | {b * 1e3:.2f} ms | {b / a:.2f} "
                  f"| {c * 1e3:.2f} ms | {d * 1e3:.2f} ms | {d / c:.2f} |")


if __name__ == "__main__":
    main()
