"""Tracing: run the function once on stand-ins for its arrays (:class:`Sym`) that record every NumPy
call made on them — the forward ops, the VJPs the backward pass calls, the optimizer's update.

A ``Sym`` holds the real value of the traced call (so the first call *is* a normal call), and the
:class:`Program` it records is a list of :class:`Instr`: ``outs = fn(*args, **kwargs)``. Every way a
value can leave NumPy for Python is either recorded as a guard (``bool(x)``, ``float(x)``: the
replay checks that it gets the same value, else it traces again) or refused with
:class:`CompileError` (``np.asarray(x)``: the replay could not follow it).
"""
from __future__ import annotations

import operator
import os
import sys
import threading
from typing import Any

import numpy as np

from ..tensor import Tensor, format_site

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_BACKWARD_CODE = None  # the code object of autonp.tensor._run_backward (set on first use)


class CompileError(TypeError):
    """``anp.compile`` cannot replay what the function did (names the op and the line)."""


class Var:
    """One value of the program: where it comes from, a name hint, and its value in the traced call."""

    __slots__ = ("id", "hint", "value", "root", "program", "ref")

    def __init__(self, vid: int, value: Any, hint: str | None = None, program: "Program | None" = None):
        self.id = vid
        self.program = program
        self.hint = hint
        self.value = value
        self.root = _memory_root(value)
        self.ref = Ref(self)  # one Ref per value, for every template that reads it (none is ever changed)


def _memory_root(value: Any):
    """The array owning ``value``'s memory (views share it), or None for scalars and objects."""
    if not isinstance(value, np.ndarray):
        return None
    while isinstance(value.base, np.ndarray):
        value = value.base
    return value


class Instr:
    """``outs = fn(*args, **kwargs)``. ``kind``: "call", "method" (``args[0].fn(*args[1:])``), "getitem",
    "setitem", "getattr", "escape" (a builtin turning a value into Python: guarded), "guard".
    ``target``: the Var written in place (``out=``, ``x[i] = v``, ``x += y``), else None."""

    __slots__ = ("kind", "fn", "args", "kwargs", "outs", "target", "site", "op", "expected")

    def __init__(self, kind, fn, args, kwargs, outs, target=None):
        self.kind, self.fn, self.args, self.kwargs, self.outs, self.target = kind, fn, args, kwargs, outs, target
        self.site, self.op, self.expected = None, None, None


class Ref:
    """A Var inside an argument template."""

    __slots__ = ("var",)

    def __init__(self, var: Var):
        self.var = var


class Program:
    """What a trace recorded."""

    def __init__(self):
        self.vars: list[Var] = []
        self.instrs: list[Instr] = []
        self.warned: set = set()  # lines already warned about (a printed traced value)

    def new_var(self, value: Any, hint: str | None = None) -> Var:
        v = Var(len(self.vars), value, hint, self)
        self.vars.append(v)
        return v


class _State(threading.local):
    program: Program | None = None


_state = _State()


# --------------------------------------------------------------------------- templates

_PLAIN = frozenset({int, float, bool, str, type(None), type(Ellipsis)})  # what _unwrap returns as it is


def _unwrap(x: Any) -> tuple[Any, Any]:
    """(concrete value, template) of an argument: Syms become their values and Refs."""
    t = type(x)
    if t is Sym:
        if x._var.program is not _state.program:
            raise CompileError("a traced value from another trace (kept from an earlier call of a compiled "
                               "function, or from another thread's) was used" + _where())
        return x._var.value, x._var.ref
    if t is tuple or t is list:  # no generators or appends: under the trace's profile hook each is an event
        if not x:
            return t(), t()  # a new one, as for any other list: an op never receives the caller's own
        values, template = zip(*[(v, v) if type(v) in _PLAIN else _unwrap(v) for v in x])
        return (values, template) if t is tuple else (list(values), list(template))
    if type(x) is dict:
        pairs = {k: _unwrap(v) for k, v in x.items()}
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
    if type(x) is slice and any(isinstance(v, Sym) for v in (x.start, x.stop, x.step)):
        s = [_unwrap(v) for v in (x.start, x.stop, x.step)]
        return slice(*(p[0] for p in s)), slice(*(p[1] for p in s))
    if isinstance(x, Tensor):
        if x.requires_grad:
            raise CompileError("a Tensor that requires grad was passed where NumPy expects an array, inside "
                               "an op's own code" + _where())
        return _unwrap(x._arr)
    if isinstance(x, _ObjectProxy):
        return x._obj, x._var.ref
    return x, x


