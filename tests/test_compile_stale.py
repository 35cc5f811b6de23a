"""Issue 19: anp.compile never replays a stale value. Each case changes something between calls that the
trace read (at any depth) and checks that every call equals the same function run eagerly (rtol 1e-12),
or that the trace is refused at trace time naming what it read; a replay that raises leaves the state as
it was before the call; concurrent first calls leave no stand-in behind (tests/test_compile.py)."""
import logging
import random
import types

import numpy as np
import pytest

import autonp as anp
from autonp import nn, optim

X = np.arange(3.0) + 0.5


def follows(f, change, calls=3, *args):
    """f compiled against f eager: equal before and after ``change()`` (a new trace or a guard in the way)."""
    compiled = anp.compile(f)
    for _ in range(calls):
        assert compiled(X, *args) == pytest.approx(f(X, *args), rel=1e-12)
    change()
    for _ in range(calls):
        assert compiled(X, *args) == pytest.approx(f(X, *args), rel=1e-12)
    return compiled


# --------------------------------------------------------------------------- reads the signature did not cover

HP = {"scale": 2.0}
W = anp.Tensor(np.ones(3), requires_grad=True)


def test_the_issue_example_a_global_dict_entry():
    def step(x):
        W.grad = None
        loss = anp.sum(W * x) * HP["scale"]
        loss.backward()
        return loss.item()
    follows(step, lambda: HP.update(scale=5.0))


LIST = [1.0, 2.0]


def test_a_global_list_entry():
    follows(lambda x: anp.sum(anp.Tensor(x) * LIST[1]).item(), lambda: LIST.__setitem__(1, 7.0))


class Config:
    def __init__(self):
        self.scale = 2.0
        self.table = {"shift": 1.0}


CFG = Config()


def test_attributes_of_a_plain_object_and_its_dict():
    f = lambda x: anp.sum(anp.Tensor(x) * CFG.scale + CFG.table["shift"]).item()  # noqa: E731
    follows(f, lambda: setattr(CFG, "scale", 3.0))
    follows(f, lambda: CFG.table.update(shift=-4.0))


cfg_module = types.ModuleType("cfg_module")
cfg_module.__file__ = __file__  # a module of the user's (not a library's)
cfg_module.scale = 2.0


def test_an_attribute_of_a_config_module():
    follows(lambda x: anp.sum(anp.Tensor(x) * cfg_module.scale).item(), lambda: setattr(cfg_module, "scale", 9.0))


class Scaled:
    factor = 2.0

    def value(self, x):
        return anp.sum(anp.Tensor(x) * self.factor)


def test_a_class_attribute_patched_after_the_trace():
    obj = Scaled()
    follows(lambda x: obj.value(x).item(), lambda: setattr(Scaled, "factor", 5.0))
    follows(lambda x: obj.value(x).item(), lambda: setattr(Scaled, "value", lambda self, x: anp.sum(anp.Tensor(x))))


OFFSET = 1.0


class Shifted(nn.Module):
    def __init__(self):
        self.lin = nn.Linear(3, 2, rng=np.random.default_rng(0))
        self.mask = np.ones(2)
        self.act = np.tanh
        self.opts = {"gain": 1.0}

    def forward(self, x):
        return self.act(self.lin(x) + OFFSET) * self.mask * self.opts["gain"] + self.bias()

    def bias(self):
        return OFFSET * 0.5


def test_module_attributes_and_module_level_constants_read_in_forward():
    net = Shifted()
    f = lambda x: anp.sum(net(x[None, :])).item()  # noqa: E731
    follows(f, lambda: net.mask.__imul__(3.0))                  # a plain ndarray attribute, changed in place
    follows(f, lambda: setattr(net, "act", np.sin))             # a function attribute
    follows(f, lambda: net.opts.update(gain=-2.0))              # a dict attribute
    follows(f, lambda: globals().update(OFFSET=4.0))            # read inside forward and a method of self


def test_freezing_and_unfreezing_a_layer_between_calls():
    """``requires_grad`` switched off and on again between calls (fine-tuning freezes a layer): each state gets
    its own trace, and the parameters after every step equal the same steps run eagerly. With requires_grad
    left out of the signature, the replay went on updating the frozen layer (its weights 0.04 off after two
    frozen steps)."""
    def trained(compiled: bool):
        rng = np.random.default_rng(0)
        net = nn.Sequential(nn.Linear(4, 3, rng=np.random.default_rng(1)), nn.ReLU(),
                            nn.Linear(3, 2, rng=np.random.default_rng(2)))
        opt = optim.SGD(net.parameters(), lr=0.1)
        x, y = rng.normal(size=(5, 4)), rng.integers(0, 2, 5)

        def step(xb, yb):
            opt.zero_grad()
            nn.cross_entropy(net(xb), yb).backward()
            opt.step()
        f = anp.compile(step) if compiled else step
        seen = []
        for frozen in (False, False, True, True, False, False):
            net.layers[0].weight.requires_grad = not frozen
            f(x, y)
            seen.append([p.numpy().copy() for p in net.parameters()])
        return seen
    eager, compiled = trained(False), trained(True)
    assert np.array_equal(eager[3][0], eager[1][0]) and not np.array_equal(eager[5][0], eager[3][0])
    for e, c in zip(eager, compiled):
        for a, b in zip(e, c):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)


