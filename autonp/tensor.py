"""The core: ``Tensor``, the tape, and reverse-mode ``backward``.

Every primitive applied to a tensor that requires grad appends a :class:`Node` to the tape
(``out.node``): the primitive, its arguments, the user's source line and name scope.
``backward`` walks the tape in reverse topological order (iteratively, so chains of any
length work) and calls each primitive's vector-Jacobian products (``Primitive.vjps``).

Primitives themselves live in :mod:`autonp.ops`; this module only knows their interface.
"""
from __future__ import annotations

import contextlib
import dis
import inspect
import itertools
import linecache
import os
import re
import sys
import threading
import warnings
import weakref
from sys import getrefcount
from types import CodeType, MethodType
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

__all__ = [
    "Tensor", "Node", "Primitive", "OpError", "GraphFreedError", "AnomalyError", "FreedGraphWarning", "from_numpy",
    "guard_memory",
    "no_grad", "enable_grad", "is_grad_enabled", "name_scope", "detect_anomaly", "gradients",
]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# frames in these are never "the user's line": autonp's own, and NumPy's (an ndarray method or np.linalg
# function that met a Tensor is reported where the user called it)
_INTERNAL_DIRS = (_PKG_DIR, os.path.dirname(os.path.abspath(np.__file__)) + os.sep)


class _Mode(threading.local):
    """Per-thread recording state."""

    enabled = True      # record ops on the tape
    guard = True        # make the arrays of leaves and plain arrays the tape holds read-only meanwhile
    anomaly = False     # check every forward and backward value for NaN/Inf
    scope: tuple = ()   # current name_scope path, e.g. ("hidden",)
    site = None         # the user's line for the ops recorded now, when a caller found it already (nn.Sequential
                        # around a layer of autonp's own): tape entries take it instead of searching the stack
    substitutes = None  # {id(t): t'}: ops take t' where they are given t (stand-ins for what a function reads from
                        # outside, so that it is differentiated as an argument: functional.substituted)
    observer: Any = None  # called with each new tape entry's Tensor, in the order the ops run (tracer.trace)
    in_function = 0     # > 0 while a transform (grad, jacobian, vjp, ...) runs the user's function


_mode = _Mode()
_seq = itertools.count()  # global creation order of tape entries


# --------------------------------------------------------------------------- errors and sites

class OpError(ValueError, TypeError):
    """An op was applied to arguments it cannot take (names the op, the shapes, and the line)."""


class LinAlgOpError(OpError, np.linalg.LinAlgError):
    """An OpError that is NumPy's LinAlgError too (a singular matrix): ``except np.linalg.LinAlgError`` catches it."""


class AxisOpError(OpError, np.exceptions.AxisError):
    """An OpError that is NumPy's AxisError too (an axis out of bounds): an IndexError and a ValueError."""


class IndexOpError(OpError, IndexError):
    """An OpError that is an IndexError too (an index out of bounds), so that iteration stops at it."""


def op_error(message: str, cause: Exception) -> Exception:
    """``message`` as an OpError of ``cause``'s kind: NumPy's AxisError and LinAlgError stay what they are
    (programs catch a LinAlgError to add jitter and retry), another IndexError stays an IndexError (so
    iteration stops)."""
    if isinstance(cause, np.exceptions.AxisError):
        return AxisOpError(message)
    if isinstance(cause, IndexError):
        return IndexOpError(message)
    return LinAlgOpError(message) if isinstance(cause, np.linalg.LinAlgError) else OpError(message)


def cannot_apply(name: str, args: Sequence, kwargs: dict, e: Exception, where: str) -> Exception:
    """``e`` said again (``op_error``: its kind kept) naming the op, its arguments' shapes and dtypes, and
    ``where`` (the user's line)."""
    given = ", ".join(describe(a) for a in args) + "".join(
        f", {k}={v!r}" if isinstance(v, str) else f", {k}={describe(v)}" for k, v in kwargs.items())
    return op_error(f"{name}: cannot apply to ({given}): {e}\n  {where}", e)


def ours_to_explain(e: Exception) -> bool:
    """An error to say again with the op and the user's line: Python's and NumPy's own kinds (not one of
    autonp's, nor a subclass a user's callback raised, which pass unchanged)."""
    return type(e) in (ValueError, TypeError, IndexError) or type(e).__module__.split(".")[0] == "numpy"


class LeafAssignmentError(RuntimeError, TypeError):
    """An in-place change (``t[i] = v``, ``t += v``) of a leaf that requires grad, while ops are recorded:
    refused (its gradient would be ambiguous). A TypeError too, as HIPS autograd raises for assignment."""


class GraphFreedError(RuntimeError):
    """``backward`` reached a tape entry whose saved values were freed by an earlier backward."""


class AnomalyError(FloatingPointError):
    """Raised inside ``detect_anomaly()`` by the first op that makes a NaN or Inf."""


class FreedGraphWarning(UserWarning):
    """An op used a Tensor whose graph an earlier ``backward()`` freed (a running statistic kept as a Tensor)."""


# id(code) -> (code, is it autonp's own (or NumPy's), {instruction offset: (filename, line)}). By identity: a code
# object's hash is computed anew on every lookup (350 ns for a large function), and equal code objects of two files
# compare equal. The entry holds the code object, so its id is not reused meanwhile.
_codes: dict = {}


def _code_entry(code: CodeType) -> tuple:
    entry = _codes.get(id(code))
    if entry is None or entry[0] is not code:
        entry = _codes[id(code)] = (code, code.co_filename.startswith(_INTERNAL_DIRS), {})
    return entry


def is_internal(code: CodeType) -> bool:
    """Is this code autonp's own (or NumPy's): frames the search for the user's line steps over."""
    return _code_entry(code)[1]


def _user_frame(depth: int):
    """The innermost stack frame outside the autonp package (and NumPy), from ``depth`` frames up
    (1: the caller of this function; nearer frames are known to be autonp's own), or None.
    Frames are fetched by depth with ``sys._getframe``, not by walking ``f_back``: in Python ≥ 3.11
    that materialises only the frames looked at (walking made two frame objects per op)."""
    while True:
        try:
            f = sys._getframe(depth)
        except ValueError:
            return None
        code = f.f_code
        entry = _codes.get(id(code))  # (_code_entry, read inline: this loop runs for every op)
        if entry is None or entry[0] is not code:
            entry = _code_entry(code)
        if not entry[1]:
            return f
        depth += 1


def _user_site(depth: int) -> tuple[str, int] | None:
    """(filename, lineno) of ``_user_frame(depth)``: the user's line that an op records, one tuple per call site
    (its line number computed once per instruction)."""
    f = _user_frame(depth + 1)
    if f is None:
        return None
    code, at = f.f_code, f.f_lasti
    sites = _codes[id(code)][2]  # (the entry _user_frame just read)
    site = sites.get(at)
    if site is None:
        site = sites[at] = (code.co_filename, f.f_lineno)
    return site


def format_site(site: tuple[str, int] | None) -> str:
    """``file.py:12: z = x @ w`` for a recorded site."""
    if site is None:
        return "<unknown>"
    filename, lineno = site
    line = linecache.getline(filename, lineno).strip()
    return f"{filename}:{lineno}" + (f": {line}" if line else "")


