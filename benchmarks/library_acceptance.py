"""Libraries built on HIPS autograd, run with autonp answering their ``autograd`` imports, against HIPS itself.

    python benchmarks/library_acceptance.py [--only pymoo|lifelines|pymanopt|py_wake|paragami|mici|ssm] [--ssm PATH]

Neither library's code is in this repository. Each program runs twice in a fresh process: once with HIPS autograd,
once with every ``import autograd.x`` given the ``autonp.x`` module of the same name. The script prints the largest
difference of each figure the programs return, relative to the figure's largest entry.

- **pymoo** (multi-objective optimization; its wheel is downloaded from PyPI into a temporary directory): the
  Jacobians of a vectorized and an elementwise problem through ``AutomaticDifferentiation``, which pulls unit rows
  back by hand (``autograd.core.VJPNode``, ``backward_pass``, ``autograd.tracer.new_box``).
- **lifelines** (survival analysis; downloaded from PyPI with ``autograd-gamma``, ``formulaic`` and
  ``interface_meta``): seven univariate fitters on the Waltons data, three accelerated-failure-time models and two
  Cox models on the Rossi data; the fitted parameters, their standard errors (from the Hessian) and the log
  likelihoods.
- **pymanopt** (optimization on manifolds, its autograd backend; downloaded from PyPI): steepest descent,
  conjugate gradients and trust regions (Hessian-vector products, ``grad`` with a list of argnums) on a sphere, a
  Stiefel manifold, fixed-rank PSD matrices and a product manifold; the points reached and their costs.
- **py_wake** (wind-farm flow models; downloaded from PyPI with xarray, netCDF4, h5netcdf and pooch): the annual
  energy production of 16 Horns Rev turbines under four wake models (one with blockage, solved by
  ``All2AllIterative``'s fixed-point iterations) and its gradient with respect to the turbines' positions through
  py_wake's ``autograd`` gradient method.
- **paragami** (parameter patterns and the sensitivity of optima; downloaded from PyPI): a dictionary of an
  unconstrained, a bounded, a PSD-matrix and a simplex pattern; their Jacobians, the gradient and Hessian of a
  loss through the patterns' folding, a trust-region optimum, and the optimum's linear sensitivity to two
  hyperparameters (paragami 0.42 calls NumPy 1's ``np.product``: the program restores it, in both runs). The
  freeing Jacobian differs (4.8e-2), as expected: it differentiates a Cholesky factorization, which reads the lower
  triangle of its matrix; HIPS's VJP spreads the gradient over both triangles, autonp's keeps it where NumPy reads
  (central differences of paragami's own freeing map agree with autonp's).
- **mici** (Hamiltonian Monte Carlo; downloaded from PyPI): its autograd backend's derivative functions —
  gradients, VJPs, Jacobians, matrix-Hessian products, Hessians and third derivatives (matrix-Tressian products),
  built from ``autograd.core.make_vjp``, ``vspace`` and ``autograd.builtins.tuple`` nested three deep.
- **ssm** (Linderman lab's state-space models; not on PyPI: pass a checkout of github.com/lindermanlab/ssm with
  ``--ssm``, its Cython extension is built in place with Cython from PyPI): the log likelihoods of HMMs with six
  observation models fitted by SGD and EM, and the ELBOs of an LDS and an SLDS fitted by Laplace EM (Hessians
  through banded Cholesky factors whose VJPs ssm gives ``autograd.scipy.linalg``'s functions).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ALIAS = r'''
import importlib, importlib.abc, importlib.util, sys
lib, site, out_path = sys.argv[1:4]
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
import warnings
import numpy as np
warnings.simplefilter("ignore")
'''

PYMOO = ALIAS + r'''
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

LIFELINES = ALIAS + r'''
import lifelines as L
from lifelines.datasets import load_rossi, load_waltons
res = {}
w, rossi = load_waltons(), load_rossi()
T, E = w["T"], w["E"]
knots = T.loc[E.astype(bool)].quantile([0.0, 0.3, 0.6, 1.0]).values
fits = [(F(), (T, E)) for F in (L.WeibullFitter, L.ExponentialFitter, L.LogNormalFitter, L.LogLogisticFitter,
                                L.GeneralizedGammaFitter)]
fits += [(L.PiecewiseExponentialFitter([40, 60]), (T, E)), (L.SplineFitter(knots), (T, E))]
fits += [(F(), (rossi, "week", "arrest")) for F in (L.WeibullAFTFitter, L.LogNormalAFTFitter, L.LogLogisticAFTFitter,
                                                     L.CoxPHFitter)]
fits += [(L.CoxPHFitter(baseline_estimation_method="spline", n_baseline_knots=3), (rossi, "week", "arrest"))]
for k, (f, data) in enumerate(fits):
    f.fit(*data)
    name = f"{type(f).__name__}{' spline' if k == len(fits) - 1 else ''}"
    res[name + " parameters"] = f.params_.values
    res[name + " standard errors"] = np.sqrt(np.diag(f.variance_matrix_))
    res[name + " log likelihood"] = [f.log_likelihood_]
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''

PYMANOPT = ALIAS + r'''
import autograd.numpy as anp
import pymanopt
from pymanopt.manifolds import Euclidean, Product, PSDFixedRank, Sphere, Stiefel
from pymanopt.optimizers import ConjugateGradient, SteepestDescent, TrustRegions
res = {}
rng = np.random.default_rng(0)
A = rng.normal(size=(8, 8))
A = 0.5 * (A + A.T)
sphere = Sphere(8)
eig = pymanopt.Problem(sphere, pymanopt.function.autograd(sphere)(lambda x: -x @ A @ x))
for name, opt in [("steepest descent", SteepestDescent(verbosity=0, max_iterations=50)),
                  ("trust regions", TrustRegions(verbosity=0, max_iterations=20)),
                  ("conjugate gradients", ConjugateGradient(verbosity=0, max_iterations=50))]:
    r = opt.run(eig, initial_point=np.ones(8) / np.sqrt(8))
    res[f"sphere, {name}"] = np.append(r.point, r.cost)
X = rng.normal(size=(10, 3)) @ rng.normal(size=(3, 6)) + 0.01 * rng.normal(size=(10, 6))
stiefel = Stiefel(6, 2)
pca = pymanopt.Problem(stiefel, pymanopt.function.autograd(stiefel)(lambda W: -anp.trace(W.T @ X.T @ X @ W)))
r = TrustRegions(verbosity=0, max_iterations=15).run(pca, initial_point=np.linalg.qr(rng.normal(size=(6, 2)))[0])
res["Stiefel PCA, trust regions"] = np.append(r.point.ravel(), r.cost)
B = rng.normal(size=(7, 7))
B = B @ B.T
psd = PSDFixedRank(7, 2)
lowrank = pymanopt.Problem(psd, pymanopt.function.autograd(psd)(lambda Y: anp.sum((Y @ Y.T - B) ** 2)))
res["PSD fixed rank, trust regions"] = [TrustRegions(verbosity=0, max_iterations=15).run(
    lowrank, initial_point=rng.normal(size=(7, 2))).cost]
product, C = Product([Sphere(4), Euclidean(3)]), rng.normal(size=(4, 3))
two = pymanopt.Problem(product, pymanopt.function.autograd(product)(
    lambda u, v: anp.sum((anp.outer(u, v) - C) ** 2) + 0.1 * anp.sum(v ** 4)))
r = TrustRegions(verbosity=0, max_iterations=15).run(two, initial_point=[np.ones(4) / 2, np.ones(3)])
res["product, trust regions"] = np.concatenate([r.point[0], r.point[1], [r.cost]])
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''

PY_WAKE = ALIAS + r'''
from py_wake import NOJ, BastankhahGaussian
from py_wake.deficit_models import SelfSimilarityDeficit2020
from py_wake.deficit_models.gaussian import NiayifarGaussianDeficit, ZongGaussianDeficit
from py_wake.examples.data.hornsrev1 import V80, Hornsrev1Site, wt_x, wt_y
from py_wake.rotor_avg_models import GaussianOverlapAvgModel
from py_wake.superposition_models import LinearSum
from py_wake.turbulence_models import CrespoHernandez
from py_wake.utils.gradients import autograd
from py_wake.wind_farm_models import All2AllIterative, PropagateDownwind
site, wt = Hornsrev1Site(), V80()
models = {"BastankhahGaussian": BastankhahGaussian(site, wt), "NOJ": NOJ(site, wt),
          "Niayifar + CrespoHernandez": PropagateDownwind(site, wt, NiayifarGaussianDeficit(),
                                                          superpositionModel=LinearSum(),
                                                          turbulenceModel=CrespoHernandez()),
          "Zong + blockage, All2AllIterative": All2AllIterative(
              site, wt, ZongGaussianDeficit(rotorAvgModel=GaussianOverlapAvgModel()), superpositionModel=LinearSum(),
              blockage_deficitModel=SelfSimilarityDeficit2020(), turbulenceModel=CrespoHernandez())}
x, y, flow = np.array(wt_x[:16]), np.array(wt_y[:16]), dict(wd=np.arange(0, 360, 30), ws=[8, 10, 12])
res = {}
for name, wfm in models.items():
    res[name + " AEP"] = [wfm.aep(x, y, **flow)]
    res[name + " dAEP/d(x, y)"] = wfm.aep_gradients(gradient_method=autograd, wrt_arg=["x", "y"], x=x, y=y, **flow)
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''

PARAGAMI = ALIAS + r'''
np.product = np.prod  # paragami 0.42 calls NumPy 1's alias, which NumPy 2 removed
import autograd
import autograd.numpy as anp
import paragami
import paragami.sensitivity_lib
import scipy.optimize
res = {}
pattern = paragami.PatternDict(free_default=True)
pattern["mean"] = paragami.NumericArrayPattern((3,))
pattern["scale"] = paragami.NumericArrayPattern((2,), lb=0.1)
pattern["cov"] = paragami.PSDSymmetricMatrixPattern(size=3)
pattern["probs"] = paragami.SimplexArrayPattern(simplex_size=3, array_shape=(2,))
data = np.random.default_rng(0).normal(size=(20, 3))
folded = {"mean": np.array([0.1, -0.2, 0.3]), "scale": np.array([0.5, 2.0]), "cov": np.eye(3) + 0.1,
          "probs": np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])}
free = pattern.flatten(folded, free=True)
res["unfreeing Jacobian"] = pattern.unfreeing_jacobian(folded, sparse=False)
res["freeing Jacobian"] = pattern.freeing_jacobian(folded, sparse=False)

def loss(par, hyper):
    diff = data - par["mean"]
    nll = 0.5 * anp.sum(diff * anp.linalg.solve(par["cov"], diff.T).T) + 10 * anp.linalg.slogdet(par["cov"])[1]
    return nll + hyper[0] * anp.sum(par["scale"] ** 2) - anp.sum(anp.log(par["probs"]) * hyper[1]) + \
        0.5 * anp.sum(anp.log(par["scale"]) ** 2)
flat_loss = paragami.FlattenFunctionInput(loss, patterns=pattern, free=True, argnums=0)
hyper = np.array([0.3, 1.5])
res["gradient"] = autograd.grad(flat_loss)(free, hyper)
res["Hessian"] = autograd.hessian(flat_loss)(free, hyper)
opt = scipy.optimize.minimize(flat_loss, free, args=(hyper,), jac=autograd.grad(flat_loss),
                              hess=autograd.hessian(flat_loss), method="trust-exact", tol=1e-10)
res["optimum"] = opt.x
sens = paragami.sensitivity_lib.HyperparameterSensitivityLinearApproximation(flat_loss, opt.x, hyper)
res["d optimum / d hyperparameters"] = sens.get_dopt_dhyper()
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''

MICI = ALIAS + r'''
import autograd.numpy as anp
from mici.autodiff import autograd_wrapper as ad
x = np.array([0.3, -1.2, 0.7])
f = lambda x: anp.sum(anp.sin(x) * anp.exp(0.3 * x[::-1])) + anp.prod(x) ** 2  # noqa: E731
F = lambda x: anp.stack([anp.sum(x ** 3), anp.sin(x[0]) * x[1], anp.tanh(x @ x)])  # noqa: E731
res = {"gradient": ad.grad_and_value(f)(x)[0], "VJP": ad.vjp_and_value(F)(x)[0](np.array([1.0, -2.0, 0.5])),
       "Jacobian": ad.jacobian_and_value(F)(x)[0],
       "matrix-Hessian product": ad.mhp_jacobian_and_value(F)(x)[0](np.arange(9.0).reshape(3, 3) / 7),
       "Hessian": ad.hessian_grad_and_value(f)(x)[0],
       "matrix-Tressian product": ad.mtp_hessian_grad_and_value(f)(x)[0](np.arange(9.0).reshape(3, 3) / 5 - 0.5)}
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''

SSM = ALIAS + r'''
import autograd.numpy.random as npr
import ssm
res = {}
npr.seed(0)
_, y = ssm.HMM(3, 2, observations="gaussian").sample(300)
for obs in ["gaussian", "diagonal_gaussian", "ar", "studentst", "robust_ar", "diagonal_t"]:
    for method, iters in [("sgd", 60), ("em", 15)]:
        npr.seed(1)
        res[f"HMM {obs} {method}"] = ssm.HMM(3, 2, observations=obs).fit(y, method=method, num_iters=iters, verbose=0)
for name, model, sample in [("LDS", lambda: ssm.LDS(3, 2, emissions="gaussian"), lambda m: m.sample(100)[1]),
                            ("SLDS", lambda: ssm.SLDS(4, 2, 2, emissions="gaussian"), lambda m: m.sample(100)[2])]:
    npr.seed(0)
    y = sample(model())
    npr.seed(1)
    res[f"{name} laplace_em"] = model().fit(y, method="laplace_em", num_iters=8, initialize=False, verbose=0)[0]
np.savez(out_path, **{k: np.asarray(v, dtype=float) for k, v in res.items()})
'''


def compare(name: str, program: str, site: Path, tmp: str) -> float:
    got = {}
    for lib in ("autograd", "autonp"):
        out = Path(tmp, f"{name}-{lib}.npz")
        subprocess.run([sys.executable, "-c", program, lib, str(site), str(out)], check=True)
        got[lib] = dict(np.load(out))
    print(f"\n{name}\n{'figure':<48}{'shape':<14}{'max |autonp - HIPS| / max |HIPS|':>34}")
    worst = 0.0
    for k, want in got["autograd"].items():
        diff = float(np.abs(got["autonp"][k] - want).max() / max(np.abs(want).max(), 1e-300))
        worst = max(worst, diff)
        print(f"{k:<48}{str(want.shape):<14}{diff:>34.2e}")
    print(f"largest: {worst:.2e}")
    return worst


# each library's program, the packages installed without their dependencies (this machine has numpy, scipy, pandas,
# matplotlib and HIPS autograd), and those installed with theirs
LIBRARIES = {"pymoo": (PYMOO, ["pymoo"], []),
             "lifelines": (LIFELINES, ["lifelines", "autograd-gamma", "formulaic", "interface_meta"], []),
             "pymanopt": (PYMANOPT, ["pymanopt"], []),
             "py_wake": (PY_WAKE, ["py_wake"], ["xarray", "netCDF4", "h5netcdf", "pooch"]),
             "paragami": (PARAGAMI, ["paragami"], []),
             "mici": (MICI, ["mici"], [])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=[*LIBRARIES, "ssm"])
    ap.add_argument("--ssm", type=Path, help="a checkout of github.com/lindermanlab/ssm (ssm is not on PyPI)")
    args = ap.parse_args()
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (program, alone, with_deps) in LIBRARIES.items():
            if args.only in (None, name):
                site = Path(tmp, name)
                subprocess.run([*pip, "--no-deps", "--target", str(site), *alone], check=True)
                if with_deps:
                    subprocess.run([*pip, "--target", str(site), *with_deps], check=True)
                compare(name, program, site, tmp)
        if args.only in (None, "ssm"):
            if args.ssm is None:
                print("\nssm: skipped (pass --ssm PATH, a checkout of github.com/lindermanlab/ssm)")
                return
            cython = Path(tmp, "cython")
            subprocess.run([*pip, "--target", str(cython), "cython"], check=True)
            subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=args.ssm, check=True,
                           env={**os.environ, "PYTHONPATH": str(cython)}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            compare("ssm", SSM, args.ssm.resolve(), tmp)


if __name__ == "__main__":
    main()
