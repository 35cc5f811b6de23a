"""What a trace read from Python, at any depth — and the guards that keep a replay from using stale values.

While ``f`` is traced, a profile hook (this thread only) sees every Python function that runs. For the
user's own code (not autonp's, NumPy's, the standard library's or an installed package's) it records the
code object, its globals and, before the body runs, what its globals, closure cells and arguments held.
After the trace:

- every value that code could read — its globals, closure cells and defaults, and the attributes it
  names on modules, classes and plain objects it reached — becomes a guard: an identity for functions,
  classes, modules and data, the value for numbers and strings, a fingerprint (``fingerprint``: content at
  any depth) for containers and plain objects. A replay whose guards fail traces again (``HP["scale"] = 5.0``
  and ``args.lr = 0.5`` between calls are seen; a helper redefined too);
- a value the trace *changed* (a counter, ``list.append`` on a global or an argument, a default argument)
  is refused: a replay would not repeat it (``CompileError`` naming it and the function);
- a call into Python's ``random`` is refused (a replay would repeat the traced draw); ``np.random`` and
  Generators are recorded as draws instead (``_random``);
- an array, Tensor, Module or Optimizer that such code reads but that the call did not receive as an
  input (deeper than the walk of closures and globals looks): that call's result stands but its trace is
  not kept, and from the next call on the functions it ran are walked too, so their arrays are inputs,
  never constants (where even that walk cannot reach them, a class attribute say, it is refused).
"""
from __future__ import annotations

import dataclasses
import gc
import os
import random
import sys
import sysconfig
import types
import weakref
from typing import Any

import numpy as np

from ..tensor import Tensor
from ._state import _SCALARS, _SKIP, _holds_data, _names
from ._state import _traced as _holds_trace
from ._trace import CompileError, _ObjectProxy

_LIBRARY_DIRS = tuple(
    os.path.normcase(os.path.abspath(p)) + os.sep
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(np.__file__)})
_RANDOM_FILE = os.path.normcase(os.path.abspath(random.__file__))
_MISSING = object()
_BUILTIN_METHOD = types.BuiltinMethodType
_user_cache: dict = {}


def _kind(code: types.CodeType) -> str:
    """'user', 'random' (Python's random module) or 'library', once per code object."""
    known = _user_cache.get(code)
    if known is None:
        name = code.co_filename
        path = os.path.normcase(os.path.abspath(name)) if not name.startswith("<") else name
        if path == _RANDOM_FILE:
            known = "random"
        elif name.startswith("<frozen") or name.startswith("<anp.compile") or path.startswith(_LIBRARY_DIRS):
            known = "library"
        else:
            known = "user"
        _user_cache[code] = known
    return known


def _is_user(code: types.CodeType) -> bool:
    return _kind(code) == "user"


def _traced(v: Any) -> bool:
    """A stand-in of this trace (a traced array or Tensor, or a Generator's proxy)."""
    return isinstance(v, _ObjectProxy) or _holds_trace(v)


