"""``np.fft`` on Tensors, in HIPS autograd's complex convention (see ``Primitive.complex_ok``).

Every transform is linear, so its VJP is its transpose. The DFT matrix is symmetric (Fᵀ = F), so a complex
transform's VJP is the same transform, with the same ``norm``, of g, cut or zero-padded back to the input's
lengths (the transpose of zero-padding is cutting, and of cutting zero-padding). ``rfftn`` keeps the first
n//2 + 1 outputs of a full ``fftn`` of a real x: its VJP is the full ``fftn`` of g zero-padded back to n
(the real part reaches x). ``irfftn`` reads x as the half of a Hermitian spectrum: entry k stands for itself
and its mirror n − k, so its VJP is ``ifftn`` of g (the same ``norm``) on the first n//2 + 1 entries, doubled
except at 0 and n/2 (which have no mirror). Checked against central differences of NumPy's own transforms.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..tensor import Primitive, _data
from .elementwise import conj
from .shape import _no_out, axes_in_bounds, getitem, pad_constant, roll_prim

_NORMS = (None, "backward", "ortho", "forward")


def _axes_and_sizes(x, s, axes, name: str, inverse_real: bool = False) -> tuple[tuple[int, ...], tuple]:
    """NumPy's (s, axes) rules made explicit (its ``_cook_nd_args``): axes as non-negative ints, and one length
    per axis — the input's own where s is not given or says −1 (``irfftn``'s last: 2(m − 1)); a ``None`` in s stays
    (NumPy's deprecated spelling of the length the array has when that axis's turn comes)."""
    shape = np.shape(x)
    nd = len(shape)
    if axes is None:
        axes = tuple(range(nd - len(s), nd)) if s is not None else tuple(range(nd))
    axes = axes_in_bounds(axes, nd)  # an axis out of bounds is NumPy's error, not another axis
    if s is None:
        s = [shape[a] for a in axes]
        if inverse_real and axes:
            s[-1] = _length(x, axes[-1], None, real_output=True)
    elif len(s) != len(axes):
        raise ValueError(f"np.fft.{name}: s {tuple(s)} and axes {axes} have different lengths")
    return axes, tuple(None if n is None else shape[a] if n == -1 else int(n) for n, a in zip(s, axes))


def _steps(s: tuple, axes: tuple, inverse_real: bool = False) -> list[tuple[int, int | None]]:
    """(axis, length) of each 1-D transform, in NumPy's order (the last axis first; for ``irfftn`` the others first
    and the last one last). Used when an axis is named twice: it is transformed twice, each to its own length."""
    pairs = list(zip(axes, s))
    return pairs if inverse_real else pairs[::-1]


def _length(a, axis: int, n: int | None, real_output: bool = False) -> int:
    """A transform's length along ``axis``: ``n``, or (``None``) the length the array has there when that transform
    comes — for ``irfftn``'s real output, 2(m − 1) of it."""
    if n is not None:
        return n
    m = np.shape(a)[axis]
    return 2 * (m - 1) if real_output else m


def _resolved(x, s: tuple, axes: tuple, inverse_real: bool = False) -> tuple[int, ...]:
    """s with its ``None`` entries as the lengths they stand for (axes named once)."""
    last = len(axes) - 1
    return tuple(_length(x, a, n, inverse_real and i == last) for i, (a, n) in enumerate(zip(axes, s)))


def _fit(g, shape: Sequence[int], axes: tuple[int, ...]):
    """g cut or zero-padded along ``axes`` to ``shape``'s lengths there (the transpose of the forward's fit)."""
    cut = [slice(None)] * np.ndim(g)
    widths = [(0, 0)] * np.ndim(g)
    for a in axes:
        n, m = np.shape(g)[a], shape[a]
        if n > m:
            cut[a] = slice(0, m)
        elif n < m:
            widths[a] = (0, m - n)
    if any(c != slice(None) for c in cut):
        g = getitem(g, tuple(cut))
    if any(w != (0, 0) for w in widths):
        g = pad_constant(g, tuple(widths))
    return g


def _c2c(x, s=None, axes=None, norm=None, inverse=False):
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, s=s, axes=axes, norm=norm)


