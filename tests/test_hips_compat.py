"""HIPS autograd's programs with `autograd` replaced by `autonp`: pytrees in every transform, the derivative
operators under HIPS's names, autonp.numpy, misc (flatten, optimizers, fixed points), test_util, extend and
autonp.scipy — each against HIPS autograd itself (a test-only dependency) and central differences."""
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import scipy.special
import scipy.stats

import autonp as anp
import autonp.numpy as anpn
from conftest import central_diff

autograd = pytest.importorskip("autograd")
import autograd.numpy as hnp  # noqa: E402

RNG = np.random.default_rng(20)


def _close(a, b, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _tree_close(a, b, rtol=1e-10, atol=1e-12):
    la, ta = anp.pytree.flatten(a)
    lb, tb = anp.pytree.flatten(b)
    assert ta == tb, f"structures differ: {ta} vs {tb}"
    for x, y in zip(la, lb):
        _close(x, y, rtol, atol)


# --------------------------------------------------------------------------- pytrees in the transforms

Pair = namedtuple("Pair", "w b")


def _loss(np_, p):
    h = np_.tanh(np_.dot(p["x"], p["layers"][0][0]) + p["layers"][0][1])
    return np_.sum(h ** 2) * p["layers"][1][0] + np_.sum(np_.sin(p["layers"][1][1]))


def _params():
    return {"x": RNG.normal(size=(4, 3)),
            "layers": [Pair(RNG.normal(size=(3, 2)), RNG.normal(size=2)), (1.7, RNG.normal(size=3))]}


def test_grad_of_a_nested_structure_has_its_structure_and_hips_values():
    p = _params()
    got = anp.grad(lambda p: _loss(anpn, p))(p)
    as_tuples = {"x": p["x"], "layers": [tuple(p["layers"][0]), p["layers"][1]]}  # HIPS has no namedtuples
    want = autograd.grad(lambda p: _loss(hnp, p))(as_tuples)
    assert isinstance(got["layers"][0], Pair) and isinstance(got["layers"][1], tuple)
    assert type(got["x"]) is np.ndarray and np.ndim(got["layers"][1][0]) == 0  # arrays in, arrays out
    for g, w in zip(anp.pytree.flatten(got)[0], anp.pytree.flatten(want)[0], strict=True):
        _close(g, w)


def test_a_tuple_of_equal_shape_arrays_is_two_arguments_not_one_stacked_array():
    """It used to be stacked silently into one Tensor with one gradient."""
    a, b = RNG.normal(size=3), RNG.normal(size=3)
    ga, gb = anp.grad(lambda t: anp.sum(t[0] * t[1] ** 2))((a, b))
    _close(ga, b ** 2)
    _close(gb, 2 * a * b)


def test_every_transform_takes_and_returns_pytrees():
    p = {"a": RNG.normal(size=3), "b": [RNG.normal(size=2), 0.4]}
    f = lambda p: anp.sum(anp.sin(p["a"])) * p["b"][1] + anp.sum(p["b"][0] ** 3)  # noqa: E731
    fh = lambda p: hnp.sum(hnp.sin(p["a"])) * p["b"][1] + hnp.sum(p["b"][0] ** 3)  # noqa: E731
    v = {"a": RNG.normal(size=3), "b": [RNG.normal(size=2), 0.3]}
    value, g = anp.value_and_grad(f)(p)
    _close(value, fh(p))
    _tree_close(g, autograd.grad(fh)(p))
    hips_hvp = autograd.hessian_tensor_product(lambda flat: fh(unravel(flat)))(ravel(p), ravel(v))
    _tree_close(anp.hvp(f)(p, v), unravel(hips_hvp))
    out, pullback = anp.vjp(lambda p: {"s": anp.sin(p["a"]), "c": p["b"][1] * 2.0}, p)
    gs = pullback({"s": np.ones(3), "c": 1.0})
    _tree_close(gs, {"a": np.cos(p["a"]), "b": [np.zeros(2), 2.0]})
    primal, tangent = anp.jvp(f, (p,), (v,))
    _close(tangent, sum(np.sum(x * y) for x, y in zip(anp.pytree.flatten(autograd.grad(fh)(p))[0],
                                                       anp.pytree.flatten(v)[0])))
    g_ckpt = anp.grad(lambda p: anp.checkpoint(f, p))(p)
    _tree_close(g_ckpt, g)


def test_jacobian_and_hessian_take_pytrees_as_jax_does():
    """jacobian and hessian refused a dict argument ("flatten it first"); now, as JAX: the output's structure
    outside, the argument's inside, each block of shape out_leaf.shape + x_leaf.shape. Every block against central
    differences of plain NumPy, and the whole against JAX where installed; arrays still give one array."""
    p = {"a": RNG.normal(size=2), "b": (0.7, [RNG.normal(size=(1, 2))])}

    def f(p):
        return np.sum(p["a"] ** 2 * p["b"][0]) + np.sum(np.sin(p["b"][1][0]) * p["a"] ** 3)

    def fv(p):
        return {"u": p["a"] * p["b"][0] + np.sum(p["b"][1][0] ** 2), "v": (p["a"][0] * p["b"][1][0],)}
    leaves, tree = anp.pytree.flatten(p)

    def moved(i, v):  # p with leaf i replaced
        return anp.pytree.unflatten(tree, [v if j == i else x for j, x in enumerate(leaves)])
    jac, hess = anp.jacobian(fv)(p), anp.hessian(f)(p)
    assert set(jac) == {"u", "v"} and type(jac["v"]) is tuple and type(jac["u"]["b"][1]) is list
    outs = anp.pytree.flatten(fv(p))[0]
    jac_leaves = anp.pytree.flatten(jac)[0]  # output leaf k's block for argument leaf i at k·len(leaves) + i
    for k, o in enumerate(outs):
        for i, x in enumerate(leaves):
            want = np.stack([central_diff(lambda v: np.ravel(anp.pytree.flatten(fv(moved(i, v)))[0][k])[e], x)
                             for e in range(np.size(o))]).reshape(np.shape(o) + np.shape(x))
            _close(jac_leaves[k * len(leaves) + i], want, rtol=1e-6, atol=1e-8)
    hess_leaves = anp.pytree.flatten(hess)[0]
    for i, x in enumerate(leaves):
        g_i = lambda v, i=i: anp.pytree.flatten(anp.grad(f)(moved(i, v)))[0]  # noqa: E731
        for j in range(len(leaves)):
            want = np.stack([central_diff(lambda v: np.ravel(g_i(v)[j])[e], x)
                             for e in range(np.size(leaves[j]))]).reshape(np.shape(leaves[j]) + np.shape(x))
            _close(hess_leaves[j * len(leaves) + i], want, rtol=1e-6, atol=1e-8)
    x = RNG.normal(size=3)
    assert isinstance(anp.hessian(lambda x: anp.sum(anp.sin(x) ** 3))(x), np.ndarray)
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64  # (moved in JAX 0.5)
    with x64(True):
        jp = jax.tree_util.tree_map(jnp.asarray, p)
        jf = lambda p: jnp.sum(p["a"] ** 2 * p["b"][0]) + jnp.sum(jnp.sin(p["b"][1][0]) * p["a"] ** 3)  # noqa: E731
        jfv = lambda p: {"u": p["a"] * p["b"][0] + jnp.sum(p["b"][1][0] ** 2),  # noqa: E731
                         "v": (p["a"][0] * p["b"][1][0],)}
        _tree_close(hess, jax.tree_util.tree_map(np.asarray, jax.hessian(jf)(jp)))
        _tree_close(jac, jax.tree_util.tree_map(np.asarray, jax.jacobian(jfv)(jp)))
        # several argnums: a tuple inside (HIPS's argnum tuples; JAX's argnums)
        y = RNG.normal(size=2)
        g = lambda np_, x, y: np_.sum(np_.sin(x) ** 2) * np_.sum(y ** 3) + x[0] * y[1]  # noqa: E731
        _tree_close(anp.hessian(lambda x, y: g(np, x, y), argnums=(0, 1))(x, y),
                    jax.tree_util.tree_map(np.asarray, jax.hessian(lambda x, y: g(jnp, x, y), argnums=(0, 1))(x, y)))
        _tree_close(anp.jacobian(lambda x, y: {"p": x * y[0]}, argnum=(1,))(x, y),
                    jax.tree_util.tree_map(np.asarray, jax.jacobian(lambda x, y: {"p": x * y[0]}, argnums=(1,))(x, y)))


def ravel(p):
    from autograd.misc import flatten
    return flatten(p)[0]


def unravel(flat):
    from autograd.misc import flatten
    return flatten({"a": np.zeros(3), "b": [np.zeros(2), 0.0]})[1](flat)


def test_ordered_dicts_and_namedtuples_keep_their_types_and_orders():
    p = OrderedDict([("z", np.ones(2)), ("a", Pair(np.ones(2), 2.0))])
    g = anp.grad(lambda p: anp.sum(p["z"] * p["a"].w) * p["a"].b)(p)
    assert type(g) is OrderedDict and list(g) == ["z", "a"] and isinstance(g["a"], Pair)
    _close(g["z"], 2 * np.ones(2))


def test_leaf_kinds_follow_the_arguments():
    x = np.array([1.0, 2.0])
    assert type(anp.grad(lambda t: anp.sum(t * t))(x)) is np.ndarray
    assert isinstance(anp.grad(lambda t: anp.sum(t * t))(anp.Tensor(x)), anp.Tensor)
    g = anp.grad(lambda s: s ** 3)(2.0)
    assert isinstance(g, float) and g == 12.0
    assert isinstance(anp.grad(lambda t: anp.sum(t * t))(np.float32(2.0) * x), np.ndarray)


def test_argnum_keyword_tuples_and_kwargs_pass_through():
    f = lambda x, y, scale=1.0: anp.sum(x * y) * scale  # noqa: E731
    x, y = RNG.normal(size=3), RNG.normal(size=3)
    gx, gy = anp.grad(f, argnum=(0, 1))(x, y, scale=2.0)
    _close(gx, 2 * y)
    _close(gy, 2 * x)
    _close(anp.grad(f, argnums=1)(x, y), x)


def test_non_numeric_leaves_are_named_by_their_path():
    with pytest.raises(TypeError, match=r"argument 0\['cfg'\]\[1\] is a str"):
        anp.grad(lambda p: anp.sum(p["w"]))({"w": np.ones(2), "cfg": [1.0, "relu"]})


def test_grad_of_a_vector_output_names_jacobian():
    with pytest.raises(TypeError, match="jacobian, elementwise_grad or vjp"):
        anp.grad(lambda x: x * 2)(np.ones(3))


def test_nested_transforms_over_pytrees_against_hips():
    f = lambda p: anp.sum(anp.tanh(p[0]) * p[1] ** 2)  # noqa: E731
    fh = lambda p: hnp.sum(hnp.tanh(p[0]) * p[1] ** 2)  # noqa: E731
    p = [RNG.normal(size=3), RNG.normal(size=3)]
    outer = lambda q: anp.sum(anp.grad(f)([q, p[1]])[0] ** 2)  # noqa: E731
    outer_h = lambda q: hnp.sum(autograd.grad(fh)([q, p[1]])[0] ** 2)  # noqa: E731
    _close(anp.grad(outer)(p[0]), autograd.grad(outer_h)(p[0]))


# --------------------------------------------------------------------------- HIPS's derivative operators

def test_wrappers_under_hips_names_agree_with_hips():
    x = RNG.normal(size=3)
    f = lambda x: anp.sum(anp.sin(x) * x ** 2)  # noqa: E731
    fh = lambda x: hnp.sum(hnp.sin(x) * x ** 2)  # noqa: E731
    g = lambda x: anp.sin(x) * x  # noqa: E731
    gh = lambda x: hnp.sin(x) * x  # noqa: E731
    v = RNG.normal(size=3)
    vjp, ans = anp.make_vjp(g)(x)
    vjp_h, ans_h = autograd.make_vjp(gh)(x)
    _close(ans, ans_h)
    _close(vjp(v), vjp_h(v))
    _close(anp.make_jvp(g)(x)(v)[1], autograd.make_jvp(gh)(x)(v)[1])
    hvp, grad_x = anp.make_hvp(f)(x)
    hvp_h, grad_h = autograd.make_hvp(fh)(x)
    _close(grad_x, grad_h)
    _close(hvp(v), hvp_h(v))
    _close(anp.hessian_tensor_product(f)(x, v), autograd.hessian_tensor_product(fh)(x, v))
    _close(anp.hessian_vector_product(f)(x, v), autograd.hessian_vector_product(fh)(x, v))
    _close(anp.tensor_jacobian_product(g)(x, v), autograd.tensor_jacobian_product(gh)(x, v))
    _close(anp.vector_jacobian_product(g)(x, v), autograd.vector_jacobian_product(gh)(x, v))
    _close(anp.make_ggnvp(g)(x)(v), autograd.make_ggnvp(gh)(x)(v))
    _close(anp.deriv(anp.sin)(x), autograd.deriv(hnp.sin)(x))
    _close(anp.elementwise_grad(g)(x), autograd.elementwise_grad(gh)(x))
    _close(anp.hessian(f)(x), autograd.hessian(fh)(x))
    _close(anp.jacobian(g)(x), autograd.jacobian(gh)(x))
    gr, aux = anp.grad_and_aux(lambda x: (f(x), "aux"))(x)
    assert aux == "aux"
    _close(gr, autograd.grad(fh)(x))
    _close(anp.grad_named(lambda a, b: anp.sum(a * b), "b")(x, v), x)
    # the named argument by keyword, or at its default (HIPS, and autonp before, raised an IndexError for both)
    _close(anp.grad_named(lambda a, b: anp.sum(a * b), "b")(x, b=v), x)
    _close(anp.grad_named(lambda a, b=v: anp.sum(a * b * b), "b")(x), 2 * x * v)
    d = anp.multigrad_dict(lambda a, b=2.0: anp.sum(a ** 2) * b)(x)
    _close(d["a"], 4 * x)
    _close(d["b"], np.sum(x ** 2))
    ck = anp.checkpoint(f)
    _close(anp.grad(lambda x: ck(x) * 2.0)(x), 2 * autograd.grad(fh)(x))


def test_holomorphic_grad_is_hips_and_warns_on_real():
    z = 1.0 + 2.0j
    _close(anp.holomorphic_grad(lambda z: np.sin(z) * z)(z), autograd.holomorphic_grad(lambda z: hnp.sin(z) * z)(z))
    with pytest.warns(UserWarning, match="not complex"):
        assert anp.holomorphic_grad(lambda x: x * x)(3.0) == 6.0


# --------------------------------------------------------------------------- autonp.numpy

def test_autonp_numpy_is_numpy_on_arrays():
    x = RNG.normal(size=(3, 4))
    assert type(anpn.sum(x)) is np.float64 and anpn.sum(x) == np.sum(x)
    assert type(anpn.array([1, 2])) is np.ndarray and anpn.pi == np.pi and anpn.newaxis is None
    assert anpn.random.randn is np.random.randn and anpn.float64 is np.float64
    assert anpn.linalg.__name__ == "autonp.numpy.linalg" and anpn.linalg.svd is not None


def test_sequences_holding_tensors_keep_the_graph():
    def f(np_, x):
        a = np_.array([x[0] * 2, x[1], 3.0])
        b = np_.std([x[0], x[1] * x[2]]) + np_.var([x[1], x[2]])
        c = np_.append([x[0]], x[1:] ** 2)
        d = np_.sum(np_.full((2, 2), x[2]) * 1.5)
        return np_.sum(a ** 2) + b + np_.sum(c * np_.arange(3.0)) + d
    x = RNG.normal(size=3)
    got = anp.grad(lambda x: f(anpn, x))(x)
    _close(got, autograd.grad(lambda x: f(hnp, x))(x))
    _close(got, central_diff(lambda v: f(np, v), x), rtol=1e-7)
    t = anp.Tensor(x, requires_grad=True)
    assert anpn.asarray(t) is t and anpn.asarray(t, dtype=np.float32).dtype == np.float32
    anpn.sum(anpn.asarray([t[0], 2.0]) ** 2).backward()
    _close(t.grad.data, [2 * x[0], 0, 0])


def test_r_and_c_with_tensors():
    x = RNG.normal(size=2)
    f = lambda np_, x: np_.sum(np_.r_[x, x[0] * 2, np.ones(2)] ** 2) + np_.sum(np_.c_[x, x ** 2] ** 3)  # noqa: E731
    _close(anp.grad(lambda x: f(anpn, x))(x), autograd.grad(lambda x: f(hnp, x))(x))
    _close(np.asarray(anpn.r_[anp.Tensor(x), 1:3]), np.r_[x, 1:3])
    assert np.array_equal(anpn.r_[1:4, 7], np.r_[1:4, 7])


def test_integer_cast_of_a_scalar_tensor_and_the_ndarray_method_hint():
    t = anp.Tensor(3.7, requires_grad=True)
    assert np.int64(t) == 3 and int(t) == 3
    X, W = np.ones((2, 3)), anp.Tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match=r"test_hips_compat.py:\d+.*\n.*np.dot\(X, t\) or X @ t"):
        X.dot(W)
    _close((X @ W).data, X @ np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"autonp.numpy.full\(shape, t\)"):
        np.full((2, 2), W[0, 0])


