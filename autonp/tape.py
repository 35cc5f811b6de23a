"""Reading the tape: the ops a tensor depends on, in the order they ran."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tensor import Node, Tensor, _toposort, describe, format_site

__all__ = ["TapeEntry", "tape"]


@dataclass(frozen=True)
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


def _arg(a) -> str:
    return f"{a.name}:{describe(a)}" if isinstance(a, Tensor) and a.name is not None else describe(a)


def tape(t: Tensor) -> list[TapeEntry]:
    """The recorded ops that ``t`` depends on, in execution order (also after ``backward``, which frees
    the values the ops saved but not the structure)."""
    entries = [TapeEntry(x.node.prim.name, x.node, x) for x in _toposort([t]) if x.node is not None]
    entries.sort(key=lambda e: e.node.seq)
    return entries
