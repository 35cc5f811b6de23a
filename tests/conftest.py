"""Shared test helpers. The finite-difference oracle here is written independently of
autonp.gradcheck so that the two can check each other."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# Every compiled call that skips the walk of its state (nothing the last walk read has changed) walks it anyway
# and fails if the two differ: each compiled test is a check of the remembered walk too (AUTONP_CHECK_WALKS=0: off)
from autonp.compiler import Compiled  # noqa: E402

Compiled.check_walks = os.environ.get("AUTONP_CHECK_WALKS", "1") != "0"
MNIST = Path(os.environ.get("AUTONP_MNIST", REPO.parent / "shared" / "data" / "mnist.npz"))


def python_output(code: str, **env: str | None) -> str:
    """The standard output of ``python -c code`` in a fresh process, with ``env`` added to the environment
    (switches read at import: AUTONP_BLAS, AUTONP_NUMBA, AUTONP_MALLOC; None removes one); its standard
    error if it fails."""
    merged = {**os.environ, **env}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in merged.items() if v is not None})
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def run_threads_switching(target, n: int) -> None:
    """Run ``target(k)`` for k < n in n threads that take turns between any two lines (a switch interval of 1 µs,
    put back after), so that a race shows within a test's time."""
    import threading
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=target, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)


def central_diff(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x for scalar f by central differences, one coordinate at a time (float64). (C order: the flat view
    below must be a view, or every coordinate is perturbed in a copy and the result is all zeros.)"""
    x = np.array(x, dtype=np.float64, order="C")
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = float(f(x))
        flat[i] = old - eps
        lo = float(f(x))
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return g


def complex_central_diff(f, z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """HIPS autograd's gradient of real scalar f at complex z, ∂f/∂x − i·∂f/∂y (z = x + iy), by central differences
    along each real and each imaginary coordinate."""
    z = np.array(z, dtype=np.complex128)
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        for step, part in ((eps, 1.0), (1j * eps, -1j)):
            hi, lo = z.copy(), z.copy()
            hi[i] += step
            lo[i] -= step
            g[i] += part * (float(np.real(f(hi))) - float(np.real(f(lo)))) / (2 * eps)
    return g


def complex_step(f, x0, h=1e-30):
    """∂f as Im f(x + ih)/h, one coordinate at a time: exact to rounding for a function analytic near the real
    axis (no difference of two nearby values, so no cancellation and no step to tune)."""
    g = np.empty_like(x0)
    for i in range(x0.size):
        x = x0.astype(complex)
        x.flat[i] += 1j * h
        g.flat[i] = np.imag(f(x)) / h
    return g


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    if not MNIST.exists():
        pytest.skip(f"MNIST copy not found at {MNIST} (set AUTONP_MNIST)")
    return MNIST


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", help="run the long fuzzer (tests/test_fuzz.py)")
    parser.addoption("--fuzz-seed", default=None, help="the long fuzzer's seed (default: a new one, printed)")
    parser.addoption("--fuzz-examples", type=int, default=3000, help="programs per kind in the long fuzzer")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--fuzz-long"):
        return
    skip = pytest.mark.skip(reason="the long fuzzer runs with --fuzz-long")
    for item in items:
        if "fuzz_long" in item.keywords:
            item.add_marker(skip)
