"""``convolve(A, B, axes=None, dot_axes=[(), ()], mode='full')`` as HIPS autograd defines it: a true
convolution (B flipped) of A and B along the paired ``axes``, contracting the paired ``dot_axes`` (a tensordot),
and broadcasting over the rest. Result axes: A's other axes, B's other axes, then the convolved axes.
``mode`` is 'full' (N_A + N_B − 1), 'valid' (|N_A − N_B| + 1) or 'same' (N_A, centred as SciPy's).

It is written in differentiable ops — one einsum per kernel offset over a shifted slice — so its gradients
(with respect to both A and B, to any order) are autonp's, and it runs on plain arrays and Tensors alike.
"""
from __future__ import annotations

import itertools
import string
from typing import Any, Sequence

import numpy as np

from ..ops import einsum, getitem, pad
from ..tensor import Tensor

__all__ = ["convolve"]


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
    spec = "".join(sub_a) + "," + "".join(s for j, s in enumerate(sub_b) if j not in cb) + "->" + "".join(out_sub)

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

    total = None
    for offset in itertools.product(*(range(y) for y in nb)):
        # out[n] = Σ_k A[n + start − k] B[k]: slice A at start − k (in padded coordinates), take B[k]
        index_a: list[Any] = [slice(None)] * nda
        for k, i in enumerate(ca):
            begin = starts[k] - offset[k] + shift[k]
            index_a[i] = slice(begin, begin + sizes[k])
        index_b: list[Any] = [slice(None)] * ndb
        for k, j in enumerate(cb):
            index_b[j] = offset[k]
        term = einsum(spec, getitem(Ap, tuple(index_a)) if isinstance(Ap, Tensor) else Ap[tuple(index_a)],
                      getitem(B, tuple(index_b)) if isinstance(B, Tensor) else B[tuple(index_b)])
        total = term if total is None else total + term
    return total
