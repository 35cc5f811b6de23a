"""From a traced :class:`Program` to the text of a Python function of plain NumPy calls.

Dead values are dropped (an instruction is kept when a kept value, a returned value, an input's
memory or the random generator depends on it); every value gets a name (the user's ``name=``,
parameter names, ``d<name>`` for gradients); each group of lines is headed by the op it comes from
and the user's line that built it.
"""
from __future__ import annotations

import keyword
import linecache
import math
import re
from typing import Any

import numpy as np

from ..ops._blas import subtract_scaled, subtract_scaled_product
from ._state import _leaves
from ._trace import Instr, Program, Ref, _memory_root, as_index, as_list, scalar

BINARY = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/", np.floor_divide: "//",
          np.power: "**", np.matmul: "@", np.remainder: "%", np.greater: ">", np.greater_equal: ">=",
          np.less: "<", np.less_equal: "<=", np.equal: "==", np.not_equal: "!=", np.bitwise_and: "&",
          np.bitwise_or: "|", np.bitwise_xor: "^"}
UNARY = {np.negative: "-", np.positive: "+", np.invert: "~"}
BUILTINS = {bool: "bool", float: "float", int: "int", complex: "complex", round: "round", as_index: "_index",
            as_list: "_tolist"}
RANDOM = (np.random.Generator, np.random.RandomState)


class Retrace(Exception):
    """A guard failed: the traced branch is not the one these values take."""


def _is_random(instr: Instr) -> bool:
    fn = instr.fn
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, RANDOM):
        return True
    if instr.kind == "method" and instr.args and isinstance(instr.args[0], Ref):
        return isinstance(instr.args[0].var.value, RANDOM)
    return getattr(fn, "__module__", "") in ("numpy.random", "numpy.random.mtrand")


def shape_only(program: Program) -> None:
    """``np.ones_like(x)`` reads only x's shape and dtype, which the signature fixes: write it as
    ``np.ones(shape, dtype)``, so that x need not be computed (backward's seed of an unused loss)."""
    for instr in program.instrs:
        if instr.kind == "call" and instr.fn in (np.ones_like, np.zeros_like) and isinstance(instr.outs, Ref) \
                and set(instr.kwargs) <= {"dtype"}:
            v = instr.outs.var.value
            instr.fn = np.ones if instr.fn is np.ones_like else np.zeros
            instr.args, instr.kwargs = (tuple(np.shape(v)),), {"dtype": v.dtype}


def live_instructions(program: Program, needed_vars: set[int], input_roots: set[int]) -> list[Instr]:
    """Backward liveness: keep guards, random draws, writes into memory that is read later or belongs to
    an input, and whatever computes a needed value."""
    needed = set(needed_vars)
    roots = {id(program.vars[v].root) for v in needed if program.vars[v].root is not None} | input_roots
    kept = []
    for instr in reversed(program.instrs):
        if instr.kind == "guard" or _is_random(instr):
            keep = True
        elif instr.target is not None:
            keep = instr.target.id in needed or (instr.target.root is not None and id(instr.target.root) in roots)
        else:
            keep = any(r.var.id in needed for r in _refs(instr.outs))
        if not keep:
            continue
        kept.append(instr)
        for r in _refs((instr.args, instr.kwargs, instr.target and instr.target.ref)):
            v = r.var
            if v.id not in needed:
                needed.add(v.id)
                if v.root is not None:
                    roots.add(id(v.root))
    kept.reverse()
    return kept