class _Same:
    """An object compared by identity (and kept alive, so that its id cannot be reused by another)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


MAX_DEPTH = 64


def fingerprint(v: Any, depth: int = 0, budget: list | None = None, open_: set | None = None) -> Any:
    """What a guard compares: numbers and strings by value; containers and plain objects (their attributes) by
    content, at any depth; functions, classes, modules and data (arrays, Tensors, Modules, Optimizers,
    Generators: the walk's) by identity. A container met again inside itself is compared by identity (its
    content is in the fingerprint already). Over 5,000 entries, or nested over 64 deep: CompileError."""
    budget = [5000] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise CompileError("compile: a container or object the function reads is too large to guard (over 5,000 "
                           "entries); pass its arrays as arguments")
    t = type(v)
    if t in _SCALARS:
        return (t, v) if v == v else (t, "nan")
    if isinstance(v, np.generic):
        return ("np", v.dtype.str, v.item() if v == v else "nan")
    container = t in (list, tuple, dict, set, frozenset)
    if not (container or _plain_object(v)):
        return ("id", _Same(v))
    if depth > MAX_DEPTH:
        raise CompileError(f"compile: a container or object the function reads is nested over {MAX_DEPTH} deep; "
                           f"too deep to guard")
    open_ = set() if open_ is None else open_
    if id(v) in open_:  # a cycle
        return ("again", _Same(v))
    open_.add(id(v))
    try:
        if t in (list, tuple):
            return (t, tuple(fingerprint(x, depth + 1, budget, open_) for x in v))
        if t is dict:
            return (dict, tuple((k if type(k) in _SCALARS else _Same(k), fingerprint(x, depth + 1, budget, open_))
                                for k, x in v.items()))
        if container:
            return (t, frozenset(fingerprint(x, depth + 1, budget, open_) for x in v))
        return ("obj", _Same(v), tuple((k, fingerprint(x, depth + 1, budget, open_)) for k, x in vars(v).items()))
    finally:
        open_.discard(id(v))


def _plain_object(v: Any) -> bool:
    """An object whose attributes are its state: an instance of the user's classes (a config, a layer), a
    record (``types.SimpleNamespace``, ``argparse.Namespace``, any dataclass) — not a function, class, module
    or data, not a stand-in of the trace. Other libraries' objects (a logger, a lock, a progress bar) keep
    their identity: their insides are theirs, and large."""
    if not hasattr(v, "__dict__") or isinstance(v, _SKIP) or _traced(v) or _holds_data(v):
        return False
    t = type(v)
    plain = _plain_types.get(t)
    if plain is None:
        plain = _plain_types[t] = (t is types.SimpleNamespace or dataclasses.is_dataclass(t)
                                   or (t.__name__ == "Namespace" and t.__module__ == "argparse")
                                   or not _is_library_type(t))
    return plain


_plain_types: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # class -> compared by content?


class Reads:
    """The profile hook while tracing, and what it saw."""

    def __init__(self, top: Any = None):
        self.codes: dict = {}        # code -> (its globals dict, the names it uses)
        self.top_function = top      # the compiled function, its code, and how often that code ran again
        self.top = getattr(top, "__code__", None)
        self.top_again = 0           # (recursion, or a sibling made by the same factory called from it)
        self.before: dict = {}       # (id(holder), key) -> (holder, key, fingerprint before the trace touched it)
        self.args: dict = {}         # id(obj) -> (obj, fingerprint) of containers/objects passed to user code
        self.refused: list[str] = []
        self._prev = None

    def __enter__(self) -> "Reads":
        prev = self._prev = sys.getprofile()
        if prev is not None and not callable(prev) and not callable(getattr(prev, "enable", None)):
            raise CompileError(f"compile: tracing needs Python's profile hook, which {type(prev).__name__} holds "
                               f"in a form it could not be given back in; make the first call (the trace) outside "
                               f"the profiler: later calls replay without the hook")
        sys.setprofile(self._event)
        return self

    def __exit__(self, *exc: Any) -> None:
        prev = self._prev
        if prev is None or callable(prev):
            sys.setprofile(prev)
        else:  # cProfile's profiler (Python 3.11): its hook is C code, put back the way cProfile installs it
            sys.setprofile(None)
            prev.enable()

    def _event(self, frame, event: str, arg: Any) -> None:
        """The hook: ~11,000 events in the trace of a small MLP's training step, most of them returns and C
        calls, so the common case is two comparisons. A C call's function is a builtin method (``rng.random``:
        CPython binds a method descriptor to its instance for the hook) before its ``__self__`` is looked at;
        a ufunc, say, has none, and ``getattr``'s default would raise and catch an AttributeError per call."""
        if event == "call":
            code = frame.f_code
            if code in self.codes:
                if code is self.top:
                    self.top_again += 1
                return
            kind = _user_cache.get(code) or _kind(code)
            if kind == "user":
                self._first_call(frame, code)
            elif kind == "random":
                self._refuse_random(frame, code.co_name, isinstance(frame.f_locals.get("self"), random.SystemRandom))
        elif event == "c_call" and type(arg) is _BUILTIN_METHOD and isinstance(arg.__self__, random.Random):
            self._refuse_random(frame, getattr(arg, "__name__", "random"))

    def _refuse_random(self, frame, name: str, entropy: bool = False) -> None:
        f = frame
        while f is not None and not _is_user(f.f_code):
            f = f.f_back
        where = f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"
        if entropy:  # SystemRandom (Python code): secrets, or NumPy seeding itself (default_rng() with no seed)
            self.refused.append(f"compile: the OS's entropy is drawn at {where} (random.SystemRandom.{name}(): "
                                f"np.random.default_rng() or SeedSequence() without a seed draws it so, as does "
                                f"secrets); a replay would repeat the traced value. Create the Generator outside "
                                f"the compiled function and pass it in (its draws are recorded, so every replay "
                                f"draws anew), or give it a seed")
            return
        self.refused.append(f"compile: Python's random.{name}() is called at {where}; a replay would repeat the "
                            f"traced draw. Use np.random or a np.random.Generator passed in (their draws are "
                            f"recorded, so every replay draws anew)")

    def _first_call(self, frame, code: types.CodeType) -> None:
        g = frame.f_globals
        names = set(_names(code))  # globals and attributes it may read, nested functions' too
        self.codes[code] = (g, names)
        for name in names:
            v = g.get(name, _MISSING)
            if v is not _MISSING:
                self._note(g, name, v)
                self._note_object(v)
        for v in frame.f_locals.values():  # arguments and closure variables, before the body runs
            self._note_object(v)

    def _note(self, holder: dict, key: str, v: Any) -> None:
        k = (id(holder), key)
        if k not in self.before and not _traced(v):
            self.before[k] = (holder, key, _safe_fp(v))

    def _note_object(self, v: Any) -> None:
        """A container or plain object the code can change: its contents now, to compare after the trace."""
        if id(v) in self.args or _traced(v) or isinstance(v, (types.ModuleType, types.FunctionType, type, Tensor,
                                                                np.ndarray, np.random.Generator)):
            return
        if type(v) in (list, dict, set):
            self.args[id(v)] = (v, {None: _safe_fp(v)})
        elif hasattr(v, "__dict__") and not isinstance(v, (types.MethodType, types.BuiltinFunctionType)):
            self.args[id(v)] = (v, attributes(v))  # a plain object, a Module