def test_a_learning_rate_changed_between_calls():
    """``opt.lr = 0.5`` (a Python float, a constant of the trace) between calls retraces: the step then moves by
    the new rate, as the same steps run eagerly do (with lr left out of the signature, the replay kept 0.1)."""
    def steps(compiled: bool):
        W = anp.Tensor(np.array([0.3, -1.2, 0.8]), requires_grad=True)
        opt = optim.SGD([W], lr=0.1)

        def step(x):
            opt.zero_grad()
            anp.sum(W * x * W).backward()
            opt.step()
        f = anp.compile(step) if compiled else step
        seen = []
        for lr in (0.1, 0.1, 0.5, 0.5, 0.1):
            opt.lr = lr
            before = W.numpy().copy()
            f(X)
            seen.append(W.numpy().copy())
            assert seen[-1] == pytest.approx(before - lr * 2 * before * X, rel=1e-12)  # d(Σ w²x)/dw = 2wx
        return seen
    for e, c in zip(steps(False), steps(True)):
        np.testing.assert_allclose(c, e, rtol=1e-12, atol=0)


def test_an_optimizer_state_or_a_gradient_of_another_dtype_is_another_signature():
    """A float64 momentum (``opt.velocity[0] = ...``) or ``.grad`` put on a float32 parameter between calls: the
    replay equals the same steps run eagerly, bit for bit. The trace made for float32 state rounded one weight
    1 ulp off (only ``v is None`` was in the signature, not the array's dtype)."""
    def steps(compiled: bool, change):
        lin = nn.Linear(3, 2)
        lin.weight = nn.Parameter(np.arange(6, dtype=np.float32).reshape(3, 2) / 10)
        lin.bias = nn.Parameter(np.zeros((1, 2), np.float32))
        opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
        x = np.arange(12, dtype=np.float32).reshape(4, 3) / 7

        def step(x):
            loss = (lin(x) ** 2).sum()
            loss.backward()
            opt.step()
            return loss.item()
        f = anp.compile(step) if compiled else step
        seen = []
        for i in range(5):
            if i == 2:
                change(lin, opt)
            seen.append((f(x), lin.weight.numpy().copy(), opt.velocity[0].copy()))
            if i != 1:  # once, the gradient stays (its dtype is the one changed)
                opt.zero_grad()
        return seen

    def velocity(lin, opt):
        opt.velocity[0] = np.full((3, 2), 0.7, np.float64) / 3

    def gradient(lin, opt):
        lin.weight.grad = anp.Tensor(np.full((3, 2), 0.7, np.float64) / 3)

    for change in (velocity, gradient):
        for e, c in zip(steps(False, change), steps(True, change)):
            assert c[0] == e[0]
            np.testing.assert_array_equal(c[1], e[1])
            assert c[2].dtype == e[2].dtype
            np.testing.assert_array_equal(c[2], e[2])


def test_which_argument_is_which_other_one():
    """Arguments that are the same array are one input of the trace: f(x, y, x) and f(x, y, y) alias differently,
    and each call equals the eager one (the signature must say which earlier argument a repeat is)."""
    f = lambda a, b, c: anp.sum(anp.Tensor(a) * 2 + anp.Tensor(b) * 3 + anp.Tensor(c) * 5).item()  # noqa: E731
    compiled = anp.compile(f)
    x, y = X, X[::-1] * 1.5
    for args in [(x, y, x), (x, y, y), (x, y, x), (x, x, y), (y, x, x)]:
        assert compiled(*args) == pytest.approx(np.sum(args[0] * 2 + args[1] * 3 + args[2] * 5), rel=1e-12)


def test_the_shape_of_an_argument_s_containers():
    """Nested containers as arguments: a list that grows into the tuple's next item, dict keys given in another
    order, a NumPy scalar of another dtype. Each is a signature of its own (with the lengths, the keys or
    the dtype left out, the replay read the wrong item: 3.3 off; or kept float32)."""
    y = X[::-1] * 1.5
    f = lambda t: anp.sum(anp.Tensor(t[0][-1]) * 2 + anp.Tensor(t[1]) * 3).item()  # noqa: E731
    compiled = anp.compile(f)
    for arg in [([X, y], X), ([X, y], X), ([y], X, y), ([X, y], X)]:
        assert compiled(arg) == pytest.approx(f(arg), rel=1e-12)
    g = lambda d: anp.sum(anp.Tensor(d["a"]) * 2 + anp.Tensor(d["b"]) * 3).item()  # noqa: E731
    compiled = anp.compile(g)
    for arg in [{"a": X, "b": y}, {"a": X, "b": y}, {"b": X, "a": y}, {"a": X, "b": y}]:
        assert compiled(arg) == pytest.approx(g(arg), rel=1e-12)
    h = lambda a, s: anp.sum(anp.Tensor(a.astype(np.float32)) * s).numpy()  # noqa: E731
    compiled = anp.compile(h)
    for s in [np.float32(1.1), np.float32(1.1), np.float64(1.1), np.float32(1.1)]:
        got, want = compiled(X, s), h(X, s)
        assert got.dtype == want.dtype and got == want


def test_a_number_on_an_argument_object_changed_between_calls():
    """An object passed in with a Python number on it (a config): the number is a constant of the trace, so
    changing it makes a new one (left out of the signature, the replay kept 2.0)."""
    class Config:
        pass
    cfg = Config()
    cfg.scale, cfg.w = 2.0, X * 0.5
    f = lambda a, c: anp.sum(anp.Tensor(a) * c.w * c.scale).item()  # noqa: E731
    follows(f, lambda: setattr(cfg, "scale", 7.0), 3, cfg)


def test_a_module_s_list_of_numbers_and_a_swapped_layer():
    """A Module's list of plain numbers (read in forward) changed, rebound or edited in place, and a layer of a
    Sequential swapped for another without parameters (ReLU for Tanh): each call equals the eager one. Left
    out of the signature, the replays kept the old list (1.4 off) and the old activation (0.88 off)."""
    class Scaled(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(3, 2, rng=np.random.default_rng(1))
            self.factors = [1.0, 2.0]

        def forward(self, a):
            return self.lin(a) * self.factors[1]
    net = Scaled()
    f = lambda x: anp.sum(net(x[None, :])).item()  # noqa: E731
    follows(f, lambda: setattr(net, "factors", [1.0, 3.0]))
    follows(f, lambda: net.factors.__setitem__(1, 4.0))
    seq = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(1)), nn.ReLU(),
                        nn.Linear(4, 2, rng=np.random.default_rng(2)))
    g = lambda x: anp.sum(seq(x[None, :] - 1.0)).item()  # noqa: E731
    follows(g, lambda: seq.layers.__setitem__(1, nn.Tanh()))


