"""Every benchmark workload, each timed against its reference in the same run.

    python benchmarks/run.py            # the table (about two minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer repeats

Times are medians of 7 interleaved rounds after a warm-up (--repeat to change): each workload and its
reference alternate, so a slow moment of a shared machine hits both. Peers (JAX, PyTorch, HIPS
autograd) run in processes of their own (their thread pools would fight OpenBLAS's in this one) and
take their turn in the same rounds, between pauses that let the other process's spinning threads go
quiet; in rounds with a peer every workload makes one untimed call before its timed one. Peers are
included when installed and skipped with a note otherwise. This is not a test: it reports.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import autonp as anp  # noqa: E402
from autonp import nn, optim  # noqa: E402

LR = 0.5
ROWS: list[tuple[str, str, str, str, str, str]] = []
NOTES: list[str] = []


def timed(fn, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed_together(fns: dict, repeat: int, warmup: int = 2) -> dict:
    """Median time of each function, run in interleaved rounds (a, b, c, a, b, c, ...): a slow
    moment of a shared machine then hits every workload alike instead of one reference. A
    :class:`Peer` takes its turn in its own process and reports its own time; with one in the rounds,
    every workload here also makes an untimed call before its timed one, as the peer does."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {k: [] for k in fns}
    settle = any(isinstance(fn, Peer) for fn in fns.values())  # after a peer's turn this process's threads slept
    for _ in range(repeat):
        for k, fn in fns.items():
            if isinstance(fn, Peer):
                times[k].append(fn())  # untimed and timed, in its process
                continue
            if settle:
                fn()
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: Timing(v) for k, v in times.items()}


class Timing(float):
    """A median time (seconds) that keeps the times of its rounds."""

    def __new__(cls, rounds: list):
        t = super().__new__(cls, statistics.median(rounds))
        t.rounds = list(rounds)
        return t


class Ratio(float):
    """A ratio, with the range of the per-round ratios (rounds of one interleaved run)."""

    def __new__(cls, value: float, low: float, high: float):
        r = super().__new__(cls, value)
        r.low, r.high = low, high
        return r


def ratio(a: float, b: float) -> float:
    """a / b. When both are Timings of the same rounds: the median of the per-round ratios (a :class:`Ratio`,
    with their range). Each round runs the two close together, so a ratio is taken within one phase of a
    shared machine; the ratio of the two medians could pair a fast phase of one with a slow phase of the
    other (this machine's MLP rounds run either ~230 or ~400 ms)."""
    if isinstance(a, Timing) and isinstance(b, Timing) and len(a.rounds) == len(b.rounds):
        per_round = [x / y for x, y in zip(a.rounds, b.rounds)]
        return Ratio(statistics.median(per_round), min(per_round), max(per_round))
    return a / b


class Peer:
    """A peer's workload (``peer_workload``) served by a process of its own, so that it can take its turn
    in this process's interleaved rounds. A call runs it there once untimed and once timed, and returns
    the timed call's seconds. ``skip``: why it is missing (not installed), else None.

    Each turn starts and ends with a pause of ``PAUSE`` seconds: the thread pool of the process that just
    ran keeps spinning for a while (OpenBLAS's ~0.1 s), and ran straight after it the other process's
    step measured ~2x slower (PyTorch's CNN step 37-40 ms against 20 ms; with pauses of 0.05, 0.1 and
    0.2 s: 22.5, 20.0 and 20.5 ms, and this process's step went from 34 to 28-30 ms)."""

    PAUSE = 0.2

    def __init__(self, name: str, block_rows: int = 2048):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", f"serve:{name}", "--block-rows",
                                      str(block_rows)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self._read()
        self.skip = first[5:] if first.startswith("skip") else None
        if self.skip:
            self.close()

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} process ended (exit code {self.proc.wait()})")
        return line.strip()

    def __call__(self) -> float:
        time.sleep(self.PAUSE)
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        seconds = float(self._read())
        time.sleep(self.PAUSE)
        return seconds

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


@contextlib.contextmanager
def with_peers(fns: dict, names: dict, block_rows: int = 2048):
    """``fns`` and a :class:`Peer` for each ``{key: peer name}`` that is installed (a note for each that is
    not), their processes ended on leaving."""
    peers = []
    try:
        fns = dict(fns)
        for key, name in names.items():
            peer = Peer(name, block_rows)
            if peer.skip:
                NOTES.append(peer.skip)
            else:
                fns[key] = peer
                peers.append(peer)
        yield fns
    finally:
        for peer in peers:
            peer.close()


def row(workload: str, ours: str, ref_name: str, ref: str, ratio: float | str, target: str, ok: bool | None):
    """One result. A target ``<= N.NNx`` against a :class:`Ratio` is judged on that ratio (the median of the
    per-round ratios), so that the verdict is the printed number's."""
    digits = 2
    if isinstance(ratio, Ratio) and ok is not None and re.fullmatch(r"<= [0-9.]+x", target):
        limit = float(target[3:-1])
        ok = ratio <= limit
        if f"{ratio:.2f}" == f"{limit:.2f}":
            digits = 3  # on the line: enough digits that the number shows the verdict (1.104x, MISSED)
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    r = f"{ratio:.{digits}f}x" if isinstance(ratio, float) else ratio
    if isinstance(ratio, Ratio):
        r += f" ({ratio.low:.2f}-{ratio.high:.2f})"
    ROWS.append((workload, ours, f"{ref_name} {ref}", r, target, verdict))


