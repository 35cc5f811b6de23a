"""Checking gradients: against finite differences (``gradcheck``, ``gradgradcheck``), op by op
on a recorded tape (``check_ops`` — *which* op is wrong), and against gradients a person
derived by hand (``compare_gradients``). Anomaly mode is :class:`autonp.detect_anomaly`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .tape import tape
from .tensor import Tensor, _vjp_of, describe, format_site, gradients, no_grad, recorded_args

__all__ = ["gradcheck", "gradgradcheck", "check_ops", "compare_gradients", "GradcheckError",
           "GradcheckReport", "OpCheckReport", "GradientComparison"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{x:.3e}"
    return str(x)


class GradcheckError(AssertionError):
    """A gradient check failed; ``.report`` holds the full table."""

    def __init__(self, report: Any):
        super().__init__(f"gradient check failed\n{report}")
        self.report = report


# --------------------------------------------------------------------------- gradcheck

@dataclass
class InputCheck:
    """How one input's reverse-mode gradient compares with finite differences."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    worst: tuple        # element index (or ("direction", k) in fast mode)
    analytic: float
    numeric: float
    passed: bool


@dataclass
class GradcheckReport:
    checks: list[InputCheck]
    mode: str
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __str__(self) -> str:
        rows = [(c.name, c.shape, c.max_abs, c.max_rel, c.worst, c.analytic, c.numeric, "ok" if c.passed else "FAIL")
                for c in self.checks]
        head = ["input", "shape", "max abs err", "max rel err", "worst at", "analytic", "numeric", "verdict"]
        return "\n".join([f"gradcheck ({self.mode}): " + ("passed" if self.passed else "FAILED"),
                          _table(head, rows)] + [f"note: {n}" for n in self.notes])

    __repr__ = __str__


def _as_inputs(inputs: Any) -> tuple[list[Tensor], list[str]]:
    ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    notes = []
    out = []
    for i, x in enumerate(ins):
        if np.iscomplexobj(x.data if isinstance(x, Tensor) else x):
            raise TypeError(f"gradcheck: input {i} is complex; gradcheck compares real inputs (check the real and "
                            f"imaginary parts as separate real inputs, or use autonp.test_util.check_grads, which "
                            f"takes complex ones)")
        if isinstance(x, Tensor):
            t = x
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            t = Tensor(x, requires_grad=True)
        else:
            out.append(x)
            continue
        if t.requires_grad and t.dtype != np.float64:
            notes.append(f"input {i} is {t.dtype}: checked in float64 (finite differences in {t.dtype} are "
                         f"too coarse to judge a gradient)")
            t = Tensor(t.data.astype(np.float64), requires_grad=True, name=t.name)
        elif t.requires_grad:
            t = Tensor(t.data.copy(), requires_grad=True, name=t.name)
        out.append(t)
    return out, notes


def _scalarize(f: Callable, args: list, v: list) -> Callable[[], float]:
    """A scalar function of ``args``: ⟨v, f(*args)⟩ with a fixed random ``v`` (checks the whole VJP)."""
    def s():
        y = f(*args)
        if v[0] is None:  # a scalar output is checked as it is
            v[0] = 1.0 if np.size(y) == 1 else np.random.default_rng(1234).normal(size=np.shape(y))
        return (y * v[0]).sum() if isinstance(y, Tensor) else Tensor(np.sum(np.asarray(y) * v[0]))
    return s