class Knob:
    def __init__(self, scale):
        self.scale = scale


KNOBS = [Knob(2.0)]
HOLDER = {"knob": Knob(3.0)}
NAMESPACE = types.SimpleNamespace(scale=2.0)
NESTED = {"a": {"b": {"c": {"d": [1.0, 2.0]}}}}
LOOP = Knob(2.0)
LOOP.me = LOOP  # an object that holds itself


def test_state_inside_containers_and_objects_at_any_depth():
    """A number read through a global list or dict of objects, an argparse-style namespace (a library class), a
    dict nested four deep, an object that holds itself: each changed in place between calls is followed. Plain
    objects were compared by identity and containers only four levels deep, so every one of these replays
    kept the traced number (6.0 where 15.0 was due, for the list of objects)."""
    follows(lambda x: anp.sum(anp.Tensor(x) * KNOBS[0].scale).item(), lambda: setattr(KNOBS[0], "scale", 5.0))
    follows(lambda x: anp.sum(anp.Tensor(x) * HOLDER["knob"].scale).item(),
            lambda: setattr(HOLDER["knob"], "scale", 7.0))
    follows(lambda x: anp.sum(anp.Tensor(x) * NAMESPACE.scale).item(), lambda: setattr(NAMESPACE, "scale", 5.0))
    follows(lambda x: anp.sum(anp.Tensor(x) * NESTED["a"]["b"]["c"]["d"][1]).item(),
            lambda: NESTED["a"]["b"]["c"]["d"].__setitem__(1, 5.0))
    follows(lambda x: anp.sum(anp.Tensor(x) * LOOP.me.scale).item(), lambda: setattr(LOOP, "scale", 4.0))


def test_state_deep_inside_an_argument():
    """An argument's object holding an object (a number changed on it), and an array four attributes deep
    replaced by another: each call equals the eager one (the replay kept 2.0, and the old array)."""
    outer, deep = Knob(1.0), Knob(1.0)
    outer.inner = Knob(2.0)
    deep.a = Knob(0)
    deep.a.b = Knob(0)
    deep.a.b.w = np.array([1.0, 2.0, 3.0])
    follows(lambda x, o: anp.sum(anp.Tensor(x) * o.inner.scale).item(), lambda: setattr(outer.inner, "scale", 4.0),
            3, outer)
    follows(lambda x, o: anp.sum(anp.Tensor(x) * o.a.b.w).item(),
            lambda: setattr(deep.a.b, "w", np.array([5.0, 5.0, 5.0])), 3, deep)


WITH_LOGGER = Knob(2.0)
WITH_LOGGER.log = logging.getLogger("autonp.tests")  # its manager holds every logger of the process


def test_another_library_s_object_is_compared_by_identity():
    """A config object of the user's that holds a logger: the config by content, the logger (a library's
    object, whose insides reach every logger there is) by identity, so the guard stays small."""
    for i in range(6000):
        logging.getLogger(f"autonp.tests.many{i}")
    follows(lambda x: anp.sum(anp.Tensor(x) * WITH_LOGGER.scale).item(), lambda: setattr(WITH_LOGGER, "scale", 3.0))


BIG = [1.0] * 6000


def test_a_large_attribute_the_code_does_not_name_is_no_reason_to_refuse():
    """A trainer whose compiled method never reads its loss history: the history may grow past what a guard
    compares (it is then part of the signature by identity), and the steps go on; a table of the same size
    that the method does read is refused, as a global one is."""
    class Trainer:
        def __init__(self):
            self.w = anp.Tensor(np.array([0.5, -0.2, 1.0]), requires_grad=True)
            self.history, self.table = [], [2.0] * 6000

        def step(self, x):
            self.w.grad = None
            loss = anp.sum(self.w * x) ** 2
            loss.backward()
            return loss.item()

        def scaled(self, x):
            return anp.sum(self.w * x).item() * self.table[3]
    t = Trainer()
    compiled = anp.compile(t.step)
    for i in range(3):
        assert compiled(X) == pytest.approx(t.step(X), rel=1e-12)
        t.history.extend([float(i)] * 3000)
    with pytest.raises(anp.CompileError, match="too large to guard"):
        anp.compile(t.scaled)(X)

    class Table(nn.Module):  # the same table on a submodule, read in its forward
        def __init__(self):
            self.entries = [2.0] * 6000

        def forward(self, x):
            return x * self.entries[3]
    net = nn.Sequential(nn.Linear(3, 3, rng=np.random.default_rng(0)), Table())
    with pytest.raises(anp.CompileError, match="too large to guard"):
        anp.compile(lambda x: anp.sum(net(x[None, :])).item())(X)


def test_a_container_too_large_to_guard_is_refused():
    """A global list of 6,000 numbers read by the trace: too large to compare on every call, so the trace is
    refused, naming why. It was compared by identity, and an entry changed in place was not seen (3.0 where
    9.0 was due)."""
    compiled = anp.compile(lambda x: anp.sum(anp.Tensor(x) * BIG[5]).item())
    with pytest.raises(anp.CompileError, match="too large to guard"):
        compiled(X)


def test_an_attribute_of_an_argument():
    class Args:
        pass
    a = Args()
    a.weights = {"w": 2.0}
    follows(lambda x, a: anp.sum(anp.Tensor(x) * a.weights["w"]).item(), lambda: a.weights.update(w=0.5), 3, a)


