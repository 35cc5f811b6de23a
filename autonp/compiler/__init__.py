"""``anp.compile(f)``: trace ``f`` once, replay it as straight-line NumPy.

The first call with a given signature runs ``f`` for real on stand-ins that record every NumPy call
(``_trace``: forward ops, the VJPs of any ``backward``/``grad`` inside, an optimizer's update) and
turns the record into the source of a Python function (``_codegen``; ``compiled.source``). Later
calls with the same signature run that function: no tape, no Tensors, only the NumPy calls.

What ``f`` reads and writes (``_state``): its arguments and the Tensors, Modules, Optimizers, random
Generators and arrays it reaches through its closure, its globals or ``self``. Their arrays are
inputs of the generated function; what ``f`` rebinds (a ``.grad``, a step count, ``self.last = loss``)
is stored again after each replay; what it changes in place is changed in place.

Signature: shapes, dtypes and layout of arrays and Tensors, which Tensors require grad and which
have a ``.grad``, Python numbers and strings (arguments, and those read from globals, closures,
objects, Modules and Optimizers), the identity of other objects. NumPy scalars are inputs. A new
signature traces again; ``max_signatures`` (16) are kept, least recently used dropped.

Guards: Python control flow on values (``if loss.item() > 1``, ``bool(t)``, ``float(t)``,
``int(t)``, ``t.tolist()``) records the value it saw; a replay that sees another one puts back what
it changed and traces again (``max_traces`` (8) per signature; past that, that signature runs eagerly
with a warning). Random numbers: ``_random``. What the trace read from Python at any depth (globals,
closures, attributes) is guarded, and side effects refused: ``_reads``. A replay that raises puts back
what it changed: the state is as before the call.
"""
from __future__ import annotations

import builtins
import functools
import inspect
import itertools
import linecache
import threading
import warnings
import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from ..tensor import FORWARD_WARNINGS_MODULE, OpError, Primitive, Tensor, _hooks, _mode, gate, warn_at_user_line
from ..tracer import trace_stack
from . import _reads, _trace
from ._codegen import Retrace, _is_random, generate
from ._random import _check_global_rng, _RandomPatch
from ._state import _ATTR, _LIST, Methods, _captured, _leaves, _Remembered, _store, _stored, _Walk, check_constants
from ._trace import CompileError, Program, Ref, Sym, _ObjectProxy, _unwrap

__all__ = ["compile", "Compiled", "CompileError"]

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
        return ("A", x._var.ref)
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


_returned: weakref.WeakSet = weakref.WeakSet()  # Tensors a compiled function returned (values only, no tape)


def _no_tape_reason(t: Tensor) -> str | None:
    if t in _returned:
        return ("it was returned by a function compiled with anp.compile, whose replay computes values, not a tape. "
                "Call .backward() (or anp.grad) inside the function you compile, as a training step does")
    return None


_hooks.no_tape_reason = _no_tape_reason


def _build(template: Any, values: tuple, scalars: set) -> Any:
    tag, body = template
    if tag == "T" or tag == "CT":  # ("CT": a Tensor of values the trace computed once: a copy each call)
        t = Tensor._make(values[body] if tag == "T" else np.copy(body), None)
        _returned.add(t)
        return t
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

    def __init__(self, fn, source, out_template, scalars, writebacks, undo, undo_all, guards):
        self.fn, self.source, self.out_template, self.scalars = fn, source, out_template, scalars
        self.guards: _reads.Guards = guards  # the Python values the trace read (at any depth)
        self.writebacks = writebacks  # indices of places written back, in the order the code returns them
        # (arrays, generators, global rng) changed before the last instruction that can raise; and all of
        # them, for when any ufunc can (np.seterr(all="raise"), or RuntimeWarnings made errors)
        self.undo = undo if any(undo) else None
        self.undo_all = undo_all if any(undo_all) else None
        self.stores: list = []  # traced values the function stored on objects or in globals
        self.filename = ""  # where linecache holds the source, for tracebacks through the generated code

    def run(self, values: list) -> tuple:
        """The generated function on these inputs. A replay is a transaction: if it raises (a guard that
        fails, an index out of bounds, a singular matrix...), what it had changed in place is put back first,
        and nothing it would have rebound is (that happens after it returns): every input, parameter,
        moment and counter is as it was before the call."""
        undo = self.undo_all if _floating_errors_raise() else self.undo
        if undo is None:
            return self.fn(*values)
        arrays, generators, global_rng = undo
        saved = [values[i].copy() for i in arrays]
        states = [values[i].bit_generator.state for i in generators]
        rng = np.random.get_state() if global_rng else None
        try:
            return self.fn(*values)
        except BaseException:
            for i, a in zip(arrays, saved):
                np.copyto(values[i], a)
            for i, st in zip(generators, states):
                values[i].bit_generator.state = st
            if rng is not None:
                np.random.set_state(rng)
            raise


