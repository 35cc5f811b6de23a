"""``anp.compile(f)``: trace ``f`` once, replay it as straight-line NumPy.

The first call with a given signature runs ``f`` for real on stand-ins that record every NumPy call
(forward ops, the VJPs of any ``backward``/``grad`` inside, an optimizer's update) and turns the
record into the source of a Python function (``compiled.source``). Later calls with the same
signature run that function: no tape, no Tensors, only the NumPy calls.

What ``f`` reads and writes is found and followed: its arguments (Tensors, arrays, numbers, lists,
tuples and dicts of them, Modules, Optimizers, random Generators) and the same kinds of objects it
reaches through its closure and the globals its code names. Their arrays are inputs of the
generated function; what ``f`` rebinds (a parameter's values, a ``.grad``, an optimizer's step
count) is written back after each replay; what it changes in place is changed in place.

Signature: shapes, dtypes and memory layout of arrays and Tensors, which Tensors require grad and
which have a ``.grad``, the values of Python numbers and strings, the identity of other objects,
the ``training`` flags of Modules and the hyper-parameters of Optimizers. A new signature traces
again; ``max_signatures`` (16) are kept, least recently used dropped.

Guards: Python control flow on values (``if loss.item() > 1``, ``bool(t)``, ``float(t)``,
``int(t)``, ``t.tolist()``) records the value it saw; a replay that sees another one traces again
(``max_traces`` (8) traces per signature; past that, that signature runs eagerly with a warning).
"""
from __future__ import annotations

import builtins
import functools
import inspect
import itertools
import linecache
import threading
import types
import warnings
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from . import _trace
from ._codegen import Retrace, _is_random, generate
from ._trace import CompileError, Program, Ref, Sym, _ObjectProxy, _unwrap

__all__ = ["compile", "Compiled", "CompileError"]

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
            return a.shape, a.dtype.str, f.c_contiguous, f.f_contiguous, f.writeable
        return a.shape, a.dtype.str, a.strides, f.writeable

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
            self.key.append(("S", x.dtype.str))
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
        self.key.append(("T", t.requires_grad, g is None) + self._layout(arr))
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
                    for i, x in enumerate(v):
                        if isinstance(x, Tensor):
                            self.walk(x, names.get(id(x), f"{name}{i}"))
                elif isinstance(v, np.random.Generator):
                    self._attr(sub, name, v, name, 1)
            for name in sub.buffers:
                v = getattr(sub, name)
                if v is not None:
                    self._attr(sub, name, v, f"{type(sub).__name__.lower()}_{name}", 1)

    def _optimizer(self, opt: Any, hint: str) -> None:
        self.key.append(("Opt", id(opt)))
        for h in opt.hyper:  # Python numbers are constants of the trace, NumPy scalars inputs (as arguments)
            v = getattr(opt, h)
            if isinstance(v, np.generic):
                self.key.append((h, v.dtype.str))
                self._input(v, _Place("attr", opt, h), h)
            else:
                self.key.append((h, _hashable(v)))
        for p in opt.params:
            self.walk(p, "p")
        for slot in opt.slots:
            values = getattr(opt, slot)
            for i, v in enumerate(values):
                self.key.append((slot, v is None))
                if v is not None:
                    self._input(v, _Place("item", values, i), f"{slot}{i}")
                else:
                    self._output_place(_Place("item", values, i))
        for name in opt.counters:
            v = getattr(opt, name)
            self.key.append(("counter", name, type(v)))
            self._input(np.int64(v), _Place("counter", opt, name), name)


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


