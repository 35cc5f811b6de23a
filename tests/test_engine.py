"""The tape and backward: accumulation, freeing, errors, dtypes, no_grad, higher order, functional API."""
import gc
import sys
import weakref

import numpy as np
import pytest

import autonp as anp
from autonp.tensor import format_site
from conftest import central_diff


def test_tensor_construction_rules():
    assert anp.Tensor(3).dtype == np.float64
    assert anp.Tensor([1, 2]).dtype == np.float64
    assert anp.Tensor(np.ones(2, np.float32)).dtype == np.float32
    assert anp.Tensor(np.arange(3)).dtype == np.arange(3).dtype
    with pytest.raises(TypeError, match="floating-point"):
        anp.Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="bool"):
        anp.Tensor(np.array([True]), requires_grad=True)
    t = anp.Tensor(np.ones((2, 3)), name="W")
    assert (t.shape, t.ndim, t.size, t.T.shape) == ((2, 3), 2, 6, (3, 2))
    assert "W" in repr(t) and np.asarray(t) is t.data and np.mean(t) == 1.0


def test_operators_and_reflected_forms():
    x = anp.Tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 5.0])
    y = (1 - x) * 2 + a * x - x / 4 + 2 ** x + a / x - (-x) ** 2 + x @ a
    y.sum().backward()
    xv = np.array([1.0, 2.0])
    want = -2 + a - 0.25 + np.log(2) * 2 ** xv - a / xv ** 2 - 2 * xv + 2 * a  # x@a is broadcast over 2
    np.testing.assert_allclose(x.grad.numpy(), want)
    assert isinstance(a * x, anp.Tensor) and isinstance(np.exp(x), anp.Tensor)
    assert isinstance(x < 2, np.ndarray)


def test_float32_stays_float32_through_forward_and_backward():
    W = anp.Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    x = np.ones((4, 3), np.float32)
    y = anp.sigmoid(x @ W * 2.0 + 1).sum()
    assert y.dtype == np.float32
    y.backward()
    assert W.grad.dtype == np.float32


def test_shared_input_gets_summed_gradient():
    x = anp.Tensor(3.0, requires_grad=True)
    y = x * x + x
    y.backward()
    assert x.grad.item() == 7.0
    (x * 2).backward()
    assert x.grad.item() == 9.0  # accumulates across backward calls
    x.zero_grad()
    assert x.grad is None


def test_constants_get_no_gradient_computed():
    calls = []
    spy = anp.primitive(lambda a, b: a @ b, name="spy_matmul")
    spy.defvjp(lambda g, ans, a, b: calls.append("a") or g @ b.T,
               lambda g, ans, a, b: calls.append("b") or a.T @ g)
    X = anp.Tensor(np.ones((6, 4)))
    W = anp.Tensor(np.ones((4, 2)), requires_grad=True)
    spy(X, W).sum().backward()
    assert calls == ["b"] and X.grad is None


def test_chain_of_100k_ops_without_recursion():
    x = anp.Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0000001 ** 100_000, rtol=1e-9)
    assert sys.getrecursionlimit() < 100_000


def test_saved_arrays_are_released_after_backward():
    x = anp.Tensor(np.ones(1000), requires_grad=True)
    hidden = anp.exp(x * 2)
    ref = weakref.ref(hidden.data)
    y = anp.sum(hidden * 3)
    del hidden
    gc.collect()
    assert ref() is not None  # the tape keeps it alive for backward
    y.backward()
    gc.collect()
    assert ref() is None  # backward freed it


def test_second_backward_raises_unless_retained():
    x = anp.Tensor(2.0, requires_grad=True)
    y = anp.exp(x) * x
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 2 * 3 * np.exp(2))
    with pytest.raises(anp.GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_nonscalar_backward_needs_grad():
    x = anp.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(3,\)"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2, 4, 6])
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(4))


def test_backward_of_constant_is_a_clear_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        anp.Tensor(1.0).backward()


def test_shape_mismatch_names_op_shapes_dtypes_and_user_line():
    a = anp.Tensor(np.ones((3, 4)), requires_grad=True)
    b = anp.Tensor(np.ones((5, 2), np.float32))
    with pytest.raises(anp.OpError) as e:
        c = a @ b  # noqa: F841 - the line the error must point at
    msg = str(e.value)
    assert "matmul" in msg and "(3, 4) float64" in msg and "(5, 2) float32" in msg
    assert "test_engine.py" in msg and "c = a @ b" in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__
    with pytest.raises(anp.OpError, match=r"add: .*\(3, 4\).*\(2,\)"):
        a + np.ones(2)