def test_a_mutable_default_argument_read():
    def f(x, opts={"k": 2.0}):  # noqa: B006 - the point of the test
        return anp.sum(anp.Tensor(x) * opts["k"]).item()
    follows(f, lambda: f.__defaults__[0].update(k=6.0))


def helper(v):
    return v * 2.0


def deep4(v):
    return deep3(v) + 1.0


def deep3(v):
    return deep2(v)


def deep2(v):
    return helper(v) * DEEP_SCALE + DEEP_ARRAY


DEEP_SCALE = 1.5
DEEP_ARRAY = np.ones(3)


def test_reads_four_calls_deep_and_a_helper_redefined():
    f = lambda x: anp.sum(deep4(anp.Tensor(x))).item()  # noqa: E731
    follows(f, lambda: globals().update(DEEP_SCALE=-1.0))
    follows(f, lambda: DEEP_ARRAY.__imul__(5.0))   # an array four calls deep, changed in place
    follows(f, lambda: globals().update(helper=lambda v: v * 7.0))



def made_by_one_factory(w, registry=None):
    """A model as a closure: every call of the factory makes a function with the same code."""
    def model(x):
        y = anp.sum(anp.Tensor(x) * w)
        if registry:  # another closure of this factory, reached through a dict (the walk does not look there)
            y = y + registry["other"](x)
        return y.item()
    return model


def test_closures_of_one_factory_compile_apart():
    """Compiling one of two models made by the same factory neither walks nor guards the other's data: its
    first call traces once and keeps the trace (the other closure, alive with the same code, used to count
    as data the walk had missed: every first call traced twice and every call walked both models)."""
    first, second = made_by_one_factory(np.ones(3)), made_by_one_factory(np.full(3, 2.0))
    compiled_first, compiled_second = anp.compile(first), anp.compile(second)
    assert compiled_first(X) == pytest.approx(first(X), rel=1e-15)
    assert compiled_second(X) == pytest.approx(second(X), rel=1e-15)
    assert compiled_second.traces == 1 and compiled_second._extra == []
    assert compiled_second.source.count("(x, w)") == 1  # its own array, not the first model's as well


def test_a_closure_of_the_same_factory_that_the_compiled_one_calls_is_followed():
    """The same factory's other closure does run when the compiled one calls it (here through a dict):
    then it is walked and guarded like any function the trace ran — its array changed in place, or
    replaced, changes the result."""
    inner_w = np.full(3, 2.0)
    inner = made_by_one_factory(inner_w)
    outer = made_by_one_factory(np.ones(3), {"other": inner})
    cell = inner.__closure__[inner.__code__.co_freevars.index("w")]
    follows(outer, lambda: inner_w.__imul__(5.0))
    follows(outer, lambda: setattr(cell, "cell_contents", np.full(3, 7.0)))


# --------------------------------------------------------------------------- refused at trace time

COUNT = 0
SEEN: list = []


def test_a_trace_under_cprofile_gives_the_profiler_back():
    """Tracing takes Python's profile hook; under cProfile (Python 3.11 installs it there, as C code that
    sys.setprofile cannot put back) the first call used to fail with a TypeError from inside autonp. Now
    the trace runs, the result is right, and the profiler records what runs after it."""
    import cProfile
    import pstats

    def after_the_trace():
        return 1

    compiled = anp.compile(lambda x: anp.sum(anp.Tensor(x) * 3.0).item())
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        got = [compiled(X), compiled(X)]
        after_the_trace()
    finally:
        profiler.disable()
    assert got == [pytest.approx(3.0 * X.sum(), rel=1e-15)] * 2 and compiled.traces == 1
    names = {fn for _, _, fn in pstats.Stats(profiler).stats}
    assert "after_the_trace" in names


PRIVATE_RNG = random.Random(0)
DRAW = random.random  # bound at import: the global instance's C method under another name


def test_python_random_is_refused():
    """Python-level draws (gauss), C methods of the global instance and of a private one, under any name or
    called unbound: each is seen while tracing, since a replay would repeat the traced draw."""
    for f in (lambda x: anp.sum(anp.Tensor(x) * random.random()).item(),
              lambda x: anp.sum(anp.Tensor(x) * random.gauss(0, 1)).item(),
              lambda x: anp.sum(anp.Tensor(x) * PRIVATE_RNG.random()).item(),
              lambda x: anp.sum(anp.Tensor(x) * PRIVATE_RNG.getrandbits(8)).item(),
              lambda x: anp.sum(anp.Tensor(x) * DRAW()).item(),
              lambda x: anp.sum(anp.Tensor(x) * random.Random.random(PRIVATE_RNG)).item()):
        with pytest.raises(anp.CompileError, match=r"random\.\w+\(\).*np.random"):
            anp.compile(f)(X)


def test_a_generator_seeded_from_the_os_inside_is_refused_by_what_it_is():
    """``np.random.default_rng()`` with no seed, inside the function, draws the OS's entropy (SystemRandom) at each
    call; the refusal named "Python's random.getrandbits()" and told the user to use np.random, which they did."""
    import secrets
    for f in (lambda x: anp.sum(anp.Tensor(x) * np.random.default_rng().random()).item(),
              lambda x: anp.sum(anp.Tensor(x) * secrets.randbits(8)).item()):
        with pytest.raises(anp.CompileError, match=r"the OS's entropy is drawn at .*pass it in"):
            anp.compile(f)(X)


def test_side_effects_on_python_objects_are_refused():
    def counter(x):
        global COUNT
        COUNT += 1
        return anp.sum(anp.Tensor(x)).item()

    def appends(x):
        SEEN.append(1)
        return anp.sum(anp.Tensor(x)).item()

    class Net(nn.Module):
        def __init__(self):
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return anp.sum(anp.Tensor(x))
    net = Net()
    for f, what in ((counter, "global COUNT"), (appends, "global SEEN"), (lambda x: net(x).item(), "Net.calls")):
        with pytest.raises(anp.CompileError, match=f"changed .*{what}"):
            anp.compile(f)(X)


