"""What a compiled function reads and writes: its arguments and the state it reaches (Tensors,
Modules, Optimizers, random Generators, arrays in its closure and globals), where each value lives,
and the signature that decides whether a trace can be replayed."""
from __future__ import annotations

import functools
import gc
import types
from typing import Any, Callable

import numpy as np

from ..functional import number_variables
from ..ops._kernels import internal_constant
from ..tensor import Tensor, format_site
from ._trace import CompileError, Program, Ref, Sym, _ObjectProxy

_DATA_TYPES = (Tensor, np.ndarray, np.random.Generator)
_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_SKIP = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, functools.partial)


_TYPES: list = []


def _module_types():
    if not _TYPES:
        from ..nn import Module
        from ..optim import Optimizer
        _TYPES.extend((Module, Optimizer))
    return _TYPES


# --------------------------------------------------------------------------- what a call reads

class _Place:
    """Where one input value lives, so that a replay can read it and write the new value back."""

    __slots__ = ("kind", "holder", "key", "name")

    def __init__(self, kind: str, holder: Any, key: Any):
        self.kind, self.holder, self.key = kind, holder, key
        self.name = None

    def get(self) -> Any:
        k = self.kind
        if k == "attr":
            return getattr(self.holder, self.key)
        if k == "counter":
            v = getattr(self.holder, self.key)
            return v if isinstance(v, Sym) else np.int64(v)
        if k == "grad":
            g = self.holder._grad
            return None if g is None else g._arr
        if k == "item":
            return self.holder[self.key]
        if k == "cell":
            return self.holder.cell_contents
        if k == "global":
            return self.holder[self.key]
        return self.holder  # "value": an argument's own array

    def set(self, value: Any) -> None:
        k = self.kind
        if k == "attr":
            setattr(self.holder, self.key, value)
        elif k == "counter":
            setattr(self.holder, self.key, value if isinstance(value, Sym) else int(value))
        elif k == "grad":
            self.holder._grad = None if value is None else Tensor._make(value, None)
        elif k == "item":
            self.holder[self.key] = value
        elif k == "cell":
            self.holder.cell_contents = value
        elif k == "global":
            self.holder[self.key] = value

    def raw(self) -> Any:
        """What the place holds now (for a .grad: the Tensor)."""
        return self.holder._grad if self.kind == "grad" else self.get() if self.kind != "counter" \
            else getattr(self.holder, self.key)


