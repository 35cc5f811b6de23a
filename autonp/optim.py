"""Optimizers: update parameters in place from their ``.grad``."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .functional import check_positive_int
from .ops._blas import subtract_scaled
from .tensor import Tensor, gate

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "clip_grad_norm", "LRSchedule", "StepLR",
           "CosineLR"]


def _check_range(who: str, name: str, value: Any, low: float = 0.0, high: float = np.inf,
                 high_open: bool = False) -> None:
    """Refuse a hyper-parameter outside [low, high] (or [low, high)), as PyTorch's optimizers do: a negative rate
    ascends, β₂ = 1 divides by 1 − β₂ᵗ = 0, a negative max_norm flips every gradient."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = np.nan
    if isinstance(value, bool) or not (np.isfinite(v) and low <= v and (v < high if high_open else v <= high)):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{who}: {name} must be a finite number in [{low:g}, {high:g}{bracket}, got {value!r}")


class Optimizer:
    def __init__(self, params: Iterable[Tensor]):
        name = type(self).__name__
        if isinstance(params, Tensor):  # iterating it would give its rows: new Tensors, the step would change none
            raise TypeError(f"{name}: params must be an iterable of Tensors, got one Tensor{tuple(params.shape)}; "
                            f"pass [t]")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: got no parameters to optimise")
        first: dict[int, int] = {}
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: the parameter at position {i} is a {type(p).__name__}, not a Tensor "
                                f"(wrap it: nn.Parameter(array))")
            if not p.requires_grad:
                raise ValueError(f"{name}: a parameter of shape {p.shape} does not require grad")
            if p.dtype.kind == "c":  # HIPS's gradient of a real loss is ∂x − i·∂y: a step along it goes uphill in y
                raise TypeError(f"{name}: the parameter at position {i} is complex ({p.dtype}); autonp's complex "
                                f"gradients follow HIPS autograd (descent is along their conjugate): optimise the "
                                f"real and imaginary parts as two real parameters")
            if not p.is_leaf:  # its .grad stays None, and changing it would change none of what it came from
                raise ValueError(f"{name}: the parameter at position {i} ({p.shape}) is the result of recorded ops, "
                                 f"not a leaf; optimise the Tensors it was computed from, or t.detach() as a new leaf")
            j = first.setdefault(id(p), i)
            if j != i:
                raise ValueError(f"{name}: the parameters at positions {j} and {i} are the same Tensor{p.shape}; it "
                                 f"would be stepped twice per step. Pass each once (Module.parameters() lists a "
                                 f"shared one once)")

    def zero_grad(self) -> None:
        for p in self.params:
            p._grad = None  # (what the grad setter does with None)

    # ---- saving and loading: hyper-parameters and per-parameter state, so a run resumes exactly
    hyper: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()    # per-parameter state: lists of arrays (None until first used)
    counters: tuple[str, ...] = ()

    def state_dict(self) -> dict:
        """Hyper-parameters, step counters and per-parameter state (copies), for ``anp.save``."""
        state: dict = {"type": type(self).__name__, "hyper": {k: getattr(self, k) for k in self.hyper},
                       "counters": {k: getattr(self, k) for k in self.counters}}
        for slot in self.slots:
            state[slot] = [np.zeros(0) if v is None else np.array(v) for v in getattr(self, slot)]
            state[slot + "_set"] = [v is not None for v in getattr(self, slot)]
        return state

    nonnegative: tuple[str, ...] = ()  # slots that hold running sums of squares (≥ 0, or √ gives NaN)
    counts: tuple[str, ...] = ()       # slots that hold a count per parameter (0-d int64 arrays)

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` gave. Everything is checked first (keys, lengths, shapes, dtypes,
        signs of second moments, counters): a state that does not fit raises ``FormatError`` naming
        the entry, and changes nothing."""
        from .serialize import FormatError
        name = type(self).__name__

        def fail(msg: str):
            raise FormatError(f"{name}.load_state_dict: {msg}")
        if not isinstance(state, dict):
            fail(f"expected a dict, got {type(state).__name__}")
        if state.get("type") != name:
            fail(f"the state is from {state.get('type')}")
        need = ["hyper", "counters"] + [k for slot in self.slots for k in (slot, slot + "_set")]
        missing = [k for k in need if k not in state]
        if missing:
            fail(f"missing entries {missing}")
        new_slots = {}
        for slot in self.slots:
            got, flags = state[slot], state[slot + "_set"]
            if len(got) != len(self.params) or len(flags) != len(self.params):
                fail(f"{len(got)} {slot} entries for {len(self.params)} parameters")
            values = []
            for i, (v, is_set, p) in enumerate(zip(got, flags, self.params)):
                if is_set not in (True, False):
                    fail(f"{slot}_set[{i}] is {is_set!r}, not a bool")
                if not is_set:
                    values.append(None)
                    continue
                v = np.asarray(v.numpy() if isinstance(v, Tensor) else v)
                if slot in self.counts:
                    if v.shape != () or v.dtype.kind not in "iu" or v < 0:
                        fail(f"{slot}[{i}] is {v!r}, not a count")
                    values.append(np.array(v, dtype=np.int64))
                    continue
                if v.shape != p.shape or v.dtype.kind not in "fiu":
                    fail(f"{slot}[{i}] has shape {v.shape} {v.dtype} for a parameter of shape {p.shape} {p.dtype}")
                if not np.isfinite(v).all() or (slot in self.nonnegative and (v < 0).any()):
                    fail(f"{slot}[{i}] has {'negative' if slot in self.nonnegative else 'non-finite'} entries")
                values.append(np.array(v, dtype=p.dtype))
            new_slots[slot] = values
        hyper, counters = state["hyper"], state["counters"]
        if not isinstance(hyper, dict) or set(hyper) != set(self.hyper):
            got = sorted(hyper) if isinstance(hyper, dict) else hyper
            fail(f"hyper-parameters {got!r}, expected {sorted(self.hyper)}")
        if not isinstance(counters, dict) or set(counters) != set(self.counters):
            fail(f"counters {counters!r}, expected {sorted(self.counters)}")
        for k, v in counters.items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                fail(f"counter {k} is {v!r}, not a count")
        for k, v in hyper.items():
            if not isinstance(v, (bool, int, float, np.number, list, tuple)):
                fail(f"hyper-parameter {k} is {v!r}")
        for slot, values in new_slots.items():  # nothing below can fail
            setattr(self, slot, values)
        for k, v in hyper.items():
            setattr(self, k, tuple(v) if isinstance(v, list) else v)
        for k, v in counters.items():
            setattr(self, k, int(v))

    weight_decay = 0.0  # L2: wd·p is added to every gradient before the update (AdamW decays apart)

    def step(self) -> None:
        gate.enter()  # not while another thread traces a compiled step on these parameters
        try:
            self._step()
        finally:
            gate.leave()

    def _check_slots(self) -> None:
        """Refuse, before any parameter moves, state put in by hand that a step cannot use (NumPy's broadcasting
        error from inside the update, after the parameters before it had moved)."""
        for slot in self.slots:
            if slot in self.counts:
                continue
            for i, (v, p) in enumerate(zip(getattr(self, slot), self.params)):
                if v is not None and (getattr(v, "shape", None) != p._arr.shape or v.dtype.kind not in "fc"):
                    raise ValueError(f"{type(self).__name__}.step: {slot}[{i}] is {type(v).__name__}"
                                     f"{tuple(getattr(v, 'shape', ()))} {getattr(v, 'dtype', '')}, for a parameter "
                                     f"{p._arr.shape} {p._arr.dtype}: it must be an array of floats of that shape")

    def _step(self) -> None:
        self._check_slots()
        for i, p in enumerate(self.params):
            if p._grad is not None:
                g = p._grad._arr  # read here, never handed out
                if self.weight_decay:
                    g = g + self.weight_decay * p.data
                self._update(i, p, g)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        raise NotImplementedError


def _subtract(p: Tensor, delta: np.ndarray) -> None:
    """p ← p − delta, in place; out of place if a graph kept with ``retain_graph`` still holds p's
    values (they are read-only then, and must stay what that graph recorded)."""
    delta = delta.astype(p.dtype, copy=False)
    if p.data.flags.writeable:
        p.data -= delta
    else:
        p.data = p.data - delta


def _subtract_scaled(p: Tensor, c: Any, g: np.ndarray) -> None:
    """p ← p − c·g, in place: one pass over each array where they are large (axpy, ``_blas.subtract_scaled``),
    else ``_subtract(p, c * g)``."""
    values = p.data
    if g.dtype == values.dtype and values.flags.writeable:
        subtract_scaled(c, g, out=values)
    else:
        _subtract(p, c * g)


class SGD(Optimizer):
    """p ← p − lr·d, with d = g + wd·p, momentum v ← μv + d (d = v, or g + μv with Nesterov).

    Plain SGD is ``p.data -= lr * grad``, as the blog does: for parameters of 16,384 elements or more in one
    pass (BLAS's axpy, ~2.5x faster there), which may round the last bit differently (a fused multiply-add)."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params)
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            _check_range("SGD", name, value)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.lr, self.momentum, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    hyper = ("lr", "momentum", "nesterov", "weight_decay")
    slots = ("velocity",)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        if self.momentum:
            v = self.velocity[i]
            # (np.copy: the gradient of a 0-d parameter with weight decay is a NumPy scalar, whose .copy() is one
            # too, which the next step could not write into)
            v = np.copy(g) if v is None else np.add(self.momentum * v, g, out=v)
            self.velocity[i] = v
            g = g + self.momentum * v if self.nesterov else v
        _subtract_scaled(p, self.lr, g)


class Adam(Optimizer):
    """Adam (Kingma & Ba, Algorithm 1): p ← p − lr·m̂/(√v̂ + eps), m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), as PyTorch and
    HIPS autograd; ``weight_decay`` adds wd·p to the gradient (L2).

    t counts the parameter's own updates (``steps[i]``), as in PyTorch: a step where its ``.grad`` is None (a
    frozen part, a branch the loss did not reach) leaves its moments and its count as they were."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{type(self).__name__}: betas must be a pair (β₁, β₂), got {betas!r}")
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            _check_range(type(self).__name__, name, value)
        for name, value in zip(("betas[0]", "betas[1]"), betas):
            _check_range(type(self).__name__, name, value, 0.0, 1.0, high_open=True)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.steps = [np.zeros((), np.int64) for _ in self.params]  # each parameter's updates: its t
        self.t = 0  # calls of step()

    hyper = ("lr", "betas", "eps", "weight_decay")
    slots = ("m", "v", "steps")
    nonnegative = ("v",)
    counts = ("steps",)
    counters = ("t",)

    def _step(self) -> None:
        self.t += 1
        super()._step()

    def load_state_dict(self, state: dict) -> None:
        if isinstance(state, dict) and "steps" not in state and isinstance(state.get("counters"), dict):
            # saved before each parameter had its own count: every parameter's count was the optimizer's t
            t = np.asarray(state["counters"].get("t", -1))
            state = {**state, "steps": [t] * len(self.params), "steps_set": [True] * len(self.params)}
        super().load_state_dict(state)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        # a global t (the calls of step()) gave a parameter whose first gradient came at step 3 the bias
        # correction of step 3: its first move was 1/(1 + β₁ + β₁²) of Adam's, 0.054 off PyTorch's in 4 steps
        b1, b2 = self.betas
        m, v, t = self.m[i], self.v[i], self.steps[i]
        t += 1
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        # eps is added to √v̂, not to √v: the paper's "efficient" form, lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m/(√v + eps),
        # scales eps by 1/√(1 − β₂ᵗ) (×32 at the first step), which moved small-gradient parameters by 0.025
        # in 100 steps of lr 0.01 away from PyTorch's
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + self.eps
        _subtract(p, self.lr / (1 - b1 ** t) * (m / denom))


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.): s ← s + g², p ← p − lr·g/(√s + eps)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(params)
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            _check_range("Adagrad", name, value)
        self.lr, self.eps, self.weight_decay = lr, eps, weight_decay
        self.sum_sq = [np.zeros_like(p.data) for p in self.params]

    hyper = ("lr", "eps", "weight_decay")
    slots = ("sum_sq",)
    nonnegative = ("sum_sq",)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        s = self.sum_sq[i]
        s += g * g
        _subtract(p, self.lr * g / (np.sqrt(s) + self.eps))


class RMSprop(Optimizer):
    """RMSprop (Hinton): s ← αs + (1−α)g², p ← p − lr·g/(√s + eps)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params)
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            _check_range("RMSprop", name, value)
        _check_range("RMSprop", "alpha", alpha, 0.0, 1.0)
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.mean_sq = [np.zeros_like(p.data) for p in self.params]

    hyper = ("lr", "alpha", "eps", "weight_decay")
    slots = ("mean_sq",)
    nonnegative = ("mean_sq",)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        s = self.mean_sq[i]
        s *= self.alpha
        s += (1 - self.alpha) * (g * g)
        _subtract(p, self.lr * g / (np.sqrt(s) + self.eps))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p − lr·wd·p, then the Adam step
    on the gradient alone."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, 0.0)
        _check_range("AdamW", "weight_decay", weight_decay)
        self.decoupled_weight_decay = weight_decay

    hyper = Adam.hyper + ("decoupled_weight_decay",)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        if self.decoupled_weight_decay:
            _subtract(p, self.lr * self.decoupled_weight_decay * p.data)
        super()._update(i, p, g)


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale every ``.grad`` by min(1, max_norm/‖g‖) where ‖g‖ is the norm of all gradients together;
    returns ‖g‖ before clipping. ``params``: Tensors (each counted once, however often listed), or one Tensor."""
    _check_range("clip_grad_norm", "max_norm", max_norm)
    # one Tensor is iterated by its rows (no .grad: nothing clipped); one listed twice was counted twice in the
    # norm and scaled twice
    params = list({id(p): p for p in ([params] if isinstance(params, Tensor) else params)}.values())
    params = [p for p in params if p.grad is not None]
    if not params:
        return 0.0
    squares = [np.sum(np.square(p.grad.numpy(), dtype=np.float64)) for p in params]
    total = np.sqrt(np.sum(np.stack(squares)))
    # no Python branch on the norm (so anp.compile follows it): a factor of exactly 1 changes nothing
    scale = np.where(total > max_norm, max_norm / (total + 1e-12), 1.0)
    for p in params:
        p.grad = p.grad.numpy() * scale.astype(p.dtype)
    return total.item()


class LRSchedule:
    """Sets ``optimizer.lr`` from the epoch (or step) count; call ``step()`` once per epoch."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.count = 0

    def step(self) -> float:
        self.count += 1
        self.optimizer.lr = self.lr_at(self.count)
        return self.optimizer.lr

    def state_dict(self) -> dict:
        """Where the schedule is (its count and base rate), for ``anp.save``."""
        return {"type": type(self).__name__, "count": self.count, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict) -> None:
        from .serialize import FormatError
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            raise FormatError(f"{type(self).__name__}.load_state_dict: not a {type(self).__name__} state: {state!r}")
        count, base = state.get("count"), state.get("base_lr")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0 or not isinstance(base, (int, float)):
            raise FormatError(f"{type(self).__name__}.load_state_dict: count {count!r} / base_lr {base!r}")
        self.count, self.base_lr = count, base
        self.optimizer.lr = self.lr_at(count) if count else base

    def lr_at(self, count: int) -> float:
        raise NotImplementedError


class StepLR(LRSchedule):
    """lr = base · gamma^⌊count/step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        check_positive_int("StepLR", "step_size", step_size)
        _check_range("StepLR", "gamma", gamma)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, count: int) -> float:
        return self.base_lr * self.gamma ** (count // self.step_size)


class CosineLR(LRSchedule):
    """lr = min + (base − min)·(1 + cos(π·count/total))/2, reaching ``min_lr`` after ``total`` steps."""

    def __init__(self, optimizer: Optimizer, total: int, min_lr: float = 0.0):
        super().__init__(optimizer)
        check_positive_int("CosineLR", "total", total)
        self.total, self.min_lr = total, min_lr

    def lr_at(self, count: int) -> float:
        t = min(count, self.total) / self.total
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + np.cos(np.pi * t)) / 2
