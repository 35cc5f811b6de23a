"""``convolve(A, B, axes=None, dot_axes=[(), ()], mode='full')`` as HIPS autograd defines it: a true
convolution (B flipped) of A and B along the paired ``axes``, contracting the paired ``dot_axes`` (a tensordot),
and broadcasting over the rest. Result axes: A's other axes, B's other axes, then the convolved axes.
``mode`` is 'full' (N_A + N_B − 1), 'valid' (|N_A − N_B| + 1) or 'same' (N_A, centred as SciPy's).

It is written in differentiable ops — one einsum of B (flipped) with the windows of A, a strided view — so its
gradients (with respect to both A and B, to any order) are autonp's, and it runs on plain arrays and Tensors.
"""
from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np

from ..ops import einsum, getitem, pad
from ..ops.shape import _axes, _sliding, sliding
from ..tensor import Tensor

__all__ = ["convolve"]


def _pairs_of_axes(conv: list, dot: list, ndim: int, name: str) -> tuple[list, list]:
    """One array's convolved and contracted axes, each in [0, ndim) (negative ones from the end), none twice."""
    try:
        both = _axes(conv + dot, ndim)
    except (ValueError, np.exceptions.AxisError) as e:
        raise type(e)(f"convolve: {name}'s axes {conv} and dot_axes {dot} for {ndim} dimensions: {e}") from None
    return list(both[:len(conv)]), list(both[len(conv):])


def convolve(A: Any, B: Any, axes: Sequence[Sequence[int]] | None = None,
             dot_axes: Sequence[Sequence[int]] = ((), ()), mode: str = "full") -> Any:
    if mode not in ("full", "valid", "same"):
        raise ValueError(f"convolve: mode {mode!r} is not one of 'valid', 'full', 'same'")
    nda, ndb = np.ndim(A), np.ndim(B)
    if axes is None:
        axes = [list(range(nda)), list(range(nda))]
    ca, cb = [list(a) for a in axes]
    da, db = [list(d) for d in dot_axes]
    if len(ca) != len(cb) or len(da) != len(db):
        raise ValueError(f"convolve: axes {axes} and dot_axes {dot_axes} must pair up A's and B's axes")
    sa, sb = np.shape(A), np.shape(B)
    # negative axes count from the end; an axis named twice, or both convolved and contracted, is refused (a
    # negative one was taken for another axis: dot_axes=([-2], [-2]) of (3, 7) arrays gave a (3, 3, 10) result)
    ca, da = _pairs_of_axes(ca, da, len(sa), "A")
    cb, db = _pairs_of_axes(cb, db, len(sb), "B")
    for i, j in zip(da, db):
        if sa[i] != sb[j]:
            raise ValueError(f"convolve: dot_axes pair A's axis {i} (length {sa[i]}) with B's axis {j} (length "
                             f"{sb[j]}); contracted axes must have the same length")
    na, nb = [sa[i] for i in ca], [sb[i] for i in cb]
    if mode == "valid" and not (all(x >= y for x, y in zip(na, nb)) or all(x <= y for x, y in zip(na, nb))):
        raise ValueError("convolve: one array must be larger than the other along all convolved dimensions")
    ignore_a = [i for i in range(nda) if i not in ca + da]
    ignore_b = [i for i in range(ndb) if i not in cb + db]

    letters = iter(string.ascii_letters)
    sub_a = [next(letters) for _ in range(nda)]
    sub_b = [""] * ndb
    for i, j in zip(da, db):
        sub_b[j] = sub_a[i]
    for j in ignore_b:
        sub_b[j] = next(letters)
    out_sub = [sub_a[i] for i in ignore_a] + [sub_b[j] for j in ignore_b] + [sub_a[i] for i in ca]
    window = [next(letters) for _ in ca]
    for k, j in enumerate(cb):
        sub_b[j] = window[k]
    spec = "".join(sub_a) + "".join(window) + "," + "".join(sub_b) + "->" + "".join(out_sub)

    # every output is a full convolution's window: pad A by N_B − 1 (full), then keep the requested part
    full = [x + y - 1 for x, y in zip(na, nb)]
    if mode == "full":
        starts, sizes = [0] * len(ca), full
    elif mode == "same":
        starts, sizes = [(y - 1) // 2 for y in nb], na
    else:
        starts, sizes = [min(x, y) - 1 for x, y in zip(na, nb)], [abs(x - y) + 1 for x, y in zip(na, nb)]
    widths = [(0, 0)] * nda
    for k, i in enumerate(ca):
        lo = max(0, nb[k] - 1 - starts[k])
        hi = max(0, starts[k] + sizes[k] - na[k])
        widths[i] = (lo, hi)
    Ap = pad(A, widths) if any(w != (0, 0) for w in widths) else A
    shift = [widths[i][0] for i in ca]

    # out[n] = Σ_j Ap[n + s + j] · B_flipped[j] over the windows of Ap (a strided view, no copy)
    begin = [starts[k] + shift[k] - nb[k] + 1 for k in range(len(ca))]
    win = sliding(Ap, ca, nb) if isinstance(Ap, Tensor) else _sliding(Ap, ca, nb)
    index_a: list[Any] = [slice(None)] * nda
    for k, i in enumerate(ca):
        index_a[i] = slice(begin[k], begin[k] + sizes[k])
    win = getitem(win, tuple(index_a)) if isinstance(win, Tensor) else win[tuple(index_a)]
    flip: list[Any] = [slice(None)] * ndb
    for j in cb:
        flip[j] = slice(None, None, -1)
    B_flipped = getitem(B, tuple(flip)) if isinstance(B, Tensor) else B[tuple(flip)]
    return einsum(spec, win, B_flipped, optimize=True)