_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


def _where() -> str:
    """The user's line: the innermost frame outside autonp and NumPy."""
    depth = 2
    while True:
        try:
            f = sys._getframe(depth)
        except ValueError:
            return ""
        name = f.f_code.co_filename
        if not (name.startswith(_PKG_DIR) or name.startswith(_NUMPY_DIR)):
            return f"\n  at {format_site((name, f.f_lineno))}"
        depth += 1


# --------------------------------------------------------------------------- recording

_PKG_CODES: set = set()  # code objects of autonp's own functions (`in` is no call under the trace's hook)


def _describe_context(instr: Instr) -> None:
    """Fill in the instruction's user line and the op it belongs to (a forward primitive, or the VJP
    of one during backward: then the line is the one that built that op). Only at trace time."""
    global _BACKWARD_CODE
    if _BACKWARD_CODE is None:
        from .. import tensor
        _BACKWARD_CODE = tensor._run_backward.__code__
    prim = None
    f = sys._getframe(1).f_back  # the caller of record() or escape(); None at the bottom of the stack
    while f is not None:
        code = f.f_code
        if code is _BACKWARD_CODE:
            loc = f.f_locals
            node, t, entry = loc.get("node"), loc.get("t"), loc.get("entry")
            if node is not None:
                instr.op = ("grad", node.prim.name)
                instr.site = node.site
                if entry is not None and isinstance(entry[0], Sym) and isinstance(t, Tensor):
                    _name_gradient(entry[0], t)
                return
        if code.co_name == "__call__" and prim is None:
            self = f.f_locals.get("self")
            if self is not None and type(self).__name__ == "Primitive":
                prim = self
        if code not in _PKG_CODES:
            if not code.co_filename.startswith(_PKG_DIR):
                instr.site = (code.co_filename, f.f_lineno)
                break
            _PKG_CODES.add(code)
        f = f.f_back
    instr.op = ("op", prim.name if prim is not None else None)


def _name_gradient(g: "Sym", t: Tensor) -> None:
    """The gradient of a Tensor named ``z2`` is called ``dz2`` in the generated code."""
    program = _state.program
    if program is None or g._var.hint is not None:
        return
    name = program_name_of(t)
    if name:
        g._var.hint = "d" + name


def program_name_of(t: Tensor) -> str | None:
    if t.name:
        return str(t.name)
    arr = t._arr
    if isinstance(arr, Sym) and arr._var.hint and not arr._var.hint.startswith("d"):
        return arr._var.hint
    return None