def _captured(f: Callable) -> list[tuple[str, _Place | None, Any]]:
    """Objects ``f`` reaches without taking them as arguments: ``self`` of a bound method, closure cells,
    and the globals its code names (only the kinds that hold data)."""
    found = []
    self = getattr(f, "__self__", None)
    if self is not None and not isinstance(self, types.ModuleType):
        found.append(("self", None, self))
    func = getattr(f, "__func__", f)
    code = getattr(func, "__code__", None)
    if code is None:
        return found
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if _holds_data(v) or type(v) in _SCALARS or hasattr(v, "__dict__") and not isinstance(v, _SKIP) \
                and not callable(v):
            found.append((name, _Place("cell", cell, None), v))
    g = func.__globals__
    for name in _names(code):
        v = g.get(name)
        if v is not None and (_holds_data(v) or type(v) in _SCALARS):
            found.append((name, _Place("global", g, name), v))
    return found


def _names(code) -> list[str]:
    names = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names.extend(_names(c))
    return names


# --------------------------------------------------------------------------- values the function stored

def _traced(v: Any) -> bool:
    return isinstance(v, Sym) or (isinstance(v, Tensor) and isinstance(v._arr, Sym))


def _stored(walk: _Walk, f: Callable) -> list[tuple[tuple, Any, Any]]:
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
            if any(_traced(x) and id(x) not in held for x in items):
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


# --------------------------------------------------------------------------- outputs

def _output_template(x: Any, tensors: dict) -> Any:
    """How to rebuild the result: ('T', flat index) for new Tensors, ('same', tensor) for input ones..."""
    if isinstance(x, Tensor):
        if id(x) in tensors:
            return ("same", x)
        arr = x._arr
        if arr is None:
            raise CompileError("compile: the function returned a Tensor whose values backward freed")
        return ("T", _unwrap(arr)[1])
    if isinstance(x, Sym):
        return ("A", Ref(x._var))
    if type(x) in (tuple, list):
        return (type(x), [_output_template(v, tensors) for v in x])
    if type(x) is dict:
        return (dict, {k: _output_template(v, tensors) for k, v in x.items()})
    if isinstance(x, np.ndarray):
        return ("CA", x)
    return ("C", x)


def _flat_refs(template: Any, out: list) -> Any:
    """Replace the Refs of an output template by indices into a flat list (what the code returns)."""
    tag, body = template
    if tag == "T" or tag == "A":
        if isinstance(body, Ref):
            out.append(body)
            return (tag, len(out) - 1)
        return ("CT" if tag == "T" else "C", body)
    if tag in (tuple, list):
        return (tag, [_flat_refs(v, out) for v in body])
    if tag is dict:
        return (tag, {k: _flat_refs(v, out) for k, v in body.items()})
    return template


def _build(template: Any, values: tuple, scalars: set) -> Any:
    tag, body = template
    if tag == "T":
        return Tensor._make(values[body], None)
    if tag == "CT":  # a Tensor of values the trace computed once: a copy each call
        return Tensor._make(np.copy(body), None)
    if tag == "A":
        v = values[body]
        return v.item() if body in scalars else v
    if tag in (tuple, list):
        return tag(_build(v, values, scalars) for v in body)
    if tag is dict:
        return {k: _build(v, values, scalars) for k, v in body.items()}
    if tag == "CA":
        return np.copy(body)
    return body  # "C" constants, "same" tensors


# --------------------------------------------------------------------------- the compiled function

class _Trace:
    """One traced program: its generated function and how to read its results."""

    def __init__(self, fn, source, out_template, scalars, writebacks, undo):
        self.fn, self.source, self.out_template, self.scalars = fn, source, out_template, scalars
        self.writebacks = writebacks  # indices of places written back, in the order the code returns them
        self.undo = undo if any(undo) else None  # (arrays, generators, global rng) changed before a guard
        self.stores: list = []  # traced values the function stored on objects or in globals

    def run(self, values: list) -> tuple:
        """The generated function on these inputs; if a guard fails, what it changed is put back first."""
        if self.undo is None:
            return self.fn(*values)
        arrays, generators, global_rng = self.undo
        saved = [values[i].copy() for i in arrays]
        states = [values[i].bit_generator.state for i in generators]
        rng = np.random.get_state() if global_rng else None
        try:
            return self.fn(*values)
        except Retrace:
            for i, a in zip(arrays, saved):
                np.copyto(values[i], a)
            for i, st in zip(generators, states):
                values[i].bit_generator.state = st
            if rng is not None:
                np.random.set_state(rng)
            raise


