"""Where the compiled MLP step's time goes: the generated function alone, against the full call (which
also reads the Module's and the optimizer's current arrays and checks the signature), against the
hand-written NumPy step; the first call of a fresh compiled step (the trace); and the call's own parts
(the kept walk's check, a full walk for comparison, signature lookup, guards). 15 interleaved rounds of 100
steps (and one trace), medians per step. Then the same for a tiny step, where the call's own cost is most of it.

    python benchmarks/compiled_overhead.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import compiled_mlp_step, mlp_data, mlp_params, numpy_mlp_step  # noqa: E402

from autonp.compiler._state import _Walk  # noqa: E402


def main() -> None:
    X, y, lr = mlp_data()
    Y = np.eye(10, dtype=np.float32)[y]
    step = compiled_mlp_step(lr)
    step(X[:128], Y[:128])
    generated, values = generated_of(step, X[:128], Y[:128])
    ps = [(W.copy(), b.copy()) for W, b in mlp_params(np.random.default_rng(1), np.float32)]
    steps = ("hand-written", "compiled call", "generated function alone")
    times: dict = {name: [] for name in steps + ("trace (first call)",)}
    for _ in range(15):
        fresh = compiled_mlp_step(lr)
        start = time.perf_counter()
        fresh(X[:128], Y[:128])
        times["trace (first call)"].append(time.perf_counter() - start)
        for name in steps:
            start = time.perf_counter()
            for s in range(100):
                xb, yb = X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128]
                if name == "hand-written":
                    numpy_mlp_step(ps, xb, yb, lr)
                elif name == "compiled call":
                    step(xb, yb)
                else:
                    values[0], values[1] = xb, yb
                    generated(*values)
            times[name].append((time.perf_counter() - start) / 100)
    ref = statistics.median(times["hand-written"])
    for name, t in times.items():
        print(f"{name:>26}: {statistics.median(t) * 1e6:7.0f} us per step, {statistics.median(t) / ref:.3f}x")
    parts = call_parts(step, generated, X, Y)
    print("  the call's own parts, each step's after its arithmetic (medians of 200 steps):",
          ", ".join(f"{name} {t * 1e6:.1f} us" for name, t in parts.items()))


def generated_of(step, *args) -> tuple:
    """A compiled step's generated function (of its latest trace), and the inputs it takes for ``args``."""
    walk = _Walk(None)
    step._walk_all(walk, args, {})
    return step._last.fn, walk.values


def call_parts(step, generated, X, Y) -> dict:
    """The compiled call taken apart, step by step as the call runs them: the check that nothing the kept walk of
    the state read has changed (what a call does), a full walk of that state (what a call does when something has),
    the signature's key and lookup, the guards, the generated function."""
    parts: dict = {"kept walk's check": [], "full walk": [], "key and lookup": [], "guards": [],
                   "generated function": []}
    clock = time.perf_counter
    for s in range(200):
        xb, yb = X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128]
        t0 = clock()
        values = step._memo.again((xb, yb), {})
        t1 = clock()
        walk = _Walk(None)
        step._walk_all(walk, (xb, yb), {})
        t2 = clock()
        trace = step._cache.get(tuple(walk.key))[0]
        t3 = clock()
        trace.guards.hold()
        t4 = clock()
        generated(*values)
        t5 = clock()
        for name, t in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[name].append(t)
    return {name: statistics.median(t) for name, t in parts.items()}


def tiny_step() -> None:
    """The compiled SGD step of an 8-8-8-10 network, batch 16, where the call's own cost is most of it: 15 rounds of
    200 calls against 200 calls of its generated function alone, medians per call."""
    import autonp as anp
    from autonp import nn
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 10))
    opt = anp.optim.SGD(net.parameters(), lr=1e-2)

    @anp.compile
    def step(x, t):
        nn.cross_entropy(net(x), t).backward()
        opt.step()
        opt.zero_grad()

    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(16 * 200, 8)), np.eye(10)[np.arange(16 * 200) % 10]
    for _ in range(3):
        step(X[:16], T[:16])
    generated, values = generated_of(step, X[:16], T[:16])
    calls, alone = [], []
    for _ in range(15):
        t0 = time.perf_counter()
        for s in range(200):
            step(X[s * 16:(s + 1) * 16], T[s * 16:(s + 1) * 16])
        t1 = time.perf_counter()
        for s in range(200):
            values[0], values[1] = X[s * 16:(s + 1) * 16], T[s * 16:(s + 1) * 16]
            generated(*values)
        calls.append((t1 - t0) / 200)
        alone.append((time.perf_counter() - t1) / 200)
    difference = statistics.median([c - a for c, a in zip(calls, alone)])
    print(f"8-8-8-10 step, batch 16: the call {statistics.median(calls) * 1e6:.1f} us, its generated function alone "
          f"{statistics.median(alone) * 1e6:.1f} us, the difference {difference * 1e6:.1f} us")


if __name__ == "__main__":
    main()
    tiny_step()
