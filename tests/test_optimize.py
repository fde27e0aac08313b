"""symdiff.optimize: SciPy's minimize and least_squares fed by compiled
derivatives (sd.value_and_grad, sd.Objective, sd.LeastSquares).

Oracles: known optima (Rosenbrock's (1, 1), the solution of A w = b, the
parameters synthetic data were made with), central differences of the
compiled functions, and SciPy's own rosen_der / rosen_hess.
"""

from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd

scipy_optimize = pytest.importorskip("scipy.optimize")
minimize, least_squares = scipy_optimize.minimize, scipy_optimize.least_squares

x, y = sd.symbols("x y")
ROSEN = 100 * (y - x ** 2) ** 2 + (1 - x) ** 2
A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
B = np.array([1.0, -2.0, 0.5])


@pytest.fixture(scope="module", autouse=True)
def _cache_dir(tmp_path_factory):
    """A private compile cache: no test reads or fills the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SYMDIFF_CACHE_DIR", str(tmp_path_factory.mktemp("symdiff-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def rosen():
    return sd.Objective(ROSEN, [x, y])


@pytest.fixture(scope="module")
def quadratic():
    """0.5 w.A.w - b.w + 0.1 sum(w^4) over a vector symbol (minimum: no
    closed form, but A w + 0.4 w^3 = b there)."""
    w = sd.tensor("w", (3,))
    f = 0.5 * (w @ (sd.constant(A) @ w)) - sd.constant(B) @ w + 0.1 * sd.sum(w ** 4)
    return sd.Objective(f, w)


def central_jacobian(fun, x0, h=1e-6):
    """Central differences of a vector (or scalar) function, column by column."""
    x0 = np.asarray(x0, dtype=float)
    cols = []
    for k in range(x0.size):
        e = np.zeros_like(x0)
        e[k] = h * max(1.0, abs(x0[k]))
        cols.append((np.asarray(fun(x0 + e)) - np.asarray(fun(x0 - e))) / (2 * e[k]))
    return np.stack(cols, axis=-1)


# ---------------------------------------------------------------------------
# minimize


def test_bfgs_with_value_and_grad():
    fg = sd.value_and_grad(ROSEN, [x, y])
    f0, g0 = fg(np.array([-1.2, 1.0]))
    assert f0 == pytest.approx(24.2, rel=1e-15)
    np.testing.assert_allclose(g0, [-215.6, -88.0], rtol=1e-14)
    res = minimize(fg, [-1.2, 1.0], jac=True, method="BFGS", options={"gtol": 1e-9})
    assert res.success
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)
    assert fg.__self__.calls["value_and_grad"] == res.nfev


@pytest.mark.parametrize("method, use", [("Newton-CG", "hess"), ("Newton-CG", "hessp"),
                                         ("trust-exact", "hess"), ("trust-ncg", "hessp")])
def test_newton_methods_reach_the_minimum(rosen, method, use):
    kw = {use: getattr(rosen, use)}
    res = minimize(rosen.fun, [-1.2, 1.0], jac=rosen.jac, method=method, tol=1e-8, **kw)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-5)
    assert res.fun < 1e-10


def test_derivatives_match_scipy_and_central_differences(rosen):
    from scipy.optimize import rosen_der, rosen_hess

    rng = np.random.default_rng(3)
    for p in rng.uniform(-2, 2, (4, 2)):
        np.testing.assert_allclose(rosen.jac(p), rosen_der(p), rtol=1e-14, atol=1e-12)
        H = rosen.hess(p)
        np.testing.assert_allclose(H, rosen_hess(p), rtol=1e-14, atol=1e-12)
        np.testing.assert_allclose(H, central_jacobian(rosen.jac, p), rtol=1e-6, atol=1e-5)
        v = rng.normal(size=2)
        np.testing.assert_allclose(rosen.hessp(p, v), H @ v, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(rosen.jac(p), central_jacobian(rosen.fun, p),
                                   rtol=1e-7, atol=1e-6)


def test_vector_symbol_objective(quadratic):
    res = minimize(quadratic.fun, np.zeros(3), jac=quadratic.jac, hess=quadratic.hess,
                   method="trust-exact", options={"gtol": 1e-12})
    w = res.x
    np.testing.assert_allclose(A @ w + 0.4 * w ** 3, B, atol=1e-10)   # stationary
    p = np.array([0.3, -0.2, 0.7])
    np.testing.assert_allclose(quadratic.hess(p), A + np.diag(1.2 * p ** 2), rtol=1e-15)
    np.testing.assert_allclose(quadratic.hessp(p, np.ones(3)),
                               (A + np.diag(1.2 * p ** 2)) @ np.ones(3), rtol=1e-14)
    np.testing.assert_allclose(quadratic.jac(p), central_jacobian(quadratic.fun, p),
                               rtol=1e-7, atol=1e-8)


def test_mixed_variables_and_data():
    """A scalar and a vector variable, a matrix given as data: x is their
    concatenation; the gradient and H p agree with central differences."""
    s = sd.symbol("s")
    v = sd.tensor("v", (2,))
    M = sd.tensor("M", (2, 2))
    f = sd.sum(sd.exp(s * (M @ v))) + s ** 2 * sd.sum(v * v)
    M0 = np.array([[0.5, -0.3], [0.2, 0.4]])
    obj = sd.Objective(f, [s, v], data={"M": M0})
    p = np.array([0.7, 0.4, -0.9])
    np.testing.assert_allclose(obj.jac(p), central_jacobian(obj.fun, p), rtol=1e-7)
    u = np.array([1.0, -0.5, 2.0])
    np.testing.assert_allclose(obj.hessp(p, u), central_jacobian(obj.jac, p) @ u, rtol=1e-6)
    with pytest.raises(ValueError, match="hessp"):
        obj.hess(p)


def test_fun_and_jac_at_one_point_call_the_kernel_once():
    obj = sd.Objective(ROSEN, [x, y])
    assert obj.calls == {}                        # nothing compiled yet
    p = np.array([0.5, 0.5])
    assert obj.fun(p) == 6.5
    g = obj.jac(p)
    assert obj.calls == {"value_and_grad": 1}     # jac reused the call of fun
    g[:] = 0.0                                    # the caller's copy
    np.testing.assert_array_equal(obj.jac(p), [-51.0, 50.0])
    obj.fun(p + 1e-3)
    assert obj.calls == {"value_and_grad": 2}
    obj.hess(p)
    assert obj.calls == {"value_and_grad": 2, "hess": 1}


def test_hessian_is_exactly_symmetric(rosen):
    H = rosen.hess(np.array([-0.3, 1.7]))
    assert H[0, 1] == H[1, 0]
    # a tensor Hessian whose triangles round differently (by 8.9e-16 here)
    w, M = sd.tensor("w", (4,)), sd.tensor("M", (4, 4))
    M0 = np.random.default_rng(1).normal(size=(4, 4))
    obj = sd.Objective(sd.sum(sd.tanh(M @ w)) ** 2, w, data={"M": M0})
    p = np.random.default_rng(0).normal(size=4)
    Hw = obj.hess(p)
    np.testing.assert_array_equal(Hw, Hw.T)
    np.testing.assert_allclose(Hw, central_jacobian(obj.jac, p), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# errors


def test_wrong_length_names_the_variables(rosen, quadratic):
    with pytest.raises(ValueError, match=r"shape \(3,\); expected \(2,\): the values of x, y"):
        rosen.fun(np.zeros(3))
    with pytest.raises(ValueError, match=r"w \(shape \(3,\)\)"):
        quadratic.jac(np.zeros(2))
    with pytest.raises(ValueError, match="p has shape"):
        rosen.hessp(np.zeros(2), np.zeros(5))


def test_bad_objectives_and_variables():
    with pytest.raises(ValueError, match="one scalar expression"):
        sd.Objective(sd.tensor("w", (3,)) * 2, sd.tensor("w", (3,)))
    with pytest.raises(TypeError, match="symbols"):
        sd.Objective(ROSEN, [x, x + y])
    with pytest.raises(ValueError, match="no value for y"):
        sd.Objective(ROSEN, [x])
    with pytest.raises(ValueError, match="'z', which the expression does not use"):
        sd.Objective(ROSEN, [x, y], data={"z": 1.0})
    with pytest.raises(ValueError, match="listed twice"):
        sd.Objective(ROSEN, [x, y, x])


def test_data_fixes_the_other_symbols():
    obj = sd.Objective((x - y) ** 2 + sd.cosh(x - y), [x], data={"y": 4.0})
    res = minimize(obj.fun, [1.0], jac=obj.jac, method="BFGS")
    np.testing.assert_allclose(res.x, [4.0], atol=1e-7)
    assert res.fun == pytest.approx(1.0, abs=1e-13)


# ---------------------------------------------------------------------------
# least_squares


def test_least_squares_per_point_data_recovers_the_model():
    amp, rate = sd.symbols("amp rate")
    t, obs = sd.symbols("t obs")
    r = amp * sd.exp(-rate * t) - obs
    T = np.linspace(0.0, 4.0, 40)
    Y = 3.0 * np.exp(-0.7 * T)
    ls = sd.LeastSquares(r, [amp, rate], data={"t": T, "obs": Y})
    p0 = np.array([1.0, 0.2])
    J = ls.jac(p0)
    assert J.shape == (40, 2)
    np.testing.assert_allclose(J, central_jacobian(ls.fun, p0), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(J[:, 0], np.exp(-0.2 * T), rtol=1e-15)
    res = least_squares(ls.fun, p0, jac=ls.jac)
    np.testing.assert_allclose(res.x, [3.0, 0.7], rtol=1e-9)
    assert ls.calls <= res.nfev + res.njev          # fun + jac at one x: one call


def test_least_squares_list_and_vector_residuals():
    ls = sd.LeastSquares([x - 1, 10 * (y - x ** 2)], [x, y])
    np.testing.assert_allclose(ls.jac([2.0, 1.0]), [[1.0, 0.0], [-40.0, 10.0]])
    res = least_squares(ls.fun, [-1.2, 1.0], jac=ls.jac)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)
    w = sd.tensor("w", (3,))
    lin = sd.LeastSquares(sd.constant(A) @ w - sd.constant(B), w)
    np.testing.assert_array_equal(lin.jac(np.zeros(3)), A)
    res = least_squares(lin.fun, np.zeros(3), jac=lin.jac)
    np.testing.assert_allclose(res.x, np.linalg.solve(A, B), atol=1e-12)


def test_least_squares_errors():
    amp, t = sd.symbols("amp t")
    with pytest.raises(ValueError, match="one length"):
        sd.LeastSquares(amp * t, [amp], data={"t": np.zeros((3, 2))})
    ls = sd.LeastSquares([x - 1, y], [x, y])
    with pytest.raises(ValueError, match="the values of x, y"):
        ls.fun([1.0])


def test_the_last_point_cache_tells_minus_zero_from_zero():
    a, b = sd.symbols("a b")
    o = sd.Objective(1 / a + b, [a, b])
    assert o.fun(np.array([0.0, 1.0])) == np.inf
    assert o.fun(np.array([-0.0, 1.0])) == -np.inf       # not the cached +inf


def test_objective_refuses_per_point_arrays_for_scalar_symbols():
    a, b, t = sd.symbols("a b t")
    with pytest.raises(ValueError, match=r"data for t: an array of shape \(3,\) for a scalar "
                                         r"symbol; per-point data arrays are for sd.LeastSquares"):
        sd.Objective((a * t - b) ** 2, [a, b], data={"t": np.arange(3.0)})