def test_a_mutable_default_appended_to_is_refused():
    def f(x, acc=[]):  # noqa: B006 - the point of the test
        acc.append(1)
        return anp.sum(anp.Tensor(x)).item()
    with pytest.raises(anp.CompileError, match="changed a list"):
        anp.compile(f)(X)


class Holder:
    table = np.ones(3)


def test_an_array_where_the_walk_cannot_follow_is_refused():
    f = lambda x: anp.sum(anp.Tensor(x) * Holder.table).item()  # noqa: E731
    compiled = anp.compile(f)
    with pytest.raises(anp.CompileError, match="table"):
        for _ in range(3):
            compiled(X)


# --------------------------------------------------------------------------- transactional replays

def _net():
    return nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.Tanh(),
                         nn.Linear(4, 2, rng=np.random.default_rng(1)))


def test_a_replay_that_raises_leaves_every_state_as_before_the_call():
    """opt.step() runs in place, then an index computed from the data is out of bounds: parameters,
    Adam's moments and its step count are as before the call, and later steps follow eager ones."""
    table = np.arange(5.0)

    def make():
        net = _net()
        opt = optim.Adam(net.parameters(), lr=0.05)

        def step(x, y):
            opt.zero_grad()
            loss = nn.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            pick = table[(np.abs(x[:, 0]) * 2).astype(int)]  # IndexError when |x| ≥ 2.5
            return loss.item() + float(pick.sum()) * 0.0
        return net, opt, step

    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1, 1, (6, 3)) for _ in range(5)]
    bad = xs[0] * 10
    y = np.arange(6) % 2
    enet, eopt, estep = make()
    cnet, copt, cstep = make()
    compiled = anp.compile(cstep)
    for k, x in enumerate(xs):
        if k == 3:
            before = ([p.numpy().copy() for p in cnet.parameters()], [m.copy() for m in copt.m], copt.t)
            with pytest.raises(IndexError):
                compiled(bad, y)
            assert copt.t == before[2]
            for p, q in zip(cnet.parameters(), before[0]):
                np.testing.assert_array_equal(p.numpy(), q)
            for m, q in zip(copt.m, before[1]):
                np.testing.assert_array_equal(m, q)
        assert compiled(x, y) == pytest.approx(estep(x, y), rel=1e-12)
    for p, q in zip(cnet.parameters(), enet.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12)


def test_a_replay_that_raises_under_floating_errors_puts_everything_back():
    net = _net()
    opt = optim.SGD(net.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = anp.sum(net(x) ** 2)
        loss.backward()
        opt.step()
        return loss.item(), np.log(x.sum() * 0.0)  # log 0 after the update: an error under errstate(raise)

    compiled = anp.compile(step)
    with np.errstate(all="ignore"):
        compiled(np.ones((2, 3)))
        compiled(np.ones((2, 3)))
    before = [p.numpy().copy() for p in net.parameters()]
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        compiled(np.ones((2, 3)))
    for p, q in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), q)


# --------------------------------------------------------------------------- what eager code does, traced

@pytest.mark.parametrize("kind", ["clip_grad_norm", "grad = ndarray", "round(item)"])
def test_library_helpers_and_builtins_on_items_trace(kind):
    def make():
        net = _net()
        opt = optim.SGD(net.parameters(), lr=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = nn.cross_entropy(net(x), y)
            loss.backward()
            norm = None
            if kind == "clip_grad_norm":
                norm = optim.clip_grad_norm(net.parameters(), 0.05)
            elif kind == "grad = ndarray":
                for p in net.parameters():
                    p.grad = np.clip(p.grad.numpy(), -0.01, 0.01)
            opt.step()
            return (round(loss.item(), 4) if kind == "round(item)" else loss.item()), norm
        return net, step
    (enet, estep), (cnet, cstep) = make(), make()
    compiled = anp.compile(cstep)
    rng = np.random.default_rng(4)
    y = np.arange(6) % 2
    for k in range(6):
        x = rng.normal(size=(6, 3)) * (1 + k)
        got, want = compiled(x, y), estep(x, y)
        assert got == want and type(got[0]) is float
    assert compiled.traces <= 2
    for p, q in zip(cnet.parameters(), enet.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_an_eager_thread_is_not_shown_the_tracers_stand_ins():
    """Issue 19: a thread evaluating the model eagerly while another traces a step on it got
    OpError(... a traced value ...). Now each waits for the other; the eager values are right."""
    import threading
    import time
    net = _net()
    opt = optim.SGD(net.parameters(), lr=0.0)  # lr 0: the model's values stay what the eager thread expects
    x, y = np.random.default_rng(5).normal(size=(6, 3)), np.arange(6) % 2
    want = net(x).numpy().copy()

    def step(x, y):
        opt.zero_grad()
        loss = nn.cross_entropy(net(x), y)
        time.sleep(0.05)  # a slow trace: the other thread runs meanwhile
        loss.backward()
        opt.step()
        return loss.item()

    errors, stop = [], threading.Event()

    def eager():
        while not stop.is_set():
            try:
                np.testing.assert_allclose(net(x).numpy(), want, rtol=1e-12)
            except Exception as e:  # noqa: BLE001 - any exception is the failure
                errors.append(e)
                return

    t = threading.Thread(target=eager)
    t.start()
    try:
        for k in range(3):  # three signatures: three traces while the eager thread runs
            anp.compile(step)(x[: 4 + k], y[: 4 + k])
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]


# --------------------------------------------------------------------------- the remembered walk

# A compiled call walks the state it reaches only when something the last walk read has changed (by identity); the
# cases below change each kind of thing that walk reads after the shortcut is in use (three calls in), with
# ``check_walks`` off so that the shortcut alone decides, and compare every call with the same steps run eagerly.

HELPER_SCALE = [2.0]
G_ARRAY = np.array([1.0, -0.5, 0.25])


def _helper(z):
    return z * HELPER_SCALE[0]


def _other_helper(z):
    return z * 3.0 + 0.5


class _Doubled(nn.ReLU):
    def forward(self, x):
        return nn.ReLU.forward(self, x) * 2.0


class _Arguments:
    """The step's arguments, where the walk of the state does not look (no ``__dict__``): an argument the walk
    also meets in the state makes a walk that is never kept."""

    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        return iter((self.x, self.y))


def _state(adam: bool):
    rng = np.random.default_rng(3)
    s = types.SimpleNamespace()
    s.net = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(1)), nn.ReLU(),
                          nn.Linear(4, 2, rng=np.random.default_rng(2)))
    s.opt = optim.Adam(s.net.parameters(), lr=0.05) if adam else optim.SGD(s.net.parameters(), lr=0.1, momentum=0.9)
    s.data = _Arguments(rng.normal(size=(5, 3)), np.arange(5) % 2)
    s.scale = 1.0
    s.extra = anp.Tensor(np.array([[0.5, -0.3]]), requires_grad=True)  # (not uniform: softmax would ignore it)
    return s


