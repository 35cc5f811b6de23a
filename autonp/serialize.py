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
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load"]

_MANIFEST = "__autonp_manifest__"


def _flatten(obj: Any, key: str, arrays: dict) -> Any:
    """The manifest entry for ``obj``; its arrays go into ``arrays`` under path-like keys."""
    if isinstance(obj, Tensor):
        arrays[key] = np.ascontiguousarray(obj.numpy())
        return {"tensor": key, "requires_grad": bool(obj.requires_grad and obj.is_leaf), "name": obj.name}
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"save: {key or 'the object'} has dtype {obj.dtype}; only numeric arrays are saved")
        arrays[key] = np.ascontiguousarray(obj)
        return {"array": key}
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


def _rebuild(entry: dict, arrays: Any) -> Any:
    if "tensor" in entry:
        t = Tensor(arrays[entry["tensor"]], requires_grad=entry["requires_grad"], name=entry["name"], copy=False)
        return t
    if "array" in entry:
        return arrays[entry["array"]]
    if "value" in entry:
        return entry["value"]
    if "dict" in entry:
        return {k: _rebuild(v, arrays) for k, v in entry["dict"].items()}
    if "list" in entry:
        return [_rebuild(v, arrays) for v in entry["list"]]
    return tuple(_rebuild(v, arrays) for v in entry["tuple"])


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` (``.npz``, or ``.safetensors`` if the package is installed). The file is
    written to a temporary name first, so a failure never leaves half a file behind."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    manifest = json.dumps(_flatten(obj, "", arrays))
    tmp = path.with_name(path.name + ".partial")
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import save_file  # noqa: PLC0415 - optional dependency
            save_file(arrays, str(tmp), metadata={_MANIFEST: manifest})
        else:
            if path.suffix != ".npz":
                raise ValueError(f"save: {path} should end in .npz or .safetensors")
            with open(tmp, "wb") as f:
                np.savez(f, **arrays, **{_MANIFEST: np.frombuffer(manifest.encode(), dtype=np.uint8)})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`save` wrote (arrays are never unpickled)."""
    path = Path(path)
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
        if _MANIFEST not in f.files:
            return {k: f[k] for k in f.files}
        manifest = json.loads(f[_MANIFEST].tobytes().decode())
        arrays = {k: f[k] for k in f.files if k != _MANIFEST}
    return _rebuild(manifest, arrays)