def simplify(instrs: list[Instr], outputs: Any, writebacks: list, foreign: set[int]) -> tuple[list[Instr], Any, list]:
    """Peepholes on the kept instructions: ``x.T.T`` is ``x``; a copy of a fresh value that nothing
    else reads is that value (the backward pass copies every leaf gradient, so that it aliases nothing)."""
    later_uses: dict[int, int] = {}
    group: dict[int, list] = {}  # memory root -> the values that view it
    for instr in instrs:
        for r in _refs(instr.outs):
            if r.var.root is not None:
                group.setdefault(id(r.var.root), []).append(r.var)
        for r in _refs((instr.args, instr.kwargs)):
            later_uses[r.var.id] = later_uses.get(r.var.id, 0) + 1
    for r in _refs((outputs, writebacks)):
        later_uses[r.var.id] = later_uses.get(r.var.id, 0) + 1
    produced_by: dict[int, Instr] = {}
    alias: dict[int, Ref] = {}
    targets = {instr.target.id for instr in instrs if instr.target is not None}
    out = []
    for instr in instrs:
        if alias:
            instr.args, instr.kwargs = _substitute(instr.args, alias), _substitute(instr.kwargs, alias)
            if instr.target is not None and instr.target.id in alias:  # y = copy(x); y[i] = v: writes into x
                instr.target = alias[instr.target.id].var
        a = instr.args
        src = a[0] if a and isinstance(a[0], Ref) else None
        res = instr.outs if isinstance(instr.outs, Ref) else None
        if res is not None and src is not None and instr.target is None:
            parent = produced_by.get(src.var.id)
            if instr.kind == "getattr" and instr.fn == "T" and parent is not None and parent.kind == "getattr" \
                    and parent.fn == "T":
                alias[res.var.id] = parent.args[0]
                continue
            is_copy = (instr.kind == "call" and instr.fn is np.copy and len(a) == 1 and not instr.kwargs) or \
                (instr.kind == "method" and instr.fn == "copy" and len(a) == 1 and not instr.kwargs)
            v = src.var
            if is_copy and parent is not None and _only_read_here(v, group, later_uses, targets, produced_by, foreign):
                alias[res.var.id] = src
                viewing = group.pop(id(res.var.root), [])  # the copy and the values viewing it: now x's memory
                for w in viewing:
                    w.root = v.root
                group.setdefault(id(v.root), []).extend(viewing)
                if res.var.hint and not v.hint:
                    v.hint = res.var.hint
                continue
        if res is not None:
            produced_by[res.var.id] = instr
        out.append(instr)
    return out, _substitute(outputs, alias), _substitute(writebacks, alias)


def fuse_updates(instrs: list[Instr], outputs: Any, writebacks: list) -> list[Instr]:
    """An SGD step on a gradient that is a product read by nothing else — ``d = a @ b`` then
    ``subtract_scaled(c, d, out=w)`` (autonp's optimizers) or ``u = c * d; w -= u`` (a step written out) —
    becomes ``subtract_scaled_product(c, a, b, out=w)``: one BLAS call that adds −c·(a @ b) into w, with no
    gradient array. The call stands where the update stood: a and b are read there, so nothing between may
    write into their memory."""
    uses: dict[int, int] = {}
    viewers: dict[int, int] = {}  # memory root -> how many values view it
    made_by: dict[int, int] = {}
    for k, instr in enumerate(instrs):
        for r in _refs((instr.args, instr.kwargs)):
            uses[r.var.id] = uses.get(r.var.id, 0) + 1
        for r in _refs(instr.outs):
            made_by[r.var.id] = k
            if r.var.root is not None:
                viewers[id(r.var.root)] = viewers.get(id(r.var.root), 0) + 1
    for r in _refs((outputs, writebacks)):
        uses[r.var.id] = uses.get(r.var.id, 0) + 2

    def private_result(v, fn) -> Instr | None:
        """The instruction ``fn(...)`` that made v, if v is read once and nothing else views its memory."""
        k = made_by.get(v.id)
        if k is None or uses.get(v.id, 0) != 1 or v.root is None or v.value is not v.root \
                or viewers.get(id(v.root), 0) != 1:
            return None
        instr = instrs[k]
        ok = instr.kind == "call" and instr.fn is fn and not instr.kwargs and instr.target is None \
            and len(instr.args) == 2
        return instr if ok else None

    def scale_and_product(instr: Instr) -> tuple | None:
        """(w, c, d, where the scaled copy was made, if any) of an update, or None."""
        a, w = instr.args, instr.target
        if instr.kind != "call" or w is None:
            return None
        if instr.fn is subtract_scaled and len(a) == 2 and isinstance(a[1], Ref):
            return w, a[0], a[1].var, []
        if instr.fn is np.subtract and len(a) == 2 and isinstance(a[0], Ref) and a[0].var is w \
                and isinstance(a[1], Ref):
            scale = private_result(a[1].var, np.multiply)
            if scale is not None:
                refs = [x for x in scale.args if isinstance(x, Ref)]
                consts = [x for x in scale.args if not isinstance(x, Ref)]
                if len(refs) == 1:
                    return w, consts[0], refs[0].var, [made_by[a[1].var.id]]
        return None

    replaced: dict[int, Instr] = {}
    for k, instr in enumerate(instrs):
        found = scale_and_product(instr)
        if found is None:
            continue
        w, c, d, others = found
        product = private_result(d, np.matmul)
        if product is None or not isinstance(c, (float, int, np.floating)) or isinstance(c, bool) \
                or not all(isinstance(x, Ref) and np.ndim(x.var.value) == 2 for x in product.args):
            continue
        read = {id(x.var.root) for x in product.args if x.var.root is not None}
        start = made_by[d.id]
        if any(instrs[j].target is not None and instrs[j].target.root is not None
               and id(instrs[j].target.root) in read for j in range(start + 1, k)):
            continue  # something writes into a or b before the update: read them where the product was
        call = Instr("call", subtract_scaled_product, (c,) + tuple(product.args), {"out": w.ref}, None, w)
        call.site, call.op = instr.site, instr.op
        replaced[k] = call
        for gone in [start] + others:
            replaced[gone] = None
    return [replaced.get(k, instr) for k, instr in enumerate(instrs) if replaced.get(k, instr) is not None]


