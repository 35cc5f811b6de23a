"""The gradients of programs written for HIPS autograd, timed with autograd and with autonp (the same source,
the module names passed in — what porting by the import lines gives). Each workload is
``make(np_, sp_) -> (loss, params)`` with ``np_`` autograd.numpy or autonp.numpy and ``sp_`` the matching
``scipy`` package; the timed call is ``grad(loss)(params)``."""
from __future__ import annotations

import numpy as np


def neural_net(np_, sp_):
    """examples/neural_net.py: a 784-200-100-10 tanh MLP over a list of (W, b), log-softmax, L2; batch 256."""
    rs = np.random.RandomState(0)
    sizes = [784, 200, 100, 10]
    params = [(0.1 * rs.randn(m, n), 0.1 * rs.randn(n)) for m, n in zip(sizes[:-1], sizes[1:])]
    X, T = rs.rand(256, 784), np.eye(10)[rs.randint(0, 10, 256)]

    def loss(params):
        h = X
        for W, b in params:
            out = np_.dot(h, W) + b
            h = np_.tanh(out)
        logp = out - sp_.special.logsumexp(out, axis=1, keepdims=True)
        l2 = sum(np_.sum(W ** 2) + np_.sum(b ** 2) for W, b in params)
        return -np_.sum(logp * T) + 0.5 * l2
    return loss, params


def black_box_svi(np_, sp_):
    """examples/black_box_svi.py: the ELBO of a diagonal Gaussian q over a 2-D 'wiggly' posterior, 2,000 samples."""
    rs = np.random.RandomState(0)
    D, S = 2, 2000
    eps = rs.randn(S, D)

    def log_density(x):
        mu, log_sigma = x[:, 0], x[:, 1]
        return sp_.stats.norm.logpdf(log_sigma, 0, 1.35) + sp_.stats.norm.logpdf(mu, 0, np_.exp(log_sigma))

    def loss(params):
        mean, log_std = params[:D], params[D:]
        samples = eps * np_.exp(log_std) + mean
        entropy = 0.5 * D * (1.0 + np.log(2 * np.pi)) + np_.sum(log_std)
        return -(entropy + np_.mean(log_density(samples)))
    return loss, np.array([-1.0, -1.0, -5.0, -5.0])


