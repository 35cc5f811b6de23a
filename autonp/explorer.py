"""``explore(loss, path)``: one self-contained HTML page to look around a recorded graph and to step
through its backward pass.

The page holds the graph (laid out by graphviz's ``dot`` as inline SVG), the values and gradients of
every tensor (shape, dtype, min/mean/max, norm, the first entries), and the VJPs in the order the
engine ran them: each step highlights one op and shows ∂loss/∂(its output) coming in and the gradient
it passes to each input. Nothing is fetched when the page is opened (no scripts, fonts or styles from
the network), so it can be mailed, committed or opened offline.
"""
from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from typing import Any

import numpy as np

from .tensor import Tensor, _run_backward, format_site
from .viz import (
    _SEED,
    _array_attrs,
    _emit_clusters,
    _entry,
    _Graph,
    _new_graph,
    _op_attrs,
    _shape_text,
    _tensor_attrs,
    grad_colour,
)

__all__ = ["explore"]

PREVIEW = 12  # entries of a large array shown; arrays up to 3 × PREVIEW entries are shown whole


def _summary(a: Any) -> dict:
    """What the page shows of an array: shape, dtype, min/mean/max, 2-norm and the first entries."""
    a = np.asarray(a)
    d = np.asarray(a, dtype=np.float64) if a.dtype.kind in "biuf" else None
    out: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype), "size": int(a.size)}
    if d is not None and d.size:
        out.update(min=float(d.min()), mean=float(d.mean()), max=float(d.max()), norm=float(np.linalg.norm(d)))
    elif a.dtype.kind == "c" and a.size:  # complex values (HIPS's convention): no order, a size
        out.update(norm=float(np.linalg.norm(a)))
    with np.printoptions(formatter={"float_kind": lambda v: f"{v:.5g}"}, threshold=10 ** 6, linewidth=56):
        if a.size <= 3 * PREVIEW:
            out["preview"] = np.array2string(a, separator=", ")
        else:
            first = np.array2string(a.ravel()[:PREVIEW], separator=", ")
            out["preview"] = f"first {PREVIEW} of {a.size} (row-major): {first}"
    return out


def _site(site: tuple[str, int] | None) -> str:
    """``train.py:12: z = x @ w``: the file's name, not the whole path (the page may be shared)."""
    text = format_site(site)
    return text if site is None else os.path.basename(site[0]) + text[len(site[0]):]


def _finite(x: Any) -> Any:
    """JSON has no NaN or Infinity: say them as strings."""
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def explore(t: Tensor, path: str | os.PathLike, *, title: str | None = None) -> str:
    """Write ``path`` (``.html`` added if missing): the graph of ``t``, every node's values and gradient on
    click (a tooltip on hover), and a step control that walks the backward pass op by op, in the order
    the engine runs the VJPs. ``t`` must be a scalar that requires grad, with its graph not yet freed by
    ``backward()`` (explore before it, or after ``backward(retain_graph=True)``). Needs graphviz's ``dot``.
    Returns the file written."""
    if not isinstance(t, Tensor) or not t.requires_grad:
        raise TypeError("explore: needs a Tensor that requires grad (a loss built from parameters)")
    if t.size != 1:
        raise ValueError(f"explore: needs a scalar (a loss); got shape {t.shape}")
    g = _Graph(t)
    if g.freed:
        raise RuntimeError("explore: backward() already freed this graph's values, which the page shows and "
                           "steps through; call explore before backward(), or backward(retain_graph=True)")
    steps: list = []
    grad_of = _run_backward([t], [np.ones_like(t.data)], retain_graph=True, create_graph=False,
                            accumulate=False, steps=steps)
    page = _Page(g, grad_of, steps)
    svg = page.svg(title)
    doc = _HTML.format(title=html.escape(title or "autonp: explore the graph and its backward pass"),
                       css=_CSS, svg=svg, js=_JS,
                       data=json.dumps(_finite(page.data), allow_nan=False).replace("</", "<\\/"))
    path = os.fspath(path)
    if not path.endswith((".html", ".htm")):
        path += ".html"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(doc)
    os.replace(tmp, path)
    return path


