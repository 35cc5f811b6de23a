"""pymoo's gradients with autonp standing in for HIPS autograd, against HIPS autograd itself.

    python benchmarks/pymoo_acceptance.py

pymoo (a multi-objective optimization library) computes the Jacobians of a problem's objectives and
constraints with HIPS's reverse mode driven by hand (``autograd.core.VJPNode``, ``backward_pass``,
``autograd.tracer.new_box``). The script downloads pymoo's wheel from PyPI into a temporary directory (pymoo's
code is not in this repository), and evaluates two problems written with ``pymoo.gradient.toolbox`` — one
vectorized, one elementwise — through ``AutomaticDifferentiation``: once with HIPS autograd, once with every
``autograd`` import answered by the ``autonp`` module of the same name. It prints the largest difference of each
returned array (values F, G and Jacobians dF, dG), relative to the array's largest entry.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PROGRAM = r'''
import importlib, importlib.abc, importlib.util, sys
site, lib, out_path = sys.argv[1:4]
sys.path.insert(0, site)
if lib == "autonp":  # `import autograd.x` gives autonp.x
    class Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "autograd" or name.startswith("autograd."):
                return importlib.util.spec_from_loader(name, self)
        def create_module(self, spec):
            return importlib.import_module("autonp" + spec.name[len("autograd"):])
        def exec_module(self, module):
            pass
    sys.meta_path.insert(0, Alias())
import numpy as np
import pymoo.gradient.toolbox as anp
from pymoo.core.problem import ElementwiseProblem, Problem
from pymoo.gradient.automatic import AutomaticDifferentiation, ElementwiseAutomaticDifferentiation

class Vectorized(Problem):
    def __init__(self):
        super().__init__(n_var=10, n_obj=2, n_ieq_constr=2, xl=-5, xu=5)
    def _evaluate(self, x, out, *args, **kwargs):
        out["F"] = anp.column_stack([anp.sum(anp.power(x, 2), axis=1), anp.sum(anp.sin(x) * anp.exp(-x / 3), axis=1)])
        out["G"] = anp.column_stack([anp.sum(x[:, :3], axis=1) - 1.0, anp.prod(x[:, 5:7], axis=1) - anp.tanh(x[:, 0])])

class Elementwise(ElementwiseProblem):
    def __init__(self):
        super().__init__(n_var=4, n_obj=2, n_ieq_constr=1, xl=-2, xu=2)
    def _evaluate(self, x, out, *args, **kwargs):
        out["F"] = anp.array([anp.sum(x ** 2), anp.log1p(anp.sum(anp.exp(x)))])
        out["G"] = anp.array([x[0] * x[1] - 0.3])

X = np.random.default_rng(1).uniform(-2, 2, size=(5, 10))
wanted = ["F", "dF", "G", "dG"]
res = dict(zip(wanted, AutomaticDifferentiation(Vectorized()).evaluate(X, return_values_of=wanted)))
res.update({"elementwise " + k: v for k, v in zip(wanted, ElementwiseAutomaticDifferentiation(Elementwise()).evaluate(
    X[:, :4], return_values_of=wanted))})
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheels, site = Path(tmp, "wheels"), Path(tmp, "site")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "pymoo", "-d", str(wheels)],
                       check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                        *map(str, wheels.glob("*.whl"))], check=True)
        got = {}
        for lib in ("autograd", "autonp"):
            out = Path(tmp, f"{lib}.npz")
            subprocess.run([sys.executable, "-c", PROGRAM, str(site), lib, str(out)], check=True)
            got[lib] = dict(np.load(out))
        print(f"{'array':<16}{'shape':<14}{'max |autonp - HIPS| / max |HIPS|':>34}")
        worst = 0.0
        for k, want in got["autograd"].items():
            diff = float(np.abs(got["autonp"][k] - want).max() / max(np.abs(want).max(), 1e-300))
            worst = max(worst, diff)
            print(f"{k:<16}{str(want.shape):<14}{diff:>34.2e}")
        print(f"largest: {worst:.2e}")


if __name__ == "__main__":
    main()