def attributes(obj: Any) -> dict:
    """An object's attributes as fingerprints (arrays, Tensors, Modules and traced values left out:
    the walk and the writebacks look after those)."""
    return {k: _safe_fp(x) for k, x in vars(obj).items() if not _traced(x) and not _holds_data(x)}


class Guards:
    """Checks a replay makes before it runs: each (holder, key, fingerprint) must still hold."""

    __slots__ = ("items",)

    def __init__(self, items: list):
        self.items = items

    def hold(self) -> bool:
        for kind, holder, key, want in self.items:
            if kind == "g":
                v = holder.get(key, _MISSING)
            elif kind == "a":
                v = getattr(holder, key, _MISSING)
            else:  # a closure cell
                try:
                    v = holder.cell_contents
                except ValueError:
                    v = _MISSING
            if want[0] == "id":
                if v is not want[1].obj:
                    return False
            elif v is _MISSING or fingerprint(v) != want:
                return False
        return True


def _functions_of(codes: list) -> dict:
    """code -> the function objects made from it (one scan of the heap for all)."""
    ids = {id(c) for c in codes}
    out: dict = {}
    for f in gc.get_referrers(*codes) if codes else ():
        if isinstance(f, types.FunctionType) and id(f.__code__) in ids:
            out.setdefault(f.__code__, []).append(f)
    return out