def reuse_buffers(instrs: list[Instr], outputs: Any, writebacks: list, foreign: set[int]) -> None:
    """``y = x + b`` where ``x`` is a fresh array read by nothing afterwards becomes ``y = np.add(x, b, out=x)``:
    an elementwise ufunc writes into an operand's memory instead of a new array, as a hand-written step
    would (a layer's bias add, its ReLU, the masks of the backward pass). Only where that memory is the
    program's own (``_owned_here``), viewed by no other value, read by nothing later and not returned, and
    where the result has its shape, dtype and strides, so that every later line sees the layout it was traced
    with."""
    made, last_read, viewers = set(), {}, {}
    for k, instr in enumerate(instrs):
        for r in _refs((instr.args, instr.kwargs)):
            last_read[r.var.id] = k
        if instr.target is not None:
            last_read[instr.target.id] = k
        for r in _refs(instr.outs):
            made.add(r.var.id)
            if r.var.root is not None:
                viewers[id(r.var.root)] = viewers.get(id(r.var.root), 0) + 1
    for r in _refs((outputs, writebacks)):
        last_read[r.var.id] = len(instrs)
    for k, instr in enumerate(instrs):
        fn, res = instr.fn, instr.outs
        if not (instr.kind == "call" and isinstance(fn, np.ufunc) and fn.signature is None and fn.nout == 1
                and not instr.kwargs and instr.target is None and isinstance(res, Ref)
                and type(res.var.value) is np.ndarray and res.var.value.dtype.kind in "biufc"):
            continue
        y = res.var.value
        for a in instr.args:
            x = a.var if isinstance(a, Ref) else None
            if x is None or last_read.get(x.id) != k or not _owned_here(x, made, foreign) \
                    or not x.value.flags.writeable \
                    or x.value.shape != y.shape or x.value.dtype != y.dtype or x.value.strides != y.strides:
                continue
            # x may itself be a result written into an earlier operand's memory: that operand's views were
            # counted when it was the candidate (viewers is of the whole program), so x's own suffice
            if viewers.get(id(x.root)) == 1:
                instr.kwargs = {"out": a}
                break


def _foreign_roots(instrs: list[Instr], input_roots: set[int]) -> set[int]:
    """Ids of memory the program did not make: its inputs', and that of every array it holds as a constant."""
    foreign = set(input_roots)
    for instr in instrs:
        foreign.update(id(_memory_root(leaf)) for leaf in _leaves((instr.args, instr.kwargs))
                       if isinstance(leaf, np.ndarray))
    return foreign