def convnet(np_, sp_):
    """examples/convnet.py's layers: two 5x5 conv layers (1->6->8 channels) by scipy.signal.convolve with
    dot_axes, max-pool by reshape, a dense softmax layer; a batch of 64 28x28 images."""
    rs = np.random.RandomState(0)
    X, T = rs.rand(64, 1, 28, 28), np.eye(10)[rs.randint(0, 10, 64)]
    params = {"c1": 0.1 * rs.randn(1, 6, 5, 5), "b1": 0.1 * rs.randn(1, 6, 1, 1),
              "c2": 0.1 * rs.randn(6, 8, 5, 5), "b2": 0.1 * rs.randn(1, 8, 1, 1),
              "W": 0.1 * rs.randn(8 * 4 * 4, 10), "b": 0.1 * rs.randn(10)}

    def conv_pool(x, w, b):
        y = sp_.signal.convolve(x, w, axes=([2, 3], [2, 3]), dot_axes=([1], [0]), mode="valid") + b
        n, c, h, wd = y.shape
        y = np_.max(np_.max(y.reshape(n, c, h // 2, 2, wd // 2, 2), axis=3), axis=4)
        return np_.tanh(y)

    def loss(p):
        h = conv_pool(X, p["c1"], p["b1"])
        h = conv_pool(h, p["c2"], p["b2"]).reshape(64, -1)
        out = np_.dot(h, p["W"]) + p["b"]
        return -np_.sum((out - sp_.special.logsumexp(out, axis=1, keepdims=True)) * T)
    return loss, params


def rnn(np_, sp_):
    """examples/rnn.py: a tanh RNN over 30 steps of one-hot characters (batch 32, hidden 64), softmax outputs."""
    rs = np.random.RandomState(0)
    V, H, L, B = 40, 64, 30, 32
    seq = np.eye(V)[rs.randint(0, V, (L, B))]
    params = {"init": 0.1 * rs.randn(1, H), "change": 0.1 * rs.randn(V + H + 1, H),
              "predict": 0.1 * rs.randn(H + 1, V)}

    def loss(p):
        hidden = np_.repeat(p["init"], B, axis=0)
        total = 0.0
        for t in range(L - 1):
            cat = np_.concatenate((seq[t], hidden, np.ones((B, 1))), axis=1)
            hidden = np_.tanh(np_.dot(cat, p["change"]))
            out = np_.dot(np_.concatenate((hidden, np.ones((B, 1))), axis=1), p["predict"])
            total = total + np_.sum((out - sp_.special.logsumexp(out, axis=1, keepdims=True)) * seq[t + 1])
        return -total
    return loss, params


def gmm(np_, sp_):
    """examples/gmm.py: the log likelihood of 500 2-D points under a 5-component Gaussian mixture (mvn logpdf)."""
    rs = np.random.RandomState(0)
    data = rs.randn(500, 2)
    params = {"log_proportions": rs.randn(5), "means": rs.randn(5, 2),
              "lower_tris": [np.tril(rs.randn(2, 2)) + 2 * np.eye(2) for _ in range(5)]}

    def loss(p):
        lp = p["log_proportions"] - sp_.special.logsumexp(p["log_proportions"])
        cluster = [sp_.stats.multivariate_normal.logpdf(data, m, np_.dot(L, L.T) + 1e-3 * np.eye(2)) + w
                   for w, m, L in zip(lp, p["means"], p["lower_tris"])]
        return -np_.sum(sp_.special.logsumexp(np_.array(cluster), axis=0))
    return loss, params


def fluidsim(np_, sp_):
    """examples/fluidsim/fluidsim.py: 10 steps of a 48x48 smoke simulation (np.roll projections, advection by
    gathering the four neighbouring cells with integer index arrays); the loss compares the final smoke."""
    rs = np.random.RandomState(0)
    n, steps = 48, 10
    smoke, target = rs.rand(n, n), rs.rand(n, n)

    def project(vx, vy):
        p = np_.zeros(vx.shape)
        h = 1.0 / vx.shape[0]
        div = -0.5 * h * (np_.roll(vx, -1, axis=0) - np_.roll(vx, 1, axis=0)
                          + np_.roll(vy, -1, axis=1) - np_.roll(vy, 1, axis=1))
        for _ in range(10):
            p = (div + np_.roll(p, 1, axis=0) + np_.roll(p, -1, axis=0) + np_.roll(p, 1, axis=1)
                 + np_.roll(p, -1, axis=1)) / 4.0
        vx = vx - 0.5 * (np_.roll(p, -1, axis=0) - np_.roll(p, 1, axis=0)) / h
        vy = vy - 0.5 * (np_.roll(p, -1, axis=1) - np_.roll(p, 1, axis=1)) / h
        return vx, vy

    def advect(f, vx, vy):
        rows, cols = f.shape
        cell_ys, cell_xs = np.meshgrid(np.arange(rows), np.arange(cols))
        center_xs, center_ys = (cell_xs - vx).ravel(), (cell_ys - vy).ravel()
        left, top = np_.floor(center_xs).astype(int), np_.floor(center_ys).astype(int)
        rw, bw = center_xs - left, center_ys - top
        left, top = np_.mod(left, rows), np_.mod(top, cols)
        right, bot = np_.mod(left + 1, rows), np_.mod(top + 1, cols)
        flat = (1 - rw) * ((1 - bw) * f[left, top] + bw * f[left, bot]) + rw * (
            (1 - bw) * f[right, top] + bw * f[right, bot])
        return np_.reshape(flat, (rows, cols))

    def loss(v):
        vx, vy, s = v[0], v[1], smoke
        for _ in range(steps):
            vx, vy = project(advect(vx, vx, vy), advect(vy, vx, vy))
            s = advect(s, vx, vy)
        return np_.sum((s - target) ** 2)
    return loss, 0.01 * rs.randn(2, n, n)


def deep_gp(np_, sp_):
    """examples/deep_gaussian_process.py: the log marginal likelihood of a two-layer GP on 20 points (RBF
    kernels, multivariate_normal.logpdf) — small matrices, so the cost per op is what is timed."""
    n = 20
    X = np.linspace(-2, 2, n).reshape(n, 1)
    y = np.sign(X[:, 0]) + np.random.RandomState(0).randn(n) * 0.1

    def rbf(p, x, xp):
        scale, lengths = np_.exp(p[0]), np_.exp(p[1:])
        diffs = np_.expand_dims(x / lengths, 1) - np_.expand_dims(xp / lengths, 0)
        return scale * np_.exp(-0.5 * np_.sum(diffs ** 2, axis=2))

    def layer(params, x, t):
        cov = rbf(params[2:], x, x) + (np_.exp(params[1]) + 1e-4) * np.eye(len(t))
        return sp_.stats.multivariate_normal.logpdf(t, params[0] * np.ones(len(t)), cov)

    def loss(p):
        h = p[8:]
        return -(layer(p[:4], X, h) + layer(p[4:8], np_.atleast_2d(h).T, y))
    return loss, 0.1 * np.random.RandomState(1).randn(8 + n)


WORKLOADS = {"neural_net": neural_net, "black_box_svi": black_box_svi, "convnet": convnet, "rnn": rnn, "gmm": gmm,
             "fluidsim": fluidsim, "deep_gp": deep_gp}


def namespaces(which: str):
    """(numpy namespace, scipy package, grad) of 'autonp' or 'autograd'."""
    if which == "autograd":
        import autograd
        import autograd.numpy as np_
        import autograd.scipy.signal
        import autograd.scipy.special
        import autograd.scipy.stats  # noqa: F401
        import autograd.scipy.stats.multivariate_normal  # noqa: F401
        return np_, autograd.scipy, autograd.grad
    import autonp
    import autonp.numpy as np_
    import autonp.scipy.signal
    import autonp.scipy.special
    import autonp.scipy.stats  # noqa: F401
    return np_, autonp.scipy, autonp.grad