_EAGER = object()
_NO_GRAD = ("no_grad",)  # the end of a signature called under no_grad
_counter = itertools.count()
_TRACING = threading.RLock()  # traces, one at a time in the process (a compiled call inside a trace: same thread)


class Compiled:
    """A function compiled by :func:`compile`. ``source``: the generated code of the latest trace.

    Each call walks the state the function reaches only when something that walk read has changed since the
    last one (``walks`` counts the walks); ``check_walks = True`` walks anyway and raises if the remembered
    walk differs from it (what the tests run the suite with)."""

    check_walks = False

    def __init__(self, f: Callable, max_signatures: int = 16, max_traces: int = 8):
        self.f = f
        self.max_signatures, self.max_traces = max_signatures, max_traces
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.RLock()
        self._extra: list = []  # functions the trace ran whose data the walk missed: walked from the next call
        self.traces = 0
        self.walks = 0  # calls that walked the state they reach (the others: the remembered walk's checks held)
        self._memo: _Remembered | None = None  # the last walk, while nothing it read has changed
        self._renumbered = 0  # traces in a row, no replay between, made because a Python number of the key changed
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
        if _mode.in_function or _mode.substitutes is not None or _mode.observer is not None or trace_stack.open \
                or _mode.anomaly or _trace._state.program is not None:
            # inside a transform (anp.grad(compiled), HIPS's trace/new_box): a replay records no tape, and the
            # transform's gradient would be zeros; the function's ops go on the transform's tape instead. Under
            # detect_anomaly: each op checks its values, naming itself and the line (a replay would not). Inside
            # another compiled function's trace: its calls are that trace's
            return self.f(*args, **kwargs)
        gate.enter()  # no other thread's trace has stand-ins in what this call reads
        try:
            return self._call(args, kwargs)
        finally:
            gate.leave()

    def _call(self, args: tuple, kwargs: dict) -> Any:
        memo = self._memo
        values = memo.again(args, kwargs) if memo is not None and memo.key[0] == Primitive.definitions else None
        if values is None:  # something the last walk read has changed (or there is none): walk
            walk = _Walk(None)
            self._walk_all(walk, args, kwargs)
            self.walks += 1
            memo = self._memo = None if walk.opaque else _Remembered(walk, tuple(kwargs))
            key, values, places, objects = tuple(walk.key), walk.values, walk.places, walk.objects
        else:
            key, places, objects = memo.key, memo.places, memo.objects
            if self.check_walks:
                _same_walk(self, memo, values, args, kwargs)
        if not _mode.enabled:  # under no_grad: traced so (a step's backward refuses there, as it does eagerly)
            key += _NO_GRAD
        with self._lock:
            traces = self._cache.get(key)
            if traces is not None:
                self._cache.move_to_end(key)
        if traces is _EAGER:
            return self.f(*args, **kwargs)
        for trace in traces or ():
            if not trace.guards.hold():  # a Python value the trace read has changed: not this trace
                continue
            try:
                outs, wb = trace.run(values)
            except Retrace:
                continue
            except (ValueError, TypeError, IndexError) as e:
                if isinstance(e, OpError):
                    raise
                raise _replay_error(trace, e) from None
            for i, v in zip(trace.writebacks, wb):
                places[i].set(v)
            if trace.writebacks and memo is not None:  # what the walk read now holds what was written
                self._memo = memo.wrote(trace.writebacks)
            if trace.stores:  # (a new object where the walk read: the kept walk's checks will see it)
                for (where, tag), v in zip(trace.stores, wb[len(trace.writebacks):]):
                    _store(objects, where, Tensor._make(v, None) if tag == "T" else v)
            self._last = trace
            self._renumbered = 0
            return _build(trace.out_template, outs, trace.scalars)
        if traces is not None and len(traces) >= self.max_traces:
            warnings.warn(f"compile({self.__name__}): {len(traces)} traces for one signature, each guard "
                          f"failing in turn (a value read by Python control flow changes on every call); "
                          f"this signature now runs eagerly", RuntimeWarning, stacklevel=2)
            with self._lock:
                self._cache[key] = _EAGER
            return self.f(*args, **kwargs)
        depth = gate.step_out()  # waiting for another thread's trace, this one reads nothing
        try:
            with _TRACING, gate.exclusive():  # one trace at a time, and nobody else looking while it runs
                with self._lock:
                    again = self._cache.get(key)
                if again is not traces and again is not None and again is not _EAGER:
                    retry = True  # another thread traced this signature meanwhile
                elif _overlapping(values):  # inputs that share memory: this call runs eagerly, untraced
                    retry, result = False, self.f(*args, **kwargs)
                else:
                    retry = False
                    self._memo = None  # (not while the trace holds stand-ins where the walk read; nor after it)
                    result = self._trace(key, args, kwargs)
                    self._memo = None  # (what the trace rebound: walked again on the next call)
        finally:
            gate.step_in(depth)
        return self._call(args, kwargs) if retry else result

    def _walk_all(self, walk: _Walk, args: tuple, kwargs: dict) -> tuple:
        walk.key.append(Primitive.definitions)  # a VJP given anew since a trace: that trace is not this signature's
        names = self._params
        out_args = [self._walk_arg(walk, a, names[i] if i < len(names) and not names[i].startswith("*")
                                   else f"arg{i}") for i, a in enumerate(args)]
        out_kwargs = {k: self._walk_arg(walk, v, k) for k, v in kwargs.items()}
        note = walk._note if walk.checks is not None else None
        walk._note(_ATTR, self, "f")
        walk._note(_LIST, self._extra)
        captured = _captured(self.f, note=note)
        for h in self._extra:
            captured.extend(_captured(h, note=note))
        for name, place, v in captured:
            if isinstance(v, np.ndarray) and place is not None and id(v) not in walk.seen:
                walk.key.append(("captured", name) + walk._layout(v))
                walk.seen[id(v)] = (len(walk.key), walk._input(v, place, name))
            elif isinstance(v, np.generic):  # read where it lives: a constant of the trace
                walk.key.append(("captured", name, v))
            else:
                walk.walk(v, name)
        if walk.methods:
            walk.key.append(Methods(tuple(walk.methods)))
        return out_args, out_kwargs

    @staticmethod
    def _walk_arg(walk: _Walk, a: Any, hint: str) -> Any:
        """Walk an argument, noting how the next call's can stand in for it: a plain array of the same layout, a
        NumPy scalar of the same dtype, or the very same object."""
        n = len(walk.values)
        out = walk.walk(a, hint, arg=True)
        if type(a) is np.ndarray and len(walk.values) == n + 1:
            walk.arg_spec.append((n, walk._layout(a)))
        elif isinstance(a, np.generic) and len(walk.values) == n + 1:  # step(x, y, np.float64(lr)): an input
            walk.arg_spec.append((n, a.dtype))
        else:
            walk.arg_spec.append((None, a))
        return out

    def _trace(self, key: tuple, args: tuple, kwargs: dict) -> Any:
        program = Program()
        walk = _Walk(program)
        prev = _trace._state.program
        _trace._state.program = program
        _RandomPatch.enter(program)
        stored = None
        reads = _reads.Reads(getattr(self.f, "__func__", self.f))  # a bound method: its function
        try:
            targs, tkwargs = self._walk_all(walk, args, kwargs)
            with reads:
                try:
                    result = self.f(*targs, **tkwargs)
                except ValueError as e:
                    if "read-only" not in str(e):
                        raise
                    raise CompileError(
                        f"compile: {e}, while tracing: the function changes in place an array that a recorded op "
                        f"reads (while a trace holds them such arrays are read-only: a replay could not follow the "
                        f"change), or a read-only view. Change a copy (c = c * 2.0), or leave this function "
                        f"eager, where a small array is copied for the tape and may change") from e
            _check_global_rng(program)
            tensors = {id(t): t for t in walk.tensors}
            _name_graph(result)
            out_template = _output_template(result, tensors)
            writebacks, wb_templates = self._writebacks(walk)
            stored = _stored(walk, self.f)
        finally:
            if stored is None:  # the function raised: still, no stand-in stays where the caller can see it
                stored = _stored(walk, self.f, strict=False)
            _RandomPatch.exit(program)
            _trace._state.program = prev
            self._restore(walk)
            for where, v, _ in stored:  # the traced call's values, concrete
                arr = (v._arr if isinstance(v, Tensor) else v)._traced_value()
                _store(walk.objects, where, Tensor._make(arr, None) if isinstance(v, Tensor) else arr)
        wb_templates = wb_templates + [tmpl[1] for _, _, tmpl in stored]
        stores = [(where, tmpl[0]) for where, _, tmpl in stored]
        flat: list = []
        out_flat = _flat_refs(out_template, flat)
        items = _made_by_item(program)
        scalars = {i for i, r in enumerate(flat) if r.var in items}
        guards, missed, ran = _reads.derive(reads, walk, stores)
        new = [f for f in ran if all(f is not g for g in self._extra)] if missed else []
        if new:  # data read deeper than the walk looked: this call's result stands, its trace is not kept,
            with self._lock:  # and from the next call on the functions it ran are walked too
                self._extra.extend(new)
            return _build(out_flat, tuple(r.var.value for r in flat), scalars)
        check_constants(program, walk)
        if missed:
            raise CompileError(f"compile: the function reads {', '.join(map(str, missed[:3]))} (arrays, Tensors or "
                               f"Modules) where the walk of arguments, closures and globals cannot follow (a class "
                               f"attribute, say): a replay would use the values they had when traced. Pass them "
                               f"as arguments, or keep them on a Module or an Optimizer the function receives")
        undo = _effects_before(program, walk, _last_risk(program) + 1)
        undo_all = _effects_before(program, walk, len(program.instrs))
        n = next(_counter)
        name = _identifier_of(self.f)
        source, namespace = generate(program, name, walk.input_vars, tuple(flat), wb_templates)
        filename = f"<anp.compile {name} #{n}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(builtins.compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
        trace = _Trace(namespace[name], source, out_flat, scalars, writebacks, undo, undo_all, guards)
        trace.stores, trace.filename = stores, filename
        self._note_renumbered(key)
        with self._lock:
            traces = self._cache.setdefault(key, [])
            if traces is _EAGER:
                traces = self._cache[key] = []
            traces.insert(0, trace)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_signatures:
                _, dropped = self._cache.popitem(last=False)
                for old in dropped if dropped is not _EAGER else ():
                    linecache.cache.pop(old.filename, None)  # its source, kept for tracebacks until now
            self.traces += 1
        self._last = trace
        flat_values = tuple(r.var.value for r in flat)
        return _build(out_flat, flat_values, scalars)

    def _note_renumbered(self, key: tuple) -> None:
        """Warn, once, when calls trace again one after another because a Python number in the signature changes on
        every call (``opt.lr = lr * 0.99`` per step): each value is a constant of its own trace, so every call
        traces (milliseconds) instead of replaying, with no other sign of it."""
        with self._lock:
            last = next(reversed(self._cache), None)  # the signature used most recently
        changed = _renumbered(last, key) if last is not None and key not in self._cache else None
        self._renumbered = self._renumbered + 1 if changed else 0
        if self._renumbered == RENUMBERED_WARN:
            names = ", ".join(f"{name} ({old!r} -> {new!r})" for name, old, new in changed[:3])
            warn_at_user_line(
                f"compile({self.__name__}): traced again on each of the last {RENUMBERED_WARN} calls because a Python "
                f"number it reads changed: {names}. A Python number is a constant of the trace, so each new value "
                f"traces anew (a trace costs many replays). Make it a NumPy scalar (opt.lr = np.float64(lr)) or pass "
                f"it as one (step(x, y, np.float64(lr))): NumPy scalars are inputs of the replay", RuntimeWarning)

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
                    place.holder._grad = Tensor._make(held._arr._traced_value(), None)
            elif isinstance(held, (Sym, _ObjectProxy)):
                place.set(held._traced_value() if isinstance(held, Sym) else held._obj)

    def __repr__(self) -> str:
        return f"<anp.compile({getattr(self.f, '__qualname__', self.f)}): {self.traces} trace(s)>"