def freed_meta(t: "Tensor") -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) of a Tensor whose values backward() freed, kept on its tape entry for pictures."""
    return getattr(t.node, "out_meta", None) if t.node is not None else None


def describe(x: Any) -> str:
    """Short 'shape dtype' description of an op argument."""
    if isinstance(x, Tensor):
        if x._arr is None:
            meta = freed_meta(x)
            return f"Tensor{tuple(meta[0])} {meta[1]} (values freed)" if meta else "Tensor(values freed by backward)"
        return f"Tensor{tuple(x.shape)} {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"ndarray{tuple(x.shape)} {x.dtype}"
    return repr(x) if isinstance(x, (int, float, bool, tuple, type(None), slice)) else type(x).__name__


# --------------------------------------------------------------------------- recording state

class no_grad:
    """Context manager / decorator: ops inside are not recorded (thread-local)."""

    _value = False

    def __enter__(self) -> None:
        self._prev = _mode.enabled
        _mode.enabled = self._value

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = self._prev

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        wrapper.__wrapped__ = fn
        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


class enable_grad(no_grad):
    """Context manager / decorator: re-enable recording inside a ``no_grad`` block."""

    _value = True


class guard_memory:
    """``with anp.guard_memory(False):`` records without making arrays read-only (faster where many
    plain arrays enter the tape; then nothing stops them changing before backward)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def __enter__(self) -> None:
        self._prev = _mode.guard
        _mode.guard = self.enabled

    def __exit__(self, *exc: Any) -> None:
        _mode.guard = self._prev


def is_grad_enabled() -> bool:
    return _mode.enabled


class ScopeName(str):
    """A scope's name (compares as the string), carrying which entry into the scope it was: a scope
    entered 25 times (the steps of an RNN) is 25 instances of one name, which pictures draw as one
    repeated block."""

    entry: int


_scope_entries = itertools.count()


def new_scope(name: str) -> ScopeName:
    """A fresh entry into the scope ``name`` (what ``name_scope`` pushes onto ``_mode.scope``)."""
    scoped = ScopeName(name)
    scoped.entry = next(_scope_entries)
    return scoped