class _Walk:
    """One call's inputs: the values the generated function takes, where they live, and the signature."""

    def __init__(self, trace: Program | None):
        self.trace = trace
        self.values: list = []
        self.places: list[_Place] = []
        self.key: list = []
        self.seen: dict[int, Any] = {}
        self.input_vars: list = []       # while tracing: the Var of each input value
        self.place_input: list = []      # for each place, the index of its input value (None: not an input)
        self.tensors: list[Tensor] = []
        self.objects: list = []          # Modules, Optimizers and other objects walked, in order
        Module, Optimizer = _module_types()
        self.Module, self.Optimizer = Module, Optimizer

    def _input(self, value: Any, place: _Place, hint: str) -> Any:
        """Register an input value and where it lives; while tracing, put its stand-in there."""
        self.place_input.append(len(self.values))
        self.values.append(value)
        self.places.append(place)
        place.name = hint
        if self.trace is None:
            return value
        var = self.trace.new_var(value, hint)
        self.input_vars.append(var)
        stand_in = _ObjectProxy(var, value) if isinstance(value, np.random.Generator) else Sym(var)
        if place.kind == "grad":
            place.holder._grad = Tensor._make(stand_in, None)
        elif place.kind != "value":
            place.set(stand_in)
        return stand_in

    def _output_place(self, place: _Place) -> None:
        """A place that is not read but may be written (a .grad that is None at the call)."""
        self.place_input.append(None)
        self.places.append(place)

    @staticmethod
    def _layout(a: np.ndarray) -> tuple:
        """Shape, dtype, layout (the strides too when neither C nor Fortran order fixes them)."""
        f = a.flags
        if f.c_contiguous or f.f_contiguous:
            return a.shape, a.dtype, f.c_contiguous, f.f_contiguous, f.writeable
        return a.shape, a.dtype, a.strides, f.writeable

    def walk(self, x: Any, hint: str, depth: int = 0) -> Any:
        """``x`` with its arrays replaced by stand-ins (while tracing); fills values/places/key."""
        k = self.seen.get(id(x))
        if k is not None and not isinstance(x, (int, float, str, bool, type(None))):
            self.key.append(("same", k[0]))
            return k[1]
        t = type(x)
        if t is np.ndarray:
            self.key.append(("A",) + self._layout(x))
            out = self._input(x, _Place("value", x, None), hint)
        elif isinstance(x, Tensor):
            out = self._tensor(x, hint)
        elif t in (tuple, list):
            self.key.append((t, len(x)))
            items = [self.walk(v, f"{hint}_{i}", depth) for i, v in enumerate(x)]
            out = t(items) if self.trace is not None else x
        elif t is dict:
            self.key.append((dict, tuple(x)))
            items = {k: self.walk(v, f"{hint}_{k}", depth) for k, v in x.items()}
            out = items if self.trace is not None else x
        elif isinstance(x, np.random.Generator):
            self.key.append(("G",))
            out = self._input(x, _Place("value", x, None), hint)
        elif isinstance(x, self.Module):
            self.objects.append(x)
            self._module(x, hint)
            out = x
        elif isinstance(x, self.Optimizer):
            self.objects.append(x)
            self._optimizer(x, hint)
            out = x
        elif isinstance(x, np.generic) and x.dtype.kind in "fiubc":  # a NumPy scalar: an input, not a constant
            self.key.append(("S", x.dtype))
            out = self._input(x, _Place("value", x, None), hint)
        elif x is None or t in _SCALARS or isinstance(x, (np.generic, np.dtype)):
            self.key.append((t, x))
            out = x
        elif isinstance(x, _SKIP) or callable(x):
            self.key.append(("O", id(x)))
            out = x
        elif hasattr(x, "__dict__") and depth < 3:
            self.objects.append(x)
            self.key.append(("X", id(x)))
            for name, v in list(vars(x).items()):
                if _holds_data(v):
                    self._attr(x, name, v, f"{hint}_{name}", depth + 1)
                elif type(v) in _SCALARS:  # self.block_rows: read by the traced code as a constant
                    self.key.append((name, v))
                else:  # a dict of settings, a function: by content or identity
                    self.key.append((name, _plain_key(v)))
            out = x
        else:
            self.key.append(("O", id(x)))
            out = x
        if t is not tuple:
            self.seen[id(x)] = (len(self.key), out)
        return out

    def _attr(self, obj: Any, name: str, v: Any, hint: str, depth: int) -> None:
        """An attribute of an object that holds data: arrays become inputs (rebound while tracing)."""
        if isinstance(v, (np.ndarray, np.random.Generator)) and id(v) not in self.seen:
            self.key.append(("attr", name) + (self._layout(v) if isinstance(v, np.ndarray) else ()))
            stand_in = self._input(v, _Place("attr", obj, name), hint)
            self.seen[id(v)] = (len(self.key), stand_in)
        else:
            self.walk(v, hint, depth)

    def _tensor(self, t: Tensor, hint: str) -> Tensor:
        hint = t.name or hint
        arr = t._arr
        if not isinstance(arr, np.ndarray):
            raise CompileError(f"compile: the Tensor {hint!r} holds no values (they were freed by backward)")
        g = t._grad
        key = ("T", t.requires_grad) + self._layout(arr)
        self.key.append(key + (None,) if g is None else key + self._layout(g._arr))  # a trace is made for its dtypes
        self._input(arr, _Place("attr", t, "_arr"), hint)
        if g is not None:
            self._input(g._arr, _Place("grad", t, None), "d" + hint)
        else:
            self._output_place(_Place("grad", t, None))
            self.places[-1].name = "d" + hint
        self.tensors.append(t)
        return t

    def _module(self, m: Any, hint: str) -> None:
        """A Module's Tensors (parameters and any other), buffers and random generators, submodules included."""
        key = self.key
        key.append(("M", id(m)))
        names = {} if self.trace is None else {id(p): n.replace(".", "_") for n, p in m.named_parameters()}
        scalars = _SCALARS
        for sub in m.modules():
            key.append(id(sub))
            attrs = vars(sub).items() if self.trace is None else list(vars(sub).items())  # tracing rebinds some
            for name, v in attrs:
                t = type(v)
                if t in scalars:  # training, p, momentum, eps...: constants of the trace
                    key.append((name, v))
                elif isinstance(v, Tensor):
                    self.walk(v, names.get(id(v), name))
                elif t is list or t is tuple:
                    key.append(len(v))
                    if not any(isinstance(x, (Tensor, self.Module)) for x in v):
                        key.append(_plain_key(v))  # sizes, names...: by content
                    for i, x in enumerate(v):
                        if isinstance(x, Tensor):
                            self.walk(x, names.get(id(x), f"{name}{i}"))
                elif isinstance(v, np.random.Generator):
                    self._attr(sub, name, v, name, 1)
                elif isinstance(v, np.ndarray) and name not in sub.buffers:  # a plain array attribute: an input
                    self._attr(sub, name, v, name, 1)
                elif not isinstance(v, self.Module):
                    key.append((name, _plain_key(v)))  # a dict, a function...: by content or identity
            for name in sub.buffers:
                v = getattr(sub, name)
                if v is not None:
                    self._attr(sub, name, v, f"{type(sub).__name__.lower()}_{name}", 1)

    def _optimizer(self, opt: Any, hint: str) -> None:
        self.key.append(("Opt", id(opt)))
        for h in opt.hyper:  # Python numbers are constants of the trace, NumPy scalars inputs (as arguments)
            v = getattr(opt, h)
            if isinstance(v, np.generic):
                self.key.append((h, v.dtype))
                self._input(v, _Place("attr", opt, h), h)
            else:
                self.key.append((h, _hashable(v)))
        for p in opt.params:
            self.walk(p, "p")
        for slot in opt.slots:
            values = getattr(opt, slot)
            for i, v in enumerate(values):
                self.key.append((slot, None) if v is None else (slot,) + self._layout(v))
                if v is not None:
                    self._input(v, _Place("item", values, i), f"{slot}{i}")
                else:
                    self._output_place(_Place("item", values, i))
        for name in opt.counters:
            v = getattr(opt, name)
            self.key.append(("counter", name, type(v)))
            self._input(np.int64(v), _Place("counter", opt, name), name)


