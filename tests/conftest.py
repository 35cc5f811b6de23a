"""Shared test helpers. The finite-difference oracle here is written independently of
autonp.gradcheck so that the two can check each other."""
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("AUTONP_MNIST", REPO.parent / "shared" / "data" / "mnist.npz"))


def central_diff(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x for scalar f by central differences, one coordinate at a time (float64)."""
    x = np.array(x, dtype=np.float64)
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


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    if not MNIST.exists():
        pytest.skip(f"MNIST copy not found at {MNIST} (set AUTONP_MNIST)")
    return MNIST
