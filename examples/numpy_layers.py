"""Layers written the way NumPy code is written — np.dot, np.var, np.pad, np.where, item assignment —
fed Tensors instead of arrays, and their gradients cross-checked against backward passes derived
by hand (also in plain NumPy). Nothing in the forward code knows about autonp.

    python examples/numpy_layers.py

Layers: affine, ReLU, batch normalisation, an RNN step, a convolution by im2col (columns built by
item assignment), a softmax loss, and a min-char-rnn style loss over 25 time steps.
"""
from __future__ import annotations

import numpy as np

import autonp as anp

# --------------------------------------------------------------------------- forward passes, plain NumPy


def affine(x, w, b):
    return np.dot(x.reshape(x.shape[0], -1), w) + b


def relu(x):
    return np.where(x > 0, x, 0.0)


def batchnorm(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta


def rnn_step(x, prev_h, wx, wh, b):
    return np.tanh(np.dot(x, wx) + np.dot(prev_h, wh) + b)


def im2col(x, hh, ww, stride, pad):
    """Columns (C·hh·ww, N·Ho·Wo) of the padded input, filled one kernel offset at a time."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - hh) // stride + 1, (w + 2 * pad - ww) // stride + 1
    cols = np.zeros_like(xp, shape=(c, hh, ww, n, ho, wo))  # like x: an array, or a Tensor to assign into
    for i in range(hh):
        for j in range(ww):
            cols[:, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride].transpose(1, 0, 2, 3)
    return cols.reshape(c * hh * ww, n * ho * wo), ho, wo


def conv(x, w, b, stride=1, pad=1):
    f, _, hh, ww = w.shape
    cols, ho, wo = im2col(x, hh, ww, stride, pad)
    out = np.dot(w.reshape(f, -1), cols) + b.reshape(-1, 1)
    return out.reshape(f, x.shape[0], ho, wo).transpose(1, 0, 2, 3)


def softmax_loss(scores, y):
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.sum(log_probs[np.arange(len(y)), y]) / len(y)


def char_rnn_loss(inputs, targets, hprev, wxh, whh, why, bh, by):
    """min-char-rnn's loss: one-hot characters in, a softmax over the vocabulary at every step."""
    vocab = wxh.shape[1]
    hs = {-1: hprev}
    loss = 0.0
    for t, (ch, target) in enumerate(zip(inputs, targets)):
        x = np.zeros((vocab, 1))
        x[ch] = 1
        hs[t] = np.tanh(np.dot(wxh, x) + np.dot(whh, hs[t - 1]) + bh)
        ys = np.dot(why, hs[t]) + by
        ps = np.exp(ys) / np.sum(np.exp(ys))
        loss = loss - np.log(ps[target, 0])
    return loss

# --------------------------------------------------------------------------- backward passes, derived by hand


def affine_backward(dout, x, w, b):
    return {"x": (dout @ w.T).reshape(x.shape), "w": x.reshape(x.shape[0], -1).T @ dout, "b": dout.sum(axis=0)}


def relu_backward(dout, x):
    return {"x": dout * (x > 0)}


def batchnorm_backward(dout, x, gamma, beta, eps=1e-5):
    """dx = γ/(N σ) · (N·dy − Σdy − x̂·Σ(dy·x̂))."""
    n = x.shape[0]
    sigma = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / sigma
    dx = gamma / (n * sigma) * (n * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))
    return {"x": dx, "gamma": (dout * xhat).sum(axis=0), "beta": dout.sum(axis=0)}


def rnn_step_backward(dout, x, prev_h, wx, wh, b):
    h = np.tanh(x @ wx + prev_h @ wh + b)
    dz = dout * (1 - h * h)
    return {"x": dz @ wx.T, "prev_h": dz @ wh.T, "wx": x.T @ dz, "wh": prev_h.T @ dz, "b": dz.sum(axis=0)}


def conv_backward(dout, x, w, b, stride=1, pad=1):
    """dw = dout · colsᵀ; dx by scattering w·dout back onto every window (col2im)."""
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    cols, ho, wo = im2col(x, hh, ww, stride, pad)
    d = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dcols = (w.reshape(f, -1).T @ d).reshape(c, hh, ww, n, ho, wo)
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    for i in range(hh):
        for j in range(ww):
            dxp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += dcols[:, i, j].transpose(1, 0, 2, 3)
    return {"x": dxp[:, :, pad:pad + h, pad:pad + wd], "w": (d @ cols.T).reshape(w.shape), "b": d.sum(axis=1)}


