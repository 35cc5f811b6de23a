"""Would the compiled code gain from writing intermediates into buffers kept across calls (``out=``)?

The hand-written MLP step of ``benchmarks/run.py`` (784-256-256-10, batch 128, float32, 200 steps),
once with fresh arrays for every product and once with each product written into a buffer kept from
the previous step. Interleaved rounds, medians.

    python benchmarks/reuse_buffers.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import mlp_data, mlp_params, timed_together  # noqa: E402


def mlp_run(X, Y, lr, reuse: bool):
    def run():
        ps = [(W.copy(), b.copy()) for W, b in mlp_params(np.random.default_rng(1), np.float32)]
        buffers: dict = {}

        def product(a, b, key):
            if not reuse:
                return a @ b
            out = buffers.get(key)
            if out is None:
                out = buffers[key] = np.empty((a.shape[0], b.shape[1]), np.float32)
            return np.matmul(a, b, out=out)

        for s in range(200):
            xb, yb = X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128]
            acts = [xb]
            for i, (W, b) in enumerate(ps):
                z = product(acts[-1], W, ("forward", i)) + b
                acts.append(np.maximum(z, 0) if i < 2 else z)
            z = acts[-1]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            dz = (e / e.sum(axis=1, keepdims=True) - yb) / np.float32(128)
            for i in (2, 1, 0):
                W, b = ps[i]
                dW, db = product(acts[i].T, dz, ("dW", i)), dz.sum(axis=0, keepdims=True)
                if i:
                    dz = product(dz, W.T, ("dz", i)) * (acts[i] > 0)
                W -= lr * dW
                b -= lr * db
    return run


def main() -> None:
    X, y, lr = mlp_data()
    Y = np.eye(10, dtype=np.float32)[y]
    t = timed_together({"fresh arrays": mlp_run(X, Y, lr, False), "out= buffers": mlp_run(X, Y, lr, True)}, 9)
    print(f"fresh arrays {t['fresh arrays'] * 1e3:.1f} ms, out= buffers {t['out= buffers'] * 1e3:.1f} ms: "
          f"{t['out= buffers'] / t['fresh arrays']:.3f}x")


if __name__ == "__main__":
    main()
