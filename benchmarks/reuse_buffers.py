"""Would the compiled code gain from writing intermediates into buffers kept across calls (``out=``)?

The hand-written MLP step of ``benchmarks/run.py`` (784-256-256-10, batch 128, float32, 200 steps),
once with a fresh array for every product and once with each product written into a buffer kept
from the step before. Interleaved rounds, medians.

    python benchmarks/reuse_buffers.py
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import mlp_data, mlp_params, numpy_mlp_step, timed_together  # noqa: E402


def mlp_run(X, Y, lr, reuse: bool):
    def run():
        ps = [(W.copy(), b.copy()) for W, b in mlp_params(np.random.default_rng(1), np.float32)]
        buffers: dict = {}
        calls = itertools.count()

        def product(a, b):  # a step makes 8 products, always in the same order: the k-th has its buffer
            k = next(calls) % 8
            if k not in buffers:
                buffers[k] = np.empty((a.shape[0], b.shape[1]), np.float32)
            return np.matmul(a, b, out=buffers[k])

        for s in range(200):
            numpy_mlp_step(ps, X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128], lr,
                           product if reuse else np.matmul)
    return run


def main() -> None:
    X, y, lr = mlp_data()
    Y = np.eye(10, dtype=np.float32)[y]
    t = timed_together({"fresh arrays": mlp_run(X, Y, lr, False), "out= buffers": mlp_run(X, Y, lr, True)}, 9)
    print(f"fresh arrays {t['fresh arrays'] * 1e3:.1f} ms, out= buffers {t['out= buffers'] * 1e3:.1f} ms: "
          f"{t['out= buffers'] / t['fresh arrays']:.3f}x")


if __name__ == "__main__":
    main()
