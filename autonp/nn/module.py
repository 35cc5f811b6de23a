"""Parameters and modules: what a network is made of, how its state is listed, saved and loaded."""
from __future__ import annotations

import json
from typing import Any, Iterator

import numpy as np

from ..tensor import Tensor, _mode, _user_site, gate, is_internal, new_scope

__all__ = ["Parameter", "Module", "Sequential"]


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates; always requires grad."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, dtype: Any = None):
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)


class Module:
    """Base class: subclasses set Parameters and sub-Modules as attributes and define ``forward``."""

    training = True
    # True on autonp's layers whose forward runs autonp's ops and nothing else (no sub-Modules, no user code):
    # Sequential then finds the user's line once and hands it to them, instead of each op searching the stack
    ops_only = False

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError

    def __call__(self, *args: Any) -> Tensor:
        if getattr(gate.local, "depth", 0):  # an outer call of this thread holds the gate already
            return self.forward(*args)
        gate.enter()  # not while another thread traces a compiled step on shared Tensors
        try:
            return self.forward(*args)
        finally:
            gate.leave()

    def _named_items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """(dotted name, value) for every attribute, the items of list and tuple attributes as ``name.i``."""
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    yield f"{prefix}{name}.{i}", v
            else:
                yield f"{prefix}{name}", value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for key, v in self._named_items(prefix):
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
        """This module and every sub-module, depth first, in attribute order (list and tuple items in turn)."""
        yield self
        for value in vars(self).values():
            for v in (value if isinstance(value, (list, tuple)) else (value,)):
                if isinstance(v, Module):
                    yield from v.modules()

    def __repr__(self) -> str:
        """A tree, as PyTorch prints one: each sub-module on its line, a module's settings and parameter
        shapes in its parentheses, parameter counts after them."""
        settings = [f"{k}={v!r}" for k, v in vars(self).items()
                    if isinstance(v, (bool, int, float, str)) and not k.startswith("_") and k != "training"]
        settings += [f"{k}: {tuple(v.shape)}" for k, v in self._named_items() if isinstance(v, Parameter)]
        head = f"{type(self).__name__}({', '.join(settings)})"
        n = sum(p.size for p in self.parameters())
        count = f"  # {n:,} parameter{'s' if n != 1 else ''}" if n else ""
        children = [(k, v) for k, v in self._named_items() if isinstance(v, Module)]
        if not children:
            return head + count
        lines = [f"{head[:-1]}" if settings else f"{type(self).__name__}("]
        for key, child in children:
            name = key.split(".", 1)[1] if key.startswith("layers.") else key
            lines += ["  " + line for line in f"({name}): {child!r}".splitlines()]
        return "\n".join(lines + [")" + count])

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
        for key, v in self._named_items(prefix):
            if isinstance(v, Module):
                yield from v.named_buffers(key + ".")

    def named_generators(self, prefix: str = "") -> Iterator[tuple[str, np.random.Generator]]:
        """The random generators the modules draw from (Dropout's masks): training state too."""
        for key, v in self._named_items(prefix):
            if isinstance(v, np.random.Generator):
                yield key, v
            elif isinstance(v, Module):
                yield from v.named_generators(key + ".")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by its dotted name, as copies of the arrays, and every random
        generator's state (its bit generator's state as JSON bytes, a uint8 array), so that a run with
        Dropout resumes bit for bit."""
        state = {name: np.array(p.numpy()) for name, p in self.named_parameters()}
        state.update({name: np.array(b) for name, b in self.named_buffers()})
        state.update({name: _generator_bytes(g) for name, g in self.named_generators()})
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values into the parameters, buffers and generators (names as ``state_dict`` gives them).
        With ``strict``, missing or unexpected names are an error; shapes must always match, values must
        be numbers. Everything is checked and converted first: nothing changes unless everything fits."""
        from ..serialize import FormatError
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        gens = dict(self.named_generators())
        if not isinstance(state, dict):
            raise FormatError(f"load_state_dict into {type(self).__name__}: expected a dict, "
                              f"got {type(state).__name__}")
        values = {k: (v.numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in state.items()}
        known = set(params) | set(buffers) | set(gens)
        missing = sorted(known - set(values))
        unexpected = sorted(set(values) - known)
        wrong = [f"{k}: {values[k].shape} in the state, {np.shape(t)} in the model"
                 for k, t in {**params, **buffers}.items() if k in values and values[k].shape != np.shape(t)]
        bad = [f"{k}: dtype {values[k].dtype}" for k in {**params, **buffers}
               if k in values and values[k].dtype.kind not in "biuf"]
        problems = ([f"missing: {missing}"] if missing and strict else []) + \
                   ([f"unexpected: {unexpected}"] if unexpected and strict else []) + \
                   ([f"wrong shape: {'; '.join(wrong)}"] if wrong else []) + \
                   ([f"not numbers: {'; '.join(bad)}"] if bad else [])
        if problems:
            raise FormatError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        new_params = {k: np.array(values[k], dtype=p.dtype) for k, p in params.items() if k in values}
        new_buffers = {k: np.array(values[k], dtype=np.asarray(b).dtype) for k, b in buffers.items() if k in values}
        new_gens = {k: _generator_state(k, values[k], g) for k, g in gens.items() if k in values}
        for k, p in params.items():  # nothing below can fail
            if k in new_params:
                p.data = new_params[k]
        for k, v in new_buffers.items():
            owner, attr = self._owner_of(k)
            setattr(owner, attr, v)
        for k, st in new_gens.items():
            gens[k].bit_generator.state = st

    def _owner_of(self, dotted: str) -> tuple["Module", str]:
        *path, attr = dotted.split(".")
        owner: Any = self
        for part in path:
            owner = owner[int(part)] if isinstance(owner, (list, tuple)) else getattr(owner, part)
        return owner, attr


def _generator_bytes(g: np.random.Generator) -> np.ndarray:
    return np.frombuffer(json.dumps(g.bit_generator.state).encode(), dtype=np.uint8).copy()


def _generator_state(key: str, value: np.ndarray, g: np.random.Generator) -> dict:
    """The state ``_generator_bytes`` wrote, checked by giving it to a fresh generator of the same kind."""
    from ..serialize import FormatError
    try:
        st = json.loads(np.asarray(value, dtype=np.uint8).tobytes().decode())
        type(g.bit_generator)().state = st
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise FormatError(f"load_state_dict: {key} is not the state of a {type(g.bit_generator).__name__} "
                          f"generator ({type(e).__name__}: {e})") from None
    return st


class Sequential(Module):
    """Layers applied in order; each one's ops are recorded in a name scope ``"<index> <Layer>"``, so
    graph pictures group them (and ``summary=True`` draws one box per layer)."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def __getitem__(self, i: int | slice) -> Module:
        """A layer (``net[0]``, ``net[-1]``), or a Sequential of a slice of them, the same layers
        (``net[:-1]``: the network without its head), as in PyTorch."""
        return Sequential(*self.layers[i]) if isinstance(i, slice) else self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x: Any) -> Tensor:
        outer, outer_site = _mode.scope, _mode.site  # (each layer's name scope pushed directly: a per-step cost)
        site = None
        try:
            for i, layer in enumerate(self.layers):  # self.layers as it is now: layers appended later run too
                _mode.scope = outer + (new_scope(f"{i} {type(layer).__name__}"),)
                if _runs_only_autonp_ops(layer):  # its ops' line is the one that called this Sequential
                    site = site or _user_site(1)
                    _mode.site = site
                else:  # a layer of the user's (or holding others): its ops find their own lines
                    _mode.site = None
                x = layer(x)
        finally:
            _mode.scope, _mode.site = outer, outer_site
        return x


_ops_only_types: dict[type, bool] = {}


def _runs_only_autonp_ops(layer: Any) -> bool:
    """``layer``'s class says ``ops_only``, and every function its classes define is autonp's (a user's subclass
    may override ``forward``, or an activation's ``fn``)."""
    kind = type(layer)
    known = _ops_only_types.get(kind)
    if known is None:
        functions = [getattr(f, "__func__", f) for k in kind.__mro__ for f in vars(k).values()]
        known = _ops_only_types[kind] = bool(getattr(kind, "ops_only", False)) and all(
            is_internal(f.__code__) for f in functions if hasattr(f, "__code__"))
    return known