def test_a_primitive_whose_vjp_is_none_refuses_instead_of_a_silent_zero():
    f = anp.primitive(lambda a, b: a * b, name="half_defined").defvjp(lambda g, ans, a, b: g * b, None)
    assert anp.grad(lambda a: anp.sum(f(a, np.ones(2))))(np.ones(2)).tolist() == [1.0, 1.0]
    with pytest.raises(NotImplementedError, match="half_defined is not differentiable in argument 1"):
        anp.grad(lambda b: anp.sum(f(np.ones(2), b)))(np.ones(2))


# --------------------------------------------------------------------------- misc, test_util, extend

def test_flatten_round_trip_and_differentiable():
    from autograd.misc import flatten as hflatten

    from autonp.misc import flatten, flatten_func
    p = _params()
    vec, unflatten = flatten(p)
    p_tuples = {"x": p["x"], "layers": [tuple(p["layers"][0]), p["layers"][1]]}
    _close(vec, hflatten(p_tuples)[0], rtol=0, atol=0)  # the same order as HIPS (dicts by sorted key)
    _tree_close(unflatten(vec), p, rtol=0, atol=0)
    g = anp.grad(lambda v: _loss(anpn, unflatten(v)))(vec)
    _close(g, flatten(anp.grad(lambda p: _loss(anpn, p))(p))[0])
    flat_f, unflat, ex = flatten_func(lambda p, k: [p["x"] * k], p)
    _close(flat_f(ex, 2.0), 2 * p["x"].ravel())
    with pytest.raises(ValueError, match="expected a vector of"):
        unflatten(vec[:-1])


@pytest.mark.parametrize("tree", [[0.7, "decay"], [True], [np.array(["x"])], [np.array([object()])]])
def test_flatten_refuses_leaves_that_are_not_numbers(tree):
    """A string, a bool or an object array joined the others: flatten([0.7, "decay"]) was a vector of the
    strings '0.7' and 'decay'. HIPS refuses them ("Can't differentiate w.r.t. type"); so does autonp now,
    naming where the leaf sits."""
    from autonp.misc import flatten
    with pytest.raises(TypeError, match=r"flatten: the leaf at \S+ is a .*not numbers"):
        flatten(tree)


def test_none_is_a_structure_with_no_leaves_as_in_jax():
    """{"W": W, "b": None} (a layer without a bias) was refused by every transform; None is now a structure with
    nothing in it (JAX's rule; HIPS refuses it): flattened to nothing, given back as None, its gradient None."""
    from autonp.misc import flatten
    p = {"W": RNG.normal(size=(2, 2)), "b": None, "layers": [None, (np.array(2.0), None)]}
    vec, unflatten = flatten(p)
    _close(vec, np.concatenate([np.ravel(p["W"]), [2.0]]))
    assert unflatten(vec)["b"] is None and unflatten(vec)["layers"][1][1] is None
    loss = lambda p: anpn.sum(p["W"] ** 2) * p["layers"][1][0] + (0.0 if p["b"] is None else 1.0)  # noqa: E731
    for g in (anp.grad(loss)(p), anp.compile(anp.grad(loss))(p), anp.hvp(loss)(p, p)):
        assert g["b"] is None and g["layers"][0] is None and g["layers"][1][1] is None
    _close(anp.grad(loss)(p)["W"], 2 * p["W"] * 2.0)
    _close(anp.grad(loss)(p)["layers"][1][0], np.sum(p["W"] ** 2))
    assert anp.hessian(loss)(p)["W"]["b"] is None


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_optimizers_match_hips_step_for_step_over_a_dict(name):
    import autograd.misc.optimizers as hopt

    import autonp.misc.optimizers as opt
    target = {"a": RNG.normal(size=3), "b": [RNG.normal(size=(2, 2))]}
    loss = lambda np_, p, i: np_.sum((p["a"] - target["a"]) ** 4) + np_.sum(np_.sin(p["b"][0] - target["b"][0]))  # noqa
    x0 = {"a": np.zeros(3), "b": [np.zeros((2, 2))]}
    seen, seen_h = [], []
    got = getattr(opt, name)(anp.grad(lambda p, i: loss(anpn, p, i)), x0, step_size=0.05, num_iters=30,
                             callback=lambda x, i, g: seen.append((i, x["a"].copy(), g["a"].copy())))
    want = getattr(hopt, name)(autograd.grad(lambda p, i: loss(hnp, p, i)), x0, step_size=0.05, num_iters=30,
                               callback=lambda x, i, g: seen_h.append((i, x["a"].copy(), g["a"].copy())))
    _tree_close(got, want, rtol=1e-13, atol=1e-15)
    assert len(seen) == 30 and [s[0] for s in seen] == list(range(30))
    for (_, xa, ga), (_, xh, gh) in zip(seen, seen_h):
        _close(xa, xh, rtol=1e-13, atol=1e-15)
        _close(ga, gh, rtol=1e-13, atol=1e-15)


def test_fixed_point_gradient_by_the_implicit_function_theorem():
    from autonp.misc.fixed_points import fixed_point
    newton_sqrt = lambda a: lambda x: 0.5 * (x + a / x)  # noqa: E731
    dist = lambda x, y: anpn.abs(x - y)  # noqa: E731
    sqrt = lambda a: fixed_point(newton_sqrt, a, 1.0, dist, 1e-12)  # noqa: E731
    assert float(np.asarray(sqrt(2.0))) == pytest.approx(np.sqrt(2), rel=1e-14)
    assert anp.grad(sqrt)(2.0) == pytest.approx(0.5 / np.sqrt(2), rel=1e-10)
    with pytest.raises(NotImplementedError, match="fixed_point is not differentiable in its starting point"):
        anp.grad(lambda x0: fixed_point(newton_sqrt, 2.0, x0, dist, 1e-12))(1.0)
    # second order: the adjoint is itself a fixed point, differentiated by the same rule (HIPS's example)
    descent = lambda a: lambda x: x - 0.05 * (x ** 2 - a)  # noqa: E731
    slow_sqrt = lambda a: fixed_point(descent, a, 10.0, dist, 1e-12)  # noqa: E731
    assert anp.grad(anp.grad(slow_sqrt))(2.0) == pytest.approx(-0.25 * 2 ** -1.5, rel=1e-9)
    from autograd.misc.fixed_points import fixed_point as hips_fixed_point
    hips_sqrt = lambda a: hips_fixed_point(descent, a, 10.0, lambda x, y: hnp.abs(x - y), 1e-4)  # noqa: E731
    ours = lambda a: fixed_point(descent, a, 10.0, dist, 1e-4)  # noqa: E731
    assert anp.grad(anp.grad(ours))(2.0) == pytest.approx(autograd.grad(autograd.grad(hips_sqrt))(2.0), rel=1e-12)