def _overlapping(values: list) -> bool:
    """Do two input arrays share memory (a parameter's own array passed as an argument)? A trace takes them for
    two variables, and what it records of an in-place update through one is wrong for the other (a first call so
    traced gave 7.86 where the eager step gives 13.40). A replay runs its ops in the eager order: its inputs may
    share memory. Arrays whose bases differ cannot."""
    roots: dict = {}
    for i, v in enumerate(values):
        if isinstance(v, np.ndarray):
            r = v
            while (b := getattr(r, "base", None)) is not None:
                r = b
            roots.setdefault(id(r), []).append(i)
    for group in roots.values():
        if len(group) > 1:
            for a, b in itertools.combinations(group, 2):
                if np.may_share_memory(values[a], values[b]):
                    return True
    return False


def _same_walk(compiled: Compiled, memo: _Remembered, values: list, args: tuple, kwargs: dict) -> None:
    """``check_walks``: the remembered walk's signature and inputs against a walk's."""
    walk = _Walk(None)
    compiled._walk_all(walk, args, kwargs)
    same = tuple(walk.key) == memo.key and len(walk.values) == len(values) and all(
        a is b or (isinstance(a, np.generic) and type(a) is type(b) and a == b) for a, b in zip(walk.values, values))
    if not same:
        raise AssertionError(f"compile({compiled.__name__}): the remembered walk differs from a walk of the state:\n"
                             f"  remembered {memo.key}\n  walked     {tuple(walk.key)}")