def _c2c_vjp(g, ans, x, s=None, axes=None, norm=None, inverse=False):
    """The same transform of g (Fᵀ = F), fitted back to x's lengths."""
    return _fit(c2c(g, None, axes, norm, inverse), np.shape(x), axes)


c2c = Primitive("fftn", _c2c).defvjp(_c2c_vjp)
c2c.rule = "linear: ∂ = the same transform of g (the DFT matrix is symmetric)"


def _r2c(x, s=None, axes=None, norm=None):
    return np.fft.rfftn(x, s=s, axes=axes, norm=norm)


def _r2c_vjp(g, ans, x, s=None, axes=None, norm=None):
    """The full fftn of g zero-padded along the last axis from n//2 + 1 back to n; Re reaches the real x."""
    last = axes[-1]
    full_shape = list(np.shape(g))
    full_shape[last] = s[-1] if s is not None else np.shape(x)[last]
    full = _fit(g, full_shape, (last,))
    sizes = tuple(full_shape[a] for a in axes)
    return _fit(c2c(full, sizes, axes, norm, False), np.shape(x), axes)


r2c = Primitive("rfftn", _r2c).defvjp(_r2c_vjp)
r2c.rule = "linear: ∂ = fftn of g zero-padded to the full length (of which x gets the real part)"


def _c2r(x, s=None, axes=None, norm=None):
    return np.fft.irfftn(x, s=s, axes=axes, norm=norm)