def gradcheck(f: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-4,
              fast: bool | None = None, n_directions: int = 8, seed: int = 0,
              raise_on_failure: bool = True) -> GradcheckReport:
    """Compare the reverse-mode gradient of ``f(*inputs)`` with central finite differences, in float64.

    A non-scalar output is contracted with a fixed random vector, so the whole vector-Jacobian
    product is checked. ``fast`` (default: for inputs over 2,000 elements) checks ``n_directions``
    random directional derivatives ⟨∇f, u⟩ instead of every element, as PyTorch's fast gradcheck
    does. Passes where |analytic − numeric| ≤ atol + rtol·|numeric|.
    """
    args, notes = _as_inputs(inputs)
    targets = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not targets:
        raise ValueError("gradcheck: no input requires grad")
    if fast is None:
        fast = max(a.size for _, a in targets) > 2000
    s = _scalarize(f, args, [None])
    out = s()
    # an output cut off from the inputs has zero analytic gradient (e.g. a VJP that dropped the tape)
    analytic = gradients(out, [a for _, a in targets]) if out.requires_grad else [None] * len(targets)
    rng = np.random.default_rng(seed)
    checks = []
    for (i, a), g in zip(targets, analytic):
        ga = np.zeros(a.shape) if g is None else np.asarray(g.data, dtype=np.float64)
        name = a.name or f"input {i}"

        def numeric(direction: np.ndarray) -> float:
            base = a.data.copy()  # (not under no_grad: f may itself differentiate, as in gradgradcheck)
            a.data = base + eps * direction
            hi = s().item()
            a.data = base - eps * direction
            lo = s().item()
            a.data = base
            return (hi - lo) / (2 * eps)

        if fast:
            dirs = [rng.normal(size=a.shape) for _ in range(n_directions)]
            ana = np.array([np.sum(ga * u) for u in dirs])
            num = np.array([numeric(u) for u in dirs])
            worst_of = lambda k: ("direction", int(k))  # noqa: E731
        else:
            ana = ga.reshape(-1)
            num = np.empty(a.size)
            for k in range(a.size):
                e = np.zeros(a.size)
                e[k] = 1.0
                num[k] = numeric(e.reshape(a.shape))
            worst_of = lambda k: tuple(int(j) for j in np.unravel_index(k, a.shape))  # noqa: E731
        err = np.abs(ana - num)
        excess = err - (atol + rtol * np.abs(num))
        k = int(np.argmax(excess))
        scale = np.maximum(np.abs(num), 1e-300)
        checks.append(InputCheck(name, tuple(a.shape), float(err.max(initial=0.0)),
                                 float((err / scale).max(initial=0.0)), worst_of(k), float(ana[k]), float(num[k]),
                                 bool((excess <= 0).all())))
    report = GradcheckReport(checks, f"fast, {n_directions} random directions" if fast else "every element", notes)
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


def gradgradcheck(f: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  fast: bool | None = None, seed: int = 0, raise_on_failure: bool = True) -> GradcheckReport:
    """Check second derivatives: ``gradcheck`` of x ↦ ⟨w, ∇ₓ⟨v, f(x)⟩⟩, whose gradient is a
    Hessian-vector product computed through ``create_graph=True``."""
    args, _ = _as_inputs(inputs)
    idx = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    rng = np.random.default_rng(seed + 1)
    w = [rng.normal(size=args[i].shape) for i in idx]

    def first_derivative_contracted(*xs):
        s = _scalarize(f, list(xs), [None])()
        gs = gradients(s, [xs[i] for i in idx], create_graph=True)
        total = 0.0
        for g, wi in zip(gs, w):
            if g is not None:
                total = total + (g * wi).sum()
        return total if isinstance(total, Tensor) else Tensor(total)

    return gradcheck(first_derivative_contracted, args, eps=eps, atol=atol, rtol=rtol, fast=fast, seed=seed,
                     raise_on_failure=raise_on_failure)


# --------------------------------------------------------------------------- check_ops

@dataclass
class OpCheck:
    """One recorded op's VJP tested by a directional finite difference on the inputs it saw."""

    step: int
    op: str
    shapes: str
    site: str
    analytic: float
    numeric: float
    rel_err: float
    status: str        # "ok", "FAIL", or "kink" (one-sided differences disagree: not differentiable there)


@dataclass
class OpCheckReport:
    checks: list[OpCheck]

    @property
    def failures(self) -> list[OpCheck]:
        return [c for c in self.checks if c.status == "FAIL"]

    @property
    def first_failure(self) -> OpCheck | None:
        f = self.failures
        return f[0] if f else None

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        rows = [(c.step, c.op, c.shapes, c.analytic, c.numeric, c.rel_err, c.status) for c in self.checks]
        text = _table(["#", "op", "inputs", "analytic", "numeric", "rel err", "verdict"], rows)
        bad = self.first_failure
        if bad is None:
            return f"check_ops: all {len(self.checks)} ops agree with finite differences\n{text}"
        return (f"check_ops: {len(self.failures)} of {len(self.checks)} ops have a wrong vjp; the first is "
                f"#{bad.step} {bad.op}({bad.shapes})\n  built at {bad.site}\n{text}")

    __repr__ = __str__