def _plain_key(v: Any) -> Any:
    """A signature entry for a value that is neither data nor a number: its fingerprint (containers and
    plain objects by content, everything else by identity, kept alive). One too large to compare on every
    call (a loss history past 5,000 entries on ``self``) is keyed by identity; if the traced code names it,
    the trace is refused (``_reads.derive``)."""
    from ._reads import _safe_fp
    return _safe_fp(v)


def _hashable(v: Any) -> Any:
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def _holds_data(v: Any) -> bool:
    if isinstance(v, _DATA_TYPES):
        return True
    Module, Optimizer = _module_types()
    if isinstance(v, (Module, Optimizer)):
        return True
    if type(v) in (list, tuple, dict):
        vals = v.values() if type(v) is dict else v
        return any(_holds_data(x) for x in vals)
    return False


def _captured(f: Callable, depth: int = 0, seen: set | None = None) -> list[tuple[str, _Place | None, Any]]:
    """Objects ``f`` reaches without taking them as arguments: ``self`` of a bound method, closure cells,
    and the globals its code names (only the kinds that hold data) — and, two functions deep, those of
    the functions it reaches the same way (``loss = make_loss(W)``: ``W`` lives in ``loss``'s closure).
    Deeper than that: the functions a trace was seen to run (``_reads``) are walked from the next call."""
    seen = set() if seen is None else seen
    if id(f) in seen:
        return []
    seen.add(id(f))
    found = []
    self = getattr(f, "__self__", None)
    if self is not None and not isinstance(self, types.ModuleType):
        found.append(("self", None, self))
    func = getattr(f, "__func__", f)
    if isinstance(func, functools.partial):
        found.extend((f"arg{i}", None, v) for i, v in enumerate(func.args) if _holds_data(v))
        return found + _captured(func.func, depth + 1, seen) if depth < 2 else found
    code = getattr(func, "__code__", None)
    if code is None:
        return found
    calls = []
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if _holds_data(v) or type(v) in _SCALARS or hasattr(v, "__dict__") and not isinstance(v, _SKIP) \
                and not callable(v):
            found.append((name, _Place("cell", cell, None), v))
        elif _user_function(v):
            calls.append(v)
    g = func.__globals__
    for name in _names(code):
        v = g.get(name)
        if v is not None and (_holds_data(v) or type(v) in _SCALARS):
            found.append((name, _Place("global", g, name), v))
        elif _user_function(v):
            calls.append(v)
    if depth < 2:
        for h in calls:
            found.extend(_captured(h, depth + 1, seen))
    return found


def _user_function(v: Any) -> bool:
    """A function (not NumPy's) whose closure and globals may hold more of what the compiled one reads."""
    if isinstance(v, (types.FunctionType, types.MethodType, functools.partial)):
        module = getattr(v, "__module__", None) or ""
        return not module.startswith("numpy")
    return False


