"""What a compiled function reads and writes: its arguments and the state it reaches (Tensors,
Modules, Optimizers, random Generators, arrays in its closure and globals), where each value lives,
and the signature that decides whether a trace can be replayed."""
from __future__ import annotations

import functools
import gc
import operator
import types
import weakref
from itertools import chain, repeat
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


# --------------------------------------------------------------------------- what a walk read, kept

_VARS, _LIST, _DICT, _TENSOR, _ATTR, _GLOBAL, _CELL = range(7)  # what a check reads
_MISSING = object()


def _immutable(v: Any) -> bool:
    """A value whose key is its content and whose content cannot change: a number, a string, a tuple of those."""
    t = type(v)
    if t in _SCALARS or isinstance(v, np.generic):
        return True
    return t is tuple and all(type(x) in _SCALARS for x in v)


_arr_of, _grad_of, _flag_of = (operator.attrgetter(name) for name in ("_arr", "_grad", "requires_grad"))
_contents_of, _dict_of = operator.attrgetter("cell_contents"), operator.attrgetter("__dict__")
_values_of = operator.methodcaller("values")


class _Checks:
    """What a walk read of the state it reached, with the identities it found: each object's class and
    ``__dict__`` (and the dict's keys and values), each class's namespace, each list's and dict's items, each
    Tensor's array, gradient and flag, each other attribute, global and cell looked up. If every one still holds
    the same objects, a new walk would read the same objects, and so make the same signature with the same inputs
    (their layouts are compared apart: an array's shape can be set in place). Kept in columns, each compared in one
    pass of C (``map(operator.is_, ...)``); indexed by object only when a replay writes something back (a step
    count, a new gradient), to put it in without walking again."""

    __slots__ = ("tensors", "arrays", "grads", "flags", "grad_owners", "grads_held", "grad_arrays", "objects",
                 "classes", "namespaces", "attr_objs", "attr_names", "attr_values", "global_dicts", "global_names",
                 "global_values", "cells", "cell_values", "dicts", "dict_lens", "dict_keys", "dict_values", "lists",
                 "list_lens", "list_items", "at")

    def __init__(self) -> None:
        for name in self.__slots__[:-1]:
            setattr(self, name, [])
        self.at: dict | None = None  # (kind, id(obj), name) -> where its entries are (``index``)

    def note(self, kind: int, obj: Any, arg: Any = None) -> None:
        """Keep what ``obj`` holds now (a thing noted twice is compared twice)."""
        if kind == _TENSOR:
            g = obj._grad
            self.tensors.append(obj)
            self.arrays.append(obj._arr)
            self.grads.append(g)
            self.flags.append(obj.requires_grad)
            if g is not None:
                self.grad_owners.append(obj)
                self.grads_held.append(g)
                self.grad_arrays.append(g._arr)
        elif kind == _VARS:  # its class, its __dict__ (the very dict) and what the dict holds
            d = obj.__dict__
            self.objects.append(obj)
            self.classes.append(type(obj))
            self.namespaces.append(d)
            self.note(_DICT, d)
        elif kind == _LIST:
            self.lists.append(obj)
            self.list_lens.append(len(obj))
            self.list_items.extend(obj)
        elif kind == _DICT:  # (a class's namespace too: a mappingproxy)
            self.dicts.append(obj)
            self.dict_lens.append(len(obj))
            self.dict_keys.extend(obj)
            self.dict_values.extend(obj.values())
        elif kind == _ATTR:
            self.attr_objs.append(obj)
            self.attr_names.append(arg)
            self.attr_values.append(getattr(obj, arg, _MISSING))
        elif kind == _GLOBAL:
            self.global_dicts.append(obj)
            self.global_names.append(arg)
            self.global_values.append(obj.get(arg, _MISSING))
        else:
            self.cells.append(obj)
            try:
                self.cell_values.append(obj.cell_contents)
            except ValueError:
                self.cell_values.append(_MISSING)

    def hold(self) -> bool:
        """Does everything read still hold the same objects?"""
        is_ = operator.is_
        try:
            ts = self.tensors
            return bool(all(map(is_, map(_arr_of, ts), self.arrays)) and all(map(is_, map(_grad_of, ts), self.grads))
                        and all(map(is_, map(_flag_of, ts), self.flags))
                        and all(map(is_, map(_arr_of, self.grads_held), self.grad_arrays))
                        and all(map(is_, map(type, self.objects), self.classes))
                        and all(map(is_, map(_dict_of, self.objects), self.namespaces))
                        and all(map(is_, map(getattr, self.attr_objs, self.attr_names, repeat(_MISSING)),
                                    self.attr_values))
                        and all(map(is_, map(dict.get, self.global_dicts, self.global_names, repeat(_MISSING)),
                                    self.global_values))
                        and all(map(is_, map(_contents_of, self.cells), self.cell_values))
                        and list(map(len, self.dicts)) == self.dict_lens  # (then every item is where it was)
                        and all(map(is_, chain.from_iterable(self.dicts), self.dict_keys))
                        and all(map(is_, chain.from_iterable(map(_values_of, self.dicts)), self.dict_values))
                        and list(map(len, self.lists)) == self.list_lens
                        and all(map(is_, chain.from_iterable(self.lists), self.list_items)))
        except Exception:  # noqa: BLE001 - something read raised now (an emptied cell...): a walk will say what
            return False

    def index(self) -> dict:
        """(kind, id(obj), name) -> the positions of what was noted of it (a list's, a dict's: of its first item)."""
        if self.at is None:
            at: dict = {}

            def put(k: tuple, i: int) -> None:
                at.setdefault(k, []).append(i)
            for i, t in enumerate(self.tensors):
                put((_TENSOR, id(t), None), i)
            for i, t in enumerate(self.grad_owners):
                put(("grad", id(t), None), i)
            for kind, holders, lens in ((_LIST, self.lists, self.list_lens), (_DICT, self.dicts, self.dict_lens)):
                start = 0
                for x, n in zip(holders, lens):
                    put((kind, id(x), None), start)
                    start += n
            for i, (g, name) in enumerate(zip(self.global_dicts, self.global_names)):
                put((_GLOBAL, id(g), name), i)
            for i, c in enumerate(self.cells):
                put((_CELL, id(c), None), i)
            self.at = at
        return self.at

    def copy(self) -> "_Checks":
        new = _Checks.__new__(_Checks)
        for name in self.__slots__[:-1]:
            setattr(new, name, list(getattr(self, name)))
        new.at = self.index()  # (shared: what is patched is a value, never where it is)
        return new

    def wrote(self, place: "_Place", value: Any) -> bool:
        """A replay wrote ``value`` (as it now reads) into ``place``: put it where the checks hold the old one.
        False if nothing read covers the place (then the walk is not kept)."""
        kind, holder, key, at = place.kind, place.holder, place.key, self.index()
        if kind == "grad" or (kind == "attr" and isinstance(holder, Tensor) and key == "_arr"):
            where = at.get((_TENSOR, id(holder), None))
            held = at.get(("grad", id(holder), None))
            if where is None or (kind == "grad" and held is None):  # (a gradient that was None: not an input,
                return False                                           # and wrote() never gets here)
            for i in where:
                if kind == "attr":
                    self.arrays[i] = value
                else:
                    self.grads[i] = holder._grad
            for j in held if kind == "grad" else ():
                self.grads_held[j], self.grad_arrays[j] = holder._grad, value
            return True
        if kind == "item":
            where = at.get((_LIST, id(holder), None))
            for i in where or ():
                self.list_items[i + key] = holder[key]
            return where is not None
        if kind == "cell":
            where = at.get((_CELL, id(holder), None))
            for i in where or ():
                self.cell_values[i] = holder.cell_contents
            return where is not None
        if kind == "global":
            where = at.get((_GLOBAL, id(holder), key))
            for i in where or ():
                self.global_values[i] = holder[key]
            return where is not None
        if kind not in ("attr", "counter"):
            return False
        d = getattr(holder, "__dict__", None)
        where = None if d is None else at.get((_DICT, id(d), None))
        if where is None:
            return False
        raw = d[key]
        k = list(d).index(key)  # (the dict's keys are as noted: the checks held at this call)
        for i in where:
            if kind == "counter" and type(raw) is not type(self.dict_values[i + k]):  # the signature holds its type
                return False
            self.dict_values[i + k] = raw
        return True