RENUMBERED_WARN = 3  # traces in a row, each for a new value of a Python number, before the warning says so


def _renumbered(old: tuple, new: tuple) -> list[tuple] | None:
    """(name, old, new) for each entry where two signatures differ only by a Python number's value (an optimizer's
    ``lr``, a Module's setting, a numeric argument), if that is all they differ by; else None."""
    if len(old) != len(new):
        return None
    changed = []
    for a, b in zip(old, new):
        if a == b:
            continue
        if not (type(a) is tuple and type(b) is tuple and len(a) == len(b) and len(a) >= 2 and a[:-1] == b[:-1]
                and type(a[-1]) in (int, float) and type(b[-1]) in (int, float)):
            return None
        changed.append((f"a {a[0].__name__} argument" if isinstance(a[0], type) else ".".join(map(str, a[:-1])),
                        a[-1], b[-1]))
    return changed or None


def _replay_error(trace: _Trace, e: Exception) -> Exception:
    """What eager autonp raises for the same bad values: OpError (IndexError stays IndexError) naming
    the op, the generated line that failed and the user's line that built the op."""
    lineno, tb = None, e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == trace.filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    lines = trace.source.splitlines()
    where = ""
    if lineno is not None:
        heading = next((line.strip() for line in reversed(lines[:lineno]) if line.strip().startswith("# ")), "")
        op, _, built = heading[2:].partition("<-")
        where = (f"\n  in the compiled code: {lines[lineno - 1].strip()}"
                 + (f"\n  op built at {built.strip()}" if built else f"\n  at {op.strip()}"))
        message = f"{op.strip() if built else 'compiled code'}: {e}{where}"
    else:
        message = f"{e}"
    return IndexError(message) if isinstance(e, IndexError) else OpError(message)