def _owned_here(v, made, foreign: set[int]) -> bool:
    """Is ``v``'s value memory the program made and owns — made by one of its instructions (``made``: their
    value ids), owning its data (``as_strided`` makes a view whose base is no array), and no input's or
    constant's (``np.broadcast_arrays(x, c)`` returns x and c themselves)? Only such memory may be written
    where the trace did not write it."""
    a = v.value
    return v.id in made and type(a) is np.ndarray and a is v.root and a.flags.owndata and id(a) not in foreign


def _only_read_here(v, group: dict, uses: dict, targets: set, produced_by: dict, foreign: set[int]) -> bool:
    """Is ``v``'s memory the program's own (``_owned_here``) and read by nothing but the copy of ``v``? Each
    value viewing that memory is read exactly once: by the view made from it, or by the copy."""
    if v.root is None:
        return False
    views = group.get(id(v.root), [])
    owner = next((w for w in views if w.value is v.root), None)
    if owner is None or not _owned_here(owner, produced_by, foreign) or any(w.id in targets for w in views):
        return False
    return all(uses.get(w.id, 0) == 1 for w in views)


def _substitute(template: Any, alias: dict) -> Any:
    if not alias:
        return template
    if isinstance(template, Ref):
        return alias.get(template.var.id, template)
    if type(template) in (tuple, list):
        return type(template)(_substitute(t, alias) for t in template)
    if type(template) is dict:
        return {k: _substitute(t, alias) for k, t in template.items()}
    if type(template) is slice:
        return slice(*(_substitute(t, alias) for t in (template.start, template.stop, template.step)))
    return template


def _refs(template: Any) -> list[Ref]:
    """The Refs in an argument template, in order (a list, not nested generators: the passes call this ~700
    times for the MLP step's trace, and its code generation took 1.41 ms with generators, 1.22 ms so)."""
    out: list[Ref] = []
    _collect_refs(template, out)
    return out


def _collect_refs(template: Any, out: list) -> None:
    t = type(template)
    if t is Ref:
        out.append(template)
    elif t is tuple or t is list:
        for x in template:
            tx = type(x)
            if tx is Ref:
                out.append(x)
            elif tx not in _ATOMS:
                _collect_refs(x, out)
    elif t is dict:
        _collect_refs(tuple(template.values()), out)
    elif t is slice:
        _collect_refs((template.start, template.stop, template.step), out)
    elif isinstance(template, (tuple, list)):  # a subclass (a namedtuple): by its items
        _collect_refs(tuple(template), out)
    elif isinstance(template, dict):
        _collect_refs(tuple(template.values()), out)


_ATOMS = frozenset({int, float, bool, str, bytes, type(None), type(Ellipsis)})  # hold no Ref


def _identifier(hint: str) -> str:
    name = re.sub(r"\W", "_", str(hint)).strip("_") or "v"
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if keyword.iskeyword(name) or name in ("np", "Retrace") else name


class Literal:
    """Text put into the generated code as it is."""

    def __init__(self, text: str):
        self.text = text


def _copy_constants(template: Any, writer: "Writer") -> Any:
    """Arrays the trace computed once are returned as copies (the caller may write into them)."""
    if isinstance(template, np.ndarray):
        return Literal(f"np.copy({writer.const(template)})")
    if type(template) in (tuple, list):
        return type(template)(_copy_constants(t, writer) for t in template)
    return template