class name_scope:
    """``with name_scope("hidden"):`` tags the ops recorded inside; graphs draw them as a cluster."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> None:
        _mode.scope = _mode.scope + (new_scope(self.name),)

    def __exit__(self, *exc: Any) -> None:
        _mode.scope = _mode.scope[:-1]


class detect_anomaly:
    """Inside this block the first op whose forward or backward makes NaN/Inf raises
    :class:`AnomalyError` naming the op, its input shapes and the user's line that built it.
    (NumPy's own floating-point warnings are silenced inside: the error says more.)"""

    def __enter__(self) -> None:
        self._prev = _mode.anomaly
        self._errstate = np.errstate(all="ignore")
        self._errstate.__enter__()
        _mode.anomaly = True

    def __exit__(self, *exc: Any) -> None:
        _mode.anomaly = self._prev
        self._errstate.__exit__(*exc)


_WHERE_HINT = ("  If np.where (or a mask) discards this value, its gradient there is 0·∞ = NaN all the same (a limit "
               "PyTorch and JAX share): compute the op on safe inputs instead, the double-where fix: "
               "np.where(c, f(np.where(c, x, 1.0)), 0.0)")


def _check_finite(value: Any, prim: "Primitive", args: Sequence, site, stage: str, g: Any = None) -> None:
    arr = value._arr if isinstance(value, Tensor) else value
    if isinstance(arr, (np.ndarray, np.generic)) and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "Inf"
        shapes = ", ".join(describe(a) for a in args)
        hint = ""
        if stage == "forward":
            hint = "\n" + _WHERE_HINT
        elif g is not None:
            gd = g._arr if isinstance(g, Tensor) else g
            if np.shape(gd) == np.shape(arr) and (np.isnan(arr) & (np.asarray(gd) == 0)).any():
                hint = ("\n  The incoming gradient is 0 where this NaN appears: a branch np.where discarded, "
                        "differentiated anyway.\n" + _WHERE_HINT)
        raise AnomalyError(f"{prim.name} produced {bad} in its {stage} (inputs: {shapes})\n"
                           f"  op built at {format_site(site)}{hint}")


# --------------------------------------------------------------------------- primitives

_definitions = itertools.count(1)
# the tuples of positions that require grad, among an op's first four arguments: shared by every entry that has one
_INDICES = {t: t for n in range(1, 5) for t in itertools.combinations(range(4), n)}


class Primitive:
    """A differentiable function: a NumPy ``forward`` and one vector-Jacobian product per argument.

    ``vjps[i](g, ans, *args, **kwargs)`` returns ``g · ∂ans/∂args[i]``, shaped like ``args[i]``.
    VJPs are written with Python operators and primitives, so the same code runs on plain arrays
    (ordinary backward) and on Tensors (``create_graph=True``: gradients of gradients).

    Called with no Tensor argument a primitive is plain NumPy; with one it returns a Tensor
    and, if any Tensor argument requires grad, records a :class:`Node` on the tape.

    ``forward_saving`` (optional) returns ``(out, saved)``: used instead of ``forward`` when the
    op is recorded, so that work the VJPs would repeat is kept on the tape entry. The VJPs then
    get ``saved=`` (``None`` when they must recompute: under ``create_graph``, or in ``check_ops``).
    """

    # complex_ok: the VJPs hold for complex values too, in HIPS autograd's convention: a holomorphic op's
    # VJP is g·f'(z) (no conjugate), the gradient of a real u(z) is ∂u/∂Re z − i·∂u/∂Im z, and a real
    # input's gradient is the real part of what reaches it. Other ops refuse complex values with grad.
    complex_ok = False
    in_place = False  # True for setitem: its first argument is the earlier version of its output's Tensor
    views = False  # True for getitem, reshape, transpose, swapaxes: the result may be a view (see autonp.ops.views)
    # vjp_add(i, acc, g, vals, kwargs), optional: add argument i's gradient into ``acc`` (a plain array the
    # pass owns) in place, instead of making it whole: getitem scatters g (x[i] for every i stays linear)
    vjp_add = None
    # vjp_all(g, ans, vals, kwargs), optional: every argument's gradient from one call, as a sequence the pass
    # indexes by argument (ops with many arguments: calling one VJP per argument with all of them would be
    # quadratic; conv2d's makes each gradient when asked, sharing the work the gradients share)
    vjp_all = None

    def __init__(self, name: str, forward, vjps: Sequence | None = None, forward_saving=None):
        self.name = name
        self.forward = forward
        self.forward_saving = forward_saving
        self.vjps: Any = tuple(vjps or ())
        self.__doc__ = forward.__doc__
        self.__name__ = name

    definitions = 0  # attributes set on any primitive so far: a compiled trace holds the derivatives it traced,
    # so this count is part of its signature (``defvjp(np.sqrt, ...)`` after a trace: the next call traces anew)

    def __setattr__(self, name: str, value: Any) -> None:
        Primitive.definitions = next(_definitions)  # (next() on a count is one step: no increment lost to a thread)
        object.__setattr__(self, name, value)

    def defvjp(self, *vjps) -> "Primitive":
        """Register one VJP per positional argument (``None`` for non-differentiable ones)."""
        self.vjps = vjps
        return self

    def defvjp_argnum(self, vjp) -> "Primitive":
        """Register ``vjp(argnum, g, ans, *args, **kwargs)`` for ops with any number of arguments."""
        self.vjps = _ArgnumVJPs(vjp)
        return self

    def __repr__(self) -> str:
        return f"<autonp primitive {self.name}>"

    def __get__(self, obj, objtype=None):  # so a primitive can be a Tensor method: t.exp()
        return self if obj is None else MethodType(self, obj)

    def __call__(self, *args, **kwargs):
        if kwargs and _contains_tensor(kwargs.values()):
            args, kwargs = self._positional(args, kwargs)
        subs = _mode.substitutes
        if subs is not None:
            args = tuple(subs.get(id(a), a) if isinstance(a, Tensor) else a for a in args)
        vals = args       # what the NumPy forward sees: the arrays inside Tensor arguments
        grad_idx = ()     # positions of the arguments that require grad
        shared = False    # does an argument share an array with the user (a leaf, a plain ndarray)?
        spent = None      # an argument's entry that a backward already freed
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                if vals is args:
                    vals = list(args)
                vals[i] = a._arr
                if a.requires_grad:
                    grad_idx += (i,)
                parent = a.node
                if parent is None:
                    shared = True
                elif parent.vals is None:
                    spent = parent
            elif type(a) is np.ndarray:
                shared = True
        if grad_idx:
            grad_idx = _INDICES.get(grad_idx, grad_idx)  # one shared tuple per pattern, not one per op
        record = grad_idx and _mode.enabled
        saving = record and self.forward_saving is not None
        try:  # NumPy's floating-point warnings on these two lines are errors (see _forward_lines)
            if saving:
                out, saved = self.forward_saving(*vals, **kwargs)
            else:
                out, saved = self.forward(*vals, **kwargs), None
        except RuntimeWarning as w:
            out, saved = _warn_at_user_line(w, self, vals, kwargs, saving)
        except SystemError as e:  # a SciPy ufunc's own warning (yn's "truncated to an integer"), which the
            if not isinstance(e.__cause__, RuntimeWarning):  # filter made an error that the ufunc cannot pass on
                raise
            out, saved = _warn_at_user_line(e.__cause__, self, vals, kwargs, saving, own=True)
        except (ValueError, TypeError, IndexError) as e:
            if isinstance(e, OpError):
                raise
            if isinstance(e, ConversionRefused) and (stacked := _sequences_stacked(args)) is not None:
                return self(*stacked, **kwargs)  # a list of Tensors as an operand (t / [a, b]): NumPy's asarray
            raise self._error(args, kwargs, e) from None  # the op, the shapes and the user's line instead
        if vals is args:  # no Tensor argument: plain NumPy
            return out
        node = None
        if record:
            if not self.complex_ok and _meets_complex(out, vals, grad_idx):
                raise self._error(args, kwargs, TypeError(
                    "complex values and a Tensor that requires grad meet here, and this op's VJP is written "
                    "for real values only (the ops that differentiate complex values: docs/ops.md); split into "
                    "real and imaginary parts, or, for a primitive of your own whose VJPs hold for complex values "
                    "in HIPS autograd's convention, set its complex_ok = True"))
            locked = _lock(args, vals) if shared and _mode.guard else None
            if locked is None:
                node = Node(self, args, tuple(vals), kwargs, grad_idx, saved)
            else:
                node = _GuardingNode(self, args, tuple(vals), kwargs, grad_idx, saved)
                node.locked = locked
            if spent is not None:
                _warn_freed(self, node)
            if _mode.anomaly:
                _check_finite(out, self, args, node.site, "forward")
        result = Tensor._make(out, node)
        if self.views:  # getitem, reshape, transpose: NumPy's result may be a view of the first argument
            _hooks.note_view(self, result, args, kwargs)
        if node is not None and _mode.observer is not None:
            _mode.observer(result)
        return result

    def _positional(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Move keyword arguments that are Tensors into their positional places (by the forward's
        signature), so that gradients flow to them: ``where(c, x=tx, y=ty)``."""
        try:
            sig = inspect.signature(self.forward)
        except (TypeError, ValueError):
            raise TypeError(f"{self.name}: pass Tensor arguments by position") from None
        bound = sig.bind(*args, **kwargs)
        pos, rest = [], {}
        for name, value in bound.arguments.items():
            kind = sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                pos.extend(value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                rest.update(value)
            elif kind is inspect.Parameter.KEYWORD_ONLY:
                if isinstance(value, Tensor):
                    raise TypeError(f"{self.name}: the keyword-only argument {name}= cannot be a Tensor")
                rest[name] = value
            else:
                pos.append(value)
        return tuple(pos), rest

    def _error(self, args, kwargs, e: Exception) -> Exception:
        """The same kind of exception (IndexError stays IndexError, so iteration stops), saying more."""
        site = _user_site(3)  # 1: _error, 2: __call__, 3: whoever called the op
        return cannot_apply(self.name, args, kwargs, e, f"op built at {format_site(site)}")


def _meets_complex(out: Any, vals: Any, grad_idx: tuple) -> bool:
    """Does an op's result, or an argument that requires grad, hold complex values?"""
    if getattr(out, "dtype", _REAL).kind == "c":
        return True
    for i in grad_idx:
        if vals[i].dtype.kind == "c":
            return True
    return False


def warn_at_user_line(message: str, category: type[Warning]) -> None:
    """Warn at the innermost line outside autonp and NumPy (with that module's registry, so Python's once-per-line
    rule applies to the user's lines)."""
    f = _user_frame(2)
    if f is None:
        warnings.warn(message, category, stacklevel=3)
    else:
        warnings.warn_explicit(message, category, f.f_code.co_filename, f.f_lineno,
                               module=f.f_globals.get("__name__"),
                               registry=f.f_globals.setdefault("__warningregistry__", {}))


def _warn_at_user_line(w: RuntimeWarning, prim: "Primitive", vals: Any, kwargs: dict,
                       saving: bool, own: bool = False) -> tuple[Any, Any]:
    """Compute the forward again without the warning, and warn at the line that called the op (with that
    module's registry, so Python's once-per-line rule applies to the user's lines)."""
    with np.errstate(all="ignore"), warnings.catch_warnings() if own else contextlib.nullcontext():
        if own:  # a SciPy ufunc's own warning is silenced by the filters (NumPy's, thread-locally, by errstate)
            warnings.simplefilter("ignore", type(w))
        result = prim.forward_saving(*vals, **kwargs) if saving else (prim.forward(*vals, **kwargs), None)
    warn_at_user_line(str(w), type(w))
    return result


def _forward_lines() -> list[int]:
    """The lines of ``Primitive.__call__`` that call the NumPy forward. A floating-point RuntimeWarning
    NumPy raises there (``log(0)``) is turned into an error by a filter on these lines alone, and said
    again at the user's line by ``_warn_at_user_line``: otherwise Python shows it once, at that line, for
    every op and every user line."""
    code = list(dis.get_instructions(Primitive.__call__))
    reads = {i.positions.lineno for i in code if i.argval in ("forward", "forward_saving")}
    calls = {i.positions.lineno for i in code if i.opname == "CALL_FUNCTION_EX"}  # f(*vals, **kwargs)
    return sorted(reads & calls - {None})


FORWARD_WARNINGS_MODULE = r"autonp\.tensor\Z"  # the module pattern of the filters below (the compiler skips them)
for _line in _forward_lines():  # a filter the user sets later (ignore, error) comes first and still applies
    warnings.filterwarnings("error", category=RuntimeWarning, module=FORWARD_WARNINGS_MODULE, lineno=_line,
                            append=False)


_warned_sites: set = set()


def _warn_freed(prim: "Primitive", node: "Node") -> None:
    """Once per source line: a result built on a freed graph can never be differentiated, and
    holding it chains every step's graph into one (``smooth = 0.99 * smooth + 0.01 * loss``)."""
    if node.site in _warned_sites:
        return
    _warned_sites.add(node.site)
    warnings.warn_explicit(
        f"{prim.name} uses a Tensor whose graph backward() already freed: the result cannot be "
        f"differentiated and keeps every earlier step's graph alive. For a running statistic use "
        f"loss.item() (a float) or loss.detach().", FreedGraphWarning,
        *(node.site or ("<unknown>", 0)))


def _no_vjp(prim: Primitive, i: int) -> NotImplementedError:
    return NotImplementedError(f"primitive {prim.name} has no vjp for argument {i}; register one with "
                               f"{prim.name}.defvjp(...)")


def _vjp_of(prim: Primitive, i: int):
    """The VJP of ``prim`` for argument ``i`` (``None``: not differentiable in it)."""
    try:
        return prim.vjps[i]
    except IndexError:
        raise _no_vjp(prim, i) from None


class _ArgnumVJPs:
    """Adapter so that ``vjps[i]`` works for ops registered with ``defvjp_argnum``."""

    def __init__(self, vjp):
        self.vjp = vjp

    def __getitem__(self, i: int):
        return lambda g, ans, *args, **kw: self.vjp(i, g, ans, *args, **kw)


class Node:
    """One tape entry: ``out = prim(*args, **kwargs)``, with where and in which scope it was built.

    ``vals`` are the arrays the forward saw (what the VJPs read), ``grad_idx`` the positions of
    the arguments that gradients flow to, ``saved`` what ``Primitive.forward_saving`` kept.
    Backward frees ``vals`` and ``saved`` unless ``retain_graph``; ``args`` (the structure) stays.
    (Only ``args`` holds Tensors: fewer objects for Python's cyclic GC to walk on long tapes.)
    """

    __slots__ = ("prim", "args", "vals", "kwargs", "grad_idx", "saved", "site", "scope", "seq", "out_meta")
    locked = None  # arrays made read-only by this entry: only a _GuardingNode has any

    def __init__(self, prim: Primitive, args: tuple, vals: tuple, kwargs: dict, grad_idx: tuple[int, ...],
                 saved: Any = None):
        self.prim = prim
        self.args = args
        self.vals = vals
        self.kwargs = kwargs
        self.grad_idx = grad_idx
        self.saved = saved
        self.site = _mode.site or _user_site(3)  # 1: this __init__, 2: Primitive.__call__, 3: whoever called the op
        self.scope = _mode.scope
        self.seq = next(_seq)

    def free(self, by: Any = None) -> None:
        """Drop what the VJPs read; ``by`` (the backward pass doing it) is left in ``saved``. The
        structure (``args``) stays, so the graph can still be listed and drawn."""
        self.vals = None
        self.saved = by
        if self.locked is not None:
            _unlock(self.locked)
            self.locked = None

    @property
    def freed(self) -> bool:
        return self.vals is None

    def inputs(self) -> list["Tensor"]:
        return [a for a in self.args if isinstance(a, Tensor)]

    def __repr__(self) -> str:
        args = ", ".join(describe(a) for a in self.args) + (" (freed)" if self.vals is None else "")
        return f"Node({self.prim.name}: {args})"


def recorded_args(node: Node) -> tuple:
    """The op's arguments with its plain arrays as it read them (``_lock`` copied the small ones: the caller's own
    may have changed since) and its Tensors as they are: what a VJP recorded under ``create_graph``, or a replay of
    the op, takes."""
    if node.vals is None:
        return node.args
    return tuple(v if type(a) is np.ndarray else a for a, v in zip(node.args, node.vals))


class _GuardingNode(Node):
    """A tape entry that locked arrays: if its graph is dropped without a backward, it unlocks them
    when it dies."""

    __slots__ = ("locked",)

    def __del__(self) -> None:
        if self.locked is not None:
            _unlock(self.locked)


SNAPSHOT_SIZE = 4096  # plain arrays up to this many entries are copied for the tape, larger ones made read-only


def _lock(args: Sequence, vals: list | None = None) -> list | None:
    """Keep what this tape entry reads of the arrays it shares with the user from changing under it: a plain ndarray
    argument of up to ``SNAPSHOT_SIZE`` entries is copied into ``vals`` (a mask or an index the program updates in
    place later: HIPS's VJPs would read the changed one; without ``vals``, every array is locked); larger ones and a
    leaf's array are made read-only, with their bases, while the entry holds them. Results of ops are guarded by
    ``Tensor.data``. So ``X[:] = 0`` or ``W.data[0] = 5`` before ``backward()`` fails at that line with NumPy's
    "assignment destination is read-only" instead of changing the gradient (MyGrad does the same). (While
    ``anp.compile`` traces, every plain array is locked: a replay reads the caller's arrays as they are then, never
    a copy made at the trace.)"""
    taken = None
    for i, a in enumerate(args):
        if type(a) is np.ndarray:
            if vals is not None and a.size <= SNAPSHOT_SIZE and not _tracing():
                vals[i] = _snapshot(a)
                continue
            v = a
        elif isinstance(a, Tensor) and a.node is None:
            v = a._arr
        else:
            continue
        while isinstance(v, np.ndarray):  # a view and its bases: writes through the base change the view
            if v.flags.writeable:
                if type(v) is np.ndarray:
                    v.setflags(write=False)  # (no flags object made, as ``v.flags.writeable = False`` makes)
                else:  # a subclass, or a stand-in of anp.compile's tracer (which records method calls)
                    v.flags.writeable = False
                if taken is None:
                    taken = [v]
                else:
                    taken.append(v)
            v = v.base
    return taken


_snapshots: dict[int, tuple[Any, np.ndarray]] = {}  # id of a plain array -> (weak reference, its latest copy)


def _snapshot(a: np.ndarray) -> np.ndarray:
    """A read-only copy of ``a``, shared with earlier entries while ``a`` still holds the same values (a constant used
    at every step of a loop is kept once, not once per step)."""
    held = _snapshots.get(id(a))
    if held is not None and held[0]() is a:
        copy = held[1]
        # the same bytes are the same values, bit for bit (a −0.0 where 0.0 was only makes a new copy); on arrays
        # this small np.array_equal took 5-12 µs, this 0.2-2.3
        if copy.shape == a.shape and copy.dtype == a.dtype and copy.tobytes() == a.tobytes():
            return copy
    copy = a.copy(order="K")  # (laid out as a is: the VJPs compute as they would on a)
    copy.setflags(write=False)
    key = id(a)
    _snapshots[key] = (weakref.ref(a, lambda _: _snapshots.pop(key, None)), copy)
    return copy


def _tracing() -> bool:
    """Is ``anp.compile`` tracing (in this process)?"""
    trace = sys.modules.get("autonp.compiler._trace")
    return trace is not None and trace._state.program is not None


def _unlock(arrays: list) -> None:
    for a in reversed(arrays):  # bases before their views
        try:
            if type(a) is np.ndarray:
                a.setflags(write=True)
            else:
                a.flags.writeable = True
        except ValueError:  # its base is held by another entry: it stays read-only with it
            pass


# --------------------------------------------------------------------------- Tensor

_FLOAT_KINDS = "fc"  # complex: HIPS autograd's convention (see Primitive.complex_ok)


_REAL = np.dtype(float)


def _check_differentiable_dtype(arr: np.ndarray) -> None:
    if arr.dtype.kind not in _FLOAT_KINDS:
        raise TypeError(f"only floating-point tensors can require grad; got dtype {arr.dtype} "
                        f"(shape {arr.shape}); use Tensor(..., dtype=np.float64)")


class _Gate:
    """Keeps stand-ins out of sight of other threads. A thread that puts stand-ins into shared Tensors
    (anp.compile's tracer) holds the gate alone (``exclusive``); a Module call, an optimizer step and a
    compiled replay hold it shared (``enter``/``leave``, the outermost call of a thread only), so a trace
    waits for them to finish and they wait for the trace. Uncontended, a shared hold is one lock."""

    def __init__(self):  # local.depth: how many holds this thread has (Module calls inside another count none)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._writer: int | None = None
        self._readers = 0
        self.local = threading.local()

    def enter(self) -> None:
        loc = self.local
        depth = getattr(loc, "depth", 0)
        loc.depth = depth + 1
        if depth == 0:
            me = threading.get_ident()
            with self._lock:  # (the condition's own lock, taken without Condition's Python-level methods)
                while self._writer is not None and self._writer != me:
                    self._cond.wait()
                self._readers += 1

    def leave(self) -> None:
        loc = self.local
        loc.depth -= 1
        if loc.depth == 0:
            with self._lock:
                self._readers -= 1
                if self._writer is not None:  # a writer waiting for the readers to leave has set itself first
                    self._cond.notify_all()

    def step_out(self) -> int:
        """Stop counting as a reader (before waiting for another thread's trace); returns what ``step_in`` needs."""
        depth = getattr(self.local, "depth", 0)
        if depth:
            self.local.depth = 1
            self.leave()
        return depth

    def step_in(self, depth: int) -> None:
        if depth:
            self.enter()
            self.local.depth = depth

    def exclusive(self) -> "_Exclusive":
        return _Exclusive(self)


class _Exclusive:
    def __init__(self, gate: _Gate):
        self.gate = gate

    def __enter__(self) -> None:
        g, me = self.gate, threading.get_ident()
        mine = 1 if getattr(g.local, "depth", 0) else 0  # this thread's own shared hold, if any
        with g._cond:
            while g._writer is not None and g._writer != me:
                g._cond.wait()
            self.prev, g._writer = g._writer, me
            while g._readers > mine:
                g._cond.wait()

    def __exit__(self, *exc: Any) -> None:
        g = self.gate
        with g._cond:
            g._writer = self.prev
            g._cond.notify_all()


gate = _Gate()


def _is_stand_in(x: Any) -> bool:
    """Does ``x`` stand in for an ndarray (it says so with ``__autonp_stand_in__``)? Tensors hold such
    objects as they are: anp.compile's tracer records the NumPy calls made on them."""
    return getattr(type(x), "__autonp_stand_in__", False)


def as_array(x: Any) -> Any:
    """``np.asarray(x)``; an array stand-in (anp.compile's traced value) says how it becomes one itself: a traced
    NumPy scalar records the conversion, so that a replay holds the 0-d array eager autonp holds."""
    if type(x) is np.ndarray:
        return x
    return x.__autonp_array__() if _is_stand_in(x) else np.asarray(x)


class ConversionRefused(TypeError):
    """NumPy asked a Tensor that requires grad for its array (``Tensor.__array__``), which is refused."""


def _sequences_stacked(args: tuple) -> tuple | None:
    """``args`` with each list or tuple that holds Tensors stacked on the tape (as NumPy makes an array of a
    sequence operand), or None when there is none."""
    holds = [type(a) in (list, tuple) and _contains_tensor(a) for a in args]
    if _hooks.from_sequence is None or not any(holds):
        return None
    return tuple(_hooks.from_sequence(a, None) if h else a for a, h in zip(args, holds))


def _contains_tensor(seq: Any) -> bool:
    return any(isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and _contains_tensor(v)) for v in seq)


# what the user's line suggests, when a Tensor that requires grad met NumPy's implicit conversion
_CONVERSION_HINTS = [
    (r"\.(dot|sum|mean|reshape|transpose|clip|max|min)\(",
     "If an ndarray method got the Tensor (X.dot(t), X.sum() ...), the array cannot hand it to autonp: write "
     "np.dot(X, t) or X @ t (NumPy functions and operators differentiate)."),
    (r"\bfull\(", "np.full(shape, t) fills an array: autonp.numpy.full(shape, t) (or anp.broadcast_to(t, shape)) "
     "keeps the graph."),
]


class _Hooks:
    """Filled in by :mod:`autonp.ops` (the core does not import it)."""

    from_sequence = None  # (list with Tensors, dtype) -> Tensor, stacked on the tape
    setitem = None        # (tensor, index, value) -> Tensor, recorded functionally
    note_view = None      # (primitive, result, args, kwargs): the result may be a view of args[0]
    copy = None           # tensor -> its copy, recorded (np.copy)
    no_tape_reason = None  # tensor -> why it has no tape, where another module knows (a compiled function's result)


_hooks = _Hooks()


class Tensor:
    """An ndarray that records the ops applied to it, for reverse-mode differentiation.

    Python scalars and lists become float64; NumPy arrays keep their dtype (float32 stays
    float32). Only floating-point tensors can require grad. ``grad`` is a Tensor.
    """

    # _base: the arguments of the view primitive (``_view_op``, with ``_view_kwargs``) that made this Tensor, its base
    # first, where NumPy's result would share the base's memory (t[1:], t.T, a reshape); _views: weak references to
    # such views of this Tensor (autonp.ops.views keeps them in step with in-place changes, as NumPy's views are)
    __slots__ = ("_arr", "_grad", "requires_grad", "name", "node", "_base", "_view_op", "_view_kwargs", "_views",
                 "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None,
                 copy: bool = True):
        """``Tensor(array)`` copies the array (as ``torch.tensor``): changing the array later does not
        change the Tensor. ``copy=False`` (or :func:`from_numpy`) shares it instead."""
        if isinstance(data, Tensor):
            data = data._arr
        elif data is None:
            raise TypeError("Tensor(None): expected a number, a sequence or an array")
        elif isinstance(data, (list, tuple)) and _hooks.from_sequence is not None and _contains_tensor(data):
            # Tensor([x, 2 * x]): stacked on the tape, so gradients flow to the elements
            built = _hooks.from_sequence(data, dtype)
            self._arr, self.node, self._grad, self.name = built._arr, built.node, None, name
            self._base = self._views = None
            self.requires_grad = built.requires_grad or bool(requires_grad)
            return
        if dtype is None and not isinstance(data, (np.ndarray, np.generic)):
            dtype = np.complex128 if not _is_stand_in(data) and np.iscomplexobj(data) else np.float64
        if _is_stand_in(data):  # an array stand-in (anp.compile's tracer) is kept as it is
            arr = data.astype(data.dtype if dtype is None else dtype, copy=copy)
        else:
            arr = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)
        if requires_grad:
            _check_differentiable_dtype(arr)
        self._arr = arr
        self._grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self.node: Node | None = None
        self._base = self._views = None

    @classmethod
    def _make(cls, data: Any, node: Node | None) -> "Tensor":
        t = object.__new__(Tensor)
        t._arr = data if type(data) is np.ndarray else as_array(data)
        t._grad = None
        t.requires_grad = node is not None
        t.name = None
        t.node = node
        t._base = t._views = None
        return t

    @property
    def data(self) -> np.ndarray:
        """The values. While a recorded op's result is still on the tape its array is handed out
        read-only, so that it cannot change under the backward pass; a leaf's array is its own."""
        arr = self._arr
        node = self.node
        if node is not None and node.vals is not None and arr is not None and arr.flags.writeable:
            arr.flags.writeable = False
        return arr

    @data.setter
    def data(self, value: Any) -> None:
        value = as_array(value)
        if value.shape != self._arr.shape:
            raise ValueError(f"Tensor.data: new values have shape {value.shape}, the Tensor has {self._arr.shape}")
        self._arr = value

    @property
    def _value(self) -> np.ndarray:
        """HIPS autograd's ``box._value``: the values, off the tape (``if isinstance(x, ArrayBox): x = x._value``)."""
        return self.data

    @property
    def _node(self) -> "Tensor":
        """HIPS autograd's ``box._node``, for ``autonp.core.backward_pass(g, y._node)``: a Tensor is its own node."""
        return self

    _trace = 0  # HIPS autograd's ``box._trace``: autonp's variables need no trace number (see autonp.tracer)

    @property
    def grad(self) -> "Tensor | None":
        """∂(what backward was called on)/∂self, accumulated by backward; a Tensor or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        """Accepts None, a Tensor or an array of this Tensor's shape (so ``p.grad = np.clip(p.grad, -1, 1)``
        works); the gradient is kept in this Tensor's dtype."""
        if value is None:
            self._grad = None
            return
        arr = value._arr if isinstance(value, Tensor) else as_array(value)  # (anp.compile's stand-ins stay)
        if arr.shape != self._arr.shape:
            raise ValueError(f"grad of shape {arr.shape} assigned to a Tensor of shape {self._arr.shape}")
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"grad of dtype {arr.dtype} assigned to a Tensor of dtype {self._arr.dtype}")
        if isinstance(value, Tensor) and value.requires_grad:  # a differentiable gradient (create_graph)
            self._grad = value
        else:
            self._grad = Tensor._make(arr.astype(self._arr.dtype, copy=False), None)

    def __reduce__(self):
        """Pickling keeps the values, name and (for a leaf) requires_grad; a result of recorded ops
        pickles as its values, detached (the tape holds functions and is not saved)."""
        return _rebuild, (type(self), np.array(self._arr), self.node is None and self.requires_grad, self.name)

    def __copy__(self) -> "Tensor":
        """``copy.copy(t)``: a copy of the values. Of a result that requires grad, or of any Tensor that requires grad
        inside a function a transform differentiates, a copy on the tape (``np.copy(t)``: HIPS programs copy their
        boxes so, paragami's patterns for one); it was a detached copy, and the gradient through it silently zero.
        A leaf's copy elsewhere is a new leaf (a parameter's values, as ``copy.deepcopy(model)`` copies them)."""
        if self.requires_grad and _mode.enabled and (self.node is not None or _mode.in_function):
            return _hooks.copy(self)
        rebuild, args = self.__reduce__()
        return rebuild(*args)

    def __deepcopy__(self, memo: dict) -> "Tensor":
        return self.__copy__()

    # ---- array-like attributes
    shape = property(lambda self: self._arr.shape)
    dtype = property(lambda self: self._arr.dtype)
    ndim = property(lambda self: self._arr.ndim)
    size = property(lambda self: self._arr.size)
    is_leaf = property(lambda self: self.node is None)

    def __len__(self) -> int:
        return len(self._arr)

    def __contains__(self, value: Any) -> bool:
        """``value in t``: NumPy's ``(t == value).any()``, on the values (a yes or no carries no gradient)."""
        return bool((self._arr == _data(value)).any())

    def __array__(self, dtype=None, copy=None):
        """NumPy's implicit conversion (``np.asarray(t)``, ``arr[i] = t``, plotting) — refused for a
        Tensor that requires grad, since the gradient would silently stop there. A cast to integers or
        booleans (``np.int64(t)``, like ``int(t)``) is allowed: an integer carries no gradient."""
        if self.requires_grad and not (dtype is not None and np.dtype(dtype).kind in "iub"):
            site = _user_site(1)
            line = linecache.getline(site[0], site[1]) if site else ""
            method = "".join(f"\n  {hint}" for pattern, hint in _CONVERSION_HINTS if re.search(pattern, line))
            raise ConversionRefused(
                f"a Tensor{tuple(self.shape)} that requires grad was converted to a NumPy array implicitly "
                f"(np.asarray, np.array, arr[...] = t, an ndarray method, or a library that calls them), which "
                f"would lose its gradient. Use the anp./np. function for the computation (np.stack, "
                f"np.concatenate, ... or `import autonp.numpy as np`, whose np.array keeps the graph), or say "
                f"that you want the values: t.detach(), t.numpy() or t.item()\n  at {format_site(site)}{method}")
        if copy:  # np.array(t): NumPy asks for a copy and trusts it is one (changing it must not change t)
            return self._arr.astype(self._arr.dtype if dtype is None else dtype, copy=True)
        return self._arr if dtype is None else self._arr.astype(dtype, copy=False)

    def numpy(self) -> np.ndarray:
        """The values as an ndarray (explicitly without gradient; shares memory, read-only while on the tape)."""
        return self.data

    def item(self, *index: Any) -> Any:
        """The value of a one-element Tensor as a Python number (no gradient); ``t.item(i)``, ``t.item(i, j)``:
        the element at that flat or full index, as ``ndarray.item``."""
        return self._arr.item(*index)

    def tolist(self) -> Any:
        return self._arr.tolist()

    # 0-d Tensors work as numbers; the result is a plain Python number (no gradient)
    def __float__(self) -> float:
        if self.requires_grad:
            _refuse_as_number(self, "float")
        return float(self._arr)

    def __complex__(self) -> complex:
        if self.requires_grad:
            _refuse_as_number(self, "complex")
        return complex(self._arr)

    def __int__(self) -> int:
        return int(self._arr)

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer Tensors can be used as an index, not {self.dtype}")
        return self._arr.__index__()

    def __format__(self, spec: str) -> str:
        return format(self._arr.item(), spec) if spec and self.size == 1 else format(str(self), spec)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d Tensor")
        for i in range(len(self._arr)):
            yield self[i]

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[idx] = v``: recorded functionally (``t`` becomes a new tape entry whose gradient flows to
        the old ``t`` outside ``idx`` and to ``v`` inside it); refused on a leaf that requires grad."""
        _hooks.setitem(self, index, value)

    def detach(self) -> "Tensor":
        """The same data, cut off from the tape (read-only while the tape still needs it)."""
        return Tensor._make(self.data, None)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag:
            _check_differentiable_dtype(self._arr)
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        if self._arr is None:
            return f"Tensor(<values freed by backward>, grad_fn={self.node.prim.name if self.node else None})"
        body = np.array2string(self._arr, precision=4, threshold=8, edgeitems=2, separator=", ", prefix="Tensor(")
        extra = f", name={self.name!r}" if self.name else ""
        if self.node is not None:
            extra += f", grad_fn={self.node.prim.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        if self.dtype != np.float64:
            extra += f", dtype={self.dtype}"
        return f"Tensor({body}{extra})"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self._arr)

    # comparisons give plain arrays (they are not differentiable)
    def __lt__(self, o): return self._arr < _data(o)
    def __le__(self, o): return self._arr <= _data(o)
    def __gt__(self, o): return self._arr > _data(o)
    def __ge__(self, o): return self._arr >= _data(o)
    def __eq__(self, o): return self._arr == _data(o)  # type: ignore[override]
    def __ne__(self, o): return self._arr != _data(o)  # type: ignore[override]

    if TYPE_CHECKING:  # installed by autonp.ops.numpy_api (one table); declared here for type checkers
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __floordiv__(self, other: Any) -> Tensor: ...
        def __rfloordiv__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def __rmod__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __iadd__(self, other: Any) -> Tensor: ...
        def __isub__(self, other: Any) -> Tensor: ...
        def __imul__(self, other: Any) -> Tensor: ...
        def __itruediv__(self, other: Any) -> Tensor: ...
        def __ipow__(self, other: Any) -> Tensor: ...
        def __imatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def __getattr__(self, name: str) -> Any: ...  # ndarray's methods: t.sum(), t.reshape(), t.T, ...

    # ---- differentiation
    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate ∂self/∂leaf (times ``grad``) into ``.grad`` of every leaf that requires grad.

        ``retain_graph`` (default: ``create_graph``) keeps the tape for another backward;
        ``create_graph`` records the backward pass itself, for higher-order gradients.
        """
        if not self.requires_grad:
            reason = _hooks.no_tape_reason(self) if _hooks.no_tape_reason is not None else None
            raise RuntimeError("backward() on a tensor that does not require grad: " + (reason or (
                "no input of the ops that built it has requires_grad=True (or it was built under no_grad)")))
        seed = _seed_grad(self, grad)
        _run_backward([self], [seed], retain_graph=create_graph if retain_graph is None else retain_graph,
                      create_graph=create_graph, accumulate=True)