def _c2r_vjp(g, ans, x, s=None, axes=None, norm=None):
    """ifftn of g on the first n//2 + 1 entries of the last axis, doubled except at 0 and n/2."""
    last = axes[-1]
    n = np.shape(ans)[last]
    m = n // 2 + 1
    half = getitem(c2c(g, None, axes, norm, True), (slice(None),) * last + (slice(0, m),))
    weight = np.full(m, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    weight = weight.reshape((m,) + (1,) * (np.ndim(g) - last - 1))
    return _fit(half * weight, np.shape(x), axes)


c2r = Primitive("irfftn", _c2r).defvjp(_c2r_vjp)
c2r.rule = "linear: ∂ = ifftn of g on the kept half, doubled where an entry stands for its mirror too"

for _p in (c2c, r2c, c2r):
    _p.complex_ok = True


def _refuse_real_part_only(x, name):
    if np.iscomplexobj(_data(x)):
        raise TypeError(f"np.fft.{name} takes real input; a complex x requires grad here, and NumPy would drop its "
                        f"imaginary part (ComplexWarning): take np.real(x) first")


def _norm(norm, name):
    if norm not in _NORMS:
        raise ValueError(f'np.fft.{name}: norm must be "backward", "ortho" or "forward", got {norm!r}')
    return None if norm == "backward" else norm


def _one(n, axis):
    return (None if n is None else (n,)), (axis,)


def fft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.fft``: the 1-D DFT along ``axis``."""
    s, axes = _one(n, axis)
    return fftn(a, s, axes, norm, out)


def ifft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ifft``: the inverse 1-D DFT along ``axis``."""
    s, axes = _one(n, axis)
    return ifftn(a, s, axes, norm, out)


def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.fft2``: the DFT over the last two axes."""
    return fftn(a, s, axes, norm, out)


def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.ifft2``: the inverse DFT over the last two axes."""
    return ifftn(a, s, axes, norm, out)


def fftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.fftn``: the n-D DFT (x of any dtype; complex result)."""
    return _complex_nd(a, s, axes, norm, out, False)


def ifftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.ifftn``: the inverse n-D DFT."""
    return _complex_nd(a, s, axes, norm, out, True)


def _complex_nd(a, s, axes, norm, out, inverse: bool):
    name = "ifftn" if inverse else "fftn"
    _no_out(f"np.fft.{name}", out)
    norm = _norm(norm, name)
    axes, s = _axes_and_sizes(a, s, axes, name)
    if len(set(axes)) == len(axes):
        return c2c(a, _resolved(a, s, axes), axes, norm, inverse)
    for axis, n in _steps(s, axes):
        a = c2c(a, (_length(a, axis, n),), (axis,), norm, inverse)
    return a


def rfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.rfft``: the DFT of real input, its first n//2 + 1 entries."""
    s, axes = _one(n, axis)
    return rfftn(a, s, axes, norm, out)


def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.rfft2``."""
    return rfftn(a, s, axes, norm, out)


def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.rfftn``: the n-D DFT of real input (the last axis halved)."""
    _no_out("np.fft.rfftn", out)
    _refuse_real_part_only(a, "rfftn")
    norm = _norm(norm, "rfftn")
    axes, s = _axes_and_sizes(a, s, axes, "rfftn")
    if len(set(axes)) == len(axes):
        return r2c(a, _resolved(a, s, axes), axes, norm)
    (axis, n), *rest = _steps(s, axes)
    a = r2c(a, (_length(a, axis, n),), (axis,), norm)
    for axis, n in rest:
        a = c2c(a, (_length(a, axis, n),), (axis,), norm, False)
    return a


def irfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.irfft``: the real signal of length n (2(m − 1) by default) whose rfft is ``a``."""
    s, axes = _one(n, axis)
    return irfftn(a, s, axes, norm, out)


def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``np.fft.irfft2``."""
    return irfftn(a, s, axes, norm, out)


def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``np.fft.irfftn``: the inverse of ``rfftn`` (the imaginary parts at 0 and n/2 are not read)."""
    _no_out("np.fft.irfftn", out)
    norm = _norm(norm, "irfftn")
    axes, s = _axes_and_sizes(a, s, axes, "irfftn", inverse_real=True)
    if len(set(axes)) == len(axes):
        return c2r(a, _resolved(a, s, axes, inverse_real=True), axes, norm)
    *rest, (axis, n) = _steps(s, axes, inverse_real=True)
    for ax, m in rest:
        a = c2c(a, (_length(a, ax, m),), (ax,), norm, True)
    return c2r(a, (_length(a, axis, n, real_output=True),), (axis,), norm)


_SWAPPED = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.hfft``: the real spectrum of a signal with Hermitian symmetry, given its first half:
    ``irfft(conj(a), n)`` with the normalisation's direction swapped."""
    _no_out("np.fft.hfft", out)
    return irfft(conj(a), n, axis, _SWAPPED[_norm(norm, "hfft")])


def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``np.fft.ihfft``: the inverse of ``hfft`` for a real signal: ``conj(rfft(a, n))`` with the normalisation's
    direction swapped."""
    _no_out("np.fft.ihfft", out)
    return conj(rfft(a, n, axis, _SWAPPED[_norm(norm, "ihfft")]))


def _shift(x, axes, sign: int):
    nd = np.ndim(x)
    axes = tuple(range(nd)) if axes is None else (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    shift = tuple(sign * (np.shape(x)[a] // 2) for a in axes)
    return roll_prim(x, shift, axes)


def fftshift(x, axes=None):
    """``np.fft.fftshift``: the zero frequency to the centre (a roll by n//2)."""
    return _shift(x, axes, 1)


def ifftshift(x, axes=None):
    """``np.fft.ifftshift``: the inverse of ``fftshift`` (a roll by −(n//2))."""
    return _shift(x, axes, -1)


for _f in (fft, ifft, fft2, ifft2, fftn, ifftn):
    _f.primitive = c2c
for _f in (rfft, rfft2, rfftn):
    _f.primitive = r2c
for _f in (irfft, irfft2, irfftn, hfft):
    _f.primitive = c2r
ihfft.primitive = r2c
fftshift.primitive = ifftshift.primitive = roll_prim

FUNCTIONS = {np.fft.fft: fft, np.fft.ifft: ifft, np.fft.fft2: fft2, np.fft.ifft2: ifft2, np.fft.fftn: fftn,
             np.fft.ifftn: ifftn, np.fft.rfft: rfft, np.fft.rfft2: rfft2, np.fft.rfftn: rfftn, np.fft.irfft: irfft,
             np.fft.irfft2: irfft2, np.fft.irfftn: irfftn, np.fft.fftshift: fftshift, np.fft.ifftshift: ifftshift,
             np.fft.hfft: hfft, np.fft.ihfft: ihfft}