def test_no_grad_detach_and_enable_grad():
    x = anp.Tensor(1.0, requires_grad=True)
    with anp.no_grad():
        y = x * 2
        with anp.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad and y.node is None
    assert not x.detach().requires_grad and x.detach().data is x.data

    @anp.no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad and anp.is_grad_enabled()


def test_custom_primitive_behaves_like_builtin():
    @anp.primitive
    def cube(x):
        return x ** 3
    cube.defvjp(lambda g, ans, x: g * 3 * x ** 2)
    x = anp.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = cube(x)
    assert y.node.prim is cube and anp.tape(y.sum())[0].op == "cube"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])
    (g,) = anp.gradients(cube(x).sum(), [x], create_graph=True)  # its vjp uses autonp ops: differentiable
    g.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3 + 6.0, 12 - 12.0])


def test_tape_lists_ops_in_order_with_shapes_and_names():
    W = anp.Tensor(np.ones((4, 3)), requires_grad=True, name="W")
    x = anp.Tensor(np.ones((2, 4)), name="x")
    h = anp.tanh(x @ W)
    h.name = "h"
    loss = h.sum()
    entries = anp.tape(loss)
    assert [e.op for e in entries] == ["matmul", "tanh", "sum"]
    assert [tuple(i.shape) for i in entries[0].inputs] == [(2, 4), (4, 3)]
    assert entries[0].inputs[1].name == "W" and entries[1].output.name == "h"
    assert "W:Tensor(4, 3)" in str(entries[0]) and "h = anp.tanh(x @ W)" in entries[0].site


def test_each_tape_entry_names_the_users_line_through_every_way_of_calling_an_op():
    from autonp import nn
    z = anp.Tensor(np.array([[1.0, 2.0, 0.5]]), requires_grad=True)
    a = 2 + z                                         # reflected operator (a wrapper in autonp.ops)
    b = a.sum(axis=1)                                 # method with keyword arguments
    c = anp.log(anp.softmax(z, axis=1))               # rewritten to log_softmax inside autonp
    d = nn.cross_entropy(z, np.array([1]))            # library function calling a primitive
    e = anp.tanh(z * 3)                               # primitives called directly
    def site_of(t):
        return t.node.prim.name, format_site(t.node.site)

    for t, op, line in ((a, "add", "a = 2 + z"), (b, "sum", "b = a.sum(axis=1)"),
                        (c, "log_softmax", "c = anp.log(anp.softmax(z, axis=1))"),
                        (d, "softmax_cross_entropy", "d = nn.cross_entropy(z, np.array([1]))"),
                        (e, "tanh", "e = anp.tanh(z * 3)"), (e.node.args[0], "mul", "e = anp.tanh(z * 3)")):
        name, site = site_of(t)
        assert name == op and site.startswith(__file__ + ":") and f": {line}" in site, (op, site)


def test_ops_inside_a_sequential_name_the_line_that_called_it_or_the_users_own_layer_line():
    """Sequential finds the caller's line once for autonp's own layers; a layer of the user's (a module, a
    subclass overriding forward, an activation given its own fn) still names the line inside it."""
    from autonp import nn

    class Twice(nn.Module):
        def forward(self, x):
            return x * 2.0                                      # in a layer of the user's

    class Shifted(nn.Linear):
        def forward(self, x):
            return anp.exp(super().forward(x))                  # in a subclass's forward

    class Cubed(nn.ReLU):
        fn = staticmethod(lambda x: x ** 3)                     # an activation's own fn

    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), Twice(), Shifted(4, 4), Cubed(),
                        nn.Sequential(nn.Linear(4, 2), nn.Tanh()))

    def model(x):
        return net(x)                                           # the model's caller
    out = model(np.ones((5, 3)))
    sites = []
    t = out
    while isinstance(t, anp.Tensor) and t.node is not None:
        sites.append((t.node.prim.name, format_site(t.node.site)))
        t = t.node.args[0]
    want = [("tanh", "return net(x)"), ("linear", "return net(x)"), ("pow", "fn = staticmethod(lambda x: x ** 3)"),
            ("exp", "return anp.exp(super().forward(x))"), ("linear", "return anp.exp(super().forward(x))"),
            ("mul", "return x * 2.0"), ("relu", "return net(x)"), ("linear", "return net(x)")]
    assert [name for name, _ in sites] == [name for name, _ in want]
    for (name, site), (_, line) in zip(sites, want):
        assert site.startswith(__file__ + ":") and f": {line}" in site, (name, site)