def derive(reads: Reads, walk: Any, stores: list) -> tuple[Guards, list, list]:
    """After the trace: the guards, the names of data the walk missed, and the functions the trace ran
    (to walk on the next call). Raises CompileError for a side effect or a call into Python's random."""
    if reads.refused:
        raise CompileError(reads.refused[0])
    places = {(id(p.holder), p.key) for p in walk.places}
    holders = {id(p.holder) for p in walk.places}  # lists the walk reads and writes (an optimizer's slots)
    for holder, key, before in reads.before.values():  # side effects on globals
        now = holder.get(key, _MISSING)
        if now is not _MISSING and not _traced(now) and before[0] != "id" and _safe_fp(now) != before:
            raise CompileError(f"compile: the function changed the global {key} while traced (to {now!r:.60}); "
                               f"a replay would not repeat that. Keep such state outside the compiled function, "
                               f"or pass it in and return the new value")
    for obj, before in reads.args.values():  # side effects on arguments, closure values, defaults, objects
        now = {None: _safe_fp(obj)} if None in before else attributes(obj)
        for k in set(before) | set(now):
            if (id(obj), k) in places or before.get(k) == now.get(k) or (
                    k is not None and id(getattr(obj, k, None)) in holders):
                continue
            if k is not None and (k not in now or k not in before):
                v = getattr(obj, k, None)
                if v is None or _traced(v) or _holds_data(v):  # a traced value stored there: every replay stores it
                    continue
            what = f"{type(obj).__name__}.{k}" if k is not None else f"a {type(obj).__name__} ({obj!r:.60})"
            raise CompileError(f"compile: the function changed {what} while traced; a replay would not repeat "
                               f"that. Return the new value instead, or keep the change outside the compiled "
                               f"function")
    seen = walk.seen
    stored = set()  # where the function stored traced values: every replay stores its own there
    for kind, holder, key in (where for where, _ in stores):
        stored.add((id(walk.objects[holder]), key) if kind == "obj" else (id(holder), key))
    all_names: set = set()
    for _, names in reads.codes.values():
        all_names |= names
    for top in walk.objects:  # the signature compares what the walk found on them by content, or, past the
        if isinstance(top, walk.Optimizer):  # budget, by identity: refused if the code names such an attribute
            continue
        for obj in top.modules() if isinstance(top, walk.Module) else (top,):  # a Module's submodules too
            for name in all_names & set(vars(obj)):
                v = vars(obj)[name]
                if not _holds_data(v) and not _traced(v):
                    fingerprint(v)  # CompileError: too large or too deep to compare on every call
    items: list = []
    missed: list = []
    done: set = set()

    def guard(kind: str, holder: Any, key: Any, v: Any, depth: int = 0, label: str | None = None) -> None:
        k = (id(holder), key)
        if k in done or k in stored or _traced(v):
            return
        done.add(k)
        if _holds_data(v):
            if id(v) not in seen:
                missed.append(label or key)
            items.append((kind, holder, key, ("id", _Same(v))))
            return
        fp = fingerprint(v)  # too large or too deep to guard: refused (CompileError), never a stale identity
        items.append((kind, holder, key, fp))
        if depth >= 2:
            return
        if isinstance(v, types.ModuleType):
            if _is_user_module(v):
                for name in all_names & set(vars(v)):
                    guard("a", v, name, vars(v)[name], depth + 1)
            return
        klass = v if isinstance(v, type) else type(v) if fp[0] in ("id", "obj") and hasattr(v, "__dict__") else None
        if klass is None or _is_library_type(klass):
            return
        if not isinstance(v, type):
            for name in all_names & set(vars(v)):
                guard("a", v, name, vars(v)[name], depth + 1)
        for name in all_names:  # class attributes (patched after the trace?), the nearest definition
            for kl in klass.__mro__[:-1]:
                if name in vars(kl):
                    if not _is_library_type(kl):
                        guard("a", kl, name, vars(kl)[name], depth + 1)
                    break

    # the compiled function's code, if it ran once, ran as the compiled function, not as another closure of
    # the same factory (another model's): no scan of the heap for it (none at all when no other code ran)
    once = reads.top in reads.codes and not reads.top_again
    functions = _functions_of([code for code in reads.codes if not (once and code is reads.top)])
    if once:
        functions[reads.top] = [reads.top_function]
    for code, (g, names) in reads.codes.items():
        for name in names & set(g):
            guard("g", g, name, g[name])
        for f in functions.get(code, ()):
            for name, cell in zip(code.co_freevars, f.__closure__ or ()):
                try:
                    guard("c", cell, None, cell.cell_contents, label=name)
                except ValueError:
                    pass
            if f.__defaults__:
                guard("a", f, "__defaults__", f.__defaults__)
            if f.__kwdefaults__:
                guard("a", f, "__kwdefaults__", f.__kwdefaults__)
    return Guards(items), missed, [f for fs in functions.values() for f in fs]


def _safe_fp(v: Any) -> Any:
    """``fingerprint``, or the identity where that is too large: for noting what the trace changed only (a
    guard or a signature takes ``fingerprint`` itself, and refuses what it cannot compare)."""
    try:
        return fingerprint(v)
    except CompileError:
        return ("id", _Same(v))


def _is_user_module(m: types.ModuleType) -> bool:
    path = getattr(m, "__file__", None)
    if path is None:
        return False
    return not os.path.normcase(os.path.abspath(path)).startswith(_LIBRARY_DIRS)


def _is_library_type(klass: type) -> bool:
    module = sys.modules.get(klass.__module__)
    return module is None or not _is_user_module(module)