def _rebuild(cls: type, arr: np.ndarray, requires_grad: bool, name: str | None) -> "Tensor":
    t = object.__new__(cls)
    t._arr, t._grad, t.requires_grad, t.name, t.node = arr, None, requires_grad, name, None
    t._base = t._views = None
    return t


def from_numpy(arr: np.ndarray, requires_grad: bool = False, name: str | None = None) -> "Tensor":
    """A Tensor that shares ``arr``'s memory (``Tensor(arr)`` copies). While recorded ops use it, autonp
    makes ``arr`` read-only, so it cannot change under the tape."""
    return Tensor(arr, requires_grad=requires_grad, name=name, copy=False)


_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep


def _refuse_as_number(t: Tensor, cast: str) -> None:
    """``float(t)`` of a Tensor that requires grad. Said by NumPy's own code — a number argument that NumPy does not
    dispatch on, ``np.sum(a, initial=t)``, ``np.interp(..., left=t)`` — it would return a plain result with the
    gradient silently gone. Said by the user it is theirs (the values, explicitly without gradient: ``float(loss)``
    to log it), except inside a function a transform differentiates: there the number leaves the tape, and
    ``math.exp(t) * t`` would be differentiated as a constant times t (HIPS autograd and JAX refuse it too). Both
    are refused, naming what to write instead."""
    frame = sys._getframe(2)
    if frame.f_code.co_filename.startswith(_NUMPY_DIR):
        while frame.f_back is not None and frame.f_back.f_code.co_filename.startswith(_NUMPY_DIR):
            frame = frame.f_back  # out to the function the user called
        site = _user_site(2)
        raise TypeError(
            f"a Tensor{tuple(t.shape)} that requires grad was read as a number ({cast}(t)) inside np."
            f"{frame.f_code.co_name}, which would lose its gradient: NumPy does not pass this argument to autonp. "
            f"Compute with Tensors instead (np.sum(a) + t rather than np.sum(a, initial=t)), or pass the value: "
            f"t.item()\n  at {format_site(site)}")
    if _mode.in_function:
        raise TypeError(
            f"{cast}(t) of a Tensor{tuple(t.shape)} that requires grad, inside a function being differentiated: the "
            f"number leaves the tape, so what is computed from it would count as a constant (math.exp(t) * t would "
            f"get the derivative exp(t), not exp(t)·(1 + t)). Compute with np. functions and operators "
            f"(np.exp(t)), or take the value explicitly, without gradient: t.item()\n  at "
            f"{format_site(_user_site(2))}")