def ms(t: float) -> str:
    return f"{t * 1e3:.1f} ms"


# --------------------------------------------------------------------------- the blog's step

def blog_data(dtype):
    path = os.environ.get("AUTONP_MNIST") or REPO.parent / "shared" / "data" / "mnist.npz"
    if Path(path).exists():
        with np.load(path) as d:
            X = d["x_train"].reshape(60000, -1).astype(dtype) / dtype(255)
            Y = np.eye(10, dtype=dtype)[d["y_train"]]
        return X, Y, "MNIST"
    rng = np.random.default_rng(0)
    return rng.random((60000, 784)).astype(dtype), np.eye(10, dtype=dtype)[rng.integers(0, 10, 60000)], "random"


def blog_params(dtype):
    np.random.seed(42)
    return {"W1": (np.random.randn(784, 5) * 0.01).astype(dtype), "b1": np.zeros((1, 5), dtype),
            "W2": (np.random.randn(5, 10) * 0.01).astype(dtype), "b2": np.zeros((1, 10), dtype)}


def numpy_blog_step(p, X, Y):
    """Hand-written: the post's forward, its backpropagation formulas, its update."""
    m = X.shape[0]
    a1 = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"])))
    z2 = a1 @ p["W2"] + p["b2"]
    e = np.exp(z2)
    a2 = e / e.sum(axis=1, keepdims=True)
    dz2 = a2 - Y
    dW2, db2 = a1.T @ dz2 / m, dz2.sum(axis=0, keepdims=True) / m
    dz1 = dz2 @ p["W2"].T * a1 * (1 - a1)
    dW1, db1 = X.T @ dz1 / m, dz1.sum(axis=0, keepdims=True) / m
    for k, g in (("W1", dW1), ("b1", db1), ("W2", dW2), ("b2", db2)):
        p[k] -= LR * g
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def numpy_blog_step_blocked(p, X, Y, rows):
    """The same step by hand with autonp's two tricks: row blocks, and the narrow products turned
    around (``(W1ᵀ X_bᵀ)ᵀ``, ``(dz1ᵀ X_b)ᵀ``), for float64. What hand-written NumPy reaches here."""
    m = X.shape[0]
    g = {k: np.zeros_like(v) for k, v in p.items()}
    for i in range(0, m, rows):
        Xb, Yb = X[i:i + rows], Y[i:i + rows]
        a1 = 1 / (1 + np.exp(-((p["W1"].T @ Xb.T).T + p["b1"])))
        e = np.exp(a1 @ p["W2"] + p["b2"])
        dz2 = e / e.sum(axis=1, keepdims=True) - Yb
        g["W2"] += a1.T @ dz2
        g["b2"] += dz2.sum(axis=0, keepdims=True)
        dz1 = dz2 @ p["W2"].T * a1 * (1 - a1)
        g["W1"] += (dz1.T @ Xb).T
        g["b1"] += dz1.sum(axis=0, keepdims=True)
    for k in p:
        p[k] -= LR * g[k] / m
    return g


