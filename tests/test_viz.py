"""Graph pictures, rendered with the real `dot` program, checked against a network whose graph we know."""
import os
import re
import shutil
import time

import numpy as np
import pytest

import autonp as anp
from conftest import REPO

viz = pytest.importorskip("autonp.viz")
pytest.importorskip("graphviz")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` program not installed")


def blog_loss(m=8):
    rng = np.random.default_rng(0)
    X = anp.Tensor(rng.random((m, 784)), name="X")
    Y = np.eye(10)[rng.integers(0, 10, m)]
    W1 = anp.Tensor(rng.normal(0, 0.01, (784, 5)), requires_grad=True, name="W1")
    b1 = anp.Tensor(np.zeros((1, 5)), requires_grad=True, name="b1")
    W2 = anp.Tensor(rng.normal(0, 0.01, (5, 10)), requires_grad=True, name="W2")
    b2 = anp.Tensor(np.zeros((1, 10)), requires_grad=True, name="b2")
    with anp.name_scope("hidden"):
        a1 = anp.sigmoid(X @ W1 + b1)
    with anp.name_scope("output"):
        a2 = anp.softmax(a1 @ W2 + b2, axis=1)
    loss = -anp.sum(Y * anp.log(a2)) / m
    loss.name = "loss"
    return loss


# The blog network's graph, counted by hand: 10 ops (matmul add sigmoid matmul add log_softmax mul sum
# neg div), 15 tensors (X W1 b1 W2 b2 + one output per op), 1 raw constant (Y): 26 nodes.
# Edges: inputs 2+2+1+2+2+1+2+1+1+1 = 15, outputs 10: 25.
OPS = ["matmul", "add", "sigmoid", "matmul", "add", "log_softmax", "mul", "sum", "neg", "div"]


def svg_nodes(svg: str) -> list[str]:
    return re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>', svg)


@needs_dot
def test_svg_of_blog_network_matches_the_recorded_computation():
    dot = viz.draw(blog_loss())
    svg = dot.pipe(format="svg").decode()
    titles = svg_nodes(svg)
    assert len(titles) == 26
    assert len(re.findall(r'class="edge"', svg)) == 25
    assert sum(t.startswith("op") for t in titles) == 10 and sum(t.startswith("t") for t in titles) == 15
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    ops = [t.split("\n")[0] for t in texts if t in OPS or t == "log_softmax"]
    assert sorted(ops) == sorted(OPS)
    for label in ["W1", "784×5 float64", "b2", "1×10 float64", "X", "8×784 float64", "loss", "hidden", "output",
                  "(axis=1)", "(8)"]:
        assert label in texts, label
    assert 'id="clust' in svg and svg.count('class="cluster"') == 2


def test_dot_source_marks_parameters_constants_and_root():
    src = viz.to_dot(blog_loss(), values=True)
    assert src.count('fillcolor="#cfe2ff"') == 4  # W1 b1 W2 b2
    assert "label=hidden" in src and "label=output" in src and src.count("subgraph cluster_") == 2
    assert "peripheries=2" in src and "min " in src and "mean " in src


def test_backward_view_shows_gradient_norms_that_match_backward():
    loss = blog_loss()
    src = viz.to_dot(loss, grads=True)
    W1 = next(e.inputs[1] for e in anp.tape(loss) if e.op == "matmul")
    loss.backward()
    norm = np.linalg.norm(W1.grad.numpy())
    assert f"‖g‖={norm:.3g}" in src
    assert "gradient norm" in src  # the legend


def test_gradient_colour_scale_separates_vanishing_from_exploding():
    small, mid, big = viz.grad_colour(1e-12), viz.grad_colour(1e-2), viz.grad_colour(1e6)
    assert small.startswith("#31") and mid == "#ffffff" and big.endswith("4848")


def deep_net(layers=100):
    rng = np.random.default_rng(0)
    h = anp.Tensor(rng.random((4, 8)))
    for i in range(layers):
        with anp.name_scope(f"layer{i}"):
            W = anp.Tensor(rng.normal(0, 0.3, (8, 8)), requires_grad=True, name=f"W{i}")
            h = anp.relu(h @ W + 0.1)
    return h.sum()


@needs_dot
def test_summary_of_deep_graph_is_far_smaller_and_names_the_repeat():
    loss = deep_net()
    full, summary = viz.draw(loss), viz.draw(loss, summary=True, grads=True)
    n_full = len(svg_nodes(full.pipe(format="svg").decode()))
    n_sum = len(svg_nodes(summary.pipe(format="svg").decode()))
    assert n_full > 600 and n_sum <= 10
    assert "layer0 … layer99" in summary.source and "100× matmul→add→relu" in summary.source
    assert "100 parameters" in summary.source


@needs_dot
def test_10k_op_graph_renders_in_seconds(tmp_path):
    x = anp.Tensor(1.0, requires_grad=True, name="x")
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    start = time.perf_counter()
    src = viz.to_dot(y)
    out = viz.render(y, str(tmp_path / "chain"), format="svg", summary=True)
    elapsed = time.perf_counter() - start
    assert src.count("->") == 20_000 and "10000× mul" in open(out).read()
    assert elapsed < 10


@needs_dot
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_render_formats(tmp_path, fmt):
    out = viz.render(blog_loss(), str(tmp_path / "g"), format=fmt)
    head = open(out, "rb").read(8)
    assert {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}[fmt] in head


def test_render_without_dot_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(viz.GraphvizMissing, match="apt-get install graphviz"):
        viz.render(blog_loss(), str(tmp_path / "g"))
    assert "digraph" in viz.to_dot(blog_loss())  # the source still works


def test_draw_after_backward_shows_the_structure_and_the_leaves_gradients():
    """Backward frees the saved values, not the structure: the picture after backward has the same ops
    and edges as before, and the backward view shows the norms of the .grad it just computed."""
    before = viz.to_dot(blog_loss())
    loss = blog_loss()
    loss.backward()
    after = viz.draw(loss)
    assert after.source.count("->") == before.count("->") == 25
    for op in set(OPS):
        assert after.source.count(f"label={op}") + after.source.count(f'label="{op}') == \
            before.count(f"label={op}") + before.count(f'label="{op}')
    grads = viz.draw(loss, grads=True).source
    W1 = next(t for t in anp.tape(loss)[0].inputs if t.name == "W1")
    assert f"‖g‖={float(np.linalg.norm(W1.grad.numpy())):.3g}" in grads
    assert "(values freed)" in grads  # the intermediates' values are gone; their place is not
    entries = anp.tape(loss)          # the tape still lists the ops
    assert [e.op for e in entries] == OPS


def test_jupyter_display_hook():
    assert hasattr(viz.draw(blog_loss()), "_repr_mimebundle_")


@needs_dot
def test_hostile_strings_render_to_valid_svg(tmp_path):
    """Names and scopes with quotes, <b>, &, backslashes, \\N and control characters; a Path target."""
    import xml.etree.ElementTree as ET
    x = anp.Tensor(np.ones(2), requires_grad=True, name='x"<b>&\\\\N\x01end\\')
    with anp.name_scope("a b"):
        y = x * 2
    with anp.name_scope("a_b"):
        z = anp.sum(y * y)
    out = viz.render(z, tmp_path / "hostile", format="svg", title="<b>title</b> & more")
    root = ET.parse(out).getroot()  # parses: valid XML
    text = "".join(root.itertext())
    assert "<b>title</b> & more" in text and 'x"<b>&' in text and "end\\" in text
    assert viz.to_dot(z).count("subgraph cluster_") == 2  # "a b" and "a_b" stay two clusters
    titles = [el.text for el in root.iter("{http://www.w3.org/2000/svg}title")]
    assert titles
    assert any("built at" in (a.get("{http://www.w3.org/1999/xlink}title") or "") for a in root.iter())


@needs_dot
def test_render_of_a_huge_graph_draws_the_summary_and_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(viz, "MAX_RENDER_OPS", 50)
    x = anp.Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(100):
        y = y * 1.01
    with pytest.warns(UserWarning, match=r"101 ops .*summary=True"):
        out = viz.render(anp.sum(y), str(tmp_path / "big"), format="svg")
    assert out.endswith("big.svg") and "×" in open(out).read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.svg"]


@needs_dot
def test_an_unrolled_rnn_reads_as_one_repeated_step_with_its_recurrence(tmp_path):
    """min-char-rnn, 25 steps in name_scope("step"): the summary is the 5 shared parameters, once, and
    one "25× step" block with a loop for h_t → h_t+1; it renders fast and fits a screen."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("rnn_graph", REPO / "examples" / "rnn_graph.py")
    rnn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rnn)
    loss, params = rnn.make()
    n_ops = len(anp.tape(loss))
    summary = viz.draw(loss, summary=True, rankdir="LR")
    svg = summary.pipe(format="svg").decode()
    assert n_ops == 275 and len(svg_nodes(svg)) == 6  # the full picture has 275 ops + their tensors
    src = summary.source
    assert "25× matmul×2→add×2→…→sub" in src and "matmul×2→add×2→tanh→" in src  # all ops on hover
    assert "275 ops (11 each)" in src and "next step: h, loss" in src
    for p in params:
        assert src.count(f"t{id(p)} [") == 1  # each shared parameter drawn once
    result = rnn.main(["--out", str(tmp_path)])
    assert result["seconds"] < 5
    width, height = (float(v) for v in re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"',
                                                   open(result["svg"]).read()).groups())
    assert width < 1600 and height < 1200, (width, height)


def test_render_makes_missing_directories(tmp_path):
    out = viz.render(blog_loss(), str(tmp_path / "new" / "deeper" / "g"), format="svg")
    assert out == str(tmp_path / "new" / "deeper" / "g.svg") and os.path.getsize(out) > 0


def test_pictures_and_the_tape_keep_every_shape_after_backward():
    """After backward() freed an intermediate's values, the picture and the tape still say its shape and
    dtype (shapes read off the network written here: m=8 rows, 5 hidden, 10 classes)."""
    loss = blog_loss()
    loss.backward()
    src = viz.to_dot(loss)
    assert "8×5 float64" in src and "8×10 float64" in src and "shape unknown" not in src
    table = str(anp.tape(loss))
    assert "(8, 5) float64" in table and "(8, 10) float64" in table
    assert "freed" not in table


def test_the_loss_is_drawn_as_the_seed_not_on_the_exploding_scale():
    loss = blog_loss()
    src = viz.to_dot(loss, grads=True)
    root = [line for line in src.splitlines() if "peripheries=2" in line][0]
    assert "the seed" in root and viz._SEED in root and viz.grad_colour(1.0) == "#ffffff"
    assert viz.grad_colour(1.58) == "#ffffff"                    # a healthy gradient is not pink
    assert viz.grad_colour(1e3) != "#ffffff" and viz.grad_colour(1e-5) != "#ffffff"


def test_drawing_grads_after_backward_says_where_the_intermediate_gradients_went():
    loss = blog_loss()
    loss.backward()
    assert "backward(retain_graph=True)" in viz.to_dot(loss, grads=True)
    kept = blog_loss()
    kept.backward(retain_graph=True)
    src = viz.to_dot(kept, grads=True)
    assert "retain_graph" not in src and src.count("‖g‖=") >= 10  # every tensor's gradient is drawn


def test_the_tape_prints_as_a_table_with_the_users_lines():
    W = anp.Tensor(np.ones((3, 2)), requires_grad=True, name="W")
    loss = anp.sum(anp.tanh(np.ones((4, 3)) @ W) ** 2)  # the line the table must name
    lines = str(anp.tape(loss)).splitlines()
    assert lines[0].split() == ["#", "op", "inputs", "output", "built", "at"]
    assert [line.split()[1] for line in lines[1:5]] == ["matmul", "tanh", "pow", "sum"]
    assert "W:(3, 2) float64" in lines[1] and "const(4, 3) float64" in lines[1]
    assert all("loss = anp.sum(anp.tanh(" in line for line in lines[1:5])
    assert lines[-1] == "(4 ops)"
    assert repr(anp.tape(loss)[0]).startswith("matmul(")  # not a dataclass's wall of reprs