def _data(x: Any) -> Any:
    return x._arr if isinstance(x, Tensor) else x


def _real_part(g: Tensor) -> Tensor:
    """Re g, recorded (a complex gradient reaching a real input under ``create_graph``)."""
    from .ops.elementwise import real
    return real(g)


def _seed_grad(t: Tensor, grad: Any) -> Any:
    if grad is None:
        if t._arr.dtype.kind == "c":
            raise TypeError(f"backward() of a complex tensor ({t.dtype}) needs an explicit grad: the gradient "
                            f"of a complex value is defined for its real part (take np.real(out) first, or "
                            f"use holomorphic_grad)")
        if t.size != 1:
            raise RuntimeError(f"backward() of a non-scalar tensor of shape {t.shape} needs an explicit "
                               f"grad of that shape (the vector in the vector-Jacobian product)")
        return np.ones_like(t._arr)
    if not isinstance(grad, Tensor) and np.iscomplexobj(grad) and t._arr.dtype.kind != "c":
        grad = np.real(grad)  # a real output's cotangent is its real part (HIPS's convention), not a ComplexWarning
    g = grad if isinstance(grad, Tensor) else as_array(grad).astype(t.dtype, copy=False)
    if g.shape != t.shape:
        raise ValueError(f"backward(grad=...) has shape {g.shape}, but the tensor has shape {t.shape}")
    return g


