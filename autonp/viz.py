"""Pictures of the recorded computation, drawn with graphviz.

``draw(t)`` returns a ``graphviz.Digraph`` of everything ``t`` depends on: tensors as ellipses
(parameters blue, constants grey, intermediates white), ops as boxes, edges in the direction
data flows, ``name_scope`` blocks as clusters. ``draw(t, grads=True)`` is the backward view:
each tensor shows its gradient's shape and norm, coloured from blue (vanishing) to red
(exploding). ``summary=True`` collapses each scope, and runs of identical scopes or ops,
into one node so that deep graphs stay readable.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from .tensor import Node, Tensor, _run_backward, _toposort, freed_meta

__all__ = ["draw", "to_dot", "render", "explore", "GraphvizMissing"]

INSTALL_HINT = ("install the graphviz programs: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), or `conda install graphviz`")

_PARAM, _CONST, _INTER = "#cfe2ff", "#e9ecef", "#ffffff"
_OP = "#fff3bf"
_SEED = "#d3f9d8"  # the root of a backward view


class GraphvizMissing(RuntimeError):
    """Rendering needs the ``dot`` program (or the ``graphviz`` Python package), and it is missing."""


def _new_graph(name: str, rankdir: str, title: str | None, **graph_attr: str):
    """An empty Digraph in the house style (fonts, spacing), titled at the top."""
    dot = _digraph(name=name, graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11",
                                          "nodesep": "0.25", "ranksep": "0.35", **graph_attr},
                   node_attr={"fontname": "Helvetica", "fontsize": "10"}, edge_attr={"arrowsize": "0.6"})
    if title:
        dot.attr(label=_text(title), labelloc="t", fontsize="14")
    return dot


def _digraph(**attrs: Any):
    try:
        import graphviz
    except ImportError:
        raise GraphvizMissing("autonp.viz needs the graphviz Python package: pip install 'autonp[viz]' "
                              "(or pip install graphviz); to render pictures also " + INSTALL_HINT) from None
    return graphviz.Digraph(**attrs)


def _text(s: str) -> str:
    """A user-supplied string made safe for DOT and SVG: control characters shown as '?', backslashes
    literal, and never read as an HTML-like label (``<b>`` stays text)."""
    import graphviz
    clean = "".join(ch if ch == "\n" or (ord(ch) >= 32 and ch != "\x7f") else "?" for ch in str(s))
    return graphviz.nohtml(graphviz.escape(clean))


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _tensor_label(t: Tensor, values: bool, norm: float | None, seed: bool = False) -> str:
    lines = [t.name] if t.name else []
    lines.append(_shape_text(t))
    if t._arr is None:  # an intermediate whose values backward() freed: its shape was kept
        return "\n".join(lines + ["(values freed)"])
    if seed:  # the root of a backward view: its gradient is the seed, 1, by definition
        values = True
    if values and t.size == 1:
        lines.append(f"value {_fmt(t.data.item())}")
    elif values and t.size:
        d = t.data
        lines.append(f"min {_fmt(d.min())} mean {_fmt(d.mean())} max {_fmt(d.max())}")
    if seed:
        lines.append("∇ = 1 (the seed)")
    elif norm is not None:
        lines.append(f"∇ ‖g‖={_fmt(norm)}")
    return "\n".join(lines)


def grad_colour(norm: float) -> str:
    """White for healthy gradient norms (1e-2 … 10), deepening to blue for vanishing ones (full at 1e-8)
    and to red for exploding ones (full at 1e4); purple for NaN/Inf."""
    if not math.isfinite(norm):
        return "#9b2c9b"
    level = math.log10(max(norm, 1e-30))
    if level < -2:
        a = min((-2 - level) / 6, 1.0)
        r, g, b = 255 - a * (255 - 49), 255 - a * (255 - 104), 255
    elif level > 1:
        a = min((level - 1) / 3, 1.0)
        r, g, b = 255, 255 - a * (255 - 72), 255 - a * (255 - 72)
    else:
        r = g = b = 255
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def _tensor_tooltip(t: Tensor, norm: float | None) -> str:
    """Hover text in SVG: what the tensor is, its values and its gradient."""
    if t._arr is None:
        return f"{t.name or 'tensor'}: {_shape_text(t)}; its values were freed by backward()"
    lines = [f"{t.name or 'tensor'}: shape {t.shape} {t.dtype}"]
    if t.size:
        d = t._arr
        lines.append(f"values: min {_fmt(d.min())}, mean {_fmt(d.mean())}, max {_fmt(d.max())}")
    if norm is not None:
        lines.append(f"gradient norm {_fmt(norm)}")
    elif t.node is None and t.grad is not None:
        g = t.grad.numpy()
        lines.append(f".grad: norm {_fmt(float(np.linalg.norm(g)))}, min {_fmt(g.min())}, max {_fmt(g.max())}")
    return "\n".join(lines)


def _op_tooltip(node: Node) -> str:
    """Hover text: the op, its inputs' shapes and the user's line that built it."""
    from .tensor import describe, format_site
    args = ", ".join(describe(a) for a in node.args if isinstance(a, (Tensor, np.ndarray)))
    scope = f"\nscope: {'/'.join(node.scope)}" if node.scope else ""
    return f"{node.prim.name}({args})\nbuilt at {format_site(node.site)}{scope}"


def _op_label(node: Node) -> str:
    extra = [_short(a) for a in node.args if not isinstance(a, (Tensor, np.ndarray))]
    extra += [f"{k}={_short(v)}" for k, v in node.kwargs.items() if v is not None and v is not False]
    return node.prim.name + (f"\n({', '.join(extra)})" if extra else "")


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, np.dtype) or isinstance(v, type):
        return getattr(v, "__name__", str(v))
    text = repr(v)
    return text if len(text) <= 24 else text[:21] + "..."


class _Graph:
    """The recorded graph of ``root`` as plain data: what both the full and the summary views draw."""

    def __init__(self, root: Tensor):
        self.root = root
        self.tensors: list[Tensor] = _toposort([root])
        self.freed = any(t.node is not None and t.node.freed for t in self.tensors)  # after backward()
        self.consumers: dict[int, list[Tensor]] = defaultdict(list)
        for t in self.tensors:
            if t.node is not None:
                for a in t.node.inputs():
                    self.consumers[id(a)].append(t)

    def scope_of(self, t: Tensor) -> tuple:
        """An op's scope is where it was recorded; a leaf belongs with its first consumer."""
        if t.node is not None:
            return t.node.scope
        users = self.consumers.get(id(t))
        return users[0].node.scope if users else ()


