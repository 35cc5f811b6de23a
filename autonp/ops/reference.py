"""Generates ``docs/ops.md`` from the op tables: ``python -m autonp.ops.reference > docs/ops.md``.

A test fails when the committed file differs from what this prints, so the reference cannot go stale.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..tensor import Primitive, _ArgnumVJPs
from . import linalg, nn
from .numpy_api import (
    _METHODS,
    FUNCTIONS,
    FUNCTIONS_WITHOUT_GRADIENT,
    UFUNC_ACCUMULATE,
    UFUNC_REDUCE,
    UFUNCS,
    UFUNCS_WITHOUT_GRADIENT,
    _numpy_name,
)
from .shape import getitem, setitem, unwindows, windows

_NETWORK_OPS = [linalg.linear, nn.sigmoid, nn.relu, nn.softmax, nn.log_softmax, nn.logsumexp, nn.softmax_cross_entropy,
                nn.max_pool, windows, unwindows]


def _differentiable_in(impl) -> str:
    """The arguments gradients flow to, by name."""
    impl = getattr(impl, "primitive", impl)
    if not isinstance(impl, Primitive):
        return "as its ops"
    if isinstance(impl.vjps, _ArgnumVJPs):
        return "every array argument"
    try:
        names = list(inspect.signature(impl.forward).parameters)
    except (TypeError, ValueError):
        names = [f"arg{i}" for i in range(len(impl.vjps))]
    return ", ".join(n for n, v in zip(names, impl.vjps) if v is not None) or "—"


def _describe(impl) -> tuple[str, str, str]:
    """(autonp op, kind, rule)."""
    impl = getattr(impl, "primitive", impl)  # a NumPy-signature wrapper around one primitive
    if isinstance(impl, Primitive):
        kind = "primitive, complex too" if impl.complex_ok else "primitive"
        return f"`{impl.name}`", kind, getattr(impl, "rule", "") or ""
    doc = (inspect.getdoc(impl) or "").split("\n\n")[0].replace("\n", " ").replace("``", "`")
    return f"`{impl.__name__}`", "built from primitives", doc.replace("|", "\\|")


def _rows(table: dict, suffix: str = "") -> list[str]:
    rows = []
    numpy_only = {fn: impl for fn, impl in table.items() if any(
        getattr(module, getattr(fn, "__name__", ""), None) is fn for module in (np, np.linalg, np.fft))}
    for fn, impl in sorted(numpy_only.items(), key=lambda kv: _numpy_name(kv[0])):
        op, kind, rule = _describe(impl)
        rows.append(f"| `{_numpy_name(fn)}{suffix}` | {op} | {kind} | {_differentiable_in(impl)} | {rule} |")
    return rows


def _scipy_rows() -> list[str]:
    """autonp.scipy.special's primitives (SciPy is optional: without it the section says so)."""
    try:
        from ..scipy import special
    except ImportError:
        return ["(SciPy is not installed: `pip install autonp[scipy]`.)"]
    rows = ["| SciPy | autonp | ufunc: differentiates on Tensors with no import change | gradient flows to | "
            "kinks, ties, domain |", "|---|---|---|---|---|"]
    for name, prim in sorted(special.PRIMITIVES.items()):
        ufunc = "yes" if isinstance(getattr(special.sc, name, None), np.ufunc) else "no: use autonp.scipy.special"
        rows.append(f"| `scipy.special.{name}` | `{prim.name}` | {ufunc} | {_differentiable_in(prim)} | "
                    f"{getattr(prim, 'rule', '')} |")
    funcs = ", ".join(f"`{n}`" for n in ("logsumexp", "softmax", "log_softmax"))
    rows += ["", f"Built from primitives in `autonp.scipy.special`: {funcs}. The distributions of "
             "`autonp.scipy.stats`, `signal.convolve`, `integrate.odeint` and `linalg` are described in "
             "[from-hips-autograd.md](from-hips-autograd.md)."]
    return rows


def render() -> str:
    scipy_rows, ufunc_rows, function_rows = _scipy_rows(), _rows(UFUNCS), _rows(FUNCTIONS)
    head = "| NumPy | autonp | kind | gradient flows to | kinks, ties, domain |\n|---|---|---|---|---|"
    methods = sorted(n for n in _METHODS if not n.startswith("__") or n in ("__getitem__", "__setitem__"))
    no_grad = sorted(_numpy_name(f) for f in FUNCTIONS_WITHOUT_GRADIENT | UFUNCS_WITHOUT_GRADIENT)
    lines = [
        "# autonp op reference",
        "",
        "Generated from the op tables by `python -m autonp.ops.reference > docs/ops.md` (a test fails when",
        "this file is stale). Every row is reachable as `np.<name>(tensor)` and as `anp.<name>`.",
        "",
        "**The rule.** When any argument is a Tensor that requires grad, a NumPy call either records a",
        "differentiable op (the rows below) or raises a `TypeError` naming the function. Functions whose",
        "results carry no gradient return plain results (listed at the end). `np.asarray(t)`, `arr[i] = t`",
        "and other implicit conversions of a Tensor that requires grad raise; `t.detach()`, `t.numpy()` and",
        "`t.item()` say explicitly that the values are wanted without the gradient. `out=` and `where=` are",
        "refused when a Tensor requires grad.",
        "",
        "**Complex values** are differentiated in HIPS autograd's convention: the gradient of a real f at",
        "z = x + iy is ∂f/∂x − i·∂f/∂y (f′(z) where f is holomorphic), and a real input gets the real part of",
        "what reaches it. The primitives marked *complex too* have VJPs that hold for complex values; a",
        "function built from primitives does when its primitives do. Every other op refuses complex values",
        "that require grad.",
        "",
        f"## Ufuncs ({len(ufunc_rows)})",
        "",
        head,
        *ufunc_rows,
        "",
        "## Ufunc methods",
        "",
        head,
        *_rows(UFUNC_REDUCE, ".reduce"),
        *_rows(UFUNC_ACCUMULATE, ".accumulate"),
        "",
        f"## Functions ({len(function_rows)})",
        "",
        head,
        *function_rows,
        "",
        "## Indexing and network ops",
        "",
        "| operation | autonp | kind | gradient flows to | kinks, ties, domain |\n|---|---|---|---|---|",
        f"| `t[index]` | `getitem` | primitive | {_differentiable_in(getitem)} | {getitem.rule} |",
        f"| `t[index] = v` | `setitem` | primitive | {_differentiable_in(setitem)} | {setitem.rule}; ops that "
        f"used the earlier t keep it |",
        *[f"| `anp.{p.name}` | `{p.name}` | primitive | {_differentiable_in(p)} | {getattr(p, 'rule', '')} |"
          for p in _NETWORK_OPS],
        "",
        "## SciPy special functions (`autonp.scipy.special`)",
        "",
        *scipy_rows,
        "",
        "## Tensor methods",
        "",
        ", ".join(f"`{m}`" for m in methods),
        "",
        f"## Results without gradient ({len(no_grad)})",
        "",
        ", ".join(f"`{n}`" for n in no_grad),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")