# --------------------------------------------------------------------------- the reverse pass

class _BackwardPass:
    """Left in ``Node.saved`` of the entries a backward pass freed; says whether that pass failed."""

    message: str | None = None


def _freed_error(node: Node) -> GraphFreedError:
    if isinstance(node.saved, _BackwardPass) and node.saved.message is not None:
        return GraphFreedError(
            f"backward through {node.prim.name} (built at {format_site(node.site)}): an earlier backward "
            f"failed ({node.saved.message}) after it had freed this part of the graph, so it cannot be "
            f"retried; run the forward again (or pass retain_graph=True to keep the graph for a retry)")
    return GraphFreedError(
        f"backward through {node.prim.name} (built at {format_site(node.site)}) a second time, but its "
        f"saved values were freed by the first backward; pass retain_graph=True to the first backward() "
        f"if you need to go through the graph twice")


class _Assigned:
    """How many ``t[...] = v`` were recorded in this process: until the first, backward skips the check."""

    count = 0


_assigned = _Assigned()


def _as_recorded(node: Node, i: int, a: "Tensor") -> "Tensor":
    """Argument ``i`` of ``node`` as it was when the op ran. ``t[...] = v`` makes ``t`` a new tape
    entry (an in-place primitive whose first argument is the earlier ``t``); an op recorded before
    that (a smaller ``seq``) used the earlier one, so its gradient goes there."""
    step = a.node
    while step is not None and step.prim.in_place and step.seq > node.seq:
        a = step.args[0]
        step = a.node
    return a


