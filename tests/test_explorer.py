"""viz.explore: the page is self-contained, and in a real browser (Debian's chromium, driven by selenium through
chromedriver) its nodes render, a click shows the gradient the blog's formulas give, and the step control
visits the ops in backward order. `make test` installs chromium and sets AUTONP_REQUIRE_TOOLS=1, so
there a missing browser fails the test instead of skipping it."""
import os
import re
import shutil
import sys

import numpy as np
import pytest

import autonp as anp
from conftest import REPO

pytest.importorskip("graphviz")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` program not installed")
pytestmark = needs_dot

M = 8


def blog_arrays(m=M):
    rng = np.random.default_rng(0)
    X = rng.random((m, 784))
    Y = np.eye(10)[rng.integers(0, 10, m)]
    W1 = rng.normal(0, 0.01, (784, 5))
    W2 = rng.normal(0, 0.01, (5, 10))
    return X, Y, W1, np.zeros((1, 5)), W2, np.zeros((1, 10))


def blog_loss():
    X, Y, W1, b1, W2, b2 = blog_arrays()
    W1, b1, W2, b2 = (anp.Tensor(a, requires_grad=True, name=n) for a, n in
                      zip((W1, b1, W2, b2), ("W1", "b1", "W2", "b2")))
    a1 = anp.sigmoid(anp.Tensor(X, name="X") @ W1 + b1)
    a2 = anp.softmax(a1 @ W2 + b2, axis=1)
    loss = -anp.sum(Y * anp.log(a2)) / M
    loss.name = "loss"
    return loss


def blog_formulas():
    """The post's hand-derived backward pass (categorical cross-entropy), in plain NumPy."""
    X, Y, W1, b1, W2, b2 = blog_arrays()
    a1 = 1 / (1 + np.exp(-(X @ W1 + b1)))
    z2 = a1 @ W2 + b2
    a2 = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    dz2 = (a2 - Y) / M
    dW2 = a1.T @ dz2
    dz1 = dz2 @ W2.T * a1 * (1 - a1)
    return {"W1": X.T @ dz1, "W2": dW2, "b1": dz1.sum(0, keepdims=True), "b2": dz2.sum(0, keepdims=True)}


# backward order of the blog network: its ops form one chain, so the only order is the tape reversed
BACKWARD = ["div", "neg", "sum", "mul", "log_softmax", "add", "matmul", "sigmoid", "add", "matmul"]


def test_the_page_is_one_self_contained_file(tmp_path):
    path = anp.viz.explore(blog_loss(), tmp_path / "sub" / "blog")
    assert path.endswith("blog.html") and os.path.exists(path)
    page = open(path, encoding="utf-8").read()
    assert "<svg" in page and '<script id="data"' in page
    for fetch in ("<script src", "<link", "@import", "url(", "<img", "<iframe"):
        assert fetch not in page, fetch  # nothing is fetched when the page opens
    assert not re.search(r'(src|href)="https?:', page)
    assert not os.path.exists(path + ".part")


def test_explore_refuses_what_it_cannot_show(tmp_path):
    loss = blog_loss()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        anp.viz.explore(loss, tmp_path / "x")
    W = anp.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="scalar"):
        anp.viz.explore(W * 2, tmp_path / "x")
    with pytest.raises(TypeError, match="requires grad"):
        anp.viz.explore(anp.Tensor(1.0), tmp_path / "x")
    kept = blog_loss()
    kept.backward(retain_graph=True)
    assert os.path.exists(anp.viz.explore(kept, tmp_path / "kept"))


# ------------------------------------------------------------------ in a real browser

@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("AUTONP_REQUIRE_TOOLS") == "1"
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if webdriver is None or not chromium or not driver:
        message = "needs selenium and Debian's chromium + chromium-driver (make test installs them)"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(driver), options=options)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def open_page(browser, path):
    browser.get("file://" + os.path.abspath(path))
    errors = browser.execute_script("return window.__errors || []")
    assert errors == []


def text(browser, css):
    from selenium.webdriver.common.by import By
    return browser.find_element(By.CSS_SELECTOR, css).text


def test_in_chromium_the_nodes_render_and_a_click_shows_the_gradient_of_the_formulas(browser, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(browser, anp.viz.explore(blog_loss(), tmp_path / "blog"))
    # counted by hand: 10 ops, 15 tensors (X W1 b1 W2 b2 + one per op), 1 plain array (Y)
    boxes = browser.execute_script(
        "return [...document.querySelectorAll('#graph g.node')].map(g => { const b = g.getBBox(); "
        "return [g.id, b.width, b.height]; })")
    assert len(boxes) == 26
    assert all(w > 20 and h > 10 for _, w, h in boxes)  # drawn, not empty groups
    expected = blog_formulas()
    for name in ("W1", "W2", "b2"):
        node = next(b[0] for b in boxes if browser.execute_script(
            f"return JSON.parse(document.getElementById('data').textContent).nodes['{b[0]}'].label") == name)
        browser.find_element(By.CSS_SELECTOR, f'#graph g.node[id="{node}"]').click()
        assert text(browser, "#details .node-title").startswith(name)
        shown = float(text(browser, "#details .grad-norm"))
        assert shown == pytest.approx(np.linalg.norm(expected[name]), rel=1e-5)
        preview = text(browser, "#details .grad-preview")
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]\d+)?", preview.split(":", 1)[-1])]
        np.testing.assert_allclose(numbers[:6], expected[name].ravel()[:6], rtol=1e-4, atol=1e-12)


def test_in_chromium_stepping_visits_the_ops_in_backward_order(browser, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(browser, anp.viz.explore(blog_loss(), tmp_path / "blog"))
    seen = []
    for k in range(1, len(BACKWARD) + 1):
        browser.find_element(By.ID, "next").click()
        assert text(browser, "#step .step-index") == str(k)
        seen.append(text(browser, "#step .step-op"))
        current = browser.find_elements(By.CSS_SELECTOR, "#graph g.node.current")
        assert len(current) == 1 and seen[-1] in current[0].text.split("\n")  # the op is highlighted
    assert seen == BACKWARD
    # the last step is the first layer's matmul: what it passes to W1 is the blog's dW1
    passes = browser.find_elements(By.CSS_SELECTOR, "#step .pass .pass-norm")
    norms = sorted(float(p.text) for p in passes)
    assert norms == pytest.approx([np.linalg.norm(blog_formulas()["W1"])], rel=1e-5)
    browser.find_element(By.ID, "next").click()  # past the end: stays on the last step
    assert text(browser, "#step .step-index") == str(len(BACKWARD))
    browser.find_element(By.ID, "prev").click()
    assert text(browser, "#step .step-op") == BACKWARD[-2]
    browser.find_element(By.ID, "reset").click()
    assert browser.find_elements(By.CSS_SELECTOR, "#graph g.node.current") == []


def test_in_chromium_the_25_step_rnn_steps_through_every_op_after_all_its_consumers(browser, tmp_path):
    sys.path.insert(0, str(REPO / "examples"))
    import rnn_graph
    loss, _ = rnn_graph.make()
    ops = len(anp.tape(loss))
    open_page(browser, anp.viz.explore(loss, tmp_path / "rnn"))
    clusters = browser.execute_script("return document.querySelectorAll('#graph g.cluster').length")
    assert clusters == 25  # one box per step
    visited = browser.execute_script("""
        const out = [];
        for (let k = 0; k < arguments[0] + 3; k++) {
          document.getElementById('next').click();
          const cur = document.querySelector('#graph g.node.current');
          out.push(cur ? cur.id : null);
        }
        return out;""", ops)
    assert None not in visited
    order = list(dict.fromkeys(visited))
    assert len(order) == ops  # every op once (the last repeats: stepping stops at the end)
    data = browser.execute_script("return JSON.parse(document.getElementById('data').textContent).nodes")
    position = {op: k for k, op in enumerate(order)}
    for op, node in data.items():  # an op runs after every op that consumed its output
        if node["kind"] != "op":
            continue
        out = node["output"]
        for other, n2 in data.items():
            if n2["kind"] == "op" and any(a["id"] == out for a in n2["inputs"]):
                assert position[other] < position[op], (other, op)


def test_in_chromium_hostile_names_stay_text(browser, tmp_path):
    from selenium.webdriver.common.by import By
    W = anp.Tensor(np.ones((2, 2)), requires_grad=True, name='</script><img src=x onerror="window.__x=1">')
    loss = anp.sum(W * 3.0)
    open_page(browser, anp.viz.explore(loss, tmp_path / "hostile"))
    assert browser.execute_script("return window.__x === undefined")
    browser.find_element(By.CSS_SELECTOR, '#graph g.node[id="t0"]').click()
    assert text(browser, "#details .node-title").startswith("</script><img")
    assert float(text(browser, "#details .grad-norm")) == pytest.approx(6.0)  # ‖3·ones(2, 2)‖


def test_a_complex_graph_shows_its_values_gradients_and_norms(tmp_path):
    """Complex values have no order: the page shows their entries and 2-norm; z's gradient is HIPS's convention's,
    ∂f/∂x − i·∂f/∂y of f = Σ|fft(z²)|² = 2·Σ|z²|², which is 8·|z|²·conj(z)."""
    import json
    z0 = np.array([1 + 2j, 3 - 1j])
    z = anp.Tensor(z0, requires_grad=True)
    page = open(anp.viz.explore(np.sum(np.abs(np.fft.fft(z * z)) ** 2), tmp_path / "c"), encoding="utf-8").read()
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    leaf = next(n for n in data["nodes"].values() if n["kind"] == "parameter")
    want = 8 * np.abs(z0) ** 2 * np.conj(z0)
    assert leaf["grad"]["dtype"] == "complex128" and leaf["grad"]["preview"] == "[ 40.-80.j, 240.+80.j]"
    np.testing.assert_allclose(want, [40 - 80j, 240 + 80j])
    assert leaf["grad"]["norm"] == pytest.approx(np.linalg.norm(want), rel=1e-15)
    assert "min" not in leaf["grad"]