def _identifier_of(f: Callable) -> str:
    name = getattr(f, "__name__", "compiled")
    return name if name.isidentifier() and name != "<lambda>" else "compiled"


def _made_by_item(program: Program) -> set:
    """The values ``x.item()`` made (NumPy scalars while traced, Python numbers when returned)."""
    return {instr.outs.var for instr in program.instrs
            if (instr.fn is _trace.scalar or instr.fn is _trace.py_round) and isinstance(instr.outs, Ref)}


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


_INDEXING = {"take", "put", "choose", "take_along_axis", "put_along_axis", "compress", "bincount", "unravel_index",
             "ravel_multi_index", "at"}


def _last_risk(program: Program) -> int:
    """The index of the last instruction a replay with the same signature can raise at: a guard, a value
    leaving NumPy, an index computed from the data (out of bounds?), np.linalg or SciPy (singular?)."""
    last = -1
    for k, instr in enumerate(program.instrs):
        kind = instr.kind
        if kind in ("guard", "escape"):
            last = k
        elif kind in ("getitem", "setitem"):
            if any(isinstance(leaf, Ref) for leaf in _leaves(instr.args[1])):
                last = k
        else:
            fn = instr.fn
            name = fn if isinstance(fn, str) else getattr(fn, "__name__", "")
            module = "" if isinstance(fn, str) else getattr(fn, "__module__", "") or ""
            if module.startswith(("numpy.linalg", "scipy.")) or name in _INDEXING:  # (SciPy's: recorded whole)
                last = k
    return last