def record(kind: str, fn: Any, args: tuple, kwargs: dict, target: "Sym | None" = None) -> Any:
    """Run ``fn`` on the concrete values and record it; returns the result with Syms for arrays."""
    program = _state.program
    if program is None:
        raise CompileError("a traced value was used after its compiled function's trace ended (it was "
                           "kept outside the function, e.g. in a global list)" + _where())
    if target is not None and not target._writeable:
        raise ValueError("assignment destination is read-only" + _where())
    cargs, targs = _unwrap(args)
    ckw, tkw = _unwrap(kwargs) if kwargs else ({}, {})
    if kind == "method":
        result = getattr(cargs[0], fn)(*cargs[1:], **ckw)
    elif kind == "getitem":
        result = cargs[0][cargs[1]]
    elif kind == "setitem":
        cargs[0][cargs[1]] = cargs[2]
        result = None
    elif kind == "getattr":
        result = getattr(cargs[0], fn)
    else:
        result = fn(*cargs, **ckw)
    if target is None and isinstance(result, np.ndarray):  # x.astype(same dtype, copy=False): x itself
        for a in args:
            if isinstance(a, Sym) and a._var.value is result:
                return a
    instr = Instr(kind, fn, targs, tkw, None, target._var if target is not None else None)
    _describe_context(instr)
    if target is not None:
        program.instrs.append(instr)
        return target if kind != "setitem" else None
    guards: list = []
    out, tout = _wrap(program, result, instr, guards)
    instr.outs = tout
    program.instrs.append(instr)
    program.instrs.extend(guards)
    return out


def _wrap(program: Program, result: Any, instr: Instr, guards: list) -> tuple[Any, Any]:
    """Syms for the arrays in a result; (result, template of Vars)."""
    if isinstance(result, (np.ndarray, np.generic)):
        var = program.new_var(result)
        return Sym(var), var.ref
    if isinstance(result, tuple):
        pairs = [_wrap(program, r, instr, guards) for r in result]
        vals = [p[0] for p in pairs]
        out = type(result)(*vals) if hasattr(result, "_fields") else tuple(vals)
        return out, tuple([p[1] for p in pairs])
    if isinstance(result, list):
        pairs = [_wrap(program, r, instr, guards) for r in result]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if result is None:
        return None, None
    if isinstance(result, np.random.Generator):
        var = program.new_var(result)
        return _ObjectProxy(var, result), var.ref
    if isinstance(result, (bool, int, float, complex, str, bytes)):
        # a Python value computed from the data: the replay computes it too and checks it is the same
        var = program.new_var(result)
        guard = Instr("guard", None, (var.ref,), {}, None)
        guard.expected = result
        guard.site, guard.op = instr.site, ("guard", _fn_name(instr))
        guards.append(guard)
        return result, var.ref
    raise CompileError(f"{_fn_name(instr)} returned a {type(result).__name__}, which compiled code cannot "
                       f"follow" + _where())


def _fn_name(instr: Instr) -> str:
    fn = instr.fn
    return fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))


def guard_shape(result: Any) -> Any:
    """A result whose shape depends on the values (``x[mask]``, ``np.nonzero``): the replay compares its
    shape with the traced one and traces again when it differs — the code after it was traced for
    that shape (which axes a gradient sums over, which broadcasts happen)."""
    for leaf in (result if isinstance(result, tuple) else (result,)):
        if isinstance(leaf, Sym):
            record("getattr", "shape", (leaf,), {})
    return result


def escape(sym: "Sym", builtin, what: str) -> Any:
    """``bool(x)``, ``float(x)``, ``int(x)``, ``x.tolist()``: the value leaves NumPy. Recorded, with a
    guard: the replay checks it gets the same Python value (else the function is traced again)."""
    program = _state.program
    if program is None:
        return builtin(sym._traced_value())
    value = builtin(sym._traced_value())
    var = program.new_var(value)
    instr = Instr("escape", builtin, (sym._var.ref,), {}, var.ref)
    _describe_context(instr)
    program.instrs.append(instr)
    guard = Instr("guard", None, (var.ref,), {}, None)
    guard.expected = value
    guard.site, guard.op = instr.site, ("guard", what)
    program.instrs.append(guard)
    return value


# --------------------------------------------------------------------------- the stand-in

_STATIC = {"shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides"}
_VIEW_PROPS = {"T", "mT", "real", "imag"}
_INPLACE_METHODS = {"fill", "sort", "partition", "put", "resize", "setfield", "itemset", "setflags"}
# functions whose result's shape depends on the values: the replay checks it is the traced one
_DATA_SHAPED = {np.nonzero, np.flatnonzero, np.argwhere, np.unique, np.compress, np.extract, np.trim_zeros, np.repeat,
                np.setdiff1d, np.intersect1d, np.union1d, np.setxor1d, np.unique_values, np.unique_counts,
                np.unique_inverse, np.unique_all}