def check_ops(result: Tensor, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8, seed: int = 0,
              raise_on_failure: bool = False) -> OpCheckReport:
    """Test every recorded op that ``result`` depends on, one op at a time, on the very values it saw.

    For each op ``y = f(x₁, …)``: a random cotangent ``v`` and random directions ``uᵢ`` for its
    differentiable inputs; ``Σᵢ ⟨vjpᵢ(v), uᵢ⟩`` must equal ``⟨v, (f(x+εu) − f(x−εu)) / 2ε⟩``.
    The report names the first op (in execution order) whose VJP disagrees, with its shapes and
    the source line that built it. Run it before ``backward`` (or after ``backward(retain_graph=True)``).
    """
    rng = np.random.default_rng(seed)
    checks = []
    for step, entry in enumerate(tape(result)):
        node = entry.node
        if node.vals is None:
            raise RuntimeError("check_ops needs the tape: call it before backward(), or backward(retain_graph=True)")
        vals = [np.asarray(a.data, dtype=np.float64) if isinstance(a, Tensor) and a.dtype.kind == "f"
                else (a.data if isinstance(a, Tensor) else a) for a in recorded_args(node)]
        diff = [i for i, a in enumerate(node.args) if isinstance(a, Tensor) and a.requires_grad]
        fwd = node.prim.forward
        with no_grad():
            ans = np.asarray(fwd(*vals, **node.kwargs), dtype=np.float64)
            v = rng.normal(size=ans.shape)
            dirs = {i: rng.normal(size=np.shape(vals[i])) for i in diff}
            analytic = 0.0
            for i in diff:
                vjp = _vjp_of(node.prim, i)
                if vjp is None:
                    continue
                analytic += float(np.sum(np.asarray(vjp(v, ans, *vals, **node.kwargs)) * dirs[i]))

            def shifted(t: float) -> float:
                moved = list(vals)
                for i in diff:
                    moved[i] = vals[i] + t * dirs[i]
                return float(np.sum(np.asarray(fwd(*moved, **node.kwargs), dtype=np.float64) * v))

            f0, fp, fm = float(np.sum(ans * v)), shifted(eps), shifted(-eps)
        numeric = (fp - fm) / (2 * eps)
        err = abs(analytic - numeric)
        rel = err / max(abs(numeric), abs(analytic), 1e-300)
        status = "ok"
        if err > atol + rtol * max(abs(numeric), abs(analytic)):
            right, left = (fp - f0) / eps, (f0 - fm) / eps
            kink = abs(right - left) > 1e-3 * max(abs(right), abs(left), 1.0)
            status = "kink" if kink else "FAIL"
        shapes = ", ".join(describe(a) for a in node.args if isinstance(a, (Tensor, np.ndarray)))
        checks.append(OpCheck(step, node.prim.name, shapes, format_site(node.site), analytic, numeric, rel, status))
    report = OpCheckReport(checks)
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


# --------------------------------------------------------------------------- compare_gradients

@dataclass
class GradientComparison:
    rows: list[tuple[str, tuple, float, float, bool]]   # name, shape, max abs diff, max rel diff, passed
    rtol: float
    atol: float
    missing: frozenset = frozenset()  # parameters that got no gradient at all

    @property
    def passed(self) -> bool:
        return all(r[4] for r in self.rows)

    def __getitem__(self, name: str) -> tuple[float, float]:
        for r in self.rows:
            if r[0] == name:
                return r[2], r[3]
        raise KeyError(name)

    def __str__(self) -> str:
        rows = [(n, s, a, r, "ok" if p else ("NO GRADIENT" if n in self.missing else "DIFFER"))
                for n, s, a, r, p in self.rows]
        verdict = "agree" if self.passed else "DIFFER"
        return (f"gradients {verdict} (rtol={self.rtol:g}, atol={self.atol:g}; rel = max|Δ| / max|expected|)\n"
                + _table(["parameter", "shape", "max abs diff", "max rel diff", "verdict"], rows))

    __repr__ = __str__


def compare_gradients(expected: Mapping[str, Any], got: Mapping[str, Any], rtol: float = 1e-10,
                      atol: float = 0.0) -> GradientComparison:
    """Table of hand-derived gradients (``expected``: name → array) against autonp's (``got``: name →
    array, gradient Tensor, or parameter Tensor whose ``.grad`` is used)."""
    rows, missing = [], set()
    for name, e in expected.items():
        if name not in got:
            raise KeyError(f"compare_gradients: no gradient named {name!r} in got (has {sorted(got)})")
        g = got[name]
        if isinstance(g, Tensor) and g.requires_grad:
            if g.grad is None:  # a parameter that backward never reached: say so, do not compare its values
                missing.add(name)
                rows.append((name, np.shape(e), float("nan"), float("nan"), False))
                continue
            g = g.grad
        g = np.asarray(g.data if isinstance(g, Tensor) else g, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            raise ValueError(f"compare_gradients: {name} has shape {g.shape}, expected {e.shape}")
        diff = float(np.max(np.abs(g - e), initial=0.0))
        rel = diff / max(float(np.max(np.abs(e), initial=0.0)), 1e-300)
        rows.append((name, e.shape, diff, rel, bool(np.allclose(g, e, rtol=rtol, atol=atol))))
    return GradientComparison(rows, rtol, atol, frozenset(missing))