def _run(s, compiled: bool, change, calls: int = 3, check_walks: bool = False):
    """The step (loss, every parameter and slot after it) ``calls + 1`` times, ``change(s)``, ``calls`` times again
    (and ``s.later()`` if the change left one, ``calls`` times more); eager or compiled (``check_walks``: the kept
    walk compared with a full one on every call; off, the shortcut alone decides). Returns what each call left, and
    how many walks the compiled step took before the change."""
    def step(x, y):
        z = s.net(x) + s.extra * s.scale
        loss = nn.cross_entropy(_helper(z) + anp.Tensor(G_ARRAY[:2]), y)
        loss.backward()
        s.opt.step()
        s.opt.zero_grad()
        return loss.item()

    f = anp.compile(step) if compiled else step
    if compiled:
        f.check_walks = check_walks
    seen = []

    def call():
        seen.append(f(*s.data))
        seen.extend(p.numpy().copy() for p in s.net.parameters())
        seen.extend([s.extra.numpy().copy(), None if s.extra.grad is None else s.extra.grad.numpy().copy()])
        for slot in s.opt.slots:
            seen.extend(np.array(v) for v in getattr(s.opt, slot) if v is not None)

    for _ in range(calls + 1):
        call()
    walks = f.walks if compiled else None
    change(s)
    for _ in range(calls):
        call()
    if hasattr(s, "later"):  # a second change, with the shortcut in use again
        s.later()
        for _ in range(calls):
            call()
    return seen, walks


def _rebind_weight(s):
    s.net.layers[0].weight = nn.Parameter(np.full((3, 4), 0.2))


def _replace_layer(s):
    s.net.layers[2] = nn.Linear(4, 2, rng=np.random.default_rng(9))


class _Scaled(nn.Module):
    def forward(self, x):
        return x * 1.0


def _patch_a_method(s):
    s.net.layers.insert(1, _Scaled())  # (a change of its own; the patch comes after three more calls)
    s.later = lambda: setattr(_Scaled, "forward", lambda self, x: x * 3.0)
    s.restore = lambda: setattr(_Scaled, "forward", lambda self, x: x * 1.0)


def _set_a_global_list_item(s):
    HELPER_SCALE[0] = 3.0
    s.restore = lambda: HELPER_SCALE.__setitem__(0, 2.0)


def _change_the_global_array(s):
    G_ARRAY[0] = 2.0
    s.restore = lambda: G_ARRAY.__setitem__(0, 1.0)


def _set_a_cell(s):
    s.scale = 3.0


def _set_a_helper_global(s):
    global _helper
    old = _helper
    _helper = _other_helper
    s.restore = lambda: globals().__setitem__("_helper", old)


def _set_a_helper_code(s):
    old = _helper.__code__
    _helper.__code__ = _other_helper.__code__
    s.restore = lambda: setattr(_helper, "__code__", old)


def _set_a_global_array(s):
    global G_ARRAY
    old = G_ARRAY
    G_ARRAY = np.array([3.0, 1.0, -2.0])
    s.restore = lambda: globals().__setitem__("G_ARRAY", old)


def _lock_the_global_array(s):
    G_ARRAY.flags.writeable = False
    s.restore = lambda: setattr(G_ARRAY.flags, "writeable", True)


def _a_vjp_given_anew(s):
    from autonp.ops import arithmetic
    arithmetic.mul.vjps = arithmetic.mul.vjps  # any attribute set on a primitive: a trace may hold the old one


def _freeze_the_extra(s):
    s.extra.requires_grad = False


def _extra_of_float32(s):
    s.extra = anp.Tensor(np.array([[0.5, -0.3]], dtype=np.float32), requires_grad=True)


