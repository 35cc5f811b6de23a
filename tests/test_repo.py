"""The README gives exactly two commands for a fresh machine, and CI runs the test one."""
import re

from conftest import REPO


def readme_commands():
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- commands -->")[1].split("<!-- /commands -->")[0]
    return re.findall(r"^\s*(make \w+)\s*$", block, flags=re.M)


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert commands == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test"):  # each installs what it needs: Debian's packages, then the Python ones
        recipe = re.search(rf"^{target}: graphviz\n((?:\t.*\n)+)", makefile, flags=re.M)
        assert recipe and "pip install" in makefile and "$(PIP)" in recipe.group(1)
    assert re.search(r"^test: APT_NEEDS \+= .*chromium:chromium chromedriver:chromium-driver", makefile, flags=re.M)


def test_the_op_reference_is_generated_from_the_tables_and_not_stale():
    from autonp.ops.reference import render
    assert (REPO / "docs" / "ops.md").read_text() == render(), \
        "docs/ops.md is stale: python -m autonp.ops.reference > docs/ops.md"
    assert "docs/ops.md" in (REPO / "README.md").read_text()


def test_every_module_the_migration_guide_names_imports():
    """docs/from-hips-autograd.md: each autonp module in its table exists (its snippets run in test_docs)."""
    import importlib
    text = (REPO / "docs" / "from-hips-autograd.md").read_text()
    modules = set(re.findall(r"^\| `autograd[\w.]*`.*?\| `(autonp[\w.]*)`", text, flags=re.M))
    assert len(modules) >= 12, modules
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:  # module.attribute
            module, _, attr = name.rpartition(".")
            assert hasattr(importlib.import_module(module), attr), name


def test_the_license_and_the_typing_marker_are_shipped():
    assert "MIT License" in (REPO / "LICENSE").read_text()
    assert (REPO / "autonp" / "py.typed").exists()
    assert "py.typed" in (REPO / "pyproject.toml").read_text()


def test_the_finite_difference_oracle_perturbs_every_layout():
    """conftest.central_diff perturbed a flat reshape of its copy of x, which for a transposed (Fortran-ordered)
    array is a copy of the copy: every derivative came out 0, and a test comparing a gradient with it on such an
    input could only pass for a gradient of 0 (found while checking solve_triangular on an upper matrix given as
    Aᵀ)."""
    import numpy as np

    from conftest import central_diff
    weights = np.arange(12.0).reshape(3, 4)
    for x in (np.ones((3, 4)), np.ones((4, 3)).T, np.ones((3, 8))[:, ::2]):
        np.testing.assert_allclose(central_diff(lambda a: float(np.sum(a * weights)), x), weights, rtol=1e-8)