def draw(t: Tensor, *, values: bool = False, grads: bool = False, summary: bool = False,
         rankdir: str = "TB", title: str | None = None):
    """A ``graphviz.Digraph`` of the computation that produced ``t``.

    values: min/mean/max on every tensor. grads: the backward view (computes ∂t/∂every tensor
    itself, leaving ``.grad`` alone). summary: collapse scopes and repeated blocks.
    """
    g = _Graph(t)
    norm_of: dict[int, float] = {}  # id(tensor) -> norm of ∂t/∂tensor, computed once
    if grads:
        if not t.requires_grad:
            raise RuntimeError("draw(grads=True) needs a tensor that requires grad")
        if t.size != 1:
            raise RuntimeError(f"draw(grads=True) needs a scalar; got shape {t.shape}")
        if g.freed:  # after backward(): the leaves' .grad it computed (the intermediates' are gone)
            norm_of = {id(x): float(np.linalg.norm(x.grad.numpy())) for x in g.tensors
                       if x.node is None and x.grad is not None}
            norm_of[id(t)] = 1.0
        else:
            grad_of = _run_backward([t], [np.ones_like(t.data)], retain_graph=True, create_graph=False,
                                    accumulate=False)
            norm_of = {k: float(np.linalg.norm(np.asarray(v, dtype=np.float64))) for k, v in grad_of.items()}
    dot = _new_graph("autonp", rankdir, title)
    if summary:
        _draw_summary(dot, g, norm_of)
    else:
        _draw_full(dot, g, values, norm_of)
    if grads:
        _legend(dot)
        if g.freed and any(x.node is not None and x is not t for x in g.tensors):
            note = ("intermediate gradients were freed by backward(): draw before it, or call "
                    "backward(retain_graph=True), to see them")
            dot.attr(label=_text(f"{title}\n{note}" if title else note), fontsize="10")
    return dot


def _tensor_attrs(t: Tensor, root: Tensor, values: bool, norm_of: dict, tooltip: str | None = None) -> dict:
    norm = norm_of.get(id(t))
    seed = t is root and bool(norm_of)
    if seed:  # ‖∂loss/∂loss‖ = 1 says nothing about the network: not coloured on the vanishing/exploding scale
        fill = _SEED
    elif norm is not None:
        fill = grad_colour(norm)
    else:
        fill = _PARAM if (t.node is None and t.requires_grad) else (_CONST if not t.requires_grad else _INTER)
    attrs = {"label": _text(_tensor_label(t, values, norm, seed)), "shape": "ellipse", "style": "filled",
             "fillcolor": fill, "tooltip": _text(_tensor_tooltip(t, norm) if tooltip is None else tooltip)}
    if t.node is None and t.requires_grad:
        attrs.update(penwidth="2", color="#1c4fa0")
    if t is root:
        attrs.update(peripheries="2")
    return attrs