CHANGES = {
    "a weight rebound": _rebind_weight,
    "a layer replaced in the list": _replace_layer,
    "a layer appended to the list": lambda s: s.net.layers.append(nn.ReLU()),
    "a layer's class swapped": lambda s: setattr(s.net.layers[1], "__class__", _Doubled),
    "a layer's method patched on its class": _patch_a_method,
    "an attribute added to a layer": lambda s: setattr(s.net.layers[0], "note", "frozen"),
    "a Tensor reshaped in place": lambda s: setattr(s.extra._arr, "shape", (2,)),
    "a Tensor's values rebound": lambda s: setattr(s.extra, "_arr", np.array([[-1.0, 0.7]])),
    "requires_grad switched off": _freeze_the_extra,
    "a Tensor of another dtype in the cell": _extra_of_float32,
    "a number in a closure cell": _set_a_cell,
    "a global function rebound": _set_a_helper_global,
    "a function's code replaced": _set_a_helper_code,
    "a global list item": _set_a_global_list_item,
    "a global array rebound": _set_a_global_array,
    "a global array made read-only": _lock_the_global_array,
    "a global array changed in place": _change_the_global_array,
    "the learning rate": lambda s: setattr(s.opt, "lr", 0.3),
    "the optimizer's parameter list rebound": lambda s: setattr(s.opt, "params", s.opt.params[:2]),
    "a slot replaced": lambda s: s.opt.slots and getattr(s.opt, s.opt.slots[0]).__setitem__(
        0, np.full_like(s.net.layers[0].weight.numpy(), 0.01)),
    "a slot of another dtype": lambda s: getattr(s.opt, s.opt.slots[0]).__setitem__(
        0, np.full(s.net.layers[0].weight.shape, 0.01, dtype=np.float32)),
    "a gradient put on a parameter": lambda s: setattr(s.net.layers[2].weight, "grad", np.ones((4, 2))),
    "the step count reset": lambda s: hasattr(s.opt, "t") and setattr(s.opt, "t", 0),
    "the momentum emptied": lambda s: isinstance(s.opt, optim.SGD) and setattr(  # (Adam's are never None)
        s.opt, "velocity", [None] * len(s.opt.params)),
    "a gradient's values rebound": lambda s: setattr(s.extra.grad, "data", np.array([[5.0, -5.0]])),
    "an argument of another layout": lambda s: setattr(s.data, "x", np.asfortranarray(s.data.x * 0.5)),
    "a VJP given anew": _a_vjp_given_anew,
}


@pytest.mark.parametrize("adam", [False, True], ids=["sgd-momentum", "adam"])
@pytest.mark.parametrize("name", list(CHANGES))
def test_the_remembered_walk_sees_every_change(name, adam):
    def once(compiled, check_walks=False):
        s = _state(adam)
        try:
            return _run(s, compiled, CHANGES[name], check_walks=check_walks)
        finally:
            getattr(s, "restore", lambda: None)()
    eager, _ = once(False)
    once(True, check_walks=True)  # the kept signature and inputs against a walk's, on every call (AssertionError)
    compiled, walks = once(True)
    # the first call's trace, the second's (the optimizer's slots exist now), the third call's walk, and none on the
    # fourth: the shortcut was in use when the change came
    assert walks == 3, walks
    assert len(compiled) == len(eager)
    for k, (c, e) in enumerate(zip(compiled, eager)):
        assert (c is None) == (e is None), f"{name}: item {k}"
        if c is not None:
            np.testing.assert_allclose(c, e, rtol=1e-12, atol=1e-15, err_msg=f"{name}: item {k}")


@pytest.mark.parametrize("first", [True, False], ids=["on-the-first-call", "once-the-walk-is-kept"])
def test_an_argument_that_is_a_parameter_s_own_array(first):
    """The argument is the very array of a parameter the step updates in place: on the first call (traced so, the
    update through one name would be recorded wrongly for the other: 7.86 where the eager step gives 13.40), or on a
    later one, once the walk is kept. Such a call runs eagerly; every call equals the eager step."""
    def run(compiled):
        W = anp.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        opt = optim.SGD([W], lr=0.1)

        def step(x):
            loss = anp.sum(W * W * x)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss.item() + float(np.sum(x))
        f = anp.compile(step) if compiled else step
        if compiled:
            f.check_walks = False
        xs = [np.array([1.0, 2.0, 3.0]) * k for k in range(1, 5)]
        calls = [None, xs[0], None, xs[1]] if first else xs + [None, xs[0], None]  # None: W's own array
        return [f(W._arr if x is None else x) for x in calls] + [W.numpy().copy()]
    for c, e in zip(run(True), run(False)):
        np.testing.assert_allclose(c, e, rtol=1e-12, atol=0)


GLOBAL_INPUT = np.array([0.25, -0.5, 1.5])


def test_an_argument_that_is_an_array_the_walk_also_reaches():
    """A global array the function reads, passed as its argument too once the walk is kept: a walk says "the same"
    there (another signature), so the kept one must not stand in for it (``check_walks`` compares)."""
    def f(x):
        return anp.sum(anp.Tensor(x) * GLOBAL_INPUT).item()
    g = anp.compile(f)
    g.check_walks = True
    for k in range(1, 4):
        assert g(X * k) == pytest.approx(f(X * k), rel=1e-12)
    assert g(GLOBAL_INPUT) == pytest.approx(f(GLOBAL_INPUT), rel=1e-12)


def test_the_shortcut_is_taken_and_forgets_the_arguments():
    """After its trace a compiled step walks its state once and then no more while nothing changes, Adam's step
    count and fresh gradients written back included; the arrays passed to it are not kept alive by it."""
    import gc
    import weakref
    s = _state(adam=True)

    def step(x, y):
        s.opt.zero_grad()
        loss = nn.cross_entropy(s.net(x), y)
        loss.backward()
        s.opt.step()
        return loss

    f = anp.compile(step)
    f.check_walks = False
    xs, y = [s.data.x * k for k in range(12)], s.data.y
    refs = [weakref.ref(x) for x in xs]
    for x in xs:
        f(x, y)
    assert f.traces == 2 and f.walks == 3, (f.traces, f.walks)  # (Adam's moments exist from the second call)
    del xs, x
    gc.collect()
    assert all(r() is None for r in refs[2:])  # (the first two: held by the traces' records)