_EAGER = object()
_counter = itertools.count()


class Compiled:
    """A function compiled by :func:`compile`. ``source``: the generated code of the latest trace."""

    def __init__(self, f: Callable, max_signatures: int = 16, max_traces: int = 8):
        self.f = f
        self.max_signatures, self.max_traces = max_signatures, max_traces
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.RLock()
        self.traces = 0
        self._last: _Trace | None = None
        functools.update_wrapper(self, f)
        try:
            self._params = [p.name for p in inspect.signature(f).parameters.values()]
        except (TypeError, ValueError):
            self._params = []

    @property
    def source(self) -> str:
        if self._last is None:
            raise RuntimeError("compiled.source: call the function once first (it is traced on its first call)")
        return self._last.source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        walk = _Walk(None)
        self._walk_all(walk, args, kwargs)
        key = tuple(walk.key)
        with self._lock:
            traces = self._cache.get(key)
            if traces is not None:
                self._cache.move_to_end(key)
        if traces is _EAGER:
            return self.f(*args, **kwargs)
        for trace in traces or ():
            try:
                outs, wb = trace.run(walk.values)
            except Retrace:
                continue
            places = walk.places
            for i, v in zip(trace.writebacks, wb):
                places[i].set(v)
            if trace.stores:
                for (where, tag), v in zip(trace.stores, wb[len(trace.writebacks):]):
                    _store(walk, where, Tensor._make(v, None) if tag == "T" else v)
            self._last = trace
            return _build(trace.out_template, outs, trace.scalars)
        if traces is not None and len(traces) >= self.max_traces:
            warnings.warn(f"compile({self.__name__}): {len(traces)} traces for one signature, each guard "
                          f"failing in turn (a value read by Python control flow changes on every call); "
                          f"this signature now runs eagerly", RuntimeWarning, stacklevel=2)
            with self._lock:
                self._cache[key] = _EAGER
            return self.f(*args, **kwargs)
        return self._trace(key, args, kwargs)

    def _walk_all(self, walk: _Walk, args: tuple, kwargs: dict) -> tuple:
        names = self._params
        out_args = [walk.walk(a, names[i] if i < len(names) and not names[i].startswith("*") else f"arg{i}")
                    for i, a in enumerate(args)]
        out_kwargs = {k: walk.walk(v, k) for k, v in kwargs.items()}
        for name, place, v in _captured(self.f):
            if isinstance(v, np.ndarray) and place is not None and id(v) not in walk.seen:
                walk.key.append(("captured", name) + walk._layout(v))
                walk.seen[id(v)] = (len(walk.key), walk._input(v, place, name))
            elif isinstance(v, np.generic):  # read where it lives: a constant of the trace
                walk.key.append(("captured", name, v))
            else:
                walk.walk(v, name)
        return out_args, out_kwargs

    def _trace(self, key: tuple, args: tuple, kwargs: dict) -> Any:
        program = Program()
        walk = _Walk(program)
        prev = _trace._state.program
        _trace._state.program = program
        _RandomPatch.enter(program)
        try:
            targs, tkwargs = self._walk_all(walk, args, kwargs)
            result = self.f(*targs, **tkwargs)
            _check_global_rng(program)
            tensors = {id(t): t for t in walk.tensors}
            _name_graph(result)
            out_template = _output_template(result, tensors)
            writebacks, wb_templates = self._writebacks(walk)
            stored = _stored(walk, self.f)
        finally:
            _RandomPatch.exit(program)
            _trace._state.program = prev
            self._restore(walk)
        for where, v, _ in stored:  # the traced call's values, concrete
            arr = (v._arr if isinstance(v, Tensor) else v)._value()
            _store(walk, where, Tensor._make(arr, None) if isinstance(v, Tensor) else arr)
        wb_templates = wb_templates + [tmpl[1] for _, _, tmpl in stored]
        stores = [(where if where[0] == "obj" else where, tmpl[0]) for where, _, tmpl in stored]
        flat: list = []
        out_flat = _flat_refs(out_template, flat)
        scalars = {i for i, r in enumerate(flat) if _made_by_item(program, r.var)}
        undo = _effects_before_guards(program, walk)
        n = next(_counter)
        name = _identifier_of(self.f)
        source, namespace = generate(program, name, walk.input_vars, tuple(flat), wb_templates)
        filename = f"<anp.compile {name} #{n}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(builtins.compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
        trace = _Trace(namespace[name], source, out_flat, scalars, writebacks, undo)
        trace.stores = stores
        with self._lock:
            traces = self._cache.setdefault(key, [])
            if traces is _EAGER:
                traces = self._cache[key] = []
            traces.insert(0, trace)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_signatures:
                self._cache.popitem(last=False)
            self.traces += 1
        self._last = trace
        flat_values = tuple(r.var.value for r in flat)
        return _build(out_flat, flat_values, scalars)

    @staticmethod
    def _writebacks(walk: _Walk) -> tuple[list[int], list]:
        """Places the function rebound (not changed in place), and the templates of their new values."""
        idx, templates = [], []
        for i, place in enumerate(walk.places):
            if place.kind == "value":
                continue
            _, tmpl = _unwrap(place.get())
            k = walk.place_input[i]
            if k is not None and isinstance(tmpl, Ref) and tmpl.var is walk.input_vars[k]:
                continue  # unchanged, or changed in place
            if k is None and tmpl is None:
                continue  # a .grad that stayed None
            if place.kind == "grad" and isinstance(tmpl, Ref) and tmpl.var.hint is None:
                tmpl.var.hint = place.name  # dW1: the gradient of W1
            idx.append(i)
            templates.append(tmpl)
        return idx, templates

    @staticmethod
    def _restore(walk: _Walk) -> None:
        """After tracing, every place holds concrete values again (the traced call's results)."""
        for place in walk.places:
            if place.kind == "value":
                continue
            held = place.raw()
            if place.kind == "grad":
                if held is not None and isinstance(held._arr, Sym):
                    place.holder._grad = Tensor._make(held._arr._value(), None)
            elif isinstance(held, (Sym, _ObjectProxy)):
                place.set(held._value() if isinstance(held, Sym) else held._obj)

    def __repr__(self) -> str:
        return f"<anp.compile({getattr(self.f, '__qualname__', self.f)}): {self.traces} trace(s)>"