def _toposort(roots: Iterable[Tensor]) -> list[Tensor]:
    """Tensors that the roots depend on through recorded ops, inputs before outputs (no recursion)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in roots]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        node = t.node
        if node is not None:  # backward frees values, not args: a freed entry is still walked
            for i in node.grad_idx:
                a = node.args[i]
                if _assigned.count:
                    a = _as_recorded(node, i, a)
                if id(a) not in seen:
                    stack.append((a, False))
    return order


def _count_uses(roots: Sequence[Tensor], wanted_ids: set[int] = frozenset()) -> tuple[dict[int, int], bool]:
    """For each tensor the roots depend on through recorded ops: how many recorded ops use it; and whether
    a leaf outside ``wanted_ids`` was reached."""
    uses = {id(r): 0 for r in roots}
    stack = list({id(r): r for r in roots}.values())  # a root given twice is walked once (its seeds add up)
    assigned = _assigned.count
    other_leaves = False
    while stack:
        t = stack.pop()
        node = t.node
        if node is None:
            other_leaves = other_leaves or id(t) not in wanted_ids
            continue
        args = node.args
        if node.vals is None:
            raise _freed_error(node)
        for i in node.grad_idx:
            a = args[i]
            if assigned:
                a = _as_recorded(node, i, a)
            n = uses.get(id(a))
            if n is None:
                uses[id(a)] = 1
                stack.append(a)
            else:
                uses[id(a)] = n + 1
    return uses, other_leaves


def _leading_to(roots: Sequence[Tensor], wanted_ids: set[int]) -> set[int]:
    """Ids of the tensors on a path from the roots down to a wanted tensor: the only ones whose gradients
    ``gradients()`` needs. Other branches (an outer transform's variables, an op whose backward would
    call this very pass again) are not walked."""
    needed: set[int] = set()
    assigned = _assigned.count
    for t in _toposort(roots):  # inputs before outputs
        node = t.node
        if id(t) in wanted_ids:
            needed.add(id(t))
        elif node is not None:
            for i in node.grad_idx:
                if id(_as_recorded(node, i, node.args[i]) if assigned else node.args[i]) in needed:
                    needed.add(id(t))
                    break
    return needed


def _run_backward(roots: Sequence[Tensor], seeds: Sequence[Any], retain_graph: bool, create_graph: bool,
                  accumulate: bool, wanted: Sequence[Tensor] | None = None,
                  steps: list | None = None) -> dict[int, Any]:
    """The reverse pass. A tensor is processed once every op that used it has passed its gradient
    back (dependency counting, no recursion). Returns {id(tensor): grad} for ``wanted`` (for all
    tensors if it is ``None`` and ``accumulate`` is false); with ``accumulate`` adds leaf
    gradients into ``.grad``. Gradients are [array, owned] pairs: owned ones are added into in place.
    ``steps``, if a list, receives ``(node, output, g, i, input, g_i)`` for every VJP in the order they
    ran (what ``viz.explore`` steps through)."""
    wanted_ids = set() if wanted is None else {id(w) for w in wanted}
    uses, other_leaves = _count_uses(roots, wanted_ids)
    # every branch ends in a leaf: only when some leaf is not wanted can a branch be skipped
    needed = _leading_to(roots, wanted_ids) if wanted is not None and not accumulate and other_leaves else None
    grads: dict[int, list] = {}
    for r, s in zip(roots, seeds):
        if create_graph and not isinstance(s, Tensor):
            s = Tensor._make(s, None)
        elif not create_graph:
            s = np.copy(s._arr if isinstance(s, Tensor) else s)  # never alias the caller's array
        _accumulate(grads, r, s, create_graph)
    keep_all = wanted is None and not accumulate
    keep: dict[int, Any] = {}
    anomaly = _mode.anomaly
    prev_enabled = _mode.enabled
    _mode.enabled = create_graph
    ready = list({id(r): r for r in roots if uses[id(r)] == 0}.values())
    given: set[int] = set()  # ids of arrays handed to leaves as their .grad in this pass
    leaves: list = []  # (leaf, gradient, owned), added into .grad once the whole pass has succeeded
    this_pass = _BackwardPass()  # the entries it frees point to it, so that a failure can say so on a retry
    node = None
    assigned = _assigned.count
    try:
        while ready:
            t = ready.pop()
            tid = id(t)
            entry = grads.pop(tid, None)
            node = t.node
            if entry is not None:
                if keep_all or tid in wanted_ids:
                    keep[tid] = entry[0]
                if node is None and accumulate:
                    leaves.append((t, entry[0], entry[1]))
            if node is None or (needed is not None and tid not in needed):
                continue
            if entry is not None:
                g = entry[0]
                if create_graph:
                    vals, ans = recorded_args(node), t
                    if assigned:  # the arguments as the op saw them (t[...] = v, t -= v rebind a Tensor)
                        vals = tuple(_as_recorded(node, 0, a) if isinstance(a, Tensor) else a for a in vals)
                else:
                    vals, ans = node.vals, t._arr
                    if vals is None or ans is None:  # another thread's backward freed this part meanwhile
                        raise _freed_error(node)
                prim = node.prim
                vjps = prim.vjps
                kwargs = node.kwargs if create_graph or node.saved is None else {**node.kwargs, "saved": node.saved}
                all_at_once = prim.vjp_all is not None
                if all_at_once:  # every argument's gradient from one call (stack, concatenate)
                    vjps = prim.vjp_all(g, ans, vals, kwargs)
            args = node.args
            for i in node.grad_idx:
                a = args[i]
                if assigned:
                    a = _as_recorded(node, i, a)
                k = id(a)
                if needed is not None and k not in needed:
                    continue
                if entry is not None:
                    try:
                        vjp = vjps[i]
                    except IndexError:
                        raise _no_vjp(node.prim, i) from None
                    acc = grads.get(k)
                    if vjp is None:  # never a silent zero: the op says it has no derivative there
                        raise NotImplementedError(
                            f"primitive {node.prim.name} is not differentiable in argument {i} (its VJP is "
                            f"None), but a Tensor that requires grad was passed there"
                            + (f": {node.prim.rule}" if getattr(node.prim, "rule", "") else ""))
                    if acc is not None and acc[1] and prim.vjp_add is not None and not create_graph \
                            and not anomaly and steps is None and g.dtype.kind == acc[0].dtype.kind \
                            and type(g) is np.ndarray:  # (not a compile stand-in: it cannot go into a plain array)
                        prim.vjp_add(i, acc[0], g, vals, kwargs)  # scattered into the sum in place
                    else:
                        gi = vjp if all_at_once else vjp(g, ans, *vals, **kwargs)
                        if steps is not None:
                            steps.append((node, t, g, i, a, gi))
                        if gi.shape != a._arr.shape:
                            raise RuntimeError(
                                f"the vjp of {node.prim.name} for argument {i} returned shape {gi.shape}, but "
                                f"that argument has shape {a.shape} (op built at {format_site(node.site)})")
                        if anomaly:
                            _check_finite(gi, node.prim, node.args, node.site,
                                          f"backward (gradient of argument {i})", g)
                        want_dtype = a._arr.dtype
                        if gi.dtype is not want_dtype and gi.dtype != want_dtype:
                            if gi.dtype.kind == "c" and want_dtype.kind != "c":  # a real input: Re
                                gi = np.real(gi) if type(gi) is np.ndarray else _real_part(gi)
                            gi = gi.astype(want_dtype)
                        if acc is None:
                            grads[k] = [gi, False]
                        elif create_graph:
                            acc[0] = acc[0] + gi
                        elif acc[1] and type(gi) is np.ndarray:  # (a compile stand-in is added, not written in)
                            np.add(acc[0], gi, out=acc[0])
                        else:
                            acc[0] = acc[0] + gi
                            acc[1] = type(acc[0]) is np.ndarray  # a fresh array: later adds go in place
                n = uses[k] - 1
                uses[k] = n
                if n == 0:
                    ready.append(a)
            if not retain_graph:
                node.free(this_pass)
                if getrefcount(t) <= 3:  # held by one consumer's entry alone (+ `t` here, + the call's argument)
                    node.out_meta = (t._arr.shape, t._arr.dtype)  # what pictures and the tape still show
                    t._arr = None  # so its values go; its place in the graph (for pictures) stays
        for leaf, g, owned in leaves:  # only a pass that succeeded changes .grad
            _accumulate_leaf(leaf, g, owned, create_graph, given)
    except BaseException as e:
        this_pass.message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if node is not None and hasattr(e, "add_note") and isinstance(e, Exception):
            e.add_note(f"raised in the backward of {node.prim.name}, built at {format_site(node.site)}")
        raise
    finally:
        _mode.enabled = prev_enabled
    return keep


def _accumulate(grads: dict, t: Tensor, g: Any, create_graph: bool) -> None:
    """Add a root's seed gradient (roots may repeat); seeds are the pass's own copies."""
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    entry = grads.get(id(t))
    if entry is None:
        grads[id(t)] = [g, type(g) is np.ndarray and not create_graph]
    else:
        entry[0] = entry[0] + g
        entry[1] = type(entry[0]) is np.ndarray and not create_graph


_grad_lock = threading.Lock()  # backward in several threads into one leaf: every contribution counts


def _accumulate_leaf(t: Tensor, g: Any, owned: bool, create_graph: bool, given: set[int]) -> None:
    """Add ``g`` into ``t.grad``. A leaf's gradient never aliases another's or a view of something
    else: it is copied unless it is a fresh array that no other leaf was given (``given``)."""
    with _grad_lock:
        if create_graph:
            t._grad = g if t._grad is None else t._grad + g
        elif t._grad is None:
            if not owned and (id(g) in given or type(g) is not np.ndarray or not g.flags.owndata
                              or not g.flags.writeable):
                g = np.copy(g)
            given.add(id(g))
            t._grad = Tensor._make(g, None)
        else:
            t._grad = Tensor._make(t._grad._arr + g, None)


def gradients(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], grad_outputs: Any = None,
              retain_graph: bool | None = None, create_graph: bool = False,
              allow_unused: bool = True) -> list[Tensor | None]:
    """∂outputs/∂inputs (vector-Jacobian product with ``grad_outputs``), without touching ``.grad``.

    Like ``torch.autograd.grad``. Inputs the outputs do not depend on get ``None``
    (or an error with ``allow_unused=False``). With ``create_graph`` the results are differentiable.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outs)
    elif isinstance(outputs, Tensor):
        grad_outputs = [grad_outputs]
    for o in outs:
        if not o.requires_grad:
            raise RuntimeError(f"gradients(): an output of shape {o.shape} does not require grad")
    seeds = [_seed_grad(o, g) for o, g in zip(outs, grad_outputs)]
    got = _run_backward(outs, seeds, retain_graph=create_graph if retain_graph is None else retain_graph,
                        create_graph=create_graph, accumulate=False, wanted=ins)
    result: list[Tensor | None] = []
    for x in ins:
        g = got.get(id(x))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"gradients(): an input of shape {x.shape} was not used to compute the outputs")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._make(g, None))
    return result