class _Page:
    """The graph's nodes under stable ids (t0…, o0…, c0…) and what the page shows of each."""

    def __init__(self, g: _Graph, grad_of: dict, steps: list):
        self.g = g
        self.ids: dict[int, str] = {}
        self.tensors: list[Tensor] = []
        for x in g.tensors:
            self._add(x)
            if x.node is not None:
                for a in x.node.args:
                    if isinstance(a, Tensor):
                        self._add(a)  # constant Tensor inputs are not in the toposort
        nodes: dict[str, dict] = {}
        for x in self.tensors:
            tid = self.ids[id(x)]
            kind = ("root" if x is g.root else "parameter" if x.node is None and x.requires_grad
                    else "constant" if not x.requires_grad else "intermediate")
            info = {"kind": kind, "label": x.name or "", "values": _summary(x._arr)}
            if id(x) in grad_of:
                info["grad"] = _summary(grad_of[id(x)])
            if x.node is not None:
                info["op"] = "o" + tid[1:]
                info["site"] = _site(x.node.site)
            nodes[tid] = info
        self.consts: list[tuple[str, str, np.ndarray]] = []  # (const id, op id, array)
        for x in g.tensors:
            if x.node is None:
                continue
            oid = "o" + self.ids[id(x)][1:]
            node = x.node
            inputs = []
            for i, a in enumerate(node.args):
                if isinstance(a, Tensor):
                    inputs.append({"arg": i, "id": self.ids[id(a)]})
                elif isinstance(a, np.ndarray):
                    cid = f"c{len(self.consts)}"
                    self.consts.append((cid, oid, a))
                    nodes[cid] = {"kind": "constant", "label": "const", "values": _summary(a)}
                    inputs.append({"arg": i, "id": cid})
            nodes[oid] = {"kind": "op", "label": node.prim.name, "site": _site(node.site),
                          "scope": "/".join(node.scope), "inputs": inputs, "output": self.ids[id(x)]}
        walk: list[dict] = []
        for node, out, g_out, i, a, gi in steps:
            oid = "o" + self.ids[id(out)][1:]
            to = self.ids.get(id(a)) or self.ids[id(node.args[i])]
            if not walk or walk[-1]["op"] != oid:
                walk.append({"op": oid, "name": node.prim.name, "output": self.ids[id(out)],
                             "incoming": _summary(g_out), "passes": []})
            walk[-1]["passes"].append({"arg": i, "to": to, "grad": _summary(gi)})
        self.data = {"nodes": nodes, "steps": walk,
                     "colours": {tid: grad_colour(info["grad"].get("norm", 0.0))
                                 for tid, info in nodes.items() if "grad" in info and info["kind"] != "root"}}

    def _add(self, x: Tensor) -> None:
        if id(x) not in self.ids:
            self.ids[id(x)] = f"t{len(self.tensors)}"
            self.tensors.append(x)

    def svg(self, title: str | None) -> str:
        """The graph laid out by dot, every node and edge with the id the page's data and script use."""
        dot = _new_graph("explore", "TB", title, bgcolor="transparent")
        by_scope: dict[tuple, list] = defaultdict(list)
        for x in self.tensors:
            tid = self.ids[id(x)]
            hover = f"{x.name or self.data['nodes'][tid]['kind']}: {_shape_text(x)} (click for values and gradient)"
            attrs = _tensor_attrs(x, self.g.root, False, {}, tooltip=hover)
            attrs["id"] = tid
            if x is self.g.root:
                attrs["fillcolor"] = _SEED  # where backward starts
            by_scope[_entry(self.g.scope_of(x))].append((tid, attrs))
            if x.node is not None:
                oid = "o" + tid[1:]
                attrs = _op_attrs(x.node, f"{x.node.prim.name}, built at {format_site(x.node.site)}")
                by_scope[_entry(x.node.scope)].append((oid, {**attrs, "id": oid}))
                dot.edge(oid, tid, id=f"e_{oid}_{tid}")
                for a in x.node.args:
                    if isinstance(a, Tensor):
                        aid = self.ids[id(a)]
                        dot.edge(aid, oid, id=f"e_{aid}_{oid}")
        for cid, oid, a in self.consts:
            dot.node(cid, id=cid, **_array_attrs(a, "a plain array argument (click for its values)"))
            dot.edge(cid, oid, id=f"e_{cid}_{oid}")
        for name, attrs in by_scope.pop((), []):
            dot.node(name, **attrs)
        _emit_clusters(dot, by_scope)
        svg = dot.pipe(format="svg", encoding="utf-8")
        return svg[svg.index("<svg"):]  # without the XML prolog and doctype: inline in the page


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
<script>window.__errors = []; window.addEventListener("error", (e) => window.__errors.push(String(e.message)));</script>
</head>
<body>
<header>
  <h1>{title}</h1>
  <div id="controls">
    <button id="reset" title="back to the forward graph">&#x21BA; reset</button>
    <button id="prev" title="one VJP back">&#x25C0; back</button>
    <button id="next" title="run the next VJP">step &#x25B6;</button>
    <button id="play" title="step through the whole backward pass">play</button>
    <button id="fit" title="the whole graph in the window, or its natural size">fit / zoom</button>
    <span id="status"></span>
  </div>