def _identifier_of(f: Callable) -> str:
    name = getattr(f, "__name__", "compiled")
    return name if name.isidentifier() and name != "<lambda>" else "compiled"


def _made_by_item(program: Program, var) -> bool:
    for instr in program.instrs:
        if instr.fn is _trace.scalar and isinstance(instr.outs, Ref) and instr.outs.var is var:
            return True
    return False


def _name_graph(result: Any) -> None:
    """Name the values of Tensors the user named (``z.name = "z1"``) that a backward did not reach."""
    stack = [result]
    seen = set()
    while stack:
        x = stack.pop()
        if type(x) in (tuple, list):
            stack.extend(x)
        elif type(x) is dict:
            stack.extend(x.values())
        elif isinstance(x, Tensor) and id(x) not in seen:
            seen.add(id(x))
            if x.name and isinstance(x._arr, Sym) and x._arr._var.hint is None:
                x._arr._var.hint = str(x.name)
            if x.node is not None:
                stack.extend(a for a in x.node.args if isinstance(a, Tensor))


def _effects_before_guards(program: Program, walk: _Walk) -> tuple[list[int], list[int], bool]:
    """What a replay changes before its last guard: inputs written in place, input generators and the
    global generator drawn from. The replay saves them first, and puts them back if a guard fails, so
    that tracing again starts from the state the call was given."""
    last_guard = max((k for k, instr in enumerate(program.instrs) if instr.kind == "guard"), default=-1)
    by_root = {}
    for k, v in enumerate(walk.input_vars):
        if v.root is not None:
            by_root.setdefault(id(v.root), k)
    by_var = {id(v): k for k, v in enumerate(walk.input_vars)}
    arrays, generators, global_rng = set(), set(), False
    for instr in program.instrs[:last_guard]:
        if instr.target is not None and instr.target.root is not None and id(instr.target.root) in by_root:
            arrays.add(by_root[id(instr.target.root)])
        elif _is_random(instr):
            if instr.kind == "method" and id(instr.args[0].var) in by_var:
                generators.add(by_var[id(instr.args[0].var)])
            elif instr.kind == "call" and getattr(instr.fn, "__name__", "") != "default_rng":
                global_rng = True
    return sorted(arrays), sorted(generators), global_rng


