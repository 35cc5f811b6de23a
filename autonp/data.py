"""Small data utilities: one-hot encoding and seeded mini-batches."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .functional import check_positive_int

__all__ = ["one_hot", "minibatches"]


def one_hot(labels: Any, num_classes: int, dtype: Any = np.float64) -> np.ndarray:
    """Integer labels (any shape) → one-hot rows: 3 → [0, 0, 0, 1, 0, …]."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.eye(num_classes, dtype=dtype)[labels]


def minibatches(*arrays: np.ndarray, batch_size: int, shuffle: bool = True, seed: int | None = 0,
                drop_last: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield aligned batches of ``arrays`` (same first dimension); shuffled with a seeded generator."""
    check_positive_int("minibatches", "batch_size", batch_size)  # (−1 yielded no batch at all)
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"minibatches: arrays have different lengths {[len(a) for a in arrays]}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(a[idx] for a in arrays)
