"""Reading the tape: the ops a tensor depends on, in the order they ran."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tensor import Node, Tensor, _toposort, describe, format_site

__all__ = ["Tape", "TapeEntry", "tape"]


@dataclass(frozen=True, repr=False)
class TapeEntry:
    """One recorded op: ``output = op(*inputs)``."""

    op: str
    node: Node
    output: Tensor

    @property
    def inputs(self) -> list[Tensor]:
        return self.node.inputs()

    @property
    def site(self) -> str:
        return format_site(self.node.site)

    def __str__(self) -> str:
        """``matmul(x:Tensor(4, 3), ndarray(3, 2)) -> Tensor(4, 2)``: every array argument, Tensor or not."""
        args = ", ".join(_arg(a) for a in self.node.args if isinstance(a, (Tensor, np.ndarray)))
        out = describe(self.output) if self.output.name is None else f"{self.output.name}:{describe(self.output)}"
        return f"{self.op}({args}) -> {out}"

    __repr__ = __str__


class Tape(list):
    """The entries of ``tape(t)``; printed as a numbered table: op, inputs, output, the line that built it."""

    def __str__(self) -> str:
        rows = [("#", "op", "inputs", "output", "built at")]
        for i, e in enumerate(self, 1):
            ins = ", ".join(_arg(a, short=True) for a in e.node.args if isinstance(a, (Tensor, np.ndarray)))
            out = _arg(e.output, short=True)
            site = e.site.replace(": ", "  ", 1)
            rows.append((str(i), e.op, ins, out, site))
        widths = [min(max(len(r[c]) for r in rows), 48) for c in range(4)]
        lines = ["  ".join(_fit(r[c], widths[c]) for c in range(4)) + "  " + r[4] for r in rows]
        return "\n".join(lines) + f"\n({len(self)} ops)"

    __repr__ = __str__


def _arg(a, short: bool = False) -> str:
    text = describe(a)
    if short:  # 'W:(784, 5) float64', 'const(60000, 784) float64'
        text = text.replace("Tensor", "", 1).replace("ndarray", "const", 1).replace(" (values freed)", "")
    return f"{a.name}:{text}" if isinstance(a, Tensor) and a.name is not None else text


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def tape(t: Tensor) -> Tape:
    """The recorded ops that ``t`` depends on, in execution order (also after ``backward``, which frees
    the values the ops saved but not the structure)."""
    entries = [TapeEntry(x.node.prim.name, x.node, x) for x in _toposort([t]) if x.node is not None]
    entries.sort(key=lambda e: e.node.seq)
    return Tape(entries)