class AutonpBlog:
    """The blog network in autonp; ``block_rows`` = None is one full-batch backward."""

    def __init__(self, dtype, block_rows):
        self.P = {k: nn.Parameter(v, name=k) for k, v in blog_params(dtype).items()}
        self.opt = optim.SGD(list(self.P.values()), lr=LR)
        self.block_rows = block_rows

    def loss(self, X, Y):
        P = self.P
        return nn.cross_entropy(anp.sigmoid(X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"], Y)

    def step(self, X, Y):
        if self.block_rows is None:
            self.loss(X, Y).backward()
        else:
            anp.backward_in_blocks(self.loss, X, Y, block_rows=self.block_rows)
        grads = {k: p.grad.numpy() for k, p in self.P.items()}
        self.opt.step()
        self.opt.zero_grad()
        return grads


def bench_blog(repeat: int, block_rows: int):
    X, Y, source = blog_data(np.float64)
    X32, Y32, _ = blog_data(np.float32)

    # equal gradients first: one step from the same parameters
    ref = numpy_blog_step(blog_params(np.float64), X, Y)
    for label, rows in (("full batch", None), (f"row blocks of {block_rows}", block_rows)):
        got = AutonpBlog(np.float64, rows).step(X, Y)
        err = max(float(np.max(np.abs(got[k] - ref[k])) / np.max(np.abs(ref[k]))) for k in ref)
        NOTES.append(f"autonp blog gradients ({label}) vs the post's formulas: max rel diff {err:.1e}")

    p, pb = blog_params(np.float64), blog_params(np.float64)
    full, blocked = AutonpBlog(np.float64, None), AutonpBlog(np.float64, block_rows)
    b32 = AutonpBlog(np.float32, block_rows)
    compiled_model = AutonpBlog(np.float64, block_rows)
    compiled = anp.compile(compiled_model.step)
    start = time.perf_counter()
    got = compiled(X, Y)  # the first call traces
    t_trace = time.perf_counter() - start
    err = max(float(np.max(np.abs(got[k] - ref[k])) / np.max(np.abs(ref[k]))) for k in ref)
    NOTES.append(f"anp.compile blog gradients (blocks of {block_rows}) vs the post's formulas: max rel diff {err:.1e}")
    steps = {"numpy": lambda: numpy_blog_step(p, X, Y), "read": lambda: X.sum(),
             "numpy tricks": lambda: numpy_blog_step_blocked(pb, X, Y, block_rows),
             "full": lambda: full.step(X, Y), "blocked": lambda: blocked.step(X, Y),
             "f32": lambda: b32.step(X32, Y32), "compiled": lambda: compiled(X, Y)}
    with with_peers(steps, {name: name for name in PEERS}, block_rows) as fns:
        t = timed_together(fns, repeat)
    assert compiled.traces == 1
    t_np, t_blk = t["numpy"], t["blocked"]
    NOTES.append(f"blog step data: {source} X 60000x784; one read of X (X.sum()) takes {ms(t['read'])}")
    row("blog step f64, one backward", ms(t["full"]), "hand-written NumPy", ms(t_np), ratio(t["full"], t_np), "(info)",
        None)
    row(f"blog step f64, blocks of {block_rows}", ms(t_blk), "hand-written NumPy", ms(t_np), ratio(t_blk, t_np),
        "<= 0.60x", t_blk / t_np <= 0.60)
    row(f"blog step f64, blocks of {block_rows}", ms(t_blk), "hand-written, same tricks", ms(t["numpy tricks"]),
        ratio(t_blk, t["numpy tricks"]), "(info)", None)
    if "JAX jit" in t:
        row(f"blog step f64, blocks of {block_rows}", ms(t_blk), "JAX jit", ms(t["JAX jit"]),
            ratio(t_blk, t["JAX jit"]), "<= 1.00x", t_blk <= t["JAX jit"])
    t_c = t["compiled"]
    row(f"blog step f64, anp.compile, blocks of {block_rows}", ms(t_c), "hand-written NumPy", ms(t_np),
        ratio(t_c, t_np), "<= 0.55x", t_c / t_np <= 0.55)
    row(f"blog step f64, anp.compile, blocks of {block_rows}", ms(t_c), "hand-written, same tricks",
        ms(t["numpy tricks"]), ratio(t_c, t["numpy tricks"]), "(info)", None)
    if "JAX jit" in t:
        row(f"blog step f64, anp.compile, blocks of {block_rows}", ms(t_c), "JAX jit", ms(t["JAX jit"]),
            ratio(t_c, t["JAX jit"]), "(info)", None)
    row("blog step, anp.compile first call (trace)", ms(t_trace), "one eager step (same blocks)", ms(t_blk),
        t_trace / t_blk, "<= 10x", t_trace / t_blk <= 10)
    row(f"blog step f32, blocks of {block_rows}", ms(t["f32"]), "hand-written NumPy f64", ms(t_np),
        ratio(t["f32"], t_np), "<= 0.35x", t["f32"] / t_np <= 0.35)
    for name in ("PyTorch eager", "HIPS autograd"):
        if name in t:
            row("blog step f64 (peer)", f"{name} {ms(t[name])}", "hand-written NumPy", ms(t_np), ratio(t[name], t_np),
                "(info)", None)


PEERS = ("JAX jit", "PyTorch eager", "HIPS autograd")


def peer_workload(name: str, block_rows: int):
    """A peer's workload as a function of no arguments, or None (with a note) when the peer is missing."""
    if name == "PyTorch MLP":
        return torch_mlp(*mlp_data())
    if name == "PyTorch MLP products":
        return mlp_products("torch")
    if name == "PyTorch CNN":
        return torch_cnn_step()
    if name == "PyTorch CNN burst":
        step = torch_cnn_step()
        return None if step is None else burst(step)
    if name.startswith("PyTorch conv"):
        fns = torch_conv()
        return None if fns is None else fns[int(name[-1])]
    X, Y, _ = blog_data(np.float64)
    return {"JAX jit": jax_blog, "PyTorch eager": torch_blog, "HIPS autograd": hips_blog}[name](X, Y)


def serve_peer(name: str, block_rows: int) -> None:
    """Run in a process of its own (see :class:`Peer`): for each line read, one untimed and one timed call of
    the peer's workload, and the timed call's seconds printed."""
    fn = peer_workload(name, block_rows)
    if fn is None:
        print(f"skip {NOTES[-1]}", flush=True)
        return
    print("ready", flush=True)
    for _ in sys.stdin:
        fn()
        t = time.perf_counter()
        fn()
        print(time.perf_counter() - t, flush=True)


def jax_blog(X, Y):
    """A jitted JAX step (x64), or None when JAX is missing."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        NOTES.append("JAX not installed: the JAX comparison is skipped")
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(p, X, Y):
        a1 = jax.nn.sigmoid(X @ p["W1"] + p["b1"])
        return -jnp.sum(Y * jax.nn.log_softmax(a1 @ p["W2"] + p["b2"], axis=1)) / X.shape[0]

    @jax.jit
    def step(p, X, Y):
        g = jax.grad(loss)(p, X, Y)
        return {k: p[k] - LR * g[k] for k in p}

    state = {"p": {k: jnp.asarray(v) for k, v in blog_params(np.float64).items()}}
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def run():
        state["p"] = step(state["p"], Xj, Yj)
        jax.block_until_ready(state["p"])

    return run


def torch_blog(X, Y):
    """An eager PyTorch step (float64), or None when PyTorch is missing."""
    try:
        import torch
    except ImportError:
        NOTES.append("PyTorch not installed: its blog-step comparison is skipped")
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in blog_params(np.float64).items()}
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

    def run():
        a1 = torch.sigmoid(Xt @ p["W1"] + p["b1"])
        loss = -(Yt * torch.log_softmax(a1 @ p["W2"] + p["b2"], dim=1)).sum() / Xt.shape[0]
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= LR * v.grad
                v.grad = None

    return run


def hips_blog(X, Y):
    """A HIPS autograd step, or None when it is missing."""
    try:
        import autograd
        import autograd.numpy as agnp
    except ImportError:
        NOTES.append("HIPS autograd not installed: skipped")
        return None

    def loss(p):
        a1 = 1 / (1 + agnp.exp(-(X @ p["W1"] + p["b1"])))
        z2 = a1 @ p["W2"] + p["b2"]
        z2 = z2 - agnp.max(z2, axis=1, keepdims=True)
        return -agnp.sum(Y * (z2 - agnp.log(agnp.sum(agnp.exp(z2), axis=1, keepdims=True)))) / X.shape[0]

    g = autograd.grad(loss)
    p = blog_params(np.float64)

    def run():
        gs = g(p)
        for k in p:
            p[k] = p[k] - LR * gs[k]

    return run


# --------------------------------------------------------------------------- memory

def memory_child(kind: str, block_rows: int) -> None:
    """Run in a fresh process: peak bytes allocated during one step (data allocated before)."""
    import tracemalloc
    X, Y, _ = blog_data(np.float64)
    if kind == "numpy":
        p = blog_params(np.float64)
        step = lambda: numpy_blog_step(p, X, Y)  # noqa: E731
    elif kind == "autonp-compiled":
        compiled = anp.compile(AutonpBlog(np.float64, block_rows).step)
        step = lambda: compiled(X, Y)  # noqa: E731 - the first call below traces
    else:
        m = AutonpBlog(np.float64, None if kind == "autonp-full" else block_rows)
        step = lambda: m.step(X, Y)  # noqa: E731
    step()
    tracemalloc.start()
    step()
    print(tracemalloc.get_traced_memory()[1])


def child(what: str, repeat: int = 5, block_rows: int = 2048) -> str:
    """Run ``--child what`` in a fresh interpreter; its last line of output."""
    out = subprocess.run([sys.executable, __file__, "--child", what, "--repeat", str(repeat),
                          "--block-rows", str(block_rows)], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def bench_memory(block_rows: int):
    ref = int(child("memory:numpy", block_rows=block_rows))
    peaks = {}
    for kind, label in (("autonp-full", "one backward"), ("autonp-blocked", f"blocks of {block_rows}")):
        got = peaks[kind] = int(child(f"memory:{kind}", block_rows=block_rows))
        row(f"blog step peak memory, {label}", f"{got / 2**20:.1f} MiB", "hand-written NumPy",
            f"{ref / 2**20:.1f} MiB", got / ref, "<= 1.20x", got / ref <= 1.2)
    got, eager = int(child("memory:autonp-compiled", block_rows=block_rows)), peaks["autonp-blocked"]
    row(f"blog step peak memory, anp.compile, blocks of {block_rows}", f"{got / 2**20:.1f} MiB", "eager, same blocks",
        f"{eager / 2**20:.1f} MiB", got / eager, "<= 1.00x", got <= eager)


# --------------------------------------------------------------------------- per-op overhead, long chains

def chain(n: int) -> float:
    x = anp.Tensor(np.ones(4), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    y.backward(np.ones(4))
    return float(x.grad.data[0])


def compiled_chain(n: int):
    """The same chain under anp.compile (the seed is an argument, so the backward is not a constant)."""
    def f(x, seed):
        y = x
        for _ in range(n):
            y = y * 1.0001
        y.backward(seed)
        return y, x.grad  # both passes are needed: nothing is dead code

    compiled = anp.compile(f)
    x = anp.Tensor(np.ones(4), requires_grad=True)
    seed = np.ones(4)
    start = time.perf_counter()
    compiled(x, seed)
    return (lambda: compiled(x, seed)), time.perf_counter() - start


def overhead_child(repeat: int) -> None:
    """Run in a fresh process (only NumPy and autonp imported: a process that has imported JAX or
    PyTorch makes Python's cyclic GC slower for every object allocated): per-op and chain times."""
    n = 10_000
    a0 = np.ones(4)

    def raw():
        a = a0
        for _ in range(n):
            a = a * 1.0001

    eager = timed(raw, repeat), timed(lambda: chain(n), repeat), timed(lambda: chain(10_000), 3), \
        timed(lambda: chain(100_000), 3)
    replay, trace = compiled_chain(n)  # after the eager rows: its 20,000-line trace is not in their heap
    print(*eager, timed(replay, repeat), trace)


def bench_overhead(repeat: int):
    n = 10_000
    t_raw, t_ours, t10, t100, t_compiled, t_trace = map(float, child("overhead", repeat=repeat).split())
    row("tiny-op chain, per op fwd+bwd", f"{t_ours / n * 1e6:.2f} us", "raw NumPy fwd only",
        f"{t_raw / n * 1e6:.2f} us", t_ours / t_raw, "<= 3 us", t_ours / n <= 3e-6)
    row("tiny-op chain, anp.compile, per op fwd+bwd", f"{t_compiled / n * 1e6:.2f} us", "raw NumPy fwd only",
        f"{t_raw / n * 1e6:.2f} us", t_compiled / t_raw, "<= 1.5 us", t_compiled / n <= 1.5e-6)
    NOTES.append(f"tiny-op chain: tracing {n:,} ops took {t_trace:.2f} s ({t_trace / t10:.1f}x one eager run)")
    row("100k-op chain fwd+bwd (linear?)", f"{t100 * 1e3:.0f} ms", "10k-op chain", f"{t10 * 1e3:.0f} ms",
        t100 / t10, "~10x (linear)", t100 / t10 < 13)


# --------------------------------------------------------------------------- mini-batch MLP

def mlp_params(rng, dtype):
    sizes = [784, 256, 256, 10]
    return [(rng.normal(0, np.sqrt(2 / a), (a, b)).astype(dtype), np.zeros((1, b), dtype))
            for a, b in zip(sizes, sizes[1:])]


@functools.lru_cache(maxsize=None)
def mlp_initial() -> tuple:
    """The MLP's initial parameters, drawn once: every timed run (autonp, compiled, hand-written, PyTorch) builds its
    model from copies of them. (The draws, 3.0 ms, were inside the autonp and hand-written runs only; PyTorch's run
    made its own initialisation, 0.85 ms.)"""
    return tuple(mlp_params(np.random.default_rng(1), np.float32))


def mlp_data():
    rng = np.random.default_rng(0)
    X = rng.random((128 * 200, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128 * 200)
    return X, y, np.float32(0.01)


def torch_mlp(X, y, lr):
    """200 steps of the MLP in eager PyTorch, or None when PyTorch is missing."""
    try:
        import torch
    except ImportError:
        NOTES.append("PyTorch not installed: its MLP comparison is skipped")
        return None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    initial = mlp_initial()

    def run():
        layers = [torch.nn.utils.skip_init(torch.nn.Linear, W.shape[0], W.shape[1]) for W, _ in initial]
        with torch.no_grad():  # the same initial parameters as the other runs (a Linear's weight is Wᵀ)
            for lin, (W, b) in zip(layers, initial):
                lin.weight.copy_(torch.from_numpy(W.T))
                lin.bias.copy_(torch.from_numpy(b[0]))
        model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
        opt = torch.optim.SGD(model.parameters(), lr=float(lr))
        for s in range(200):
            loss = torch.nn.functional.cross_entropy(model(Xt[s * 128:(s + 1) * 128]), yt[s * 128:(s + 1) * 128])
            loss.backward()
            opt.step()
            opt.zero_grad()

    return run


def mlp_products(lib: str = "numpy"):
    """The eight matrix products of 200 MLP steps and nothing else (forward x·W, backward a.T·dz and dz·W.T,
    with the step's shapes, transposed views and each step's batch of ``mlp_data``), in NumPy (its OpenBLAS)
    or in PyTorch: the floor each library's BLAS sets under the MLP rows. None when PyTorch is missing."""
    rng = np.random.default_rng(0)
    X = mlp_data()[0]
    ws = [W for W, _ in mlp_params(rng, np.float32)]  # the MLP's own shapes
    acts = [None] + [rng.random((128, W.shape[1]), dtype=np.float32) for W in ws]
    if lib == "torch":
        try:
            import torch
        except ImportError:
            NOTES.append("PyTorch not installed: its MLP products are skipped")
            return None
        X, acts, ws = torch.from_numpy(X), [None] + [torch.from_numpy(a) for a in acts[1:]], \
            [torch.from_numpy(w) for w in ws]
        product = torch.matmul
    else:
        product = np.matmul

    def run():
        for s in range(200):
            acts[0] = X[s * 128:(s + 1) * 128]
            for i in range(3):
                product(acts[i], ws[i])
                product(acts[i].T, acts[i + 1])
                if i:
                    product(acts[i + 1], ws[i].T)
    return run


def numpy_mlp_step(ps, xb, yb, lr, product=np.matmul):
    """One hand-written SGD step of the MLP (ReLU, softmax cross-entropy), updating ``ps`` in place."""
    acts = [xb]
    for i, (W, b) in enumerate(ps):
        z = product(acts[-1], W) + b
        acts.append(np.maximum(z, 0) if i < 2 else z)
    z = acts[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = (e / e.sum(axis=1, keepdims=True) - yb) / np.float32(len(xb))
    for i in (2, 1, 0):
        W, b = ps[i]
        dW, db = product(acts[i].T, dz), dz.sum(axis=0, keepdims=True)
        if i:
            dz = product(dz, W.T) * (acts[i] > 0)
        W -= lr * dW
        b -= lr * db


def mlp_model(lr, params=None):
    """The MLP in autonp.nn, from the same initial parameters (or ``params``: (W, b) per layer), and its SGD."""
    params = [(W.copy(), b.copy()) for W, b in mlp_initial()] if params is None else params
    layers = [nn.Linear(1, 1) for _ in params]
    for lin, (W, b) in zip(layers, params):
        lin.weight, lin.bias = nn.Parameter(W), nn.Parameter(b)
    net = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
    return net, optim.SGD(net.parameters(), lr=float(lr))


def compiled_mlp_step(lr):
    """The MLP's SGD step (fresh model) under anp.compile; traced on its first call."""
    net, opt = mlp_model(lr)

    @anp.compile
    def step(xb, yb):
        nn.cross_entropy(net(xb), yb).backward()
        opt.step()
        opt.zero_grad()
    return step


def bench_mlp(repeat: int):
    X, y, lr = mlp_data()
    Y = np.eye(10, dtype=np.float32)[y]

    def numpy_run():
        ps = [(W.copy(), b.copy()) for W, b in mlp_initial()]
        for s in range(200):
            numpy_mlp_step(ps, X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128], lr)

    def autonp_run():
        net, opt = mlp_model(lr)
        for s in range(200):
            nn.cross_entropy(net(X[s * 128:(s + 1) * 128]), Y[s * 128:(s + 1) * 128]).backward()
            opt.step()
            opt.zero_grad()

    def compiled_run():
        step = compiled_mlp_step(lr)
        for s in range(200):  # the first call traces: its time is in the total
            step(X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128])

    steady = compiled_mlp_step(lr)
    steady(X[:128], Y[:128])

    def compiled_steady():  # the same, traced once before the timing: the generated step alone
        for s in range(200):
            steady(X[s * 128:(s + 1) * 128], Y[s * 128:(s + 1) * 128])

    with with_peers({"numpy": numpy_run, "autonp": autonp_run, "compiled": compiled_run, "steady": compiled_steady},
                    {"torch": "PyTorch MLP"}) as fns:
        t = timed_together(fns, repeat, warmup=1)
    if "torch" in t:
        row("MLP 784-256-256-10, 200 steps f32", ms(t["autonp"]), "PyTorch eager", ms(t["torch"]),
            ratio(t["autonp"], t["torch"]), "<= 1.00x", t["autonp"] <= t["torch"])
        row("MLP 784-256-256-10, 200 steps f32, anp.compile", ms(t["compiled"]), "PyTorch eager", ms(t["torch"]),
            ratio(t["compiled"], t["torch"]), "<= 1.00x", t["compiled"] <= t["torch"])
    row("MLP 784-256-256-10, 200 steps f32", ms(t["autonp"]), "hand-written NumPy", ms(t["numpy"]),
        ratio(t["autonp"], t["numpy"]), "<= 1.10x", t["autonp"] <= 1.1 * t["numpy"])
    row("MLP 784-256-256-10, 200 steps f32, anp.compile", ms(t["compiled"]), "hand-written NumPy", ms(t["numpy"]),
        ratio(t["compiled"], t["numpy"]), "<= 1.00x", t["compiled"] <= t["numpy"])
    row("MLP 784-256-256-10, 200 steps f32, anp.compile (traced before)", ms(t["steady"]), "hand-written NumPy",
        ms(t["numpy"]), ratio(t["steady"], t["numpy"]), "(info)", None)
    with with_peers({"numpy": mlp_products()}, {"torch": "PyTorch MLP products"}) as fns:
        p = timed_together(fns, repeat, warmup=1)
    if "torch" in p:  # the BLAS floor under the rows above: NumPy's OpenBLAS against PyTorch's own
        row("MLP 200 steps' matrix products alone, NumPy", ms(p["numpy"]), "PyTorch's", ms(p["torch"]),
            ratio(p["numpy"], p["torch"]), "(info)", None)
    bench_mlp_overhead(repeat)


def bench_mlp_overhead(repeat: int, steps: int = 1000):
    """The same eager step on an 8-8-8-10 network with batches of 4, where the arithmetic is next to nothing:
    what is left is the engine's Python per step (recording, the backward pass, the optimizer), per step."""
    rng = np.random.default_rng(0)
    sizes = [8, 8, 8, 10]
    params = [(rng.normal(0, 1, (a, b)).astype(np.float32), np.zeros((1, b), np.float32))
              for a, b in zip(sizes, sizes[1:])]
    X = rng.random((4 * steps, 8)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4 * steps)]
    net, opt = mlp_model(0.01, [(W.copy(), b.copy()) for W, b in params])
    ps = [(W.copy(), b.copy()) for W, b in params]

    def autonp_run():
        for s in range(steps):
            nn.cross_entropy(net(X[s * 4:(s + 1) * 4]), Y[s * 4:(s + 1) * 4]).backward()
            opt.step()
            opt.zero_grad()

    def numpy_run():
        for s in range(steps):
            numpy_mlp_step(ps, X[s * 4:(s + 1) * 4], Y[s * 4:(s + 1) * 4], np.float32(0.01))

    t = timed_together({"autonp": autonp_run, "numpy": numpy_run}, max(repeat, 7))
    row("MLP 8-8-8-10 step, batch 4 (the engine's Python)", f"{t['autonp'] / steps * 1e6:.0f} us",
        "hand-written NumPy", f"{t['numpy'] / steps * 1e6:.0f} us", ratio(t["autonp"], t["numpy"]), "(info)", None)


# --------------------------------------------------------------------------- convolution

CONV_SHAPES = [((128, 1, 28, 28), (8, 1, 3, 3)), ((128, 8, 28, 28), (16, 8, 3, 3))]


def conv_data():
    rng = np.random.default_rng(0)
    return [(rng.normal(size=xs).astype(np.float32), rng.normal(size=ws).astype(np.float32),
             rng.normal(size=(xs[0], ws[0], xs[2], xs[3])).astype(np.float32)) for xs, ws in CONV_SHAPES]


def numpy_conv(x, w, dout):
    """Hand-written im2col convolution (stride 1, padding 1) and its backward, in NumPy."""
    n, c, h, wd = x.shape
    f = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    s0, s1, s2, s3 = xp.strides
    cols = np.lib.stride_tricks.as_strided(xp, (n, h, wd, c, 3, 3), (s0, s2, s3, s1, s2, s3)).reshape(n * h * wd, -1)
    out = (cols @ w.reshape(f, -1).T).reshape(n, h, wd, f).transpose(0, 3, 1, 2)
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (d.T @ cols).reshape(w.shape)
    dcols = (d @ w.reshape(f, -1)).reshape(n, h, wd, c, 3, 3)
    dxp = np.zeros_like(xp)
    for p in range(3):
        for q in range(3):
            dxp[:, :, p:p + h, q:q + wd] += dcols[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    return out, dw, dxp[:, :, 1:-1, 1:-1]


def torch_conv():
    try:
        import torch
    except ImportError:
        NOTES.append("PyTorch not installed: its convolution comparison is skipped")
        return None
    data = [(torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_(), torch.from_numpy(d))
            for x, w, d in conv_data()]

    def run(i):
        x, w, d = data[i]
        x.grad = w.grad = None
        (torch.nn.functional.conv2d(x, w, padding=1) * d).sum().backward()
    return [lambda i=i: run(i) for i in range(len(data))]


def bench_conv(repeat: int):
    from autonp.nn import functional as F
    for i, ((xs, ws), (x, w, d)) in enumerate(zip(CONV_SHAPES, conv_data())):
        leaves = anp.Tensor(x, requires_grad=True), anp.Tensor(w, requires_grad=True)  # made once, as PyTorch's are

        def ours(leaves=leaves, d=d):  # (anp.Tensor copies its array: 0.4 ms for this x, not the convolution's)
            tx, tw = leaves
            tx.grad = tw.grad = None
            (F.conv2d(tx, tw, padding=1) * d).sum().backward()
        fns = {"numpy": lambda x=x, w=w, d=d: numpy_conv(x, w, d), "autonp": ours, "floor": gemm_floor(xs, ws)}
        with with_peers(fns, {"torch": f"PyTorch conv{i}"}) as fns:
            t = timed_together(fns, repeat)
        label = f"conv {xs[1]}->{ws[0]} 3x3 on {xs[0]}x{xs[2]}x{xs[3]} f32, fwd+bwd"
        if "torch" in t:
            row(label, ms(t["autonp"]), "PyTorch eager", ms(t["torch"]), ratio(t["autonp"], t["torch"]), "<= 1.50x",
                t["autonp"] <= 1.5 * t["torch"])
        row(label, ms(t["autonp"]), "hand-written im2col", ms(t["numpy"]), ratio(t["autonp"], t["numpy"]), "(info)",
            None)
        row(label, ms(t["autonp"]), "GEMM floor", ms(t["floor"]), ratio(t["autonp"], t["floor"]), "(info)", None)


def gemm_floor(xs, ws):
    """The arithmetic of a stride-1 'same' convolution's forward and backward as three float32 GEMMs of
    exactly its FLOPs (N·H·W positions × C·kh·kw × F), each in the orientation OpenBLAS runs fastest here:
    no im2col, no layout change. What a convolution built on BLAS cannot beat."""
    rng = np.random.default_rng(1)
    positions, k, f = xs[0] * xs[2] * xs[3], ws[1] * ws[2] * ws[3], ws[0]
    cols = rng.random((positions, k), dtype=np.float32)
    w = rng.random((f, k), dtype=np.float32)
    g = rng.random((positions, f), dtype=np.float32)
    return lambda: (cols @ w.T, g @ w, (cols.T @ g))


# --------------------------------------------------------------------------- a CNN training step

def cnn_batch():
    rng = np.random.default_rng(0)
    return rng.random((128, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 128)


def autonp_cnn_step():
    """One Adam step of examples/mnist_cnn.py's network on a batch of 128 (float32)."""
    sys.path.insert(0, str(REPO / "examples"))
    import mnist_cnn
    net = mnist_cnn.make_net(np.random.default_rng(0), np.float32)
    opt = optim.Adam(net.parameters(), lr=2e-3)
    X, y = cnn_batch()

    def step():
        opt.zero_grad()
        nn.cross_entropy(net(X), y).backward()
        opt.step()
    return step


def torch_cnn_step():
    """The same network and step in eager PyTorch, or None when PyTorch is missing."""
    try:
        import torch
    except ImportError:
        NOTES.append("PyTorch not installed: its CNN comparison is skipped")
        return None
    tnn = torch.nn
    net = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                         tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                         tnn.Linear(32 * 7 * 7, 128), tnn.ReLU(), tnn.Dropout(0.25), tnn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    X, y = (torch.from_numpy(a) for a in cnn_batch())

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return step


CNN_BURST = 5  # steps timed back to back in a turn, as a training loop runs them


def burst(step, k: int = CNN_BURST):
    """``k`` steps back to back, as one call."""
    def run():
        for _ in range(k):
            step()
    return run


def bench_cnn(repeat: int):
    """The step's target row times CNN_BURST steps back to back in each turn, each contender after its own
    untimed burst, as a training loop runs them. A lone step (after one untimed step, 0.2 s after the other
    process's turn) is the info row: on this VM a process whose threads slept comes back over a few steps (autonp's
    OpenBLAS workers sleep ~0.4 ms after a product, PyTorch's threads spin through its step), so that step
    measures the VM's wake-up more than the step (docs/performance.md)."""
    step = autonp_cnn_step()
    fns = {"autonp": step, "autonp burst": burst(step)}
    with with_peers(fns, {"torch": "PyTorch CNN", "torch burst": "PyTorch CNN burst"}) as fns:
        t = timed_together(fns, max(repeat, 7) * 2, warmup=3)
    if "torch" in t:
        per_step = {k: Timing([x / CNN_BURST for x in t[k].rounds]) for k in ("autonp burst", "torch burst")}
        row(f"CNN training step (examples/mnist_cnn.py, batch 128) f32, {CNN_BURST} back to back",
            ms(per_step["autonp burst"]), "PyTorch eager", ms(per_step["torch burst"]),
            ratio(per_step["autonp burst"], per_step["torch burst"]), "<= 1.50x",
            per_step["autonp burst"] <= 1.5 * per_step["torch burst"])
        row("CNN training step f32, a turn's second step (after 0.2 s idle)", ms(t["autonp"]), "PyTorch eager",
            ms(t["torch"]), ratio(t["autonp"], t["torch"]), "(info)", None)


# --------------------------------------------------------------------------- Dask

def bench_hips(repeat: int):
    """Programs written for HIPS autograd, ported by their import lines: autonp's gradient time against
    HIPS's, interleaved in this process (HIPS is plain NumPy underneath, with no thread pool of its own)."""
    try:
        import hips_programs as hp
        hp.namespaces("autograd")
    except ImportError:
        NOTES.append("HIPS autograd not installed: the ported-program rows are skipped")
        return
    for name, make in hp.WORKLOADS.items():
        fns = {}
        for which in ("autonp", "autograd"):
            np_, sp_, grad = hp.namespaces(which)
            loss, params = make(np_, sp_)
            fns[which] = (lambda g, p: lambda: g(p))(grad(loss), params)
        t = timed_together(fns, repeat)
        r = ratio(t["autonp"], t["autograd"])
        row(f"HIPS program {name}: gradient", ms(t["autonp"]), "HIPS autograd", ms(t["autograd"]), r, "<= 1.0x",
            r <= 1.0)


def bench_dask(repeat: int, block_rows: int = 8192):
    """The blog step's gradient block by block here against on a 2-worker LocalCluster."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        NOTES.append("dask.distributed not installed: the Dask rows are skipped")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from blog_mnist import blog_loss
    X, Y, _ = blog_data(np.float64)
    p = blog_params(np.float64)
    params = [p["W1"], p["b1"], p["W2"], p["b2"]]
    local = anp.data_parallel(blog_loss, argnums=(0, 1, 2, 3), data_argnums=(4, 5), block_rows=block_rows)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        remote = anp.data_parallel(blog_loss, argnums=(0, 1, 2, 3), data_argnums=(4, 5), block_rows=block_rows,
                                   client=client)
        t0 = time.perf_counter()
        remote(*params, X, Y)
        first = time.perf_counter() - t0
        t = timed_together({"local": lambda: local(*params, X, Y), "dask": lambda: remote(*params, X, Y)}, repeat)
    blocks = -(-len(X) // block_rows)
    param_bytes = sum(a.nbytes for a in params)
    row(f"blog step gradient, {block_rows}-row blocks", ms(t["dask"]) + " (2 workers)", "same blocks here",
        ms(t["local"]), ratio(t["dask"], t["local"]), "(info)", None)
    NOTES.append(f"Dask, per step: parameters broadcast {param_bytes / 1024:.0f} KiB to each of 2 workers, "
                 f"{blocks} block results of {param_bytes / 1024:.0f} KiB back, tree-summed on the workers; the "
                 f"data ({X.nbytes / 2**20:.0f} MiB) is scattered once, on the first call ({first:.1f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--block-rows", type=int, default=2048)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["blog", "memory", "overhead", "mlp", "conv", "cnn", "dask", "hips"],
                    help="run only these rows")
    args = ap.parse_args()
    repeat = 3 if args.quick else args.repeat
    if args.child == "overhead":
        overhead_child(repeat)
        return
    if args.only:
        only = {"blog": lambda: bench_blog(repeat, args.block_rows), "memory": lambda: bench_memory(args.block_rows),
                "overhead": lambda: bench_overhead(repeat), "mlp": lambda: bench_mlp(repeat),
                "conv": lambda: bench_conv(repeat), "cnn": lambda: bench_cnn(repeat),
                "dask": lambda: bench_dask(repeat), "hips": lambda: bench_hips(repeat)}
        only[args.only]()
        for r in ROWS:
            print(r)
        for n in dict.fromkeys(NOTES):  # once each: two peers of one kind may both be missing
            print(f"- {n}")
        return
    if args.child and args.child.startswith("serve:"):
        serve_peer(args.child[6:], args.block_rows)
        return
    if args.child:
        memory_child(args.child.split(":")[1], args.block_rows)
        return
    bench_blog(repeat, args.block_rows)
    bench_memory(args.block_rows)
    bench_overhead(repeat)
    bench_mlp(repeat)
    bench_conv(repeat)
    bench_cnn(repeat)
    bench_hips(repeat)
    bench_dask(repeat)
    head = ("workload", "autonp", "reference (same run)", "ratio", "target", "verdict")
    widths = [max(len(r[i]) for r in ROWS + [head]) for i in range(len(head))]
    print(f"autonp benchmarks — {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, median of {repeat} interleaved rounds (in brackets: the range of the "
          f"ratio over those rounds)")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in ROWS:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    for n in dict.fromkeys(NOTES):
        print(f"- {n}")


if __name__ == "__main__":
    main()