def _floating_errors_raise() -> bool:
    """Can any ufunc raise now: NumPy set to raise, or RuntimeWarnings turned into errors?"""
    if "raise" in np.geterr().values():
        return True
    for action, _, category, module, lineno in warnings.filters:
        if lineno and module is not None and module.pattern == FORWARD_WARNINGS_MODULE:
            continue  # autonp's own filter on its forward call (it says NumPy's warnings at the user's line)
        if issubclass(RuntimeWarning, category):
            return action == "error"
    return False


def _effects_before(program: Program, walk: _Walk, stop: int) -> tuple[list[int], list[int], bool]:
    """What a replay changes before instruction ``stop``: inputs written in place, input generators and the
    global generator drawn from. The replay saves them first and puts them back if it raises, so that
    the state is as the call found it (and tracing again, after a failed guard, starts from there)."""
    by_root = {}
    for k, v in enumerate(walk.input_vars):
        if v.root is not None:
            by_root.setdefault(id(v.root), k)
    by_var = {id(v): k for k, v in enumerate(walk.input_vars)}
    arrays, generators, global_rng = set(), set(), False
    for instr in program.instrs[:max(stop, 0)]:
        if instr.target is not None and instr.target.root is not None and id(instr.target.root) in by_root:
            arrays.add(by_root[id(instr.target.root)])
        elif _is_random(instr):
            if instr.kind == "method" and id(instr.args[0].var) in by_var:
                generators.add(by_var[id(instr.args[0].var)])
            elif instr.kind == "call" and getattr(instr.fn, "__name__", "") != "default_rng":
                global_rng = True
    return sorted(arrays), sorted(generators), global_rng


def compile(f: Callable | None = None, *, max_signatures: int = 16, max_traces: int = 8) -> Any:
    """Compile ``f`` to straight-line NumPy (see the module docstring); usable as ``@anp.compile``."""
    if f is None:
        return lambda g: Compiled(g, max_signatures, max_traces)
    return Compiled(f, max_signatures, max_traces)