def softmax_loss_backward(scores, y):
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return {"scores": p / len(y)}


def char_rnn_backward(inputs, targets, hprev, wxh, whh, why, bh, by):
    vocab = wxh.shape[1]
    xs, hs, ps = {}, {-1: hprev}, {}
    for t, ch in enumerate(inputs):
        xs[t] = np.zeros((vocab, 1))
        xs[t][ch] = 1
        hs[t] = np.tanh(wxh @ xs[t] + whh @ hs[t - 1] + bh)
        ys = why @ hs[t] + by
        ps[t] = np.exp(ys) / np.exp(ys).sum()
    grads = {k: np.zeros_like(v) for k, v in dict(wxh=wxh, whh=whh, why=why, bh=bh, by=by, hprev=hprev).items()}
    dh_next = np.zeros_like(hprev)
    for t in reversed(range(len(inputs))):
        dy = ps[t].copy()
        dy[targets[t]] -= 1
        grads["why"] += dy @ hs[t].T
        grads["by"] += dy
        dz = (why.T @ dy + dh_next) * (1 - hs[t] * hs[t])
        grads["bh"] += dz
        grads["wxh"] += dz @ xs[t].T
        grads["whh"] += dz @ hs[t - 1].T
        dh_next = whh.T @ dz
    grads["hprev"] = dh_next
    return grads

# --------------------------------------------------------------------------- the cross-check


def cross_check(name, forward, backward, arrays, dout_shape=None, rtol=1e-10):
    """Run ``forward`` on Tensors (through NumPy's own calls), backward Σ out⊙dout, and compare every
    input's gradient with the hand-derived ``backward``; prints and returns the table."""
    rng = np.random.default_rng(0)
    tensors = {k: anp.Tensor(v, requires_grad=True) for k, v in arrays.items()}
    out = forward(*tensors.values())
    dout = rng.normal(size=out.shape) if dout_shape is None else np.ones(dout_shape)
    (out * dout).sum().backward()
    expected = backward(dout, *arrays.values()) if dout_shape is None else backward(*arrays.values())
    report = anp.compare_gradients(expected, tensors, rtol=rtol)
    print(f"\n{name}:\n{report}")
    return report


def main() -> dict:
    rng = np.random.default_rng(42)
    r = rng.normal
    reports = {
        "affine": cross_check("affine", affine, affine_backward,
                              dict(x=r(size=(4, 2, 3)), w=r(size=(6, 5)), b=r(size=5))),
        "relu": cross_check("relu", relu, relu_backward, dict(x=r(size=(4, 5)))),
        "batchnorm": cross_check("batchnorm", batchnorm, batchnorm_backward,
                                 dict(x=r(size=(8, 5)) * 3 + 1, gamma=r(size=5), beta=r(size=5))),
        "rnn_step": cross_check("rnn_step", rnn_step, rnn_step_backward,
                                dict(x=r(size=(3, 4)), prev_h=r(size=(3, 5)), wx=r(size=(4, 5)) * 0.3,
                                     wh=r(size=(5, 5)) * 0.3, b=r(size=5))),
        "conv_im2col": cross_check("conv (im2col by item assignment)", conv, conv_backward,
                                   dict(x=r(size=(2, 3, 6, 5)), w=r(size=(4, 3, 3, 3)), b=r(size=4))),
    }
    y = np.array([1, 0, 4, 2])
    reports["softmax_loss"] = cross_check(
        "softmax loss", lambda s: softmax_loss(s, y), lambda s: softmax_loss_backward(s, y),
        dict(scores=r(size=(4, 5))), dout_shape=())
    vocab, hidden = 12, 8
    inputs, targets = list(rng.integers(0, vocab, 25)), list(rng.integers(0, vocab, 25))
    params = dict(hprev=np.zeros((hidden, 1)), wxh=r(size=(hidden, vocab)) * 0.1, whh=r(size=(hidden, hidden)) * 0.1,
                  why=r(size=(vocab, hidden)) * 0.1, bh=np.zeros((hidden, 1)), by=np.zeros((vocab, 1)))
    reports["char_rnn"] = cross_check(
        "min-char-rnn loss, 25 steps", lambda *p: char_rnn_loss(inputs, targets, *p),
        lambda *p: char_rnn_backward(inputs, targets, *p), params, dout_shape=())
    print("\nall layers agree with their hand-derived gradients" if all(r.passed for r in reports.values())
          else "\nSOME LAYERS DIFFER")
    return reports


if __name__ == "__main__":
    main()