def test_a_learning_rate_schedule_passed_as_a_numpy_scalar_keeps_the_shortcut():
    """``step(x, np.float64(lr))`` with ``opt.lr = lr`` inside (the documented schedule): a new scalar on every call
    is an input, not a reason to walk again; each step equals the eager one (a float32 scalar: another signature)."""
    def run(compiled):
        W = anp.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        opt = optim.SGD([W], lr=0.1)

        def step(x, lr):
            opt.lr = lr
            opt.zero_grad()
            anp.sum(W * W * x).backward()
            opt.step()
        f = anp.compile(step) if compiled else step
        if compiled:
            f.check_walks = False
        seen = []
        same = np.float64(0.02)
        for k in range(10):  # the last two: the very same scalar object on both calls
            lr = np.float32(0.05) if k == 6 else same if k >= 8 else np.float64(0.1 / (k + 1))
            f(X * (k + 1), lr)
            seen.append(W.numpy().copy())
        return seen, (f.walks if compiled else 0)
    (eager, _), (compiled, walks) = run(False), run(True)
    # walks: the first call (a trace: opt.lr a float), the second (another: opt.lr a NumPy scalar now), the third (after
    # a trace the state is walked again), the float32 call (a trace), the next (a float64 argument, opt.lr float32: a
    # trace), the one after it; none on the three calls before the float32 one, nor on the last, whose scalar is the
    # very object of the call before (an argument is not kept by the kept walk, so it is no state met again)
    assert walks == 6, walks
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c, e, rtol=1e-12, atol=0)


def test_a_layer_s_dict_of_settings_changed_in_place_with_the_shortcut_in_use():
    """A layer's dict of numbers (kept by the shortcut: its items by identity are its content) changed in place
    after three calls: the next call follows it, as the eager one does."""
    class Scaled(nn.Module):
        def __init__(self):
            self.cfg = {"scale": 2.0, "name": "s"}

        def forward(self, x):
            return x * self.cfg["scale"]

    def run(compiled):
        net = nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(1)), Scaled())
        f = (lambda x: anp.sum(net(x)).item())
        g = anp.compile(f) if compiled else f
        if compiled:
            g.check_walks = False
        x = np.random.default_rng(2).normal(size=(4, 3))
        out = [g(x) for _ in range(3)]
        net.layers[1].cfg["scale"] = 5.0
        out += [g(x) for _ in range(3)]
        return out, (g.walks if compiled else 0)
    (eager, _), (compiled, walks) = run(False), run(True)
    assert walks == 4, walks  # the trace, the walk after it; after the change another signature: its trace, a walk
    np.testing.assert_allclose(compiled, eager, rtol=1e-12, atol=0)


def test_a_vjp_given_anew_with_the_shortcut_in_use():
    """A primitive of the user's own whose VJP is given anew after the shortcut is in use (a fix to a derivative, say):
    the next call traces again and follows the new VJP, as the eager step does."""
    from autonp.extend import defvjp, primitive

    @primitive
    def cube(x):
        return x ** 3

    def run(compiled):
        defvjp(cube, lambda ans, x: lambda g: g * 3 * x ** 2)
        W = anp.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)

        def step(x):
            W.grad = None
            anp.sum(cube(W) * x).backward()
            return W.grad.numpy().copy()
        f = anp.compile(step) if compiled else step
        if compiled:
            f.check_walks = False
        out = [f(X) for _ in range(3)]
        defvjp(cube, lambda ans, x: lambda g: g * 6 * x ** 2)  # (twice the derivative: a number no replay can keep)
        out += [f(X) for _ in range(2)]
        return out
    compiled, eager = run(True), run(False)
    assert not np.allclose(eager[-1], eager[0])
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c, e, rtol=1e-12, atol=0)


def test_a_layer_s_plain_config_changed_in_place_with_the_shortcut_in_use():
    """A layer's config object (a namespace holding a number, a list and a dict of numbers) keeps the shortcut: each
    container in it is noted; each changed in place after the shortcut is in use is followed, as the eager step does."""
    class Configured(nn.Module):
        def __init__(self):
            self.cfg = types.SimpleNamespace(scale=2.0, sizes=[1.0, 3.0], table={"shift": 0.5})

        def forward(self, x):
            c = self.cfg
            return x * c.scale * c.sizes[1] + c.table["shift"]

    changes = [lambda c: setattr(c, "scale", 5.0), lambda c: c.sizes.__setitem__(1, -1.0),
               lambda c: c.table.__setitem__("shift", 4.0), lambda c: c.sizes.append(7.0)]

    def run(compiled):
        layer = Configured()
        net = nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(1)), layer)
        f = (lambda x: anp.sum(net(x)).item())
        g = anp.compile(f) if compiled else f
        if compiled:
            g.check_walks = False
        x = np.random.default_rng(2).normal(size=(4, 3))
        out, walks = [g(x) for _ in range(3)], []
        for change in changes:
            walks.append(g.walks if compiled else 0)
            change(layer.cfg)
            out += [g(x) for _ in range(3)]
        return out, walks
    (eager, _), (compiled, walks) = run(False), run(True)
    assert walks[0] == 2, walks  # the trace, the walk after it, none on the third call
    np.testing.assert_allclose(compiled, eager, rtol=1e-12, atol=0)


def test_threads_calling_one_compiled_function_with_the_shortcut_in_use():
    """Four threads call one compiled function, each with its own arguments in turn, while the walk is kept: every
    value equals the eager one (the kept walk's inputs are copied per call, never shared between calls)."""
    from conftest import run_threads_switching
    W2 = anp.Tensor(np.random.default_rng(0).normal(size=(4, 3)), requires_grad=True)

    def f(x):
        return anp.sum(anp.tanh(anp.Tensor(x) @ W2)).item()
    g = anp.compile(f)
    g.check_walks = False
    xs = [np.random.default_rng(k).normal(size=(5, 4)) for k in range(8)]
    want = [f(x) for x in xs]
    errors: list = []

    def worker(k):
        for r in range(100):
            i = (k + r) % 8
            got = g(xs[i])
            if got != pytest.approx(want[i], rel=1e-12):
                errors.append((k, r, got, want[i]))
    run_threads_switching(worker, 4)
    assert not errors, errors[:3]
    assert g.walks <= 4, g.walks  # (the shortcut was in use)
