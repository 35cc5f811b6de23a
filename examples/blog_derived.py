"""The blog's backpropagation, derived by the machine: write the post's forward pass with autonp, call
``.backward()``, compile it with ``anp.compile``, and print the NumPy code it derived for the backward
pass beside the formulas the post derived by hand. Then check that the two agree on real digits.

    python examples/blog_derived.py --data ../shared/data/mnist.npz
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from blog_gradients import blog_formulas, mnist_batch  # noqa: E402

import autonp as anp  # noqa: E402
from autonp import nn  # noqa: E402

# The post's ``backpropagate``, line by line, and the op of the forward pass each line differentiates:
# (the post's line, the op, a piece of the forward line that built it)
POST = [
    ("dz2 = a2 - Y", "softmax_cross_entropy", "cross_entropy"),
    ("db2 = (1 / m) * np.sum(dz2, axis=0, keepdims=True)", "add", "z2 ="),
    ("dW2 = (1 / m) * np.dot(a1.T, dz2)", "matmul", "z2 ="),
    ("dz1 = np.dot(dz2, network['W2'].T) * a1 * (1 - a1)", "sigmoid", "a1 ="),
    ("db1 = (1 / m) * np.sum(dz1, axis=0, keepdims=True)", "add", "z1 ="),
    ("dW1 = (1 / m) * np.dot(X.T, dz1)", "matmul", "z1 ="),
]


def loss_and_gradients(X, Y, W1, b1, W2, b2):
    """The post's forward pass (sigmoid hidden layer, softmax output, categorical cross-entropy),
    then ``backward()``: nothing here says how to differentiate."""
    z1 = X @ W1 + b1
    z1.name = "z1"
    a1 = anp.sigmoid(z1)
    a1.name = "a1"
    z2 = a1 @ W2 + b2
    z2.name = "z2"
    loss = nn.cross_entropy(z2, Y)
    loss.backward()
    return loss


def backward_groups(source: str) -> list[tuple[str, str, list[str]]]:
    """(op, the forward line it came from, the generated lines) for each '# ∂ op' block of the source."""
    groups = []
    for block in source.split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if lines and lines[0].startswith("# ∂ "):
            head = re.match(r"# ∂ (\S+)\s+<- \S+\s+(.*)", lines[0])
            body = [line for line in lines[1:] if not line.startswith("del ")]
            groups.append((head.group(1), head.group(2), body))
    return groups


def side_by_side(source: str, width: int = 52) -> str:
    groups = backward_groups(source)
    rows = [f"{'the post, by hand':<{width}} | anp.compile, from the forward pass", "-" * width + "-+-" + "-" * 44]
    for formula, op, piece in POST:
        derived = [lines for o, where, lines in groups if o == op and piece in where]
        derived = derived[0] if derived else ["(not found)"]
        for i, line in enumerate(derived):
            rows.append(f"{formula if i == 0 else '':<{width}} | {line}")
        rows.append(f"{'':<{width}} |")
    return "\n".join(rows[:-1])


def main(argv=None) -> dict:
    X, Y = mnist_batch(argv, __doc__)
    np.random.seed(42)  # the post's initialisation
    init = {"W1": np.random.randn(784, 5) * 0.01, "b1": np.zeros((1, 5)),
            "W2": np.random.randn(5, 10) * 0.01, "b2": np.zeros((1, 10))}
    params = {k: anp.Tensor(v, requires_grad=True, name=k) for k, v in init.items()}

    compiled = anp.compile(loss_and_gradients)
    compiled(X, Y, *params.values())
    print("What anp.compile derived from the forward pass (compiled.source):\n")
    print(compiled.source)
    print("Beside the post's backpropagation (m = rows; a2 = softmax(z2), computed in place as v<n> /= Σ;\n"
          "autonp's seed is the mean's 1/m, so its dz2 is the post's dz2 / m):\n")
    print(side_by_side(compiled.source))

    # the same numbers: the compiled gradients against the post's formulas in plain NumPy
    want = blog_formulas(X, Y, init)
    errors = {k: float(np.max(np.abs(p.grad.numpy() - want[k])) / np.max(np.abs(want[k]))) for k, p in params.items()}
    print("\nCompiled gradients vs the post's formulas (max relative difference): "
          + ", ".join(f"d{k} {e:.1e}" for k, e in errors.items()))
    return {"source": compiled.source, "errors": errors, "table": side_by_side(compiled.source)}


if __name__ == "__main__":
    main()