def _draw_full(dot, g: _Graph, values: bool, norm_of: dict) -> None:
    placed: list[tuple[tuple, str, dict]] = []
    drawn_consts: set[int] = set()
    const_id = 0
    for t in g.tensors:
        placed.append((_entry(g.scope_of(t)), f"t{id(t)}", _tensor_attrs(t, g.root, values, norm_of)))
        node = t.node
        if node is None:
            continue
        op = f"op{id(t)}"
        placed.append((_entry(node.scope), op, _op_attrs(node, _op_tooltip(node))))
        dot.edge(op, f"t{id(t)}")
        for a in node.args:
            if isinstance(a, Tensor):
                if not a.requires_grad and id(a) not in drawn_consts:  # a constant Tensor input
                    drawn_consts.add(id(a))
                    placed.append((_entry(node.scope), f"t{id(a)}", _tensor_attrs(a, g.root, values, norm_of)))
                dot.edge(f"t{id(a)}", op)
            elif isinstance(a, np.ndarray):  # a raw array argument: drawn as a constant
                const_id += 1
                cid = f"c{const_id}"
                placed.append((_entry(node.scope), cid, _array_attrs(a)))
                dot.edge(cid, op)
    by_scope: dict[tuple, list] = defaultdict(list)
    for scope, name, attrs in placed:
        by_scope[scope].append((name, attrs))
    for name, attrs in by_scope.pop((), []):
        dot.node(name, **attrs)
    _emit_clusters(dot, by_scope)


def _op_attrs(node: Node, tooltip: str) -> dict:
    return {"label": _text(_op_label(node)), "shape": "box", "style": "rounded,filled", "fillcolor": _OP,
            "tooltip": _text(tooltip)}


def _array_attrs(a: np.ndarray, tooltip: str | None = None) -> dict:
    """A plain array argument of an op: drawn as a constant."""
    attrs = {"label": f"const\n{_dims(a.shape)} {a.dtype}", "shape": "ellipse", "style": "filled,dashed",
             "fillcolor": _CONST}
    if tooltip is not None:
        attrs["tooltip"] = _text(tooltip)
    return attrs


def _entry(scope: tuple) -> tuple:
    """A scope with which entry into it each level was: the 25 steps of an unrolled RNN are 25 clusters
    (dot lays those out in a fraction of a second; one cluster holding all of them took it 75 s)."""
    return tuple((str(s), getattr(s, "entry", 0)) for s in scope)


def _emit_clusters(dot, by_scope: dict[tuple, list]) -> None:
    """Nested clusters: scope ("block", "attn") sits inside cluster ("block",)."""
    paths = sorted({p[:i] for p in by_scope for i in range(1, len(p) + 1)})
    children: dict[tuple, list[tuple]] = defaultdict(list)
    for p in paths:
        children[p[:-1]].append(p)

    ids = {p: f"cluster_{i}" for i, p in enumerate(paths)}  # by position: "a b" and "a_b" stay two clusters

    def emit(parent, path):
        with parent.subgraph(name=ids[path]) as sub:
            sub.attr(label=_text("/".join(name for name, _ in path)), style="rounded,dashed", color="#868e96",
                     fontcolor="#495057")
            for name, attrs in by_scope.get(path, []):
                sub.node(name, **attrs)
            for child in children.get(path, []):
                emit(sub, child)

    for top in children.get((), []):
        emit(dot, top)


# --------------------------------------------------------------------------- summary view