def test_fixed_point_differentiates_the_tensors_its_function_reads_from_outside():
    """fixed_point(lambda a: lambda x: tanh(B x + a), a, ...) with B a Tensor requiring grad from the closure took B
    as a constant (its gradient dropped). B now joins a as a parameter of its own: its gradient equals that of
    passing it inside a, bit for bit, to second order, and central differences of the plain iteration."""
    from autonp.misc.fixed_points import fixed_point
    dist = lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y))))  # noqa: E731
    a0, B0 = np.array([1.0, -0.5]), np.array([[0.3, 0.1], [-0.2, 0.4]])

    def in_a(a, B):
        return anpn.sum(fixed_point(lambda p: lambda x: anpn.tanh(anpn.dot(p[1], x) + p[0]), (a, B), np.zeros(2),
                                    dist, 1e-14) ** 2)

    def closure(a, B):
        return anpn.sum(fixed_point(lambda a: lambda x: anpn.tanh(anpn.dot(B, x) + a), a, np.zeros(2), dist,
                                    1e-14) ** 2)
    for got, want in zip(anp.grad(closure, argnum=(0, 1))(a0, B0), anp.grad(in_a, argnum=(0, 1))(a0, B0)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(anp.hessian(lambda B: closure(a0, B))(B0), anp.hessian(lambda B: in_a(a0, B))(B0))

    def plain(B):
        x = np.zeros(2)
        for _ in range(200):
            x = np.tanh(B @ x + a0)
        return np.sum(x ** 2)
    _close(anp.grad(lambda B: closure(a0, B))(B0), central_diff(plain, B0), rtol=1e-7, atol=1e-9)


def test_check_grads_passes_right_derivatives_and_catches_wrong_ones():
    from autonp.extend import defvjp, primitive
    from autonp.test_util import check_grads
    x = RNG.normal(size=3)
    check_grads(lambda x: anpn.tanh(x) * x, modes=["fwd", "rev"], order=2)(x)
    check_grads(lambda p: anpn.sum(p["a"] ** 3) * p["b"], modes=["rev"])({"a": x, "b": 0.5})

    @primitive
    def cube(x):
        return x ** 3
    defvjp(cube, lambda ans, x: lambda g: g * 3 * x ** 2)
    check_grads(cube, order=1)(x)
    defvjp(cube, lambda ans, x: lambda g: g * 3 * x)  # wrong
    with pytest.raises(AssertionError, match="cube"):
        check_grads(cube, modes=["rev"], order=1)(x)

    @primitive
    def cube2(x):
        return x ** 3
    defvjp(cube2, lambda ans, x: lambda g: g * 3 * (x * x).data if hasattr(x, "data") else g * 3 * x * x)
    check_grads(cube2, modes=["rev"], order=1)(x)
    with pytest.raises(AssertionError):  # second order wrong: the VJP hid x from the tape
        check_grads(cube2, modes=["rev"], order=2)(x)


def test_extend_signatures_agree_with_hips():
    from autograd.extend import defvjp as hdefvjp
    from autograd.extend import primitive as hprimitive

    from autonp.extend import defjvp, defjvp_argnum, defvjp, defvjp_argnum, defvjp_argnums, notrace_primitive, primitive

    def make(prim, defv, np_):
        @prim
        def lse(x, b):
            return np.log(np.sum(b * np.exp(x)))
        defv(lse, lambda ans, x, b: lambda g: g * b * np_.exp(x - ans),
             lambda ans, x, b: lambda g: g * np_.exp(x - ans))
        return lse
    x, b = RNG.normal(size=3), np.abs(RNG.normal(size=3)) + 0.5
    ours, theirs = make(primitive, defvjp, anpn), make(hprimitive, hdefvjp, hnp)
    for i in (0, 1):
        _close(anp.grad(ours, i)(x, b), autograd.grad(theirs, i)(x, b))
    _close(anp.hessian(ours)(x, b), autograd.hessian(theirs)(x, b))

    @primitive
    def mul(x, y):
        return x * y
    defvjp_argnum(mul, lambda i, ans, args, kw: lambda g: g * args[1 - i])
    _close(anp.grad(lambda x: anpn.sum(mul(x, x + 1.0)))(x), 2 * x + 1)

    @primitive
    def mul2(x, y):
        return x * y
    defvjp_argnums(mul2, lambda nums, ans, args, kw: lambda g: tuple(g * args[1 - i] for i in nums))
    _close(anp.grad(lambda y: anpn.sum(mul2(x, y)))(b), x)

    @primitive
    def sin_fwd_only(x):
        return np.sin(x)
    defjvp(sin_fwd_only, lambda g, ans, x: anpn.cos(x) * g)
    _close(anp.grad(lambda x: anpn.sum(sin_fwd_only(x)))(x), np.cos(x))
    _close(anp.hessian(lambda x: anpn.sum(sin_fwd_only(x)))(x), np.diag(-np.sin(x)))

    @primitive
    def scale(x, k):
        return x * k
    defjvp_argnum(scale, lambda i, g, ans, args, kw: g * args[1 - i])
    _close(anp.grad(lambda k: anpn.sum(scale(x, k)))(2.0), np.sum(x))
    assert notrace_primitive(lambda t: type(t))(anp.Tensor(x, requires_grad=True)) is np.ndarray


def _own_primitives(lib: str):
    """Primitives written the way lifelines writes its ``gammainc`` (``from autograd.numpy.numpy_vjps import
    unbroadcast_f``), with ``lib`` (autonp or autograd) in every import."""
    import importlib
    np_, ext, nv = (importlib.import_module(f"{lib}.{m}") for m in ("numpy", "extend", "numpy.numpy_vjps"))

    @ext.primitive
    def gammainc(a, x):
        return scipy.special.gammainc(a, x)
    ext.defvjp(gammainc, None, lambda ans, a, x: nv.unbroadcast_f(
        x, lambda g: g * np_.exp(-x) * np_.power(x, a - 1) / scipy.special.gamma(a)))

    @ext.primitive
    def scaled(a, x):
        return a * x
    ext.defvjp(scaled, lambda ans, a, x: nv.unbroadcast_f(a, lambda g: g * x),
               lambda ans, a, x: nv.unbroadcast_f(x, lambda g: g * a))
    return np_, gammainc, scaled


def test_primitives_written_with_hips_numpy_vjps_helpers_agree_with_hips_and_differences():
    """A broadcast argument's gradient summed down to its shape by ``unbroadcast_f``, first and second order."""
    a, x = np.array([[1.2], [2.0]]), np.array([[0.5, 1.5, 2.5]])
    results = {}
    for lib, grad in (("autonp", anp.grad), ("autograd", autograd.grad)):
        np_, gammainc, scaled = _own_primitives(lib)

        def f(x):
            return np_.sum(gammainc(a, x) ** 2) + np_.sum(np_.sin(scaled(x, a)))

        def g(s):  # a scalar broadcast over a (2, 1) column, differentiated twice
            return np_.sum(grad(lambda s: np_.sum(scaled(s, a) ** 3))(s) ** 2)
        results[lib] = [grad(f)(x), grad(g)(0.7), f]
    ours, theirs = results["autonp"], results["autograd"]
    _close(ours[0], theirs[0])
    _close(ours[1], theirs[1])
    _close(ours[0], central_diff(lambda v: float(theirs[2](v)), x), rtol=1e-6)
    _close(ours[1], 36 * 0.7 ** 3 * np.sum(a ** 3) ** 2, rtol=1e-12)  # g(s) = (3s²·Σa³)², by hand


def test_numpy_vjps_helpers_equal_hips_own():
    from autograd.numpy import numpy_vjps as theirs

    from autonp.numpy import numpy_vjps as ours
    g = RNG.normal(size=(2, 3))
    for target in (RNG.normal(size=(1, 3)), RNG.normal(size=(3,)), 1.5, RNG.normal(size=(2, 1)) + 1j):
        want = theirs.unbroadcast_f(target, lambda v: v * 2)(g * (1 + 1j))
        got = ours.unbroadcast_f(target, lambda v: v * 2)(g * (1 + 1j))
        assert np.shape(got) == np.shape(want) and np.iscomplexobj(got) == np.iscomplexobj(want)
        _close(got, want)
    for axis in (None, 0, 1, (0, 2)):
        shape = (2, 3, 4)
        reduced = np.sum(RNG.normal(size=shape), axis=axis)
        (got, n), (want, m) = (mod.repeat_to_match_shape(reduced, shape, np.float64, axis, False)
                               for mod in (ours, theirs))
        assert n == m
        _close(got, want)
    x, z, y = np.array([1.0, 2.0, 2.0, 0.0]), np.array([1.0, 2.0, 0.0, 0.0]), np.array([1.0, 0.0, 2.0, 5.0])
    _close(ours.balanced_eq(x, z, y), theirs.balanced_eq(x, z, y))
    _close(ours.replace_zero(x, 7.0), theirs.replace_zero(x, 7.0))
    for target, v in ((1.0, 2 + 3j), (1j, 2.0), (1j, 2j), (1.0, 2.0)):
        assert ours.match_complex(target, v) == theirs.match_complex(target, v)
        assert np.iscomplexobj(ours.match_complex(target, v)) == np.iscomplexobj(theirs.match_complex(target, v))


def test_box_checks_see_what_hips_boxes():
    """``isinstance(x, ArrayBox)`` / ``DictBox`` / ``SequenceBox`` and ``x._value``, as programs use them to take
    values off the tape: true for what depends on the differentiated input, false for constants and outside."""
    import importlib

    def program(lib):
        np_, grad = importlib.import_module(f"{lib}.numpy"), importlib.import_module(lib).grad
        ArrayBox = importlib.import_module(f"{lib}.numpy.numpy_boxes").ArrayBox
        builtins_ = importlib.import_module(f"{lib}.builtins")
        seen = []

        def look(*xs):
            seen.append(tuple(isinstance(x, ArrayBox) for x in xs))
            seen.append(tuple(float(np.sum(x._value)) for x in xs if isinstance(x, ArrayBox)))

        def f(x):
            y, c = np_.sin(x) * 2, np.ones(3) * 2
            look(x, y, c, y * 0 + c, np_.sum(y))
            return np_.sum(y * c)

        def on_dict(p):
            seen.append((isinstance(p, builtins_.DictBox), isinstance(p, builtins_.SequenceBox)))
            look(p["w"], p["b"])
            return np_.sum(p["w"] ** 2) + p["b"]

        def on_list(p):
            seen.append((isinstance(p, builtins_.SequenceBox), isinstance(p, builtins_.DictBox)))
            look(*p)
            return np_.sum(p[0] * p[1])
        grad(f)(np.arange(3.0))
        grad(f)(0.5)
        grad(on_dict)({"w": np.arange(2.0), "b": 1.5})
        grad(on_list)([np.arange(2.0), np.ones(2)])
        grad(on_list)((np.arange(2.0), np.ones(2)))
        look(np.ones(2))
        return seen
    assert program("autonp") == program("autograd")


@pytest.fixture
def restored_vjps():
    """Puts back the VJPs a test gives NumPy's sqrt and arctan2, in autonp and in HIPS (both change them globally)."""
    import autograd.core as hcore

    from autonp.ops import UFUNCS
    prims = [UFUNCS[np.sqrt], UFUNCS[np.arctan2]]
    ours = [dict(vars(p)) for p in prims]
    theirs = {k: hcore.primitive_vjps[k] for k in (hnp.sqrt, hnp.arctan2)}
    yield
    for p, saved in zip(prims, ours):
        vars(p).clear()
        vars(p).update(saved)
    for k, saved in theirs.items():
        hcore.primitive_vjps[k] = saved


def test_new_vjps_for_numpy_functions_hold_as_in_hips(restored_vjps):
    """``defvjp(anp.sqrt, ...)`` (a finite slope at 0) and ``defvjp(anp.arctan2, ...)`` with ``unbroadcast_f``, as
    py_wake writes them: first and second derivatives equal HIPS's under the same definitions."""
    import importlib

    def program(lib):
        np_, core, nv = (importlib.import_module(f"{lib}.{m}") for m in ("numpy", "core", "numpy.numpy_vjps"))
        grad, hessian = importlib.import_module(lib).grad, importlib.import_module(lib).hessian
        eps = 2 * np.finfo(float).eps ** 2
        core.defvjp(np_.sqrt, lambda ans, x: lambda g: g * 0.5 * np_.where(x == 0, eps, x) ** -0.5)
        core.defvjp(np_.arctan2,
                    lambda ans, x, y: nv.unbroadcast_f(x, lambda g: g * y / (x ** 2 + np_.where(y != 0, y, 1) ** 2)),
                    lambda ans, x, y: nv.unbroadcast_f(y, lambda g: g * -x / (np_.where(x != 0, x, 1) ** 2 + y ** 2)))
        x, y = np.array([0.0, 4.0, 2.0]), np.array([[0.0], [1.5]])
        return (grad(lambda x: np_.sum(np_.sqrt(x)))(x),
                grad(lambda y: np_.sum(np_.arctan2(x, y)))(y),
                grad(lambda x: np_.sum(np_.arctan2(x, y) * np_.sqrt(x + 1)))(x),
                hessian(lambda x: np_.sum(np_.arctan2(x, y) * np_.sqrt(x + 1)))(x + 0.5))
    theirs = program("autograd")
    ours = program("autonp")
    assert ours[0][0] == pytest.approx(0.5 / np.sqrt(2 * np.finfo(float).eps ** 2))  # the slope given at 0
    for a, b in zip(ours, theirs):
        _close(a, b, rtol=1e-12)


def test_a_compiled_function_follows_new_vjps_given_after_its_trace(restored_vjps):
    """A replay is the derivative it traced: new VJPs for sqrt after the trace make the next call trace anew."""
    from autonp.extend import defvjp
    x = np.array([0.0, 4.0, 2.0])

    @anp.compile
    def step(x):
        return anp.grad(lambda x: anpn.sum(anpn.sqrt(x + 1.0)))(x)
    _close(step(x), 0.5 / np.sqrt(x + 1.0))
    defvjp(anpn.sqrt, lambda ans, x: lambda g: g * 3.0)
    _close(step(x), np.full(3, 3.0))
    _close(anp.grad(lambda x: anpn.sum(anpn.sqrt(x + 1.0)))(x), np.full(3, 3.0))


def _in_both(program: str, **run) -> dict[str, str]:
    """What ``program`` prints in a fresh process with ``sys.argv[1]`` "autonp" and "autograd" (programs that change
    global tables, or must start with nothing imported); autonp's run must succeed."""
    import subprocess
    import sys
    out = {lib: subprocess.run([sys.executable, "-c", program, lib], capture_output=True, text=True, timeout=120,
                               **run) for lib in ("autonp", "autograd")}
    assert out["autonp"].returncode == 0, out["autonp"].stderr[-2000:]
    return {lib: r.stdout for lib, r in out.items()}


METHOD_PRIMITIVE = """
import itertools, sys
import numpy as np
lib = sys.argv[1]
ext, grad = __import__(lib + ".extend", fromlist=["x"]), __import__(lib, fromlist=["grad"]).grad
np_ = __import__(lib + ".numpy", fromlist=["x"])

class Curve:
    def __call__(self, x, y):
        return x * y ** 2
pf = ext.primitive(Curve.__call__)  # a method made a primitive: its VJPs start at argument 1 (after self)
ext.defvjp(pf, lambda ans, s, x, y: lambda g: g * y ** 2, lambda ans, s, x, y: lambda g: g * 2 * x * y,
           argnums=itertools.count(1))
c = Curve()
dx = grad(lambda x: np_.sum(pf(c, x, 3.0)))(np.array([1.0, 2.0]))
print(repr(list(dx)), repr(grad(lambda y: pf(c, 2.0, y))(3.0)))
"""


def test_defvjp_pairs_makers_with_an_endless_count_of_argnums_as_hips_does():
    """``defvjp(pf, *makers, argnums=itertools.count(first))`` (py_wake's ``set_vjp``): the makers are paired by zip.
    autonp turned the count into a list first, and never returned."""
    import resource

    def four_gib():  # the list an endless count makes fails fast, without taking the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    out = _in_both(METHOD_PRIMITIVE, preexec_fn=four_gib)
    assert out["autonp"] == out["autograd"]
    assert "9.0" in out["autonp"] and "12.0" in out["autonp"]  # y² = 9 and 2xy = 12


def test_the_modules_import_autograd_makes_attributes_are_reached_from_the_package():
    """``import autograd; autograd.core.make_vjp``: HIPS's package imports core, differential_operators, util and
    wrap_util; with autograd renamed, autonp.core was an AttributeError until imported by name."""
    import subprocess
    import sys
    program = ("import autonp\n"
               "print(autonp.core.make_vjp.__name__, autonp.differential_operators.make_jvp_reversemode.__name__,"
               " autonp.util.quick_grad_check.__name__, autonp.wrap_util.unary_to_nary.__name__)")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["make_vjp", "make_jvp", "quick_grad_check", "unary_to_nary"], out.stderr  # (an alias)


def test_a_function_numpy_does_not_hand_over_is_refused_by_defvjp():
    """A function that is neither a primitive nor one NumPy hands autonp its calls on Tensors for (``np.dot`` and the
    like become primitives: the next test) cannot be given derivatives: its calls would never reach them."""
    from autonp.extend import defvjp
    with pytest.raises(TypeError, match="print is not a primitive; make one with autonp.extend.primitive"):
        defvjp(print, lambda ans, x: lambda g: g)
    import scipy.linalg as sl
    with pytest.raises(TypeError, match="expm_frechet is not a primitive"):
        defvjp(sl.expm_frechet, lambda ans, a, e: lambda g: g)  # SciPy's own (autonp.scipy.linalg's is one)


# --------------------------------------------------------------------------- autonp.scipy

def test_scipy_ufuncs_differentiate_without_an_import_change():
    x = np.abs(RNG.normal(size=4)) + 0.5
    got = anp.grad(lambda t: np.sum(scipy.special.gammaln(t) * scipy.special.erf(t)))(x)
    want = central_diff(lambda v: np.sum(scipy.special.gammaln(v) * scipy.special.erf(v)), x)
    _close(got, want, rtol=1e-7)
    t = anp.Tensor(x, requires_grad=True)
    with pytest.raises(TypeError, match=r"^scipy\.special\.zeta was called on a Tensor"):
        scipy.special.zeta(t, 2.0)


@pytest.mark.parametrize("call", [
    lambda sp, x: sp.iv(x, 2.0), lambda sp, x: sp.betainc(x, 2.0, 0.3), lambda sp, x: sp.gammainc(x, 1.5)],
    ids=["iv order", "betainc a", "gammainc a"])
def test_scipy_special_refuses_parameters_it_has_no_derivative_for(call):
    import autonp.scipy.special as sp
    with pytest.raises(NotImplementedError, match="refused"):
        anp.grad(lambda v: anpn.sum(call(sp, v)))(np.array([1.5, 2.5]))


def test_scipy_special_reductions_and_multigammaln_against_hips():
    import autograd.scipy.special as hsp

    import autonp.scipy.special as sp
    x = RNG.normal(size=(3, 4))
    b = np.abs(RNG.normal(size=(3, 4)))
    for f, fh in [(lambda x: anpn.sum(sp.logsumexp(x, axis=1) ** 2), lambda x: hnp.sum(hsp.logsumexp(x, axis=1) ** 2)),
                  (lambda x: sp.logsumexp(x, b=b), lambda x: hsp.logsumexp(x, b=b)),
                  (lambda x: anpn.sum(sp.logsumexp(x, axis=0, keepdims=True) ** 3),
                   lambda x: hnp.sum(hsp.logsumexp(x, axis=0, keepdims=True) ** 3))]:
        _close(anp.grad(f)(x), autograd.grad(fh)(x))
        _close(f(anp.Tensor(x)).data, fh(x))
    a = np.array([3.0, 4.5])
    _close(anp.grad(lambda a: anpn.sum(sp.multigammaln(a, 3)))(a),
           autograd.grad(lambda a: hnp.sum(hsp.multigammaln(a, 3)))(a))
    _close(sp.softmax(anp.Tensor(x), axis=1).data, scipy.special.softmax(x, axis=1))
    _close(sp.log_softmax(anp.Tensor(x)).data, scipy.special.log_softmax(x))


STATS = [  # (name, our function of the differentiated argument, SciPy's values, its arguments, arg index)
    ("norm.logpdf", ("norm", "logpdf"), (RNG.normal(size=4), 0.3, 1.7)),
    ("norm.pdf", ("norm", "pdf"), (RNG.normal(size=4), 0.3, 1.7)),
    ("norm.cdf", ("norm", "cdf"), (RNG.normal(size=4), 0.3, 1.7)),
    ("norm.logcdf", ("norm", "logcdf"), (RNG.normal(size=4) - 3, 0.3, 1.7)),
    ("norm.sf", ("norm", "sf"), (RNG.normal(size=4), 0.3, 1.7)),
    ("norm.logsf", ("norm", "logsf"), (RNG.normal(size=4) + 3, 0.3, 1.7)),
    ("t.logpdf", ("t", "logpdf"), (RNG.normal(size=4), 3.5, 0.2, 1.3)),
    ("t.pdf", ("t", "pdf"), (RNG.normal(size=4), 3.5, 0.2, 1.3)),
    ("t.cdf", ("t", "cdf"), (RNG.normal(size=4), 3.5, 0.2, 1.3)),
    ("t.logcdf", ("t", "logcdf"), (RNG.normal(size=4), 3.5, 0.2, 1.3)),
    ("beta.logpdf", ("beta", "logpdf"), (RNG.uniform(0.1, 0.9, 4), 2.5, 1.5)),
    ("beta.pdf", ("beta", "pdf"), (RNG.uniform(0.1, 0.9, 4), 2.5, 1.5)),
    ("beta.cdf", ("beta", "cdf"), (RNG.uniform(0.1, 0.9, 4), 2.5, 1.5)),
    ("gamma.logpdf", ("gamma", "logpdf"), (RNG.uniform(0.5, 3, 4), 2.5)),
    ("gamma.pdf", ("gamma", "pdf"), (RNG.uniform(0.5, 3, 4), 2.5)),
    ("gamma.cdf", ("gamma", "cdf"), (RNG.uniform(0.5, 3, 4), 2.5)),
    ("chi2.logpdf", ("chi2", "logpdf"), (RNG.uniform(0.5, 3, 4), 3.0)),
    ("chi2.pdf", ("chi2", "pdf"), (RNG.uniform(0.5, 3, 4), 3.0)),
    ("chi2.cdf", ("chi2", "cdf"), (RNG.uniform(0.5, 3, 4), 3.0)),
]


@pytest.mark.parametrize("name,where,args", STATS, ids=[s[0] for s in STATS])
def test_stats_values_equal_scipy_and_gradients_equal_hips_and_differences(name, where, args):
    import importlib
    ours = getattr(importlib.import_module(f"autonp.scipy.stats.{where[0]}"), where[1])
    theirs = getattr(importlib.import_module(f"autograd.scipy.stats.{where[0]}"), where[1])
    scipy_fn = getattr(getattr(scipy.stats, where[0]), where[1])
    _close(ours(anp.Tensor(args[0]), *args[1:]).data, scipy_fn(*args), rtol=1e-13)
    assert np.array_equal(ours(*args), scipy_fn(*args))  # plain arrays: SciPy's own values
    n_diff = len(args) if "cdf" not in name and "sf" not in name else 1
    for i in range(n_diff):
        def f(v, i=i, fn=ours, np_=anpn):
            a = list(args)
            a[i] = v
            return np_.sum(np_.sin(fn(*a)))
        got = anp.grad(f)(args[i])
        _close(got, central_diff(lambda v: f(v, fn=scipy_fn, np_=np), np.asarray(args[i], float)), rtol=1e-6,
               atol=1e-9)
        try:
            want = autograd.grad(lambda v: f(v, fn=theirs, np_=hnp))(args[i])
        except (NotImplementedError, TypeError, ValueError):
            continue  # HIPS has no gradient in this argument
        _close(got, want, rtol=1e-9, atol=1e-12)


def test_poisson_multivariate_normal_and_dirichlet_against_hips():
    import autograd.scipy.stats as hst

    import autonp.scipy.stats as st
    k, mu = np.array([0.0, 1, 3, 5]), np.abs(RNG.normal(size=4)) + 0.5
    for fn in ("logpmf", "pmf", "cdf"):
        f = lambda m, fn=fn, s=st: anpn.sum(getattr(s.poisson, fn)(k, m))  # noqa: E731
        fh = lambda m, fn=fn: hnp.sum(getattr(hst.poisson, fn)(k, m))  # noqa: E731
        _close(anp.grad(f)(mu), autograd.grad(fh)(mu))
        _close(getattr(st.poisson, fn)(k, anp.Tensor(mu)).data, getattr(scipy.stats.poisson, fn)(k, mu), rtol=1e-13)
    A = RNG.normal(size=(3, 3))
    S, X, m = A @ A.T + 3 * np.eye(3), RNG.normal(size=(5, 3)), RNG.normal(size=3)
    for fn in ("logpdf", "pdf"):
        for i in range(3):
            def f(*a, fn=fn, mod=st.multivariate_normal, np_=anpn):
                return np_.sum(getattr(mod, fn)(*a))
            args = [X, m, S]
            got = anp.grad(f, i)(*args)
            want = autograd.grad(lambda *a: f(*a, mod=hst.multivariate_normal, np_=hnp), i)(*args)
            _close(got, want, rtol=1e-9)
        _close(getattr(st.multivariate_normal, fn)(X, anp.Tensor(m), S).data,
               getattr(scipy.stats.multivariate_normal, fn)(X, m, S), rtol=1e-12)
    _close(anp.grad(lambda c: st.multivariate_normal.entropy(m, c))(S),
           autograd.grad(lambda c: hst.multivariate_normal.entropy(m, c))(S))
    alpha, x = np.array([1.5, 2.0, 3.0]), np.array([0.2, 0.3, 0.5])
    _close(anp.grad(lambda a: st.dirichlet.logpdf(x, a))(alpha),
           autograd.grad(lambda a: hst.dirichlet.logpdf(x, a))(alpha))
    _close(st.dirichlet.logpdf(x, anp.Tensor(alpha)).data, scipy.stats.dirichlet.logpdf(x, alpha), rtol=1e-13)


CONV = [((7,), (3,), None, ((), ())), ((3,), (6,), None, ((), ())), ((6, 7), (3, 4), None, ((), ())),
        ((5, 2, 9, 8), (2, 4, 3, 3), ([2, 3], [2, 3]), ([1], [0])),
        ((4, 5, 6), (4, 3, 2), ([1, 2], [2, 1]), ([0], [0]))]


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("shapes", CONV, ids=[f"{a}*{b}" for a, b, _, _ in CONV])
def test_convolve_equals_hips_in_values_and_both_gradients(shapes, mode):
    from autograd.scipy.signal import convolve as hconvolve

    from autonp.scipy.signal import convolve
    sa, sb, axes, dot_axes = shapes
    A, B = RNG.normal(size=sa), RNG.normal(size=sb)
    _close(convolve(A, B, axes, dot_axes, mode), hconvolve(A, B, axes, dot_axes, mode), rtol=1e-12, atol=1e-12)
    f = lambda np_, conv, a, b: np_.sum(np_.sin(conv(a, b, axes, dot_axes, mode)))  # noqa: E731
    got = anp.grad(lambda a, b: f(anpn, convolve, a, b), (0, 1))(A, B)
    want = autograd.grad(lambda a, b: f(hnp, hconvolve, a, b), (0, 1))(A, B)
    for g, w in zip(got, want):
        _close(g, w, rtol=1e-10, atol=1e-12)


def test_convolve_second_order_against_finite_differences():
    from autonp.scipy.signal import convolve
    from autonp.test_util import check_grads
    A, B = RNG.normal(size=(2, 3, 6, 5)), RNG.normal(size=(3, 2, 3, 2))
    check_grads(lambda a, b: convolve(a, b, ([2, 3], [2, 3]), ([1], [0]), "valid"), argnum=(0, 1), modes=["rev"],
                order=2)(A, B)


def test_convolve_matches_scipy_signal_and_refuses_mixed_sizes_in_valid_mode():
    from scipy.signal import convolve as sconvolve

    from autonp.scipy.signal import convolve
    A, B = RNG.normal(size=(6, 7)), RNG.normal(size=(3, 4))
    for mode in ("full", "valid", "same"):
        _close(convolve(A, B, mode=mode), sconvolve(A, B, mode=mode, method="direct"), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="larger than the other"):
        convolve(RNG.normal(size=(6, 2)), RNG.normal(size=(3, 4)), mode="valid")


def test_convolve_counts_negative_axes_from_the_end_and_refuses_axes_it_cannot_pair():
    """dot_axes=([-2], [-2]) of two (3, ·) arrays was taken for an axis of its own: a (3, 3, 10) result in place of
    the (10,) contraction, without an error (HIPS fails in NumPy). Negative axes count from the end now, as in
    NumPy; an axis named twice, out of range, both convolved and contracted, or contracted against one of another
    length is refused by name. Against SciPy: Σ_c convolve(A[c], B[c])."""
    from scipy.signal import convolve as sconvolve

    from autonp.scipy.signal import convolve
    A, B = RNG.normal(size=(3, 7)), RNG.normal(size=(3, 4))
    want = sum(sconvolve(A[c], B[c], method="direct") for c in range(3))
    for axes, dot_axes in [(([-1], [-1]), ([0], [0])), (([1], [1]), ([-2], [-2])), (([1], [1]), ([0], [0]))]:
        _close(convolve(A, B, axes=axes, dot_axes=dot_axes), want, rtol=1e-12, atol=1e-12)
    for kw, error, match in [(dict(axes=([1, 1], [1, 1])), ValueError, "repeated axis"),
                             (dict(axes=([1], [1]), dot_axes=([1], [1])), ValueError, "repeated axis"),
                             (dict(axes=([5], [1])), np.exceptions.AxisError, "out of bounds"),
                             (dict(axes=([1], [0]), dot_axes=([0], [1])), ValueError, "same length")]:
        with pytest.raises(error, match=match):
            convolve(A, B, **kw)


def test_odeint_gradients_equal_hips_and_the_time_gradient_equals_differences():
    from autograd.builtins import tuple as htuple
    from autograd.scipy.integrate import odeint as hodeint

    from autonp.scipy.integrate import odeint
    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    t, y0 = np.linspace(0, 2, 8), np.array([2.0, 0.0])
    loss = lambda y0, t, A: anpn.sum(odeint(lambda y, t, A: anpn.dot(y ** 3, A), y0, t, (A,), rtol=1e-10,  # noqa
                                            atol=1e-10) ** 2)
    loss_h = lambda y0, A: hnp.sum(hodeint(lambda y, t, A: hnp.dot(y ** 3, A), y0, t, htuple((A,)),  # noqa
                                           rtol=1e-10, atol=1e-10) ** 2)
    g_y0, g_t, g_A = anp.grad(loss, (0, 1, 2))(y0, t, A)
    h_y0, h_A = autograd.grad(loss_h, (0, 1))(y0, A)
    _close(g_y0, h_y0, rtol=1e-12)
    _close(g_A, h_A, rtol=1e-12)
    _close(g_t, central_diff(lambda s: loss(y0, s, A), t), rtol=1e-5, atol=1e-6)
    # second order: the adjoint sweep is itself differentiated (HIPS's value, and differences of the gradient)
    H = anp.hessian(lambda y0: loss(y0, t, A))(y0)
    _close(H, autograd.hessian(lambda y0: loss_h(y0, A))(y0), rtol=1e-12)
    _close(H, np.stack([central_diff(lambda v: anp.grad(loss)(v, t, A)[k], y0) for k in range(2)]), rtol=1e-5)


def test_odeint_differentiates_the_tensors_its_function_reads_from_outside():
    """odeint(lambda y, t: y @ A, ...) with A a Tensor that requires grad (or a Module's parameters) solved with A
    as a constant: a plain array came back and A's gradient was dropped. Such Tensors now join the adjoint as
    arguments of their own: the gradients equal those of passing them in ``args`` (bit for bit), to second
    order, and central differences of SciPy's odeint; a Module's parameters all get theirs."""
    import scipy.integrate

    from autonp.scipy.integrate import odeint
    A0, y0, t = np.array([[-0.1, 2.0], [-2.0, -0.1]]), np.array([2.0, 0.0]), np.linspace(0, 1, 5)
    tol = dict(rtol=1e-10, atol=1e-10)

    def closure(a):
        return anpn.sum(odeint(lambda y, t: anpn.dot(y ** 3, a), y0, t, **tol) ** 2)

    def as_args(a):
        return anpn.sum(odeint(lambda y, t, a: anpn.dot(y ** 3, a), y0, t, (a,), **tol) ** 2)
    A = anp.Tensor(A0, requires_grad=True)
    closure(A).backward()
    np.testing.assert_array_equal(A.grad.numpy(), anp.grad(as_args)(A0))
    np.testing.assert_array_equal(anp.grad(closure)(A0), anp.grad(as_args)(A0))
    np.testing.assert_array_equal(anp.hessian(closure)(A0), anp.hessian(as_args)(A0))
    _close(A.grad.numpy(), central_diff(lambda a: np.sum(scipy.integrate.odeint(
        lambda y, t: np.dot(y ** 3, a), y0, t, **tol) ** 2), A0), rtol=1e-5, atol=1e-5)
    net = anp.nn.Sequential(anp.nn.Linear(2, 4, rng=np.random.default_rng(0)), anp.nn.Tanh(),
                            anp.nn.Linear(4, 2, rng=np.random.default_rng(1)))
    anpn.sum(odeint(lambda y, t: net(y[None])[0], y0, t, **tol) ** 2).backward()
    w = net.layers[0].weight
    W0 = w.numpy().copy()

    def loss_at(W):
        w.data = W
        return float(np.sum(odeint(lambda y, t: net(y[None])[0].numpy(), y0, t, **tol) ** 2))
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    assert all(g is not None for g in grads)
    _close(grads[0], central_diff(loss_at, W0), rtol=1e-5, atol=1e-6)
    w.data = W0


def test_odeint_takes_scipys_arguments():
    """scipy.integrate.odeint's other arguments: ``args`` holding a string and an integer (a flag, a count) reach
    func as they are (they were joined into one vector of strings, and func failed in NumPy); ``tfirst=True``
    (func(t, y)) made the backward call func(y, t) on the adjoint's state and fail; ``full_output=True``
    failed in NumPy and now returns SciPy's pair on plain arrays, and is refused by name with a Tensor.
    Gradients against central differences of SciPy's own odeint."""
    import scipy.integrate

    from autonp.scipy.integrate import odeint
    y0, t = np.array([1.0, 2.0]), np.array([0.0, 0.4, 1.0])
    tol = dict(rtol=1e-10, atol=1e-10)

    def f(y, t, k, mode, n):
        return -k * y * n + anpn.sin(t) if mode == "decay" else k * y

    def f_np(y, t, k, mode, n):
        return -k * y * n + np.sin(t) if mode == "decay" else k * y

    for tfirst in (False, True):
        g = (lambda t, y, *a: f(y, t, *a)) if tfirst else f
        g_np = (lambda t, y, *a: f_np(y, t, *a)) if tfirst else f_np
        loss = lambda k: anpn.sum(odeint(g, y0, t, (k, "decay", 2), tfirst=tfirst, **tol) ** 2)  # noqa: E731
        loss_np = lambda k: np.sum(scipy.integrate.odeint(g_np, y0, t, (k, "decay", 2), tfirst=tfirst,  # noqa
                                                          **tol) ** 2)
        _close(odeint(g, y0, t, (0.7, "decay", 2), tfirst=tfirst, **tol),
               scipy.integrate.odeint(g_np, y0, t, (0.7, "decay", 2), tfirst=tfirst, **tol), rtol=1e-12)
        _close(anp.grad(loss)(0.7), central_diff(lambda k: loss_np(k[0]), np.array([0.7]))[0], rtol=1e-6)
    y, info = odeint(f_np, y0, t, (0.7, "decay", 2), full_output=True)
    assert info["message"].startswith("Integration successful") and y.shape == (3, 2)
    with pytest.raises(TypeError, match=r"odeint\(full_output=True\) is not differentiable"):
        odeint(f, anp.Tensor(y0, requires_grad=True), t, (0.7, "decay", 2), full_output=True)


def test_scipy_linalg_against_hips():
    import autograd.scipy.linalg as hsl

    import autonp.scipy.linalg as sl
    from autonp.test_util import check_grads
    A = RNG.normal(size=(4, 4))
    L, b = np.tril(A) + 4 * np.eye(4), RNG.normal(size=(4, 2))
    S = A @ A.T + np.eye(4)
    for lower, trans in [(True, 0), (True, "T"), (False, 0), (False, 1)]:
        M = L if lower else L.T
        f = lambda np_, st, a, b: np_.sum(np_.sin(st(a, b, trans=trans, lower=lower)))  # noqa: E731
        got = anp.grad(lambda a, b: f(anpn, sl.solve_triangular, a, b), (0, 1))(M, b)
        want = autograd.grad(lambda a, b: f(hnp, hsl.solve_triangular, a, b), (0, 1))(M, b)
        for g, w in zip(got, want):
            _close(g, w)
        # with unit_diagonal the diagonal is not read (HIPS's gradient ignores the flag and uses it): differences
        import scipy.linalg as scipy_linalg
        for which, x in enumerate((M, b)):
            def plain(v, which=which):
                args = [M, b]
                args[which] = v
                solved = scipy_linalg.solve_triangular(*args, trans=trans, lower=lower, unit_diagonal=True)
                return np.sum(np.sin(solved))
            got = anp.grad(lambda a, b: anpn.sum(anpn.sin(sl.solve_triangular(a, b, trans=trans, lower=lower,
                                                                                unit_diagonal=True))), which)(M, b)
            _close(got, central_diff(plain, x), rtol=1e-6, atol=1e-8)
    _close(anp.grad(lambda a: anpn.sum(anpn.sin(sl.sqrtm(a))))(S),
           autograd.grad(lambda a: hnp.sum(hnp.sin(hsl.sqrtm(a))))(S))
    check_grads(sl.sqrtm, modes=["rev"], order=2)(S)
    check_grads(lambda a, b, q: sl.solve_sylvester(a, b, q), argnum=(0, 1, 2), modes=["rev"], order=2)(
        S, S + np.eye(4), A)
    _close(sl.cholesky(anp.Tensor(S)).data, __import__("scipy.linalg").linalg.cholesky(S))
    check_grads(lambda a: sl.cholesky((a + a.T) / 2, lower=False), modes=["rev"])(S)


# --------------------------------------------------------------------------- pytrees in data_parallel and compile

def _pytree_loss(p, X, Y):
    return anp.mean((anp.tanh(X @ p["W"] + p["b"][0]) * p["b"][1] - Y) ** 2)


def test_data_parallel_takes_pytrees_of_parameters():
    from concurrent.futures import ThreadPoolExecutor
    X, Y = RNG.normal(size=(700, 5)), RNG.normal(size=(700, 2))
    p = {"W": RNG.normal(size=(5, 2)), "b": (RNG.normal(size=2), 1.5)}
    ref_value, ref = anp.value_and_grad(_pytree_loss)(p, X, Y)
    with ThreadPoolExecutor(2) as pool:
        for client in (None, pool):
            value, g = anp.data_parallel(_pytree_loss, 0, (1, 2), block_rows=300, client=client)(p, X, Y)
            assert isinstance(g, dict) and isinstance(g["b"], tuple)
            assert float(value) == pytest.approx(ref_value, rel=1e-14)
            for a, b in zip(anp.pytree.flatten(g)[0], anp.pytree.flatten(ref)[0], strict=True):
                _close(np.asarray(a.data), b, rtol=1e-13, atol=1e-15)


def test_compile_replays_transforms_over_pytrees_and_retraces_for_a_new_number():
    X, Y = RNG.normal(size=(100, 5)), RNG.normal(size=(100, 2))

    def step(p, X, Y):
        value, g = anp.value_and_grad(_pytree_loss)(p, X, Y)
        return {"W": p["W"] - 0.1 * g["W"], "b": (p["b"][0] - 0.1 * g["b"][0], g["b"][1])}, value
    compiled = anp.compile(step)
    for scale in (1.5, 1.5, 2.5, 1.5):
        p = {"W": RNG.normal(size=(5, 2)), "b": (RNG.normal(size=2), scale)}
        got, got_value = compiled(p, X, Y)
        want, want_value = step(p, X, Y)
        assert got_value == want_value and isinstance(got["b"], tuple)
        for a, b in zip(anp.pytree.flatten(got)[0], anp.pytree.flatten(want)[0], strict=True):
            _close(a, b, rtol=0, atol=0)
    assert compiled.traces == 2  # one per value of the number leaf


def test_builtins_isinstance_of_a_differentiated_python_float_is_a_float():
    """HIPS's ``autograd.builtins.isinstance(x, float)`` is True for the box of a Python float, so programs branch on
    it; autonp's said False (x is a 0-d Tensor, an ndarray). A 0-d Tensor is now an instance of its scalar type
    too (np.float64 is a float); ints stay ints, and a 1-d Tensor is no float."""
    from autograd.builtins import isinstance as hips_isinstance

    from autonp.builtins import isinstance as anp_isinstance
    seen, hips_seen = [], []

    def f(check, seen, x):
        seen.append((check(x, float), check(x, (int, float)), check(x, int)))
        return x * 2.0
    anp.grad(lambda x: f(anp_isinstance, seen, x))(1.5)
    autograd.grad(lambda x: f(hips_isinstance, hips_seen, x))(1.5)
    assert seen == hips_seen == [(True, True, False)]
    vector = []
    anp.grad(lambda x: (vector.append(anp_isinstance(x, float)), anpn.sum(x))[1])(np.ones(3))
    assert vector == [False]


def test_operators_written_with_unary_to_nary_and_core_make_vjp():
    """HIPS users write their own differential operators as a function of one argument with ``unary_to_nary``
    and ``autograd.core.make_vjp(fun, x)``, and older programs take ``primitive`` from ``autograd.core`` and
    ``getval``/``isbox`` from ``autograd.tracer``: none of these modules existed. Against central differences."""
    from autonp.core import make_jvp, make_vjp, primitive
    from autonp.differential_operators import grad as do_grad
    from autonp.differential_operators import make_jvp_reversemode
    from autonp.tracer import getval, isbox
    from autonp.wrap_util import unary_to_nary

    @unary_to_nary
    def my_grad(fun, x):
        pullback, ans = make_vjp(fun, x)
        return pullback(np.ones_like(getval(ans)))

    f = lambda x, y: anpn.sum(anpn.sin(x) * y ** 2)  # noqa: E731
    x, y = RNG.normal(size=3), RNG.normal(size=3)
    _close(my_grad(f)(x, y), central_diff(lambda v: f(v, y), x), rtol=1e-6)
    _close(my_grad(f, 1)(x, y), central_diff(lambda v: f(x, v), y), rtol=1e-6)
    gx, gy = my_grad(f, (0, 1))(x, y)
    _close(gy, 2 * np.sin(x) * y)
    assert my_grad(f, 1).__name__ == "my_grad_of_<lambda>_wrt_argnum_1"
    ans, tangent = make_jvp(lambda v: anpn.sin(v) * 2.0, x)(y)
    _close(tangent, 2 * np.cos(x) * y)
    _close(make_jvp_reversemode(lambda v: anpn.sin(v) * 2.0)(x)(y)[1], 2 * np.cos(x) * y)
    _close(do_grad(f)(x, y), my_grad(f)(x, y))
    seen = []
    anp.grad(lambda v: (seen.append((isbox(v), isbox(getval(v)), type(getval(v)).__name__)), anpn.sum(v))[1])(x)
    assert seen == [(True, False, "ndarray")]

    @primitive
    def cube(v):
        return v ** 3
    with pytest.warns(DeprecationWarning):
        cube.defgrad(lambda ans, v: lambda g: g * 3 * v ** 2)
    _close(anp.grad(lambda v: anpn.sum(cube(v)))(x), 3 * x ** 2)


def _traced(tracer, np_, fun, x):
    """(value, index of the result's node, one entry per node HIPS's interface built: value, parent argnums,
    parents' indices (-1: the root), the other arguments) of ``tracer.trace`` with a Node subclass as HIPS's
    examples write one."""
    log = []

    class Recorded(tracer.Node):
        def __init__(self, value, fun, args, kwargs, parent_argnums, parents):
            self.i = len(log)
            log.append((np.asarray(value), parent_argnums, [p.i for p in parents],
                        [a for k, a in enumerate(args) if k not in parent_argnums]))

        def initialize_root(self, x):
            self.i = -1

    value, node = tracer.trace(Recorded.new_root(x), fun, x)
    return value, None if node is None else node.i, log


def _same_trace(ours, hips):
    assert ours[1] == hips[1] and len(ours[2]) == len(hips[2])
    _close(ours[0], hips[0], rtol=1e-14)
    for (v, argnums, parents, rest), (hv, hargnums, hparents, hrest) in zip(ours[2], hips[2]):
        _close(v, hv, rtol=1e-14)
        assert (argnums, parents) == (hargnums, hparents)
        assert len(rest) == len(hrest) and all(np.array_equal(a, b) for a, b in zip(rest, hrest))


def test_tracer_trace_builds_the_nodes_hips_builds():
    """HIPS's ``print_trace.py`` and ``dot_graph.py`` subclass ``autograd.tracer.Node`` and call ``trace``: one node
    per op that reads the input, as it runs (an op whose result is not used too), with its parents and its other
    arguments. HIPS's own trace of the same function is the oracle."""
    from autograd import tracer as hips_tracer

    from autonp import tracer

    def fun(np_):
        def f(x):
            y = np_.sin(x) * 2.0 + np_.exp(x) / x
            np_.cos(x)  # read, not used: built all the same
            return np_.sum(y ** 2) - np_.dot(x, y)
        return f

    x = np.arange(1.0, 4.0)
    ours, hips = _traced(tracer, anpn, fun(anpn), x), _traced(hips_tracer, hnp, fun(hnp), x)
    assert len(ours[2]) == 10
    _same_trace(ours, hips)
    _same_trace(_traced(tracer, anpn, lambda v: v, x), _traced(hips_tracer, hnp, lambda v: v, x))  # the root
    with pytest.warns(UserWarning, match="independent of input"):
        assert _traced(tracer, anpn, lambda v: anpn.ones(3), x) == (pytest.approx(np.ones(3)), None, [])


def test_tracer_trace_through_grad_and_after_an_error():
    """Through ``grad`` the backward pass's ops are built too (their values are the derivative's: cos, as HIPS's
    ``print_trace(grad(fun), 1.0)`` shows); an in-place change is a node whose parent is the earlier value; and
    an error inside the function leaves recording as it was."""
    from autonp import tracer

    value, node, log = _traced(tracer, anpn, anp.grad(lambda v: anpn.sin(2 * v)), 0.3)
    _close(value, 2 * np.cos(0.6), rtol=1e-15)
    assert any(np.isclose(v, np.cos(0.6)) for v, *_ in log) and node == len(log) - 1

    def in_place(v):
        y = v * 3.0
        y += v
        return y
    value, node, log = _traced(tracer, anpn, in_place, np.ones(2))
    _close(value, 4 * np.ones(2))
    assert [(argnums, parents) for _, argnums, parents, _ in log] == [((0,), [-1]), ((0, 1), [0, -1])]

    class Root(tracer.Node):
        def initialize_root(self):
            pass

    with pytest.raises(ZeroDivisionError):
        tracer.trace(Root.new_root(), lambda v: 1 / 0, 1.0)
    from autonp.tensor import _mode
    assert _mode.observer is None


_OUT_OF_DOMAIN = [  # SciPy's NaN where a parameter (at the index given) is outside its domain: formulas gave numbers
    ("norm", "cdf", (0.3, 0.0, -2.0), 2), ("norm", "logcdf", (0.3, 1.0, 0.0), 2),
    ("norm", "logpdf", (0.3, 0.0, -1.0), 2), ("t", "cdf", (0.3, 3.0, 0.0, -1.0), 3),
    ("t", "logpdf", (0.3, -1.0, 0.0, 1.0), 1), ("gamma", "logpdf", (0.5, -2.0), 1),
    ("gamma", "logpdf", (0.5, 2.0, 0.0, -1.0), 3), ("gamma", "cdf", (0.5, 0.0), 1),
    ("beta", "logpdf", (0.5, -2.0, 3.0), 1), ("beta", "cdf", (0.5, 2.0, 0.0), 2),
    ("chi2", "logpdf", (1.0, -3.0), 1), ("chi2", "pdf", (1.0, 2.0, 0.0, -1.0), 3),
]


@pytest.mark.parametrize("dist, fn, args, bad", _OUT_OF_DOMAIN)
def test_stats_parameters_outside_their_domain_give_scipys_nan(dist, fn, args, bad):
    """norm.cdf(0.3, scale=−2) was 0.44 and chi2.logpdf(1, df=−3) −0.32: numbers for parameters SciPy has no
    distribution for. SciPy's NaN now (and its values where the parameters are valid, elementwise)."""
    from autonp.scipy import stats
    with np.errstate(all="ignore"):  # (SciPy's own warning: a scale of 0)
        assert np.isnan(getattr(getattr(scipy.stats, dist), fn)(*args))
    got = getattr(getattr(stats, dist), fn)(anp.Tensor(args[0], requires_grad=True), *args[1:])
    assert np.isnan(got.numpy())
    mixed = list(args)  # the parameter invalid in one entry, valid in the other
    mixed[0], mixed[bad] = np.full(2, args[0]), np.array([args[bad], 1.5])
    with np.errstate(all="ignore"):
        want = getattr(getattr(scipy.stats, dist), fn)(*mixed)
        got = getattr(getattr(stats, dist), fn)(anp.Tensor(mixed[0], requires_grad=True), *mixed[1:])
    assert np.isnan(want[0]) and np.isfinite(want[1])
    _close(got.numpy(), want)


def test_multivariate_normal_and_dirichlet_refuse_what_scipy_refuses():
    """An indefinite or negative covariance, a singular one without allow_singular, and Dirichlet parameters ≤ 0 gave
    numbers where SciPy raises; a non-symmetric covariance, which SciPy reads by its lower triangle and the formula
    whole, gave another number. A point off a singular covariance's range has density 0 (SciPy's −∞); and Σ = I with
    allow_singular took eigh's gradient at a repeated eigenvalue (NaN), where the density's own is defined."""
    from autonp.scipy import stats
    x = anp.Tensor(np.array([0.3, -0.2]), requires_grad=True)
    for cov, singular_ok, error in ((np.array([[1.0, 2.0], [2.0, 1.0]]), True, ValueError),
                                    (-np.eye(2), True, ValueError),
                                    (np.ones((2, 2)), False, np.linalg.LinAlgError),
                                    (np.array([[1.0, 0.5], [0.3, 1.0]]), True, ValueError)):
        if cov[0, 1] == cov[1, 0]:
            with pytest.raises(error):
                scipy.stats.multivariate_normal.logpdf(x.numpy(), np.zeros(2), cov, allow_singular=singular_ok)
        with pytest.raises(error):
            stats.multivariate_normal.logpdf(x, np.zeros(2), cov, allow_singular=singular_ok)
    points = np.array([[0.3, -0.2], [0.4, 0.4]])
    _close(stats.multivariate_normal.logpdf(anp.Tensor(points, requires_grad=True), np.zeros(2), np.ones((2, 2)),
                                            allow_singular=True).numpy(),
           scipy.stats.multivariate_normal.logpdf(points, np.zeros(2), np.ones((2, 2)), allow_singular=True))
    loss = lambda c, ok: anp.sum(stats.multivariate_normal.logpdf(points, np.zeros(2), c, allow_singular=ok))  # noqa: E731
    _close(anp.grad(loss)(np.eye(2), True), anp.grad(loss)(np.eye(2), False))
    with pytest.raises(ValueError, match="greater than 0"):
        stats.dirichlet.logpdf(anp.Tensor(np.array([0.2, 0.3, 0.5]), requires_grad=True), np.array([1.0, 0.0, 3.0]))


# --------------------------------------------------------------------------- reverse mode by hand

def _hand_reverse(lib):
    """pymoo's Jacobians and PennyLane's independence check, as they drive HIPS's reverse mode by hand."""
    import gc
    import importlib
    np_ = importlib.import_module(f"{lib}.numpy")
    core, tracer = importlib.import_module(f"{lib}.core"), importlib.import_module(f"{lib}.tracer")
    VJPNode, backward_pass, new_box = core.VJPNode, core.backward_pass, tracer.new_box

    def f(x):
        return {"F": np_.stack([np_.sum(x ** 2, axis=1), np_.sin(x[:, 0]) * x[:, 1]], axis=1),
                "G": x[:, :1] - 0.5 * np_.exp(x[:, 1:2]), "H": None}

    x = np.random.default_rng(0).normal(size=(4, 3))
    start = new_box(x, 0, VJPNode.new_root())  # the root node is dropped at once, as pymoo drops it
    end = f(start)
    gc.collect()
    out = {}
    for name, val in end.items():
        if val is None:
            continue
        rows, plain = [], []
        for j in range(val.shape[1]):
            b = np_.zeros(val.shape)
            b[:, j] = 1
            rows.append(backward_pass(new_box(b, 0, VJPNode.new_root()), val._node))  # a boxed g: boxes back
            plain.append(backward_pass(b.copy(), val._node))  # a plain g: arrays back
        out[name] = np_.stack(rows, axis=1)._value
        out[name + " plain"] = np.stack(plain, axis=1)
    s = new_box(np.array([0.3, -1.2, 2.0]), 0, VJPNode.new_root())
    val = np_.array([np_.sum(s ** 3)])  # pymoo's elementwise problems: a scalar made a 1-vector
    out["scalar"] = np_.stack([backward_pass(new_box(np.ones(1), 0, VJPNode.new_root()), val._node)], 0)._value
    tb = new_box((np.array([0.3, -1.2, 2.0]), 2.0), 0, VJPNode.new_root())
    out["tuple"] = backward_pass(1.0, np_.sum(tb[0] * tb[1] ** 3)._node)

    def independent(func, *args):
        with tracer.trace_stack.new_trace() as t:
            sb = new_box(args, t, VJPNode.new_root())
            eb = func(*sb)
            ends = eb if type(eb) in (tuple, list) else [eb]
            return not any(tracer.isbox(e) and e._trace == sb._trace for e in ends)
    out["independent"] = [independent(lambda a, b: a * b, 1.0, 2.0), independent(lambda a, b: np.ones(3), 1.0, 2.0),
                          independent(lambda a, b: (a, 2.0), np.ones(2), 1.0),
                          independent(lambda a, b: (3.0, b * 0), np.ones(2), 1.0)]
    return out, x


def test_jacobians_by_new_box_and_backward_pass_equal_hips_and_differences():
    """pymoo pulls unit rows back with ``backward_pass(new_box(b, 0, VJPNode.new_root()), val._node)``, a boxed g
    (so the rows are boxes, stacked and unboxed with ``_value``); the result's graph is kept between rows."""
    got, x = _hand_reverse("autonp")
    want, _ = _hand_reverse("autograd")
    assert got.keys() == want.keys()
    for k in got:
        if k == "independent":
            assert got[k] == want[k] == [False, True, False, False]
        else:
            _tree_close(got[k], want[k], rtol=1e-13, atol=1e-15)
    # and against differences: F[:, 1] = sin(x0)·x1, row i's Jacobian is zero outside row i
    for i in range(4):
        fd = central_diff(lambda r: np.sin(r[0]) * r[1], x[i].copy())
        _close(got["F"][i, 1], fd, rtol=1e-7, atol=1e-9)
    _close(got["scalar"], [[0.27, 4.32, 12.0]])  # 3x²


NESTED_TRACES = """
import sys
import numpy as np
lib = sys.argv[1]
np_ = __import__(lib + ".numpy", fromlist=["x"])
core, tracer = __import__(lib + ".core", fromlist=["x"]), __import__(lib + ".tracer", fromlist=["x"])
x = np.array([0.5, -1.0, 2.0])
with tracer.trace_stack.new_trace() as t1:
    b1 = tracer.new_box(x, t1, core.VJPNode.new_root())
    with tracer.trace_stack.new_trace() as t2:
        b2 = tracer.new_box(b1, t2, core.VJPNode.new_root())
        y = np_.sum(np_.sin(b2) * b1 ** 2)
        inner = core.backward_pass(1.0, y._node)          # ∂y/∂b2 = cos(b2)·b1², b1 held
    outer = core.backward_pass(1.0, np_.sum(inner * np_.arange(3.0))._node)   # d/db1 of Σ k·cos(b1)·b1²
start = core.VJPNode.new_root()
value, end = tracer.trace(start, lambda v: np_.tanh(v) * 3.0, x)   # HIPS's own make_vjp, written out
print(repr([list(inner._value), list(outer), list(value), list(core.backward_pass(np.arange(3.0), end))]))
"""


def test_backward_pass_in_nested_traces_belongs_to_the_innermost_trace_open_when_the_result_was_made():
    """Inside trace 2 the pass is ∂/∂b2 with b1 held; its result belongs to trace 1 once trace 2 closes, so the
    next pass is the whole d/db1 (through b2 too). Choosing by nesting alone (the innermost box reached) gave the
    partial derivative the second time: 0.84 where HIPS and the formula give -0.24."""
    out = _in_both(NESTED_TRACES)
    got, want = (eval(out[lib], {"np": np}) for lib in ("autonp", "autograd"))  # noqa: S307 - our own output
    for a, b in zip(got, want):
        _close(a, b, rtol=1e-13, atol=1e-15)
    x, k = np.array([0.5, -1.0, 2.0]), np.arange(3.0)
    _close(got[1], k * (2 * x * np.cos(x) - x ** 2 * np.sin(x)))
    _close(got[3], k * 3.0 / np.cosh(x) ** 2)


def test_backward_pass_refuses_what_hips_would_answer_for_one_box_of_two():
    from autonp.core import VJPNode, backward_pass
    from autonp.tracer import _started, new_box
    x = np.array([0.5, -1.0, 2.0])
    a, c = new_box(x, 0, VJPNode.new_root()), new_box(x, 0, VJPNode.new_root())
    with pytest.raises(ValueError, match="2 values boxed separately"):
        backward_pass(1.0, anpn.sum(a * c)._node)
    with pytest.raises(ValueError, match="does not depend on a value boxed"):
        backward_pass(1.0, anpn.sum(anp.Tensor(x, requires_grad=True) * 2)._node)
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        backward_pass(np.ones(2), anpn.sin(a)._node)
    from autonp.numpy.numpy_boxes import ArrayBox
    from autonp.tracer import Box

    class Own(np.ndarray):
        pass
    ArrayBox.register(Own)  # PennyLane registers its ndarray subclass: a Tensor holds any ndarray
    with pytest.raises(NotImplementedError, match="traces Tensors only"):
        Box.register(dict)  # a box for another kind of value (HIPS's rkhs.py) has no counterpart
    import gc
    del a, c
    gc.collect()
    before = len(_started)
    for _ in range(200):  # what new_box registers goes with its variables
        anpn.sum(new_box(x, 0, VJPNode.new_root()) ** 2)
    gc.collect()
    assert len(_started) == before


def test_vspace_agrees_with_hips():
    from autograd.core import vspace as hips_vspace

    from autonp.core import vspace
    x = RNG.normal(size=(4, 3))
    for value in (x, 2.0, np.float32(1.5), x + 1j, (x, {"a": 1.0, "b": [x[0], 3j]})):
        a, h = vspace(value), hips_vspace(value)
        assert a.size == h.size and repr(a) == repr(h)
        _tree_close(a.zeros(), h.zeros())
        _tree_close(a.ones(), h.ones())
        for e, f in zip(a.standard_basis(), h.standard_basis(), strict=True):
            _tree_close(e, f)
        y = h.ones()
        _close(a.inner_prod(value, y), h.inner_prod(value, y))
        _tree_close(a.add(value, y), h.add(value, y))
        _tree_close(a.scalar_mul(value, 3.0), h.scalar_mul(value, 3.0))
        _tree_close(a.covector(value), h.covector(value))
    assert vspace(x) == vspace(x + 1) and vspace(x) != vspace(x[:2])
    assert vspace(anp.Tensor(x, requires_grad=True)) == vspace(x)
    with pytest.raises(TypeError, match="Can't find vector space"):
        vspace((3, 4))  # integers are no vector space (pymoo asks for it; HIPS refuses too)
    from autonp.numpy.numpy_vspaces import ArrayVSpace, ComplexArrayVSpace
    assert type(vspace(x)) is ArrayVSpace and type(vspace(x + 1j)) is ComplexArrayVSpace
    w = anp.Tensor(x, requires_grad=True)  # the operations are on the tape
    _close(anp.grad(lambda w: vspace(x).inner_prod(w, w))(x), 2 * x)
    assert vspace(x).inner_prod(w, w).requires_grad


def test_small_helpers_programs_import_agree_with_hips():
    """``autograd.util.subvals``/``toposort``, ``wrap_util.wraps``/``wrap_nary_f`` (names of operators made with
    ``unary_to_nary``) and ``test_util.make_numerical_jvp``: the same answers from both libraries."""
    import importlib

    def program(lib):
        util, wrap_util = importlib.import_module(f"{lib}.util"), importlib.import_module(f"{lib}.wrap_util")
        test_util, core = importlib.import_module(f"{lib}.test_util"), importlib.import_module(f"{lib}.core")
        np_, tracer = importlib.import_module(f"{lib}.numpy"), importlib.import_module(f"{lib}.tracer")
        out = [util.subvals((1, 2, 3), [(0, 9), (2, 8)]), util.subval([1, 2], 1, 5), util.func(len) is len]

        @wrap_util.unary_to_nary
        def my_grad(fun, x):
            vjp, _ = core.make_vjp(fun, x)
            return vjp(1.0)

        def area(w, h):
            return w * h
        g = my_grad(area, 1)
        out += [g.__name__, float(g(2.0, 3.0)), wrap_util.get_name(area), wrap_util.get_name(3)]
        named = wrap_util.wraps(area, "{fun}_{k}", "doc of {fun}", k=7)(lambda: None)
        out += [named.__name__, named.__doc__]

        class Graph(tracer.Node):  # HIPS's dot_graph.py: nodes with parents, sorted from the end
            def __init__(self, value, fun, args, kwargs, parent_argnums, parents):
                self.parents, self.name = parents, getattr(fun, "__name__", "?")

            def initialize_root(self, *args, **kwargs):
                self.parents, self.name = [], "x"
        x = np.array([0.3, 1.2])
        _, end = tracer.trace(Graph.new_root(), lambda v: np_.sum(np_.sin(v) * v + np_.exp(v) * np_.cos(v)), x)
        out.append(len(list(util.toposort(end))))
        order = list(util.toposort(end))
        out.append(all(order.index(p) > order.index(n) for n in order for p in n.parents))  # parents after children
        jvp = test_util.make_numerical_jvp(lambda v: np_.sin(v) * v[0], x)
        out.append(np.round(jvp(np.array([1.0, -0.5])), 6).tolist())
        return out
    assert program("autonp") == program("autograd")


SCIPY_VJPS = """
import sys
import numpy as np
lib = sys.argv[1]
np_, grad = __import__(lib + ".numpy", fromlist=["x"]), __import__(lib, fromlist=["grad"]).grad
sl, ext = __import__(lib + ".scipy.linalg", fromlist=["x"]), __import__(lib + ".extend", fromlist=["x"])
a, b = np.arange(6.0).reshape(3, 2) / 5, np.arange(8.0).reshape(4, 2) / 7 - 0.3
print(repr(sl.khatri_rao(a, b).round(12).tolist()))  # SciPy's own, before any VJP
def vjp_a(ans, a, b):
    return lambda g: np_.sum(np_.reshape(g, (a.shape[0], b.shape[0], -1)) * b[None], axis=1)
def vjp_b(ans, a, b):
    return lambda g: np_.sum(np_.reshape(g, (a.shape[0], b.shape[0], -1)) * a[:, None], axis=0)
ext.defvjp(sl.khatri_rao, vjp_a, vjp_b)   # ssm gives cholesky_banded and solveh_banded theirs so
loss = lambda a, b: np_.sum(np_.sin(sl.khatri_rao(a, b)))
print(repr([grad(loss, 0)(a, b).round(12).tolist(), grad(loss, 1)(a, b).round(12).tolist()]))
"""


def test_scipy_linalg_functions_take_derivatives_from_defvjp_as_hips_makes_them_primitives():
    """ssm gives ``autograd.scipy.linalg``'s ``cholesky_banded`` and ``solveh_banded`` VJPs with ``defvjp``; they were
    SciPy's own functions in autonp (``defvjp``: not a primitive). Each SciPy function is a primitive now, SciPy's own
    call until it has derivatives: values and gradients as HIPS's, and the gradient against differences."""
    out = _in_both(SCIPY_VJPS)
    assert out["autonp"] == out["autograd"]
    import scipy.linalg as sl
    a, b = np.arange(6.0).reshape(3, 2) / 5, np.arange(8.0).reshape(4, 2) / 7 - 0.3
    ga = central_diff(lambda a: np.sum(np.sin(sl.khatri_rao(a, b))), a.copy())
    _close(np.array(eval(out["autonp"].splitlines()[1])[0]), ga, rtol=1e-7)  # noqa: S307 - our own output


def test_a_scipy_function_without_derivatives_is_scipys_own_and_refuses_a_tensor_being_differentiated():
    import scipy.linalg as sl

    import autonp.scipy.linalg as asl
    a = RNG.normal(size=(3, 2))
    assert isinstance(asl.khatri_rao, anp.Primitive) and not asl.khatri_rao.vjps
    _close(asl.khatri_rao(a, a), sl.khatri_rao(a, a))
    lu = asl.lu(np.eye(3) + 0.1)  # a tuple of differently shaped arrays, as SciPy returns it
    assert isinstance(lu, tuple) and all(type(m) is np.ndarray for m in lu)
    with pytest.raises(TypeError, match="requires grad was converted to a NumPy array"):
        anp.grad(lambda a: anpn.sum(asl.khatri_rao(a, a)))(a)
    assert asl.LinAlgError is sl.LinAlgError and asl.solve_banded.vjps  # classes as they are; autonp's own stay


NEW_PRIMITIVES = """
import sys
import numpy as np
lib = sys.argv[1]
np_, grad = __import__(lib + ".numpy", fromlist=["x"]), __import__(lib, fromlist=["grad"]).grad
ext = __import__(lib + ".extend", fromlist=["x"])
x = np.array([[0.3, 1.2, -0.7], [2.0, 0.1, 0.4]])
ext.defvjp(np_.linalg.pinv, lambda ans, A: lambda g: -ans.T @ g @ ans.T)  # a composition in autonp
ext.defvjp(np_.heaviside, lambda ans, x, h: lambda g: g * 0.0 + 7.0, None)  # constant in autonp
ext.defvjp(np_.choose, None, lambda ans, a, c: lambda g: np_.stack([g * (a == k) for k in range(len(c))]))  # refused
out = [grad(lambda x: np_.sum(np_.linalg.pinv(x) ** 2))(x), grad(lambda x: np_.sum(np_.heaviside(x, 0.5)))(x),
       grad(lambda c: np_.sum(np_.choose(np.array([0, 1, 0]), c) ** 2))(x)]
print(repr([np.round(o, 12).tolist() for o in out]))
if lib == "autonp":  # what HIPS has no counterpart for, or ignores
    import scipy.special as sc
    ext.defvjp(np_.std, lambda ans, x, **kw: lambda g: g * np_.ones_like(x) / x.size)  # HIPS 1.9: a wrapper, ignored
    ext.defvjp(sc.struve, None, lambda ans, v, z: lambda g: g * 2.0)  # a SciPy ufunc autonp has no derivative for
    ext.defvjp(sc.gammaln, lambda ans, z: lambda g: g * 5.0)  # one it has, before autonp.scipy.special is imported
    import autonp.scipy.special as asp
    print(repr([grad(lambda x: np_.std(x) * 3)(x).tolist(), grad(lambda z: np_.sum(sc.struve(1.0, z)))(x).tolist(),
                grad(lambda z: np_.sum(asp.gammaln(z + 3)))(x).tolist()]))
"""


def test_defvjp_makes_any_numpy_function_or_ufunc_a_primitive_as_hips_does():
    """HIPS makes every NumPy function a primitive, so ``defvjp`` gives any of them derivatives; autonp refused the
    ones it differentiates as compositions (``np.linalg.pinv``), treats as constants (``np.heaviside``) or has no
    derivative for (``np.choose``; SciPy's ``struve``) — and ``autonp.numpy``'s wrappers of NumPy's functions
    (``std``). The same gradients as HIPS's; a SciPy ufunc autonp differentiates keeps the VJP given before
    ``autonp.scipy.special`` is imported (which registers its own)."""
    out = _in_both(NEW_PRIMITIVES)
    ours = out["autonp"].splitlines()
    assert ours[0] == out["autograd"].strip()
    assert "7.0" in ours[0] and "-1.4" in ours[0]  # heaviside's given slope; choose: 2·c where chosen
    std, struve, gammaln = eval(ours[1])  # noqa: S307 - our own output
    _close(std, np.full((2, 3), 0.5))
    _close(struve, np.full((2, 3), 2.0))
    _close(gammaln, np.full((2, 3), 5.0))


def test_stack_and_concatenate_take_any_iterable_as_hips_does():
    """mici stacks ``map(vjp, basis)`` (a Jacobian row by row): HIPS's ``stack``/``concatenate``/``hstack``/``vstack``/
    ``column_stack`` take any iterable; NumPy 2's refuse one that is not a sequence."""
    x = RNG.normal(size=3)

    def program(np_):
        rows = lambda: (np_.sin(x * k) for k in range(1, 4))  # noqa: E731
        return [np_.stack(map(lambda k: x * k, range(3))), np_.concatenate(rows()), np_.hstack(rows()),
                np_.vstack(rows()), np_.column_stack(rows()), np_.stack(rows(), axis=1)]
    for got, want in zip(program(anpn), program(hnp)):
        _close(got, want)
    g = anp.grad(lambda x: anpn.sum(anpn.stack(map(lambda k: anpn.sin(x * k), range(1, 4))) ** 2))(x)
    h = autograd.grad(lambda x: hnp.sum(hnp.stack(map(lambda k: hnp.sin(x * k), range(1, 4))) ** 2))(x)
    _close(g, h)