</header>
<main>
  <div id="graph">{svg}</div>
  <aside id="panel">
    <section id="step"></section>
    <section id="details"><p class="hint">Click a node to see its values and its gradient ∂loss/∂node.
    Press <b>step</b> (or the right arrow key) to run the backward pass one op at a time.</p></section>
  </aside>
</main>
<script id="data" type="application/json">{data}</script>
<script>{js}</script>
</body>
</html>
"""

_CSS = """
body { margin: 0; font: 14px/1.4 Helvetica, Arial, sans-serif; color: #212529; }
header { padding: 8px 16px; border-bottom: 1px solid #dee2e6; background: #f8f9fa; }
h1 { font-size: 17px; margin: 0 0 6px 0; }
button { font-size: 14px; padding: 3px 10px; margin-right: 4px; }
#status { margin-left: 12px; font-weight: bold; }
main { display: flex; height: calc(100vh - 80px); }
#graph { flex: 1 1 60%; overflow: auto; padding: 8px; }
#graph.fit svg { max-width: 100%; height: auto; }
#panel { flex: 0 0 40%; max-width: 560px; overflow: auto; border-left: 1px solid #dee2e6; padding: 8px 14px; }
#panel h2 { font-size: 15px; margin: 8px 0 4px 0; }
#panel h3 { font-size: 13px; margin: 8px 0 2px 0; }
pre { background: #f1f3f5; padding: 6px; white-space: pre; overflow-x: auto; font-size: 12px; margin: 2px 0; }
table.stats td { padding: 0 10px 0 0; font-size: 12px; }
.hint { color: #6c757d; }
g.node { cursor: pointer; }
g.node.selected ellipse, g.node.selected polygon, g.node.selected path { stroke: #000; stroke-width: 3px; }
g.node.current path, g.node.current polygon { fill: #ffa94d !important; stroke: #d9480f; stroke-width: 3px; }
g.node.receiving ellipse { stroke: #d9480f; stroke-width: 3px; stroke-dasharray: 4 2; }
g.node.source ellipse { stroke: #2b8a3e; stroke-width: 3px; }
g.edge.active > path { stroke: #d9480f; stroke-width: 3px; }
g.edge.active > polygon { stroke: #d9480f; fill: #d9480f; }
"""

_JS = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("data").textContent);
  const steps = D.steps;
  let done = 0, timer = null;
  const fmt = (x) => (typeof x === "number" ? x.toPrecision(6) : String(x));
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  const nodeEl = (id) => document.querySelector('#graph g.node[id="' + id + '"]');
  const edgeEl = (a, b) => document.querySelector('#graph g.edge[id="e_' + a + "_" + b + '"]');
  const name = (id) => {
    const n = D.nodes[id];
    const what = n.label || (n.op ? "output of " + D.nodes[n.op].label : n.kind);
    return what + " (" + id + ")";
  };

  function arrayBlock(title, s, cls) {
    if (!s) return "";
    let h = "<h3>" + esc(title) + "</h3><table class='stats'><tr><td>shape</td><td>(" + s.shape.join(", ") +
      ") " + esc(s.dtype) + "</td></tr>";
    if (s.norm !== undefined) {
      h += "<tr><td>norm</td><td class='" + cls + "-norm'>" + fmt(s.norm) + "</td></tr>" +
        "<tr><td>min / mean / max</td><td>" + fmt(s.min) + " / " + fmt(s.mean) + " / " + fmt(s.max) + "</td></tr>";
    }
    return h + "</table><pre class='" + cls + "-preview'>" + esc(s.preview) + "</pre>";
  }

  function showNode(id) {
    document.querySelectorAll("#graph g.node.selected").forEach((e) => e.classList.remove("selected"));
    const el = nodeEl(id);
    if (el) el.classList.add("selected");
    const n = D.nodes[id];
    let h = "<h2 class='node-title'>" + esc(name(id)) + "</h2><p>" + esc(n.kind) + "</p>";
    if (n.kind === "op") {
      h += "<p>built at <code>" + esc(n.site) + "</code>" + (n.scope ? "<br>scope " + esc(n.scope) : "") + "</p>";
      h += "<p>inputs: " + n.inputs.map((a) => esc(name(a.id))).join(", ") +
        "<br>output: " + esc(name(n.output)) + "</p>";
    } else {
      if (n.site) h += "<p>made by <b>" + esc(D.nodes[n.op].label) + "</b> at <code>" + esc(n.site) + "</code></p>";
      h += arrayBlock("values", n.values, "values");
      h += n.grad ? arrayBlock("gradient ∂loss/∂" + (n.label || id), n.grad, "grad")
                  : "<p class='hint'>no gradient flows here (a constant)</p>";
    }
    document.getElementById("details").innerHTML = h;
  }

  function paint() {
    document.querySelectorAll("#graph .current, #graph .receiving, #graph .source, #graph .active")
      .forEach((e) => e.classList.remove("current", "receiving", "source", "active"));
    const reached = new Set();
    for (let k = 0; k < done; k++) steps[k].passes.forEach((p) => reached.add(p.to));
    for (const id in D.colours) {
      const el = nodeEl(id);
      const shape = el && el.querySelector("ellipse");
      if (shape) shape.style.fill = reached.has(id) ? D.colours[id] : "";
    }
    const status = document.getElementById("status");
    const panel = document.getElementById("step");
    if (done === 0) {
      status.textContent = "forward graph — " + steps.length + " backward steps";
      panel.innerHTML = "";
      return;
    }
    const s = steps[done - 1];
    status.textContent = "step " + done + " of " + steps.length + ": backward of " + s.name;
    nodeEl(s.op).classList.add("current");
    nodeEl(s.op).scrollIntoView({block: "center", inline: "center"});
    nodeEl(s.output).classList.add("source");
    const e = edgeEl(s.op, s.output);
    if (e) e.classList.add("active");
    let h = "<h2>step <span class='step-index'>" + done + "</span> of " + steps.length +
      ": the VJP of <span class='step-op'>" + esc(s.name) + "</span> (" + esc(s.op) + ")</h2>" +
      "<p>built at <code>" + esc(D.nodes[s.op].site) + "</code></p>" +
      arrayBlock("incoming: ∂loss/∂" + (D.nodes[s.output].label || s.output), s.incoming, "incoming");
    s.passes.forEach((p) => {
      const el = nodeEl(p.to);
      if (el) el.classList.add("receiving");
      const edge = edgeEl(p.to, s.op);
      if (edge) edge.classList.add("active");
      h += "<div class='pass' data-to='" + esc(p.to) + "'>" +
        arrayBlock("passes to argument " + p.arg + ", " + name(p.to), p.grad, "pass") + "</div>";
    });
    panel.innerHTML = h;
  }

  function go(k) { done = Math.max(0, Math.min(steps.length, k)); paint(); }
  document.querySelectorAll("#graph g.node").forEach((g) => g.addEventListener("click", () => showNode(g.id)));
  document.getElementById("next").addEventListener("click", () => go(done + 1));
  document.getElementById("prev").addEventListener("click", () => go(done - 1));
  document.getElementById("reset").addEventListener("click", () => go(0));
  const graph = document.getElementById("graph");
  document.getElementById("fit").addEventListener("click", () => graph.classList.toggle("fit"));
  document.getElementById("play").addEventListener("click", () => {
    if (timer) { clearInterval(timer); timer = null; return; }
    if (done >= steps.length) go(0);
    timer = setInterval(() => {
      if (done >= steps.length) { clearInterval(timer); timer = null; } else go(done + 1);
    }, 700);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowRight") go(done + 1);
    if (ev.key === "ArrowLeft") go(done - 1);
  });
  go(0);
})();
"""