def _draw_summary(dot, g: _Graph, norm_of: dict) -> None:
    """One node per top-level scope; runs of consecutive scopes (or unscoped ops) doing the same
    ops, each feeding only the next, merge into one '×N' node. Parameters and the root stay."""
    group_of: dict[int, str] = {}     # id(tensor) -> group key
    groups: dict[str, dict] = {}
    for t in g.tensors:
        if t.node is None:
            continue
        scope = t.node.scope
        key = f"s:{scope[0]}#{getattr(scope[0], 'entry', 0)}" if scope else f"o:{id(t)}"  # one per entry
        grp = groups.setdefault(key, {"label": scope[0] if scope else None, "ops": [], "members": []})
        grp["ops"].append(t.node.prim.name)
        grp["members"].append(t)
        group_of[id(t)] = key
    # group-level edges
    succ: dict[str, set] = defaultdict(set)
    pred: dict[str, set] = defaultdict(set)
    for t in g.tensors:
        if t.node is None:
            continue
        k = group_of[id(t)]
        for a in t.node.inputs():
            ka = group_of.get(id(a))
            if ka is not None and ka != k:
                succ[ka].add(k)
                pred[k].add(ka)
    # merge chains of groups with the same op signature
    order = list(dict.fromkeys(group_of[id(t)] for t in g.tensors if t.node is not None))
    merged: dict[str, str] = {}
    runs: list[list[str]] = []
    for k in order:
        ps = pred.get(k, set())
        if len(ps) == 1:
            p = next(iter(ps))
            rp = merged.get(p)
            if (rp is not None and succ.get(p) == {k} and groups[p]["ops"] == groups[k]["ops"]
                    and runs[int(rp)][-1] == p):
                runs[int(rp)].append(k)
                merged[k] = rp
                continue
        merged[k] = str(len(runs))
        runs.append([k])
    root_run = merged[group_of[id(g.root)]] if g.root.node is not None else None
    for i, run in enumerate(runs):
        first = groups[run[0]]
        ops = _compress(first["ops"])
        sig = "→".join(ops if len(ops) <= 4 else ops[:2] + ["…"] + ops[-1:])  # short enough to read in a box
        if first["label"] is not None:
            last = groups[run[-1]]["label"]
            names = first["label"] if len(run) == 1 or last == first["label"] else f"{first['label']} … {last}"
        else:
            names = None
        count = f"{len(run)}× " if len(run) > 1 else ""
        n_ops = sum(len(groups[k]["ops"]) for k in run)
        each = f" ({len(first['ops'])} each)" if len(run) > 1 else ""
        label = "\n".join(x for x in (names, f"{count}{sig}", f"{n_ops} ops{each}") if x)
        attrs = {"label": label, "shape": "box3d" if len(run) > 1 else "box", "style": "filled",
                 "fillcolor": _OP, "tooltip": _text("→".join(ops))}  # every op, on hover
        if str(i) == root_run:
            out = g.root
            if id(out) in norm_of:
                attrs["fillcolor"] = _SEED
            attrs["peripheries"] = "2"
            attrs["label"] += "\n→ " + _tensor_label(out, False, norm_of.get(id(out)),
                                                     seed=id(out) in norm_of).replace("\n", " ")
        attrs["label"] = _text(attrs["label"])
        dot.node(f"r{i}", **attrs)
    edges = set()
    params: dict[str, dict[int, Tensor]] = defaultdict(dict)   # run -> its parameters
    carried: dict[str, set[str]] = defaultdict(set)            # run -> what one repeat hands the next
    for t in g.tensors:
        if t.node is None:
            continue
        dst = merged[group_of[id(t)]]
        for a in t.node.inputs():
            if a.node is None:
                if a.requires_grad:  # parameters stay visible; constants are folded away
                    params[dst][id(a)] = a
                continue
            src = merged[group_of[id(a)]]
            if src != dst:
                edges.add((f"r{src}", f"r{dst}"))
            elif group_of[id(a)] != group_of[id(t)]:  # from one repeat of the block to the next
                carried[dst].add(a.name or _shape_text(a, dtype=False))
    for run, ps in params.items():
        if len(runs[int(run)]) == 1 or len(ps) <= 6:  # drawn one by one; a shared one once for all repeats
            for a in ps.values():
                dot.node(f"t{id(a)}", **_tensor_attrs(a, g.root, False, norm_of))
                edges.add((f"t{id(a)}", f"r{run}"))
        else:                          # many: one node for all the block's parameters
            dot.node(f"p{run}", **_param_group_attrs(list(ps.values()), norm_of))
            edges.add((f"p{run}", f"r{run}"))
    for e in sorted(edges):
        dot.edge(*e)
    for run, names in sorted(carried.items()):  # a recurrence (one scope entered again and again) feeds itself
        members = runs[int(run)]
        if groups[members[0]]["label"] != groups[members[-1]]["label"]:
            continue  # a stack of differently named layers: the edges between them are its depth, not a loop
        label = ", ".join(sorted(names)[:3]) + (" …" if len(names) > 3 else "")
        dot.edge(f"r{run}", f"r{run}", label=_text(f"next step: {label}"), style="bold", color="#1c4fa0",
                 fontcolor="#1c4fa0", fontsize="9")