def test_a_layer_that_raises_inside_a_sequential_leaves_no_line_behind_for_later_ops():
    """The line Sequential hands its layers is taken back when a layer raises: the error names the line that
    called the network, and an op recorded afterwards outside it names its own line."""
    from autonp import nn
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))  # 4 outputs into 5 inputs: the second layer fails
    x = anp.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(anp.OpError) as info:
        net(x)                                                  # the network's call
    assert "net(x)                                                  # the network's call" in str(info.value)
    y = anp.tanh(x)                                             # an op after the failure
    assert format_site(y.node.site).endswith("y = anp.tanh(x)                                             "
                                             "# an op after the failure")


def test_code_inside_autonp_and_equal_code_outside_it_are_told_apart():
    """The frames skipped when finding the user's line (autonp's own) were remembered per equal code object: the
    same source compiled as a file inside the package and as the user's file compare equal, and the user's was then
    skipped too, its op naming the caller's line."""
    import os
    import sys
    src = "def f(x):\n    return x * 2.0\n"
    inside = os.path.join(os.path.dirname(anp.__file__), "not_a_real_module.py")
    fs = []
    for name in (inside, "user_file.py"):
        ns: dict = {}
        exec(compile(src, name, "exec"), ns)
        fs.append(ns["f"])
    assert fs[0].__code__ == fs[1].__code__
    x = anp.Tensor(np.ones(2), requires_grad=True)
    inner = fs[0](x)
    called_at = sys._getframe().f_lineno - 1  # (the line above: autonp's own frame is skipped to reach it)
    assert inner.node.site == (__file__, called_at)
    assert fs[1](x).node.site == ("user_file.py", 2)


def test_sites_are_remembered_per_code_object_not_per_equal_code():
    """A tape entry's site is kept once per call site (code object and instruction): two files holding the same
    source give code objects that compare equal, and each op still names its own file and line."""
    src = "def f(x):\n    y = x * 2.0\n    return (y\n            + 1.0)\n"
    fs = []
    for name in ("first.py", "second.py"):
        ns: dict = {}
        exec(compile(src, name, "exec"), ns)
        fs.append(ns["f"])
    assert fs[0].__code__ == fs[1].__code__
    x = anp.Tensor(np.ones(2), requires_grad=True)
    for _ in range(2):  # the second time from what was remembered
        got = [(t.node.prim.name, t.node.site, t.node.args[0].node.site) for t in (f(x) for f in fs)]
        assert got == [("add", ("first.py", 3), ("first.py", 2)), ("add", ("second.py", 3), ("second.py", 2))]


# ---------------------------------------------------------------- higher order

def test_hessian_of_small_function_matches_analytic():
    def f(v):
        return v[0] ** 2 * v[1] + anp.exp(v[1]) * v[2] + v[0] * v[2] ** 3
    x, y, z = 0.7, -0.3, 1.2
    H = np.asarray(anp.hessian(f)(np.array([x, y, z])))
    want = np.array([[2 * y, 2 * x, 3 * z ** 2],
                     [2 * x, np.exp(y) * z, np.exp(y)],
                     [3 * z ** 2, np.exp(y), 6 * x * z]])
    np.testing.assert_allclose(H, want, rtol=1e-12)


