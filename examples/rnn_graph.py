"""A picture of an unrolled recurrent network that a person can read: min-char-rnn's loss over 25
time steps, each step recorded in ``name_scope("step")``. The full graph has hundreds of nodes; the
summary draws the 25 steps as one repeated block with its shared parameters once and the recurrence
(h_t → h_t+1) as a loop. It also writes rnn_explorer.html, to step through the backward pass of all
25 steps in a browser.

    python examples/rnn_graph.py --out out/rnn
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import autonp as anp


def char_rnn_loss(inputs, targets, params):
    """min-char-rnn's forward: one-hot characters, tanh recurrence, softmax over the vocabulary."""
    wxh, whh, why, bh, by = params
    vocab = wxh.shape[1]
    h = anp.Tensor(np.zeros((whh.shape[0], 1)), name="h0")
    loss = 0.0
    for ch, target in zip(inputs, targets):
        with anp.name_scope("step"):
            x = np.zeros((vocab, 1))
            x[ch] = 1
            h = anp.tanh(wxh @ x + whh @ h + bh)
            h.name = "h"
            ps = anp.softmax(why @ h + by, axis=0)
            loss = loss - anp.log(ps[target, 0])
            loss.name = "loss"
    return loss


def make(seed: int = 0, vocab: int = 12, hidden: int = 8, steps: int = 25):
    rng = np.random.default_rng(seed)
    names = ["Wxh", "Whh", "Why", "bh", "by"]
    shapes = [(hidden, vocab), (hidden, hidden), (vocab, hidden), (hidden, 1), (vocab, 1)]
    params = [anp.Tensor(rng.normal(size=s) * 0.1, requires_grad=True, name=n) for n, s in zip(names, shapes)]
    inputs, targets = list(rng.integers(0, vocab, steps)), list(rng.integers(0, vocab, steps))
    return char_rnn_loss(inputs, targets, params), params


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/rnn")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loss, params = make()
    n_ops = len(anp.tape(loss))
    start = time.perf_counter()
    svg = anp.viz.render(loss, out / "rnn_summary", format="svg", summary=True, grads=True, rankdir="LR",
                         title=f"min-char-rnn, 25 steps ({n_ops} ops), summary")
    png = anp.viz.render(loss, out / "rnn_summary", format="png", summary=True, grads=True, rankdir="LR",
                         title=f"min-char-rnn, 25 steps ({n_ops} ops), summary")
    seconds = time.perf_counter() - start
    page = anp.viz.explore(loss, out / "rnn_explorer.html", title=f"min-char-rnn, 25 steps ({n_ops} ops)")
    print(f"{n_ops} ops; summary drawn in {seconds:.2f} s: {svg}, {png}; step through backward in {page}")
    return {"ops": n_ops, "seconds": seconds, "svg": svg, "png": png, "page": page}


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
