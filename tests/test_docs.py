"""What a learner reads runs: every Python snippet in the README and the docs, the tutorial notebook (from
a fresh kernel, on the offline sample of MNIST), and the documentation site's strict build. `make test`
sets AUTONP_REQUIRE_TOOLS=1, so there a missing tool (mkdocs, nbclient) fails instead of skipping."""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

PAGES = ["README.md"] + sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md") if p.name != "ops.md")


def need(module: str):
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("AUTONP_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{module} is not installed (make test installs it with the dev extra)")
        pytest.skip(f"{module} is not installed")


def python_blocks(page: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (REPO / page).read_text(), flags=re.S | re.M)


def test_the_readme_is_a_front_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; the detail belongs in docs/"
    assert sum(len(python_blocks(p)) for p in PAGES) >= 10


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)])
def test_every_python_snippet_runs_as_written(page, tmp_path):
    """A page's Python blocks, in order, run as one script in an empty directory (a block may use what an
    earlier one defined, as a reader following the page would)."""
    script = tmp_path / ("snippets_" + re.sub(r"\W", "_", page) + ".py")
    script.write_text("\n".join(python_blocks(page)))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, f"{page}:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"


def test_the_docs_site_builds_strictly(tmp_path):
    """mkdocs --strict: a broken link, a missing picture or an API reference to a name that is gone fails."""
    need("mkdocs")
    need("mkdocstrings")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("backward", "value_and_grad", "gradcheck", "explore", "data_parallel"):
        assert name in api, name
    assert (tmp_path / "site" / "img" / "explorer.png").exists()


def test_the_notebook_and_its_source_are_one_and_hold_no_stale_outputs():
    nbformat = need("nbformat")
    jupytext = need("jupytext")
    nb = nbformat.read(REPO / "examples" / "tutorial.ipynb", as_version=4)
    source = jupytext.read(REPO / "examples" / "tutorial.py")
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in source.cells], \
        "examples/tutorial.ipynb is not the pair of tutorial.py: jupytext --sync examples/tutorial.py"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_the_tutorial_notebook_runs_from_a_fresh_kernel(tmp_path):
    """On the offline sample (the parameters cell set as papermill would), in a fresh kernel, top to bottom."""
    nbformat = need("nbformat")
    nbclient = need("nbclient")
    nb = nbformat.read(REPO / "examples" / "tutorial.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "OFFLINE = False" in params[0].source
    params[0].source = params[0].source.replace("OFFLINE = False", "OFFLINE = True")
    env = {k: v for k, v in os.environ.items() if k != "AUTONP_MNIST"}
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "gradients agree" in outputs and "gradcheck (fast" in outputs and "passed" in outputs
    assert "test accuracy" in outputs and "def loss_and_gradients" in outputs
    svgs = [o for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 2  # the graphs are drawn inline
    assert (tmp_path / "explore.html").exists()