class _Remembered:
    """A walk kept for the next call: its signature, inputs and places, what it read (``_Checks``), and how to
    take the new call's arguments. ``again`` gives the inputs for a call if a walk would find the same: the
    arguments of the same kind (arrays of the same layout, not met elsewhere in the walk; anything else the very
    same object; a NumPy scalar of the same dtype), everything read holding the same objects, every input array
    of the same layout."""

    __slots__ = ("key", "values", "layouts", "places", "place_input", "objects", "checks", "arg_spec", "kw_names",
                 "reached", "keep")

    def __init__(self, walk: "_Walk", kw_names: tuple) -> None:
        self.key = tuple(walk.key)  # (its first entry: the count of VJP definitions, Primitive.definitions)
        self.checks = walk.checks
        arg_index = {spec[0] for spec in walk.arg_spec if spec[0] is not None}
        self.values = [None if k in arg_index else v for k, v in enumerate(walk.values)]  # arguments: not kept
        self.layouts = [walk._layout(v) if type(v) is np.ndarray else None for v in self.values]
        self.places = [_Place("value", None, None) if walk.place_input[i] in arg_index else p
                       for i, p in enumerate(walk.places)]
        self.place_input, self.objects = walk.place_input, walk.objects
        self.arg_spec, self.kw_names = walk.arg_spec, kw_names
        self.keep = [out for i, (_, out) in walk.seen.items() if i not in walk.arg_arrays]  # so no id is reused
        self.reached = frozenset(id(x) for x in self.keep)

    def again(self, args: tuple, kwargs: dict) -> list | None:
        spec = self.arg_spec
        if len(args) + len(kwargs) != len(spec) or tuple(kwargs) != self.kw_names:
            return None
        values = self.values.copy()
        arrays = []
        for a, (k, expected) in zip((*args, *kwargs.values()), spec):
            if k is None:
                if a is not expected:
                    return None
                continue
            if isinstance(expected, np.dtype):  # a NumPy scalar
                if not isinstance(a, np.generic) or a.dtype != expected or id(a) in self.reached:
                    return None
            elif type(a) is not np.ndarray or id(a) in self.reached or _Walk._layout(a) != expected:
                return None
            values[k] = a
            arrays.append(id(a))
        if len(arrays) > 1 and len(set(arrays)) != len(arrays):  # one passed twice: a walk may say "same"
            return None
        if not self.checks.hold():
            return None
        layout = _Walk._layout
        for v, expected in zip(self.values, self.layouts):
            if expected is not None and layout(v) != expected:
                return None
        return values

    def wrote(self, indices: list[int]) -> "_Remembered | None":
        """The walk to keep after a replay wrote these places back, or None when a walk must look again (a
        gradient that was None, an array of another layout, a number of another type)."""
        new = _Remembered.__new__(_Remembered)
        for name in _Remembered.__slots__:
            setattr(new, name, getattr(self, name))
        new.values, new.layouts, new.checks = self.values.copy(), self.layouts, self.checks.copy()
        for i in indices:
            place, k = self.places[i], self.place_input[i]
            if k is None:
                return None
            v = place.get()
            old = self.values[k]
            if type(v) is not type(old) or (isinstance(v, np.generic) and v.dtype != old.dtype):
                return None  # (an array of another layout: the next call compares every input's layout)
            if not new.checks.wrote(place, v):
                return None
            new.values[k] = v
        return new