class Writer:
    """Renders instructions; owns the names of values and of constants."""

    def __init__(self):
        self.names: dict[int, str] = {}
        # names the generated code uses itself (builtins included: an input called `float` must not shadow it)
        self.taken: set[str] = {"np", "Retrace", "_index", "_tolist", "_scalar", "bool", "float", "int", "complex",
                                "round", "slice"}
        self.consts: dict[str, Any] = {}
        self.const_ids: dict[Any, str] = {}
        self.counter = 0
        self.fused: dict[int, str] = {}  # bool(x) escapes waiting for their guard
        self.inline: dict[int, str] = {}  # unnamed x.T used once: written where it is used
        self.uses: dict[int, int] = {}

    def name(self, var) -> str:
        inlined = self.inline.get(var.id)
        if inlined is not None:
            return inlined
        got = self.names.get(var.id)
        if got is None:
            if var.hint:
                base = _identifier(var.hint)
            else:
                self.counter += 1
                base = f"v{self.counter}"
            got, k = base, 2
            while got in self.taken:
                got, k = f"{base}_{k}", k + 1
            self.taken.add(got)
            self.names[var.id] = got
        return got

    def const(self, value: Any, hint: str = "c", exact: bool = False) -> str:
        """The name of a constant: ``hint`` and a number (``exact``: ``hint`` itself, where it is free)."""
        key = id(value)  # by identity: an array may be written into between calls, its equal twin not
        got = self.const_ids.get(key)
        if got is None:
            n = len(self.consts)
            while f"{hint}{n}" in self.taken:
                n += 1
            got = hint if exact and hint not in self.taken else f"{hint}{n}"
            self.taken.add(got)
            self.consts[got] = value
            self.const_ids[key] = got
        return got

    # ---- expressions
    def expr(self, t: Any) -> str:
        if isinstance(t, Ref):
            return self.name(t.var)
        if isinstance(t, Literal):
            return t.text
        if t is None or t is Ellipsis or isinstance(t, (bool, str, bytes)):
            return "..." if t is Ellipsis else repr(t)
        if isinstance(t, int):
            return repr(t)
        if isinstance(t, float):
            return repr(t) if math.isfinite(t) else f"float({str(t)!r})"
        if type(t) is tuple:
            inner = ", ".join(self.expr(v) for v in t)
            return f"({inner},)" if len(t) == 1 else f"({inner})"
        if type(t) is list:
            return "[" + ", ".join(self.expr(v) for v in t) + "]"
        if type(t) is dict and all(isinstance(k, str) for k in t):
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in t.items()) + "}"
        if type(t) is slice:
            return f"slice({self.expr(t.start)}, {self.expr(t.stop)}, {self.expr(t.step)})"
        if isinstance(t, np.dtype):
            return f"np.{t.name}" if hasattr(np, t.name) and np.dtype(getattr(np, t.name)) == t else self.const(t)
        if isinstance(t, type) and issubclass(t, np.generic) and getattr(np, t.__name__, None) is t:
            return f"np.{t.__name__}"
        if isinstance(t, np.generic) and t.ndim == 0 and t.dtype.kind in "fiub":
            text = f"np.{t.dtype.name}({t.item()!r})"
            if np.isfinite(t) and np.dtype(t.dtype).type(t.item()) == t:
                return text
        return self.const(t)

    def operand(self, t: Any) -> str:
        text = self.expr(t)
        return f"({text})" if text.startswith("-") else text

    def index(self, t: Any) -> str:
        """``x[1:, None, ...]`` rather than ``x[(slice(1, None, None), None, Ellipsis)]``."""
        def one(i):
            if type(i) is slice:
                parts = ["" if v is None else self.expr(v) for v in (i.start, i.stop, i.step)]
                return f"{parts[0]}:{parts[1]}" + (f":{parts[2]}" if parts[2] else "")
            return self.expr(i)
        if type(t) is tuple and t:
            return ", ".join(one(i) for i in t) + ("," if len(t) == 1 else "")
        return one(t)

    def function(self, fn: Any) -> str:
        if isinstance(fn, np.ufunc) and getattr(np, fn.__name__, None) is fn:
            return f"np.{fn.__name__}"
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, np.ufunc) and getattr(np, owner.__name__, None) is owner:
            return f"np.{owner.__name__}.{fn.__name__}"
        name = getattr(fn, "__name__", None)
        if name:
            for module, prefix in ((np, "np"), (np.linalg, "np.linalg"), (np.fft, "np.fft"),
                                   (np.random, "np.random"), (np.lib.stride_tricks, "np.lib.stride_tricks")):
                if getattr(module, name, None) is fn:
                    return f"{prefix}.{name}"
            if fn is scalar:
                return "_scalar"
            if (getattr(fn, "__module__", None) or "").startswith("autonp.") and name.isidentifier():
                return self.const(fn, name, exact=True)  # one of autonp's kernels: gemm(...)
        return self.const(fn, "f")

    def args(self, args: tuple, kwargs: dict) -> str:
        parts = [self.expr(a) for a in args] + [f"{k}={self.expr(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def outs(self, t: Any) -> str:
        if isinstance(t, Ref):
            return self.name(t.var)
        if t is None:
            return "_"
        if isinstance(t, (tuple, list)):
            inner = ", ".join(self.outs(v) for v in t)
            return f"({inner},)" if len(t) == 1 else f"({inner})"
        return "_"

    def line(self, instr: Instr, guard_no: int) -> str:
        k, fn, a, kw = instr.kind, instr.fn, instr.args, instr.kwargs
        if k == "guard":
            fused = self.fused.pop(a[0].var.id, None)
            if fused is not None:  # bool(x) checked right away: ``if not x: raise``
                return f"if {'not ' if instr.expected else ''}{fused}: raise Retrace({guard_no})"
            return f"if {self.expr(a[0])} != {self.expr(instr.expected)}: raise Retrace({guard_no})"
        if k == "getitem":
            rhs = f"{self.operand(a[0])}[{self.index(a[1])}]"
        elif k == "setitem":
            return f"{self.expr(a[0])}[{self.index(a[1])}] = {self.expr(a[2])}"
        elif k == "getattr":
            rhs = f"{self.operand(a[0])}.{fn}"
            out = instr.outs.var if isinstance(instr.outs, Ref) else None
            if fn == "T" and out is not None and out.hint is None and self.uses.get(out.id) == 1:
                self.inline[out.id] = rhs
                return None
        elif k == "method":
            rhs = f"{self.operand(a[0])}.{fn}({self.args(a[1:], kw)})"
        elif k == "escape":
            if fn is bool and isinstance(instr.outs, Ref):
                self.fused[instr.outs.var.id] = self.operand(a[0])
                return None
            rhs = f"{BUILTINS.get(fn) or self.const(fn, 'f')}({self.expr(a[0])})"
        elif fn is scalar and len(a) == 1:
            rhs = f"{self.operand(a[0])}.reshape(())[()]"
        elif fn in BINARY and len(a) == 2 and not kw:
            rhs = f"{self.operand(a[0])} {BINARY[fn]} {self.operand(a[1])}"
        elif fn in UNARY and len(a) == 1 and not kw:
            rhs = f"{UNARY[fn]}{self.operand(a[0])}"
        elif fn in BINARY and len(a) == 2 and set(kw) == {"out"} and instr.target is not None \
                and isinstance(a[0], Ref) and a[0].var is instr.target:
            return f"{self.expr(a[0])} {BINARY[fn]}= {self.operand(a[1])}"
        else:
            rhs = f"{self.function(fn)}({self.args(a, kw)})"
        if instr.target is not None:
            return rhs
        return f"{self.outs(instr.outs)} = {rhs}"


def _heading(instr: Instr) -> str:
    kind, name = instr.op or ("op", None)
    site = instr.site
    where = ""
    if site is not None:
        text = linecache.getline(site[0], site[1]).strip()
        where = f"{site[0].rsplit('/', 1)[-1]}:{site[1]}" + (f"  {text}" if text else "")
    if kind == "grad":
        return f"# ∂ {name}    <- {where}"
    if name is None:  # NumPy called directly (by the user, an optimizer, backward's seed)
        return f"# {where}" if where else "#"
    return f"# {name}    <- {where}" if where else f"# {name}"


def generate(program: Program, func_name: str, inputs: list, outputs: Any, writebacks: list) -> tuple[str, dict]:
    """The source of ``def func_name(inputs...): ...; return outputs, writebacks`` and its namespace."""
    writer = Writer()
    params = [writer.name(v) for v in inputs]
    needed = {r.var.id for r in _refs((outputs, writebacks))}
    input_roots = {id(v.root) for v in inputs if v.root is not None}
    body: list[str] = []
    last = None
    guards = 0
    shape_only(program)
    kept = live_instructions(program, needed, input_roots)
    foreign = _foreign_roots(kept, input_roots)  # the later passes add no array constants
    kept, outputs, writebacks = simplify(kept, outputs, writebacks, foreign)
    kept = fuse_updates(kept, outputs, writebacks)
    program.instrs = kept  # what the aliases made dead (x.T of x.T.T) goes too
    kept = live_instructions(program, {r.var.id for r in _refs((outputs, writebacks))}, input_roots)
    reuse_buffers(kept, outputs, writebacks, foreign)
    outputs, writebacks = _copy_constants(outputs, writer), _copy_constants(list(writebacks), writer)
    for r in _refs(([(i.args, i.kwargs) for i in kept], outputs, writebacks)):
        writer.uses[r.var.id] = writer.uses.get(r.var.id, 0) + 1
    release = _releases(kept, inputs, outputs, writebacks)
    gone: list[str] = []  # values dropped at the end of the group of lines they were last used in
    for k, instr in enumerate(kept):
        head = _heading(instr) if instr.kind != "guard" else last  # a guard stays in its op's group
        if head != last:
            if gone:
                body.append(f"del {', '.join(gone)}")
                gone = []
            body.append("")
            body.append(head)
            last = head
        line = writer.line(instr, guards)
        if line is not None:
            body.append(line + ("  # guard: another value traces again" if instr.kind == "guard" else ""))
        guards += instr.kind == "guard"
        gone += [writer.name(v) for v in release.get(k, ()) if v.id not in writer.inline]
    if gone:
        body.append(f"del {', '.join(gone)}")
    body.append("")
    body.append(f"return {writer.expr(outputs)}, {writer.expr(tuple(writebacks))}")
    lines = [f"def {func_name}({', '.join(params)}):"] + ["    " + b if b else "" for b in body]
    consts = [f"#   {n}: {_describe(v)}" for n, v in writer.consts.items()]
    if consts:
        lines = ["# constants of the trace:"] + consts + lines
    namespace = {"np": np, "Retrace": Retrace, "_index": as_index, "_tolist": as_list, "_scalar": scalar,
                 **writer.consts}
    return "\n".join(lines) + "\n", namespace


BIG = 1 << 12  # bytes: arrays this large are dropped after their last use, as the eager backward does


def _releases(instrs: list[Instr], inputs: list, outputs: Any, writebacks: list) -> dict[int, list]:
    """For each instruction, the large values it reads (or defines) for the last time: the generated
    function deletes them there, so that its peak memory is that of one step, not of all its values."""
    last: dict[int, int] = {}
    var_of: dict[int, Any] = {}
    for k, instr in enumerate(instrs):
        for r in _refs((instr.args, instr.kwargs, instr.outs)):
            last[r.var.id] = k
            var_of[r.var.id] = r.var
        if instr.target is not None:
            last[instr.target.id] = k
    for instr in reversed(instrs):  # x.T may be written where it is used: x lives as long as x.T
        if instr.kind == "getattr" and isinstance(instr.outs, Ref) and isinstance(instr.args[0], Ref):
            src, out = instr.args[0].var.id, instr.outs.var.id
            last[src] = max(last[src], last.get(out, 0))
    keep = {v.id for v in inputs} | {r.var.id for r in _refs((outputs, writebacks))}
    out: dict[int, list] = {}
    for vid, k in last.items():
        v = var_of.get(vid)
        if v is not None and vid not in keep and getattr(v.value, "nbytes", 0) >= BIG:
            out.setdefault(k, []).append(v)
    return out


def _describe(v: Any) -> str:
    if isinstance(v, np.ndarray):
        for name, fill in (("ones", 1), ("zeros", 0)):
            if v.size and np.all(v == fill):
                return f"np.{name}({v.shape}, {v.dtype})"
        return f"ndarray{v.shape} {v.dtype}"
    return getattr(v, "__qualname__", None) or type(v).__name__
