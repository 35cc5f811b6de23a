"""Saving and loading Tensors, state dicts and optimizer states: ``anp.save(obj, path)``, ``anp.load(path)``.

Files are ``.npz`` read with ``allow_pickle=False`` (nothing in a file can run code), or
``.safetensors`` when the ``safetensors`` package is installed (a format every framework reads).
``obj`` is a Tensor, an array, a number, or a (nested) dict or list of them; keys are strings.
A small JSON manifest stored beside the arrays says which were Tensors (with requires_grad and
name) and how the containers nest, so ``load`` returns the same structure. Values round-trip bit
for bit.
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load", "FormatError"]

_MANIFEST = "__autonp_manifest__"


class FormatError(KeyError, ValueError):
    """A file or a state (``load_state_dict``) that is not what it claims: names the file or the entry
    and what is wrong. (A ``KeyError`` and a ``ValueError``, so either ``except`` catches it.)"""

    __str__ = BaseException.__str__  # no quotes around the message, as KeyError would add


def _flatten(obj: Any, key: str, arrays: dict) -> Any:
    """The manifest entry for ``obj``; its arrays go into ``arrays`` under path-like keys."""
    if isinstance(obj, Tensor):
        arrays[key] = np.array(obj.numpy(), order="C")  # (ascontiguousarray makes a 0-d array 1-d)
        return {"tensor": key, "requires_grad": bool(obj.requires_grad and obj.is_leaf), "name": obj.name}
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"save: {key or 'the object'} has dtype {obj.dtype}; only numeric arrays are saved")
        arrays[key] = np.array(obj, order="C")
        return {"scalar" if isinstance(obj, np.generic) else "array": key}  # (np.float32(1.5) comes back as itself)
    if isinstance(obj, (bool, int, float)) or obj is None or isinstance(obj, str):
        return {"value": obj}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str) or "/" in k:
                raise TypeError(f"save: dict keys must be strings without '/', got {k!r}")
        return {"dict": {k: _flatten(v, f"{key}/{k}" if key else k, arrays) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_flatten(v, f"{key}/{i}" if key else str(i), arrays) for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot save {type(obj).__name__} at {key or 'the top level'} (Tensors, arrays, numbers, "
                    f"strings, and dicts/lists of them)")


def _rebuild(entry: Any, arrays: Any, where: str = "the top level") -> Any:
    if not isinstance(entry, dict) or len(entry) not in (1, 3) or not entry.keys() & _KINDS:
        raise FormatError(f"the manifest entry at {where} is {str(entry)[:60]!r}, not one that save writes")
    if "tensor" in entry:
        arr = _array(arrays, entry["tensor"], where)
        if entry.get("requires_grad") not in (True, False) or not isinstance(entry.get("name"), (str, type(None))):
            raise FormatError(f"the Tensor at {where} has a malformed requires_grad or name")
        if entry["requires_grad"] and arr.dtype.kind not in "fc":
            raise FormatError(f"the Tensor at {where} requires grad but has dtype {arr.dtype}")
        return Tensor(arr, requires_grad=entry["requires_grad"], name=entry["name"], copy=False)
    if "array" in entry:
        return _array(arrays, entry["array"], where)
    if "scalar" in entry:
        arr = _array(arrays, entry["scalar"], where)
        if arr.ndim:
            raise FormatError(f"the scalar at {where} is an array of shape {arr.shape}")
        return arr[()]
    if "value" in entry:
        if not isinstance(entry["value"], (bool, int, float, str, type(None))):
            raise FormatError(f"the value at {where} is a {type(entry['value']).__name__}, not a number or string")
        return entry["value"]
    if "dict" in entry and isinstance(entry["dict"], dict):
        return {k: _rebuild(v, arrays, f"{where}/{k}") for k, v in entry["dict"].items()}
    for kind, make in (("list", list), ("tuple", tuple)):
        if kind in entry and isinstance(entry[kind], list):
            return make(_rebuild(v, arrays, f"{where}/{i}") for i, v in enumerate(entry[kind]))
    raise FormatError(f"the manifest entry at {where} is malformed")


_KINDS = {"tensor", "array", "scalar", "value", "dict", "list", "tuple"}


def _array(arrays: dict, key: Any, where: str) -> np.ndarray:
    if not isinstance(key, str) or key not in arrays:
        raise FormatError(f"the manifest names an array {key!r} at {where} that the file does not hold")
    arr = arrays[key]
    if arr.dtype.kind not in "biufc":
        raise FormatError(f"the array {key!r} has dtype {arr.dtype}, not a numeric one")
    return arr


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` (``.npz``, or ``.safetensors`` if the package is installed). The file is
    written to a temporary name first, so a failure never leaves half a file behind."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    manifest = json.dumps(_flatten(obj, "", arrays))
    if path.suffix not in (".npz", ".safetensors"):
        raise ValueError(f"save: {path} should end in .npz or .safetensors")
    # a temporary name of this call's own (two processes saving to one path each write their own file;
    # the last os.replace wins, and neither ever sees half of the other's)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        if path.suffix == ".safetensors":
            os.close(fd)
            from safetensors.numpy import save_file  # noqa: PLC0415 - optional dependency
            save_file(arrays, str(tmp), metadata={_MANIFEST: manifest})
        else:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{_MANIFEST: np.frombuffer(manifest.encode(), dtype=np.uint8)})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`save` wrote (arrays are never unpickled). A file that is not one — damaged,
    truncated, crafted, not a regular file — raises :class:`FormatError` naming it and what is wrong."""
    path = Path(path)
    mode = os.stat(path).st_mode  # FileNotFoundError stays itself
    if not stat.S_ISREG(mode):
        raise FormatError(f"anp.load: {path} is not a regular file")
    try:
        return _load(path)
    except FormatError as e:
        raise FormatError(f"anp.load: {path}: {e}") from None
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, TypeError, AttributeError, RecursionError,
            UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"anp.load: {path} is not a file anp.save wrote, or it is damaged "
                          f"({type(e).__name__}: {str(e)[:200]})") from None
    except Exception as e:  # safetensors' own errors
        if type(e).__module__.startswith("safetensors") or type(e).__name__ == "SafetensorError":
            raise FormatError(f"anp.load: {path} is not a valid safetensors file ({e})") from None
        raise


def _load(path: Path) -> Any:
    if path.suffix == ".safetensors":
        from safetensors import safe_open  # noqa: PLC0415
        from safetensors.numpy import load_file  # noqa: PLC0415
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        arrays = load_file(str(path))
        if _MANIFEST not in meta:  # a safetensors file from elsewhere: its tensors by name
            return dict(arrays)
        return _rebuild(json.loads(meta[_MANIFEST]), arrays)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for k, v in arrays.items():  # NumPy hands out a member that is not an .npy file as its raw bytes
        if not isinstance(v, np.ndarray):
            raise FormatError(f"its member {k!r} is not a NumPy array (.npy)")
    if _MANIFEST not in arrays:  # an .npz from elsewhere: its arrays by name
        return arrays
    manifest = json.loads(arrays.pop(_MANIFEST).tobytes().decode())
    return _rebuild(manifest, arrays)