_functions: dict = {}  # id(class) -> (a weak reference to it, its namespace's values, its functions)


def _functions_of(kl: type) -> tuple:
    """(name, function, name, function...) for the functions, properties, static and class methods a class
    defines: the very same tuple while the class's namespace holds the same objects (so a signature compares
    it by identity), a new one once anything there has changed."""
    ns = kl.__dict__
    kept = _functions.get(id(kl))
    if kept is not None and kept[0]() is kl and len(kept[1]) == len(ns) and all(map(operator.is_, ns.values(),
                                                                                   kept[1])):
        return kept[2]
    found: tuple = ()
    for name, v in ns.items():
        if isinstance(v, (types.FunctionType, staticmethod, classmethod, property)):
            found += (name, v)
    key = id(kl)
    _functions[key] = (weakref.ref(kl, lambda _: _functions.pop(key, None)), tuple(ns.values()), found)
    return found


class Methods:
    """The functions some classes define (each class, then ``_functions_of`` it), compared by identity and kept
    alive (so that no id is reused); hashed once."""

    __slots__ = ("items", "hash")

    def __init__(self, items: tuple):
        self.items, self.hash = items, hash(tuple(map(id, items)))

    def __eq__(self, other: Any) -> bool:
        return type(other) is Methods and len(other.items) == len(self.items) \
            and all(map(operator.is_, self.items, other.items))

    def __hash__(self) -> int:
        return self.hash


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
        # not while tracing: what the walk read, so that the next call can tell by identity that nothing changed
        self.checks: _Checks | None = _Checks() if trace is None else None
        self.opaque = False              # read something the checks cannot vouch for: never remembered
        self.arg_arrays: set[int] = set()  # ids of the arguments that are plain arrays or NumPy scalars (new on
        # every call, as far as the kept walk is concerned: it keeps neither)
        self.arg_spec: list = []         # for each argument: (its index in values, its layout) or (None, itself)
        self.classes: set[int] = set()    # ids of the classes whose methods are in the key
        self.methods: list = []           # those classes and their functions: the key's last entry (``Methods``)

    def _note(self, kind: int, obj: Any, arg: Any = None) -> None:
        if self.checks is not None:
            self.checks.note(kind, obj, arg)

    def _plain(self, v: Any) -> Any:
        """``_plain_key(v)``: its content (containers, plain objects, at any depth) or its identity. The checks
        vouch for that content when every mutable container and plain object in it is noted and everything else
        in it is a number, a string or compared by identity; otherwise (a set, too deep) this walk is not kept."""
        key = _plain_key(v)
        if self.checks is not None and not self._vouch(v, 0):
            self._not_kept()
        return key

    def _not_kept(self) -> None:
        """This walk read what the checks cannot vouch for: it is never kept, and notes nothing more."""
        self.opaque, self.checks = True, None

    def _vouch(self, v: Any, depth: int) -> bool:
        t = type(v)
        if t in _SCALARS or isinstance(v, np.generic):
            return True
        if depth > 16:
            return False
        if t is tuple or t is list:
            if t is list:
                self._note(_LIST, v)
            return all(self._vouch(x, depth + 1) for x in v)
        if t is dict:
            self._note(_DICT, v)
            return all(type(k) in _SCALARS for k in v) and all(self._vouch(x, depth + 1) for x in v.values())
        from ._reads import _plain_object
        if t in (set, frozenset):
            return t is frozenset and all(type(x) in _SCALARS for x in v)
        if not _plain_object(v):  # a function, a class, another library's object: by identity
            return True
        self._note(_VARS, v)
        return all(self._vouch(x, depth + 1) for x in vars(v).values())

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

    def walk(self, x: Any, hint: str, depth: int = 0, arg: bool = False) -> Any:
        """``x`` with its arrays replaced by stand-ins (while tracing); fills values/places/key. ``arg``: ``x`` is
        an argument of the call itself."""
        k = self.seen.get(id(x))
        if k is not None and not isinstance(x, (int, float, str, bool, type(None))):
            if id(x) in self.arg_arrays:  # an argument's array met again: which one it is, is in the key
                self._not_kept()
            self.key.append(("same", k[0]))
            return k[1]
        t = type(x)
        if t is np.ndarray:
            self.key.append(("A",) + self._layout(x))
            if arg:
                self.arg_arrays.add(id(x))
            out = self._input(x, _Place("value", x, None), hint)
        elif isinstance(x, Tensor):
            out = self._tensor(x, hint)
        elif t in (tuple, list):
            if t is list:
                self._note(_LIST, x)
            self.key.append((t, len(x)))
            items = [self.walk(v, f"{hint}_{i}", depth) for i, v in enumerate(x)]
            out = t(items) if self.trace is not None else x
        elif t is dict:
            self._note(_DICT, x)
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
            if arg:
                self.arg_arrays.add(id(x))
            out = self._input(x, _Place("value", x, None), hint)
        elif x is None or t in _SCALARS or isinstance(x, (np.generic, np.dtype)):
            self.key.append((t, x))
            out = x
        elif isinstance(x, _SKIP) or callable(x):
            self.key.append(("O", id(x)))
            out = x
        elif hasattr(x, "__dict__") and depth < 3:
            self.objects.append(x)
            self.key.append(("X", id(x), type(x)))
            self._note(_VARS, x)
            for name, v in list(vars(x).items()):
                if _holds_data(v, self._note if self.checks is not None else None):
                    self._attr(x, name, v, f"{hint}_{name}", depth + 1)
                elif type(v) in _SCALARS:  # self.block_rows: read by the traced code as a constant
                    self.key.append((name, v))
                else:  # a dict of settings, a function: by content or identity
                    self.key.append((name, self._plain(v)))
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
        self._note(_TENSOR, t)
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
        base_modules = self.Module.modules
        for sub in m.modules():
            key.append(id(sub))  # (its class: in the key's Methods)
            self._methods(type(sub))
            if self.checks is not None:  # (its buffers: in its __dict__ or its classes' namespaces, both noted)
                self._note(_VARS, sub)
                if type(sub).modules is not base_modules:  # which sub-modules there are: the subclass's to say
                    self._not_kept()
            attrs = vars(sub).items() if self.trace is None else list(vars(sub).items())  # tracing rebinds some
            for name, v in attrs:
                t = type(v)
                if t in scalars:  # training, p, momentum, eps...: constants of the trace
                    key.append((name, v))
                elif isinstance(v, Tensor):
                    self.walk(v, names.get(id(v), name))
                elif t is list or t is tuple:
                    if t is list:
                        self._note(_LIST, v)
                    key.append(len(v))
                    if not any(isinstance(x, (Tensor, self.Module)) for x in v):
                        key.append(self._plain(v))  # sizes, names...: by content
                    for i, x in enumerate(v):
                        if isinstance(x, Tensor):
                            self.walk(x, names.get(id(x), f"{name}{i}"))
                elif isinstance(v, np.random.Generator):
                    self._attr(sub, name, v, name, 1)
                elif isinstance(v, np.ndarray) and name not in sub.buffers:  # a plain array attribute: an input
                    self._attr(sub, name, v, name, 1)
                elif isinstance(v, self.Optimizer):  # a model that keeps its optimizer (self.opt.step() in a method)
                    self.walk(v, name)
                elif not isinstance(v, self.Module):
                    key.append((name, self._plain(v)))  # a dict, a function...: by content or identity
            for name in sub.buffers:
                v = getattr(sub, name)
                if v is not None:
                    self._attr(sub, name, v, f"{type(sub).__name__.lower()}_{name}", 1)

    def _methods(self, klass: type) -> None:
        """The functions a Module's or an Optimizer's classes define, by identity: library code calls them (a
        layer's ``forward``, an optimizer's ``step``), so no guard of the user's reads sees a method patched
        after the trace (``Layer.forward = other``)."""
        for kl in klass.__mro__[:-1]:
            if id(kl) in self.classes:
                continue
            self.classes.add(id(kl))
            self._note(_DICT, kl.__dict__)
            self.methods += (kl, _functions_of(kl))

    def _optimizer(self, opt: Any, hint: str) -> None:
        self.key.append(("Opt", id(opt)))
        self._methods(type(opt))
        note = self._note
        note(_VARS, opt)  # (what it reads by name is in its __dict__ or its classes' namespaces, both noted)
        for h in opt.hyper:  # Python numbers are constants of the trace, NumPy scalars inputs (as arguments)
            v = getattr(opt, h)
            if isinstance(v, np.generic):
                self.key.append((h, v.dtype))
                self._input(v, _Place("attr", opt, h), h)
            else:
                if self.checks is not None and not _immutable(v):  # a list of betas: by content
                    self._not_kept()
                self.key.append((h, _hashable(v)))
        if type(opt.params) is list:
            note(_LIST, opt.params)
        for p in opt.params:
            self.walk(p, "p")
        for slot in opt.slots:
            values = getattr(opt, slot)
            if type(values) is list:
                note(_LIST, values)
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