_STATIC_FUNCTIONS = {np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj, np.can_cast,
                     np.min_scalar_type, np.may_share_memory, np.shares_memory}


class _Flags:
    """What ``x.flags`` says of a traced array: its layout, and whether it may be written."""

    def __init__(self, sym: "Sym"):
        object.__setattr__(self, "_sym", sym)

    def __getattr__(self, name: str) -> Any:
        if name == "writeable":
            return self._sym._writeable
        if name == "owndata":
            return True
        return getattr(self._sym._traced_value().flags, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "writeable":
            self._sym._writeable = bool(value)


def _binop(ufunc, reflected=False):
    def op(self, other):
        if isinstance(other, Tensor):
            return NotImplemented
        return ufunc(other, self) if reflected else ufunc(self, other)
    return op


def _inplace(ufunc):
    def op(self, other):
        if isinstance(other, Tensor):
            return NotImplemented
        if not isinstance(self._var.value, np.ndarray):  # a NumPy scalar is immutable: x += 1 rebinds x
            return ufunc(self, other)
        ufunc(self, other, out=(self,))
        return self
    return op


def scalar(x, *index):
    """``x.item()`` kept as a NumPy scalar while traced (the replay converts it at the very end)."""
    if not index:
        return np.reshape(x, ())[()]
    return np.reshape(x, -1)[index[0]] if len(index) == 1 else x[index]


def as_index(x) -> int:
    return x.__index__()


def py_round(x, ndigits):
    """Python's ``round(x.item(), ndigits)`` (correctly rounded, as eager), kept as a NumPy scalar while traced."""
    return np.float64(round(float(x), ndigits)) if isinstance(x, (np.floating, float)) else type(x)(round(x, ndigits))


def as_list(x) -> list:
    return x.tolist()


class Sym:
    """A traced array: behaves as its value does, and records every NumPy call made on it."""

    __slots__ = ("_var", "_writeable")
    __autonp_stand_in__ = True
    __array_priority__ = 500  # below Tensor's, so that Tensor's operators win
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, var: Var):
        self._var = var
        self._writeable = True

    def _traced_value(self) -> Any:
        """The value it had in the traced call."""
        return self._var.value

    def __autonp_array__(self) -> "Sym":
        """This value as ``np.asarray`` makes it in eager autonp: a NumPy scalar (NumPy's 0-d results are scalars)
        becomes a 0-d array, recorded, so that a replay returns what eager autonp returns (a 0-d gradient, say)."""
        return self if isinstance(self._var.value, np.ndarray) else record("call", np.asarray, (self,), {})

    # ---- what does not depend on the values
    # (attrgetters, not lambdas: C code, so no Python call for the trace's profile hook to see)
    shape = property(operator.attrgetter("_var.value.shape"))  # an ndarray or a NumPy scalar: both have these
    dtype = property(operator.attrgetter("_var.value.dtype"))
    ndim = property(operator.attrgetter("_var.value.ndim"))
    size = property(operator.attrgetter("_var.value.size"))
    flags = property(lambda self: _Flags(self))
    base = None  # it owns its values, as far as the code that inspects it is concerned
    # isinstance(x, np.ndarray) holds (the ops' Python code takes it for an array); type(x) is Sym
    _array_type = np.ndarray
    __class__ = property(operator.attrgetter("_array_type"))  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self._var.value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(len(self)):
            yield self[i]

    # ---- NumPy's protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            out = out if isinstance(out, tuple) else (out,)
        for x in inputs if out is None else inputs + out:  # a loop: no generator resumed under the hook
            if isinstance(x, Tensor):
                return NotImplemented
        target = None
        if out is not None:
            if len(out) == 1 and isinstance(out[0], Sym):
                target = out[0]
            elif any(isinstance(o, np.ndarray) for o in out):
                raise CompileError(f"np.{ufunc.__name__}(..., out=array) writes a traced value into an array the "
                                   f"compiled function did not receive: pass that array as an argument (or keep "
                                   f"it on a Module/Optimizer)" + _where())
            elif len(out) > 1:
                raise CompileError(f"np.{ufunc.__name__} with several out= arrays cannot be compiled" + _where())
        if method == "at":
            if not isinstance(inputs[0], Sym):
                raise CompileError(f"np.{ufunc.__name__}.at into an array the compiled function did not "
                                   f"receive" + _where())
            return record("call", ufunc.at, inputs, kwargs, target=inputs[0])
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return record("call", fn, inputs, kwargs, target=target)

    def __array_function__(self, func, types, args, kwargs):
        for t in types:
            if issubclass(t, Tensor):
                return NotImplemented
        if func in _STATIC_FUNCTIONS:
            cargs, _ = _unwrap(args)
            ckw, _ = _unwrap(kwargs)
            return func(*cargs, **ckw)
        target = None
        out = kwargs.get("out")
        if out is not None:
            if isinstance(out, Sym):
                target = out
            else:
                raise CompileError(f"np.{func.__name__}(..., out=array) writes a traced value into an array the "
                                   f"compiled function did not receive" + _where())
        if func is np.copyto:
            target = args[0] if args else kwargs.get("dst")
            if not isinstance(target, Sym):
                raise CompileError("np.copyto of a traced value into an array the compiled function did not "
                                   "receive" + _where())
        out = record("call", func, args, kwargs, target=target)
        if func in _DATA_SHAPED or (func is np.where and len(args) + len(kwargs) == 1):
            guard_shape(out)
        return out

    def __array__(self, dtype=None, copy=None):
        raise CompileError("a traced array was converted to a plain NumPy array (np.asarray/np.array, or a "
                           "library that calls them), so the compiled replay could not follow it; use NumPy "
                           "functions on it instead" + _where())

    # ---- indexing and attributes
    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index._arr
        out = record("getitem", None, (self, index), {})
        if any(isinstance(i, Sym) and i.dtype == bool for i in (index if type(index) is tuple else (index,))):
            guard_shape(out)  # x[mask]: as many elements as the mask has True
        return out

    def __setitem__(self, index, value):
        if isinstance(value, Tensor):
            if value.requires_grad:
                raise TypeError("cannot assign a Tensor that requires grad into an array (its gradient would "
                                "be lost)" + _where())
            value = value._arr
        record("setitem", None, (self, index, value), {}, target=self)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _STATIC:
            return getattr(self._var.value, name)
        if name in _VIEW_PROPS:
            return record("getattr", name, (self,), {})
        attr = getattr(np.ndarray, name, None)
        if attr is None:
            raise AttributeError(f"'ndarray' object has no attribute '{name}'")
        if not callable(attr):
            raise CompileError(f"ndarray.{name} of a traced array cannot be compiled" + _where())
        if name == "item":
            return self._item
        if name == "tolist":
            return lambda: escape(self, as_list, "tolist()")
        if name in _INPLACE_METHODS:
            return lambda *a, **k: record("method", name, (self,) + a, k, target=self)

        if name in ("nonzero", "compress", "repeat"):
            return lambda *args, **kwargs: guard_shape(record("method", name, (self,) + args, kwargs))
        return lambda *args, **kwargs: record("method", name, (self,) + args, kwargs)

    def _item(self, *index):
        """``x.item()`` stays traced (a 0-d value): ``if loss.item() > 1`` guards on the comparison only."""
        if self.size != 1 and not index:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return record("call", scalar, (self,) + index, {})

    # ---- values that leave NumPy: guarded
    def __bool__(self) -> bool:
        return escape(self, bool, "bool()")

    def __float__(self) -> float:
        return escape(self, float, "float()")

    def __int__(self) -> int:
        return escape(self, int, "int()")

    def __index__(self) -> int:
        return escape(self, as_index, "int()")

    def __complex__(self) -> complex:
        return escape(self, complex, "complex()")

    def __round__(self, ndigits=None):
        """``round(loss.item(), 4)`` stays traced; ``round(x)`` (an int) is guarded as ``int()`` is."""
        if ndigits is None:
            return escape(self, round, "round()")
        return record("call", py_round, (self, ndigits), {})

    def __contains__(self, value) -> bool:
        return bool((self == value).any())

    def __repr__(self) -> str:
        return f"traced({self._var.value!r})"

    def __str__(self) -> str:
        _refuse_text(self)
        return str(self._var.value)

    def __format__(self, spec: str) -> str:
        _refuse_text(self)
        return format(self._var.value, spec)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        raise CompileError("a traced array cannot be pickled or saved inside a compiled function" + _where())

    # ---- operators (NumPy's ufuncs, so they are recorded)
    __add__, __radd__ = _binop(np.add), _binop(np.add, True)
    __sub__, __rsub__ = _binop(np.subtract), _binop(np.subtract, True)
    __mul__, __rmul__ = _binop(np.multiply), _binop(np.multiply, True)
    __truediv__, __rtruediv__ = _binop(np.true_divide), _binop(np.true_divide, True)
    __floordiv__, __rfloordiv__ = _binop(np.floor_divide), _binop(np.floor_divide, True)
    __mod__, __rmod__ = _binop(np.remainder), _binop(np.remainder, True)
    __pow__, __rpow__ = _binop(np.power), _binop(np.power, True)
    __matmul__, __rmatmul__ = _binop(np.matmul), _binop(np.matmul, True)
    __and__, __rand__ = _binop(np.bitwise_and), _binop(np.bitwise_and, True)
    __or__, __ror__ = _binop(np.bitwise_or), _binop(np.bitwise_or, True)
    __xor__, __rxor__ = _binop(np.bitwise_xor), _binop(np.bitwise_xor, True)
    __lt__, __le__ = _binop(np.less), _binop(np.less_equal)
    __gt__, __ge__ = _binop(np.greater), _binop(np.greater_equal)
    __eq__, __ne__ = _binop(np.equal), _binop(np.not_equal)  # type: ignore[assignment]
    __iadd__, __isub__, __imul__ = _inplace(np.add), _inplace(np.subtract), _inplace(np.multiply)
    __itruediv__, __ipow__, __imod__ = _inplace(np.true_divide), _inplace(np.power), _inplace(np.remainder)
    __ifloordiv__ = _inplace(np.floor_divide)
    __iand__, __ior__, __ixor__ = _inplace(np.bitwise_and), _inplace(np.bitwise_or), _inplace(np.bitwise_xor)

    def __neg__(self):
        return np.negative(self)

    def __pos__(self):
        return np.positive(self)

    def __abs__(self):
        return np.absolute(self)

    def __invert__(self):
        return np.invert(self)


def _refuse_text(sym: Sym) -> None:
    """Formatting a traced value (print, an f-string, str): a replay would print nothing, and a string
    made from it would be the traced call's text on every call. Refused, at the user's line."""
    if _state.program is None:
        return
    raise CompileError("a traced value is printed or formatted (print, an f-string, str()) inside a compiled "
                       "function: a replay would not print it again, and a string made from it would keep the "
                       "traced call's text. Return the number (loss.item()) and format it outside" + _where())


class _ObjectProxy:
    """A random Generator inside a traced function: its draws are recorded, so every replay draws anew."""

    __slots__ = ("_var", "_obj")

    def __init__(self, var: Var, obj: Any):
        self._var, self._obj = var, obj

    def __getattr__(self, name: str):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        return lambda *args, **kwargs: record("method", name, (self,) + args, kwargs)
