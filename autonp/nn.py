"""Layers, losses and parameters for writing networks with autonp.

Weights are stored ``(in_features, out_features)`` so that a layer is ``x @ W + b``, as in the
blog post (PyTorch stores the transpose).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from . import ops
from .tensor import Tensor

__all__ = ["Parameter", "Module", "Linear", "Sequential", "Sigmoid", "Tanh", "ReLU", "Softmax", "LogSoftmax",
           "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_sum", "mse_loss", "l2_penalty"]


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates; always requires grad."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, dtype: Any = None):
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)


class Module:
    """Base class: subclasses set Parameters and sub-Modules as attributes and define ``forward``."""

    training = True

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError

    def __call__(self, *args: Any) -> Tensor:
        return self.forward(*args)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for name, value in vars(self).items():
            items = value if isinstance(value, (list, tuple)) else [value]
            for i, v in enumerate(items):
                key = f"{prefix}{name}" + (f".{i}" if isinstance(value, (list, tuple)) else "")
                if isinstance(v, Parameter) and id(v) not in seen:
                    seen.add(id(v))
                    yield key, v
                elif isinstance(v, Module):
                    for sub, p in v.named_parameters(key + "."):
                        if id(p) not in seen:
                            seen.add(id(p))
                            yield sub, p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def modules(self) -> Iterator["Module"]:
        yield self
        for value in vars(self).values():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, Module):
                    yield from v.modules()

    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # ---- saving and loading
    buffers: tuple[str, ...] = ()  # names of ndarray attributes that are state but not parameters

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name in self.buffers:
            yield f"{prefix}{name}", getattr(self, name)
        for name, value in vars(self).items():
            for i, v in enumerate(value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(v, Module):
                    key = f"{prefix}{name}" + (f".{i}" if isinstance(value, (list, tuple)) else "")
                    yield from v.named_buffers(key + ".")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by its dotted name, as copies of the arrays."""
        state = {name: np.array(p.numpy()) for name, p in self.named_parameters()}
        state.update({name: np.array(b) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values into the parameters and buffers (names as ``state_dict`` gives them). With
        ``strict``, missing or unexpected names are an error; shapes must always match. Nothing is
        changed unless everything fits."""
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        values = {k: (v.numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in state.items()}
        missing = sorted((set(params) | set(buffers)) - set(values))
        unexpected = sorted(set(values) - set(params) - set(buffers))
        wrong = [f"{k}: {values[k].shape} in the state, {np.shape(t)} in the model"
                 for k, t in {**params, **buffers}.items() if k in values and values[k].shape != np.shape(t)]
        problems = ([f"missing: {missing}"] if missing and strict else []) + \
                   ([f"unexpected: {unexpected}"] if unexpected and strict else []) + \
                   ([f"wrong shape: {'; '.join(wrong)}"] if wrong else [])
        if problems:
            raise KeyError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for k, p in params.items():
            if k in values:
                p.data = np.array(values[k], dtype=p.dtype)
        for k in buffers:
            if k in values:
                owner, attr = self._owner_of(k)
                setattr(owner, attr, np.array(values[k], dtype=np.asarray(getattr(owner, attr)).dtype))

    def _owner_of(self, dotted: str) -> tuple["Module", str]:
        *path, attr = dotted.split(".")
        owner: Any = self
        for part in path:
            owner = owner[int(part)] if isinstance(owner, (list, tuple)) else getattr(owner, part)
        return owner, attr


def _init_weight(init: str | Callable, n_in: int, n_out: int, rng: np.random.Generator | None) -> np.ndarray:
    if callable(init):
        return np.asarray(init((n_in, n_out)), dtype=np.float64)
    if init == "blog":
        # the post: np.random.randn(...) * 0.01 from NumPy's global generator (seed it with np.random.seed)
        return np.random.randn(n_in, n_out) * 0.01
    rng = rng if rng is not None else np.random.default_rng()
    if init == "he":
        return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out))
    if init == "xavier":
        limit = np.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-limit, limit, (n_in, n_out))
    raise ValueError(f"Linear: unknown init {init!r}; use 'xavier', 'he', 'blog' or a function of the shape")


class Linear(Module):
    """``y = x @ W + b`` with W of shape (in_features, out_features) and b of shape (1, out_features).

    init: 'xavier' (uniform, default), 'he' (normal, for ReLU), 'blog' (randn·0.01 from the global
    NumPy generator, so ``np.random.seed(42)`` then W1 then W2 reproduces the post bit for bit),
    or a function of the shape. Biases start at zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str | Callable = "xavier",
                 rng: np.random.Generator | None = None, dtype: Any = np.float64, name: str = ""):
        w = _init_weight(init, in_features, out_features, rng).astype(dtype)
        self.weight = Parameter(w, name=f"W{name}")
        self.bias = Parameter(np.zeros((1, out_features), dtype=dtype), name=f"b{name}") if bias else None

    def forward(self, x: Any) -> Tensor:
        y = x @ self.weight
        return y + self.bias if self.bias is not None else y


class Sequential(Module):
    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _Activation(Module):
    fn: Callable = staticmethod(lambda x: x)

    def forward(self, x: Any) -> Tensor:
        return type(self).fn(x)


class Sigmoid(_Activation):
    fn = staticmethod(ops.sigmoid)


class Tanh(_Activation):
    fn = staticmethod(ops.tanh)


class ReLU(_Activation):
    fn = staticmethod(ops.relu)


class Softmax(Module):
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        return ops.softmax(x, axis=self.axis)


class LogSoftmax(Softmax):
    def forward(self, x: Any) -> Tensor:
        return ops.log_softmax(x, axis=self.axis)


# --------------------------------------------------------------------------- losses

def _one_hot_like(target: Any, logits: Any) -> Any:
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind in "iu" and t.ndim == np.ndim(logits) - 1:
        dtype = logits.dtype if isinstance(logits, (Tensor, np.ndarray)) else np.float64
        return np.eye(np.shape(logits)[-1], dtype=dtype)[t]
    return target


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Mean over rows of −Σ target·log_softmax(logits). ``target``: class indices or probability rows
    (one-hot). Fused: forward via log-softmax (stable), backward (softmax − target)/m in one step."""
    return ops.softmax_cross_entropy(logits, _one_hot_like(target, logits))


def binary_cross_entropy(probs: Any, target: Any) -> Tensor:
    """Mean over all elements of −[t·log p + (1−t)·log(1−p)]."""
    return -ops.mean(target * ops.log(probs) + (1 - target) * ops.log(1 - probs))


def binary_cross_entropy_sum(probs: Any, target: Any) -> Tensor:
    """The cost the blog prints: −Σ[Y·log a + (1−Y)·log(1−a)] / m, binary cross-entropy summed over
    the outputs of each row (for the blog, the ten softmax outputs) and averaged over the m rows.
    Its gradient is *not* the blog's a − Y; that is the gradient of ``cross_entropy``."""
    m = np.shape(probs)[0]
    return -ops.sum(target * ops.log(probs) + (1 - target) * ops.log(1 - probs)) / m


def mse_loss(pred: Any, target: Any) -> Tensor:
    """Mean of (pred − target)²."""
    d = pred - target
    return ops.mean(d * d)


def l2_penalty(params: Module | list, weight: float) -> Tensor:
    """weight/2 · Σ‖W‖² over the weight matrices (parameters with ndim ≥ 2; biases are not decayed)."""
    ps = params.parameters() if isinstance(params, Module) else list(params)
    total: Any = 0.0
    for p in ps:
        if p.ndim >= 2:
            total = total + ops.sum(p * p)
    return total * (weight / 2)