def _holds_data(v: Any, note: Callable | None = None) -> bool:
    """Does ``v`` hold arrays, Tensors, Modules, Optimizers or Generators (in containers at any depth)?
    ``note`` (a walk's) is told every list and dict looked into: what they hold decides the answer."""
    if isinstance(v, _DATA_TYPES):
        return True
    Module, Optimizer = _module_types()
    if isinstance(v, (Module, Optimizer)):
        return True
    t = type(v)
    if t in (list, tuple, dict):
        if note is not None and t is not tuple:
            note(_DICT if t is dict else _LIST, v)
        vals = v.values() if t is dict else v
        return any(_holds_data(x, note) for x in vals)  # (items after the first that holds data: not looked into)
    return False


def _captured(f: Callable, depth: int = 0, seen: set | None = None,
              note: Callable | None = None) -> list[tuple[str, _Place | None, Any]]:
    """Objects ``f`` reaches without taking them as arguments: ``self`` of a bound method, closure cells,
    and the globals its code names (only the kinds that hold data) — and, two functions deep, those of
    the functions it reaches the same way (``loss = make_loss(W)``: ``W`` lives in ``loss``'s closure).
    Deeper than that: the functions a trace was seen to run (``_reads``) are walked from the next call.
    ``note`` (a walk's) is told every attribute, cell and global looked at."""
    seen = set() if seen is None else seen
    if id(f) in seen:
        return []
    seen.add(id(f))
    note = note or _no_note
    found = []
    if not isinstance(f, (types.FunctionType, types.MethodType)):  # (a bound method's: read-only)
        note(_ATTR, f, "__self__")
        note(_ATTR, f, "__func__")
    self = getattr(f, "__self__", None)
    if self is not None and not isinstance(self, types.ModuleType):
        found.append(("self", None, self))
    func = getattr(f, "__func__", f)
    if isinstance(func, functools.partial):
        note(_ATTR, func, "args")
        note(_ATTR, func, "func")
        found.extend((f"arg{i}", None, v) for i, v in enumerate(func.args) if _holds_data(v, note))
        return found + _captured(func.func, depth + 1, seen, note) if depth < 2 else found
    note(_ATTR, func, "__code__")
    code = getattr(func, "__code__", None)
    if code is None:
        return found
    calls = []
    for name, cell in zip(code.co_freevars, func.__closure__ or ()):
        note(_CELL, cell)
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if _holds_data(v, note) or type(v) in _SCALARS or hasattr(v, "__dict__") and not isinstance(v, _SKIP) \
                and not callable(v):
            found.append((name, _Place("cell", cell, None), v))
        elif _user_function(v, note):
            calls.append(v)
    g = func.__globals__
    for name in _names(code):
        note(_GLOBAL, g, name)
        v = g.get(name)
        if v is not None and (_holds_data(v, note) or type(v) in _SCALARS):
            found.append((name, _Place("global", g, name), v))
        elif _user_function(v, note):
            calls.append(v)
    if depth < 2:
        for h in calls:
            found.extend(_captured(h, depth + 1, seen, note))
    return found


def _no_note(kind: int, obj: Any, arg: Any = None) -> None:
    pass


def _user_function(v: Any, note: Callable = _no_note) -> bool:
    """A function (not NumPy's) whose closure and globals may hold more of what the compiled one reads."""
    if isinstance(v, (types.FunctionType, types.MethodType, functools.partial)):
        note(_ATTR, v, "__module__")
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
    places = {(id(p.holder), p.key) for p in walk.places if p.kind in ("attr", "counter", "global", "cell")}
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
        for name in set(_names(code)):  # (an input read from a global or a cell holds its stand-in: not a store)
            if name in func.__globals__ and (id(func.__globals__), name) not in places:
                look(("global", func.__globals__, name), func.__globals__[name], f"the global {name}")
        for name, cell in zip(code.co_freevars, func.__closure__ or ()):
            try:
                if (id(cell), None) not in places:
                    look(("cell", cell, None), cell.cell_contents, f"the variable {name}")
            except ValueError:
                pass
    return found


def _store(objects: list, where: tuple, value: Any) -> None:
    kind, holder, key = where
    if kind == "obj":
        setattr(objects[holder], key, value)
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