def _dims(shape: tuple) -> str:
    return "×".join(str(n) for n in shape) or "scalar"


def _shape_text(t: Tensor, dtype: bool = True) -> str:
    """'784×5 float64' (also after backward() freed the values: the tape entry kept them)."""
    meta = (t._arr.shape, t._arr.dtype) if t._arr is not None else freed_meta(t)
    if meta is None:
        return "shape unknown"
    return f"{_dims(meta[0])} {meta[1]}" if dtype else _dims(meta[0])


def _param_group_attrs(ps: list[Tensor], norm_of: dict) -> dict:
    names = [p.name or "?" for p in ps]
    label = [f"{len(ps)} parameters", f"{names[0]} … {names[-1]}",
             f"{sum(p.size for p in ps)} values"]
    attrs = {"shape": "ellipse", "style": "filled", "fillcolor": _PARAM, "penwidth": "2", "color": "#1c4fa0"}
    if norm_of:
        norms = [norm_of[id(p)] for p in ps if id(p) in norm_of]
        if norms:
            label.append(f"∇ ‖g‖ {_fmt(min(norms))} … {_fmt(max(norms))}")
            attrs["fillcolor"] = grad_colour(min(norms))
    attrs["label"] = _text("\n".join(label))
    return attrs


def _compress(ops: list[str]) -> list[str]:
    """['mul', 'mul', 'mul', 'add'] -> ['mul×3', 'add']."""
    out: list[str] = []
    for op in ops:
        if out and out[-1].split("×")[0] == op:
            name, _, n = out[-1].partition("×")
            out[-1] = f"{name}×{int(n or 1) + 1}"
        else:
            out.append(op)
    return out


def _legend(dot) -> None:
    with dot.subgraph(name="cluster_legend") as leg:
        leg.attr(label="gradient norm", style="rounded", color="#adb5bd", fontsize="10")
        prev = None
        for v in (1e-8, 1e-5, 1e-2, 1, 1e2, 1e4):
            name = f"legend{v:g}"
            leg.node(name, label=f"{v:g}", shape="box", style="filled", fillcolor=grad_colour(v), fontsize="9",
                     height="0.25", width="0.5")
            if prev:
                leg.edge(prev, name, style="invis")
            prev = name


def to_dot(t: Tensor, **kwargs: Any) -> str:
    """The DOT source of ``draw(t, **kwargs)`` (needs no ``dot`` program)."""
    return draw(t, **kwargs).source


MAX_RENDER_OPS = 3000  # above this, dot takes more than ~10 s (a 10k-op chain: ~26 s; 20k: dot crashed)


def render(t: Tensor | Any, path: str | os.PathLike, format: str = "png", *, force: bool = False,
           **kwargs: Any) -> str:
    """Draw ``t`` (or render a Digraph) to ``path`` + ``.format`` with the ``dot`` program; returns the file.

    A graph of more than ``MAX_RENDER_OPS`` ops is drawn as its summary instead, with a warning (pass
    ``force=True`` to insist). The picture is written under a temporary name and moved into place, so a
    failed or interrupted ``dot`` never leaves half a file.
    """
    if isinstance(t, Tensor) and not kwargs.get("summary") and not force:
        n_ops = sum(1 for x in _toposort([t]) if x.node is not None)
        if n_ops > MAX_RENDER_OPS:
            warnings.warn(f"render: the graph has {n_ops} ops (> MAX_RENDER_OPS = {MAX_RENDER_OPS}), which dot "
                          f"would take minutes to lay out; drawing summary=True instead (force=True to insist)",
                          stacklevel=2)
            kwargs["summary"] = True
    dot = t if not isinstance(t, Tensor) else draw(t, **kwargs)
    if shutil.which("dot") is None:
        raise GraphvizMissing(f"rendering to {format} needs the `dot` program, which is not on PATH: "
                              f"{INSTALL_HINT}. to_dot() still gives the DOT source.")
    path = os.fspath(path)
    if path.endswith("." + format):
        path = path[: -len(format) - 1]
    final = f"{path}.{format}"
    os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)  # render("out/graphs/step1") just works
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(final))) as tmp:
        made = dot.render(os.path.join(tmp, "graph"), format=format, cleanup=True)
        os.replace(made, final)
    return final


from .explorer import explore  # noqa: E402  (the explorer draws with the helpers above)