@pytest.mark.parametrize("name,f,d1,d2", [
    ("sigmoid", anp.sigmoid, lambda s: s * (1 - s), lambda s: s * (1 - s) * (1 - 2 * s)),
    ("tanh", anp.tanh, lambda t: 1 - t ** 2, lambda t: -2 * t * (1 - t ** 2)),
])
def test_second_derivative_of_activations(name, f, d1, d2):
    x = np.linspace(-3, 3, 7)
    fx = {"sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x)}[name]
    g1 = anp.grad(lambda t: f(t).sum())
    np.testing.assert_allclose(np.asarray(g1(x)), d1(fx), rtol=1e-12)
    g2 = anp.grad(lambda t: g1(t).sum())
    np.testing.assert_allclose(np.asarray(g2(x)), d2(fx), rtol=1e-10, atol=1e-14)


def test_hessian_of_softmax_component_matches_analytic():
    z = np.array([0.3, -1.2, 2.0, 0.5])
    s = np.exp(z) / np.exp(z).sum()
    k = 2
    H = np.asarray(anp.hessian(lambda t: anp.softmax(t)[k])(z))
    d = np.eye(4)
    # ∂²s_k/∂z_i∂z_j = s_k[(δ_ki − s_i)(δ_kj − s_j) − s_i(δ_ij − s_j)]
    want = s[k] * (np.outer(d[k] - s, d[k] - s) - (np.diag(s) - np.outer(s, s)))
    np.testing.assert_allclose(H, want, rtol=1e-10, atol=1e-14)


def test_hessian_vector_product_via_create_graph():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = anp.Tensor([0.5, -1.0], requires_grad=True)
    loss = 0.5 * (x @ (A @ x)) + anp.sum(x ** 3)
    (g,) = anp.gradients(loss, [x], create_graph=True)
    v = np.array([1.0, 2.0])
    (hv,) = anp.gradients(g @ v, [x])
    np.testing.assert_allclose(hv.numpy(), (A + np.diag(6 * x.numpy())) @ v)


def test_functional_api_against_finite_differences():
    def f(a, b):
        return anp.sum(anp.tanh(a @ b) ** 2)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(2, 4))
    val, (ga, gb) = anp.value_and_grad(f, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(np.asarray(ga), central_diff(lambda v: f(anp.Tensor(v), b).item(), a), rtol=1e-7)
    np.testing.assert_allclose(np.asarray(gb), central_diff(lambda v: f(a, anp.Tensor(v)).item(), b), rtol=1e-7)
    assert val.item() == pytest.approx(f(a, b).item())
    J = np.asarray(anp.jacobian(lambda t: anp.tanh(t) * 2)(np.array([0.1, 0.2])))
    np.testing.assert_allclose(J, np.diag(2 * (1 - np.tanh([0.1, 0.2]) ** 2)))
    out, pullback = anp.vjp(lambda t: t * t, np.array([1.0, 3.0]))
    np.testing.assert_array_equal(np.asarray(pullback(np.array([1.0, 1.0]))), [2.0, 6.0])


def test_no_grad_is_thread_local():
    import threading
    seen = {}

    def worker():
        x = anp.Tensor(1.0, requires_grad=True)
        seen["worker"] = (x * 2).requires_grad

    with anp.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        seen["main"] = (anp.Tensor(1.0, requires_grad=True) * 2).requires_grad
    assert seen == {"worker": True, "main": False}


def test_leaf_gradients_never_alias_each_other_or_the_seed():
    a, b = anp.Tensor(np.ones(3), requires_grad=True), anp.Tensor(np.ones(3), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0])
    (a + b).backward(seed)  # add's vjp hands the same array to both inputs
    a.grad.data *= 10
    np.testing.assert_array_equal(b.grad.numpy(), [1, 2, 3])
    np.testing.assert_array_equal(seed, [1, 2, 3])
    c = anp.Tensor(np.ones(3), requires_grad=True)
    c.backward(seed)
    c.grad.data[0] = 99
    assert seed[0] == 1
    d = anp.Tensor(np.ones((2, 3)), requires_grad=True)
    anp.sum(d).backward()  # sum's vjp is a read-only broadcast view
    d.grad.data += 1
    np.testing.assert_array_equal(d.grad.numpy(), np.full((2, 3), 2.0))


def test_custom_primitive_mistakes_get_clear_errors():
    no_vjp = anp.primitive(np.sin, name="my_sin")
    x = anp.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"my_sin has no vjp for argument 0.*defvjp"):
        no_vjp(x).sum().backward()
    bad_shape = anp.primitive(np.sin, name="my_sin2").defvjp(lambda g, ans, x: g.sum())
    with pytest.raises(RuntimeError, match=r"vjp of my_sin2 for argument 0 returned shape \(\), but that argument "
                                           r"has shape \(3,\).*test_engine.py"):
        bad_shape(x).sum().backward()


def test_forward_error_inside_a_custom_primitive_names_it():
    boom = anp.primitive(lambda a: a.reshape(7), name="boom")
    with pytest.raises(anp.OpError, match=r"(?s)boom: cannot apply to \(Tensor\(3,\) float64\).*test_engine.py"):
        boom(anp.Tensor(np.ones(3), requires_grad=True))