# --------------------------------------------------------------------------- random numbers

_RANDOM_FUNCTIONS = [n for n in dir(np.random.RandomState) if not n.startswith("_")
                     and hasattr(np.random, n) and n not in ("get_state",)] + ["default_rng"]


class _RandomPatch:
    """While any thread traces, ``np.random.<fn>`` records its call in that thread's trace (so each
    replay draws new numbers); other threads, and the same functions outside tracing, draw as ever."""

    lock = threading.Lock()
    users = 0
    originals: dict = {}
    active: list = []  # the programs being traced now

    @classmethod
    def enter(cls, program: Program) -> None:
        program.rng_state = _global_rng_state()
        program.rng_shared = False
        with cls.lock:
            cls.active.append(program)
            if len(cls.active) > 1:  # traces overlap: the global generator's moves cannot be told apart
                for p in cls.active:
                    p.rng_shared = True
            cls.users += 1
            if cls.users == 1:
                for name in _RANDOM_FUNCTIONS:
                    cls.originals[name] = original = getattr(np.random, name)
                    setattr(np.random, name, cls._recorder(name, original))

    @classmethod
    def exit(cls, program: Program) -> None:
        with cls.lock:
            cls.active.remove(program)
            cls.users -= 1
            if cls.users == 0:
                for name, original in cls.originals.items():
                    setattr(np.random, name, original)
                cls.originals = {}

    @staticmethod
    def _recorder(name: str, original: Callable) -> Callable:
        def recorder(*args, **kwargs):
            program = _trace._state.program
            if program is None:
                return original(*args, **kwargs)
            result = _trace.record("call", original, args, kwargs)
            program.rng_state = _global_rng_state()
            return result
        recorder.__name__ = name
        recorder.__wrapped__ = original
        return recorder


def _global_rng_state():
    state = np.random.get_state()
    return state[2], state[1].tobytes()


def _check_global_rng(program: Program) -> None:
    """Has NumPy's global generator moved other than by the draws the trace recorded? (Not checked
    when another thread traced at the same time; a thread drawing eagerly meanwhile is mistaken for
    an unrecorded draw.)"""
    if not program.rng_shared and _global_rng_state() != program.rng_state:
        raise CompileError("compile: the function drew random numbers from NumPy's global generator other "
                           "than through np.random.<function> (e.g. `from numpy.random import randn`); "
                           "those would be the same numbers on every replay. Call np.random.<function>, "
                           "or pass a np.random.Generator as an argument.")


def compile(f: Callable | None = None, *, max_signatures: int = 16, max_traces: int = 8) -> Any:
    """Compile ``f`` to straight-line NumPy (see the module docstring); usable as ``@anp.compile``."""
    if f is None:
        return lambda g: Compiled(g, max_signatures, max_traces)
    return Compiled(f, max_signatures, max_traces)