def _names(code) -> list[str]:
    names = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names.extend(_names(c))
    return names


# --------------------------------------------------------------------------- values the function stored

def _traced(v: Any) -> bool:
    return isinstance(v, Sym) or (isinstance(v, Tensor) and isinstance(v._arr, Sym))


def _stored(walk: _Walk, f: Callable, strict: bool = True) -> list[tuple[tuple, Any, Any]]:
    """Traced values the function stored where the next call can see them (``opt.lr = lr``,
    ``self.last = loss``, ``global total``): (where, the value now there, template). Each replay
    stores its own value there. A traced value put into a list or dict is refused: a replay could
    not repeat an append."""
    places = {(id(p.holder), p.key) for p in walk.places if p.kind in ("attr", "counter")}
    held = {id(p.holder) for p in walk.places if p.kind == "item"} | {id(t) for t in walk.tensors}
    found = []

    def look(where: tuple, v: Any, what: str) -> None:
        if _traced(v) and id(v) not in held:
            arr = v._arr if isinstance(v, Tensor) else v
            found.append((where, v, ("T" if isinstance(v, Tensor) else "A", Ref(arr._var))))
        elif type(v) in (list, tuple, dict) and id(v) not in held:
            items = v.values() if type(v) is dict else v
            if strict and any(_traced(x) and id(x) not in held for x in items):
                raise CompileError(f"compile: the function put a traced value into {what} (a {type(v).__name__}); "
                                   f"a replay cannot repeat that. Return the value instead.")

    for i, obj in enumerate(walk.objects):
        for name, v in list(vars(obj).items()):
            if (id(obj), name) not in places:
                look(("obj", i, name), v, f"{type(obj).__name__}.{name}")
    func = getattr(f, "__func__", f)
    code = getattr(func, "__code__", None)
    if code is not None:
        for name in set(_names(code)):
            if name in func.__globals__:
                look(("global", func.__globals__, name), func.__globals__[name], f"the global {name}")
        for name, cell in zip(code.co_freevars, func.__closure__ or ()):
            try:
                look(("cell", cell, None), cell.cell_contents, f"the variable {name}")
            except ValueError:
                pass
    return found


def _store(walk: _Walk, where: tuple, value: Any) -> None:
    kind, holder, key = where
    if kind == "obj":
        setattr(walk.objects[holder], key, value)
    elif kind == "global":
        holder[key] = value
    else:
        holder.cell_contents = value


def check_constants(program: Program, walk: _Walk) -> None:
    """Refuse a trace that baked in the values of a Tensor requiring grad that the function neither
    receives nor reaches (a parameter hidden deeper than the walk looks, or a value computed from
    one): a replay would keep using the values it had when traced, whatever happened to it since."""
    arrays, roots = [], set()
    for instr in program.instrs:
        for leaf in _leaves((instr.args, instr.kwargs)):
            if isinstance(leaf, np.ndarray) and leaf.size:
                root = leaf
                while isinstance(root.base, np.ndarray):
                    root = root.base
                # no heap scan for autonp's own vectors of ones, nor for arrays that no Tensor requiring grad can
                # hold (those are floats; the MLP step's trace spent 1.9 ms of its ~10 on a range of labels)
                if internal_constant(root) or "f" not in leaf.dtype.kind + root.dtype.kind:
                    continue
                for a in (leaf, root):
                    if id(a) not in roots:
                        roots.add(id(a))
                        arrays.append(a)
    if not arrays:
        return
    seen = {id(t) for t in walk.tensors}
    for holder in gc.get_referrers(*arrays):
        if isinstance(holder, Tensor) and holder.requires_grad and id(holder) not in seen \
                and id(holder._arr) in roots and holder not in number_variables:
            site = next((i.site for i in program.instrs if any(x is holder._arr for x in _leaves(i.args))), None)
            raise CompileError(
                f"compile: the function uses the values of a Tensor{tuple(holder.shape)} that requires grad"
                f"{f' ({holder.name!r})' if holder.name else ''} but neither receives it nor reaches it "
                f"through its closure, its globals or self (at {format_site(site)}): a replay would use the "
                f"values it had when traced. Pass it as an argument, or keep it on a Module or an Optimizer "
                f"the function can see.")


def _leaves(template: Any):
    if type(template) in (tuple, list):
        for t in template:
            yield from _leaves(t)
    elif type(template) is dict:
        for t in template.values():
            yield from _leaves(t)
    else:
        yield template
