"""Deep and wide tensor graphs through every pass (build, grad, schedule,
evaluate, to_scalars, pickling) at CPython's default recursion limit:
every graph algorithm must be iterative.

Oracles: a numpy loop that carries the 4 x 4 Jacobian of the deep chain
forward (independent of symdiff), closed forms for the wide sums.  The
long runs are marked ``slow`` (each takes a few seconds).
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from tensor_oracles import close

import symdiff as sd
from symdiff.core.graph import reachable

DEPTH = 100_000
# A rotation: the chain neither explodes nor collapses in one step.
ROT = np.array([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
_CYCLE = 6          # sin, transpose, @ ROT, reshape (4,), [::-1], reshape (2, 2)


def _deep_chain(x, n_nodes: int):
    """A chain of ``n_nodes`` tensor operations on the 2 x 2 symbol x,
    cycling through an elementwise op and five structural ones (no rule
    shortens it: each op's argument is of another kind)."""
    e = x
    for _ in range(n_nodes // _CYCLE):
        e = sd.sin(e)
        e = e.T
        e = e @ ROT
        e = sd.reshape(e, (4,))
        e = e[::-1]
        e = sd.reshape(e, (2, 2))
    return e


def _deep_chain_numpy(x0: np.ndarray, n_nodes: int):
    """The chain's value and the gradient of the sum of its entries, by a
    forward numpy loop over the flattened state and its 4 x 4 Jacobian."""
    s = x0.ravel().copy()
    J = np.eye(4)
    T = np.eye(4)[[0, 2, 1, 3]]                  # ravel(S.T) = T ravel(S)
    R = np.kron(np.eye(2), ROT.T)               # ravel(S @ ROT) = R ravel(S)
    V = np.eye(4)[::-1]                          # reversal
    for _ in range(n_nodes // _CYCLE):
        J = np.cos(s)[:, None] * J
        s = np.sin(s)
        s, J = T @ s, T @ J
        s, J = R @ s, R @ J
        s, J = V @ s, V @ J
    return s.reshape(2, 2), J.sum(axis=0).reshape(2, 2)


@pytest.mark.slow
def test_deep_chain_every_pass(default_recursion_limit):
    x = sd.tensor("x", (2, 2))
    x0 = np.array([[0.3, -0.2], [0.1, 0.5]])
    with default_recursion_limit():
        f = sd.sum(_deep_chain(x, DEPTH))
        g = sd.grad(f, x)
        assert sd.count_ops(f) == DEPTH // _CYCLE * _CYCLE + 1
        # the gradient stays within a small constant of f (no blow-up)
        n_all = sd.count_ops([f, g])
        assert n_all < 3 * sd.count_ops(f)
        program = sd.schedule([f, g])
        assert len(program.instrs) == len(reachable([f, g]))
        fv, gv = sd.evaluate([f, g], {"x": x0})
        blob = pickle.dumps([f, g])
        f2, g2 = pickle.loads(blob)
        g_again = sd.grad(f, x)
    value, grad = _deep_chain_numpy(x0, DEPTH)
    # Rounding differs (numpy's matmul vs the Jacobian products) by a few
    # ulps per step: 1e5 steps stay far below 1e-9 relative.
    assert abs(fv - value.sum()) <= 1e-9 * np.abs(value).sum()
    assert np.max(np.abs(gv - grad)) <= 1e-9 * np.max(np.abs(grad))
    assert np.max(np.abs(grad)) > 1e-6                # the check is not vacuous
    # pickling: the same interned nodes back, in linear size (bytes per node)
    assert f2 is f and g2 is g
    assert len(blob) < 40 * n_all
    assert g_again is g                               # grad is deterministic


@pytest.mark.slow
def test_deep_vector_chain_to_scalars(default_recursion_limit):
    # to_scalars on a 10^5-deep chain of a 2-vector: x <- sin(x[::-1]).
    x = sd.tensor("x", (2,))
    with default_recursion_limit():
        e = x
        for _ in range(DEPTH // 2):
            e = sd.sin(e[::-1])
        f = sd.sum(e)
        fs = sd.to_scalars(f)
        value = sd.evaluate(fs, {"x0": 0.3, "x1": -0.2})
        tensor_value = sd.evaluate(f, {"x": np.array([0.3, -0.2])})
    a, b = 0.3, -0.2
    for _ in range(DEPTH // 2):
        a, b = math.sin(b), math.sin(a)
    assert value == a + b
    assert tensor_value == pytest.approx(a + b, rel=1e-12)


# ---------------------------------------------------------------------------
# Wide graphs


@pytest.mark.slow
def test_wide_sum_of_tensor_terms(default_recursion_limit):
    # f = sum_k w_k sum(sin(c_k x)): 5,000 tensor terms added into one
    x = sd.tensor("x", (3,))
    rng = np.random.default_rng(20240611)
    K = 5_000
    cs, ws = rng.uniform(0.5, 1.5, K), rng.uniform(-1.0, 1.0, K)
    x0 = np.array([0.3, -0.2, 0.7])
    with default_recursion_limit():
        e = sd.sum([sd.sin(x * float(c)) * float(w) for c, w in zip(cs, ws)])
        f = sd.sum(e)
        g = sd.grad(f, x)
        fv, gv = sd.evaluate([f, g], {"x": x0})
        blob = pickle.dumps([f, g])
    assert e.shape == (3,)
    assert sd.count_ops([f, g]) < 10 * K
    assert fv == pytest.approx(float(np.sum(ws[:, None] * np.sin(cs[:, None] * x0))), rel=1e-12)
    close(gv, np.sum((ws * cs)[:, None] * np.cos(cs[:, None] * x0), axis=0), 1e-12,
          "wide gradient")
    assert pickle.loads(blob) == [f, g]


@pytest.mark.slow
def test_many_tensor_variables(default_recursion_limit):
    # 3,000 tensor parameters: one gradient per parameter, one sweep
    x = sd.tensor("x", (3,))
    Ws = [sd.tensor(f"W{k}", (3,)) for k in range(3_000)]
    rng = np.random.default_rng(7)
    point = {f"W{k}": rng.uniform(-1.0, 1.0, 3) for k in range(3_000)}
    point["x"] = np.array([0.3, -0.2, 0.7])
    with default_recursion_limit():
        f = sd.sum([sd.sum(sd.sin(W) * x) for W in Ws])
        grads = sd.grad(f, Ws + [x])
        values = sd.evaluate([f, *grads], point)
    w = np.array([point[f"W{k}"] for k in range(3_000)])
    assert values[0] == pytest.approx(float(np.sum(np.sin(w) @ point["x"])), rel=1e-12)
    for k in (0, 1_234, 2_999):
        np.testing.assert_allclose(values[1 + k], np.cos(w[k]) * point["x"], rtol=1e-15)
    close(values[-1], np.sin(w).sum(axis=0), 1e-12, "d/dx")


# ---------------------------------------------------------------------------
# Pickling and rebuilding tensor programs


def _mlp_and_grads(L: int):
    X = sd.tensor("X", ("m", 5))
    y = sd.tensor("y", ("m",), dtype=int)
    params, a = [], X
    for i, (n_in, n_out) in enumerate(zip((5,) + (8,) * L, (8,) * L + (3,))):
        W, b = sd.tensor(f"W{i}", (n_in, n_out)), sd.tensor(f"b{i}", (n_out,))
        params += [W, b]
        a = a @ W + b
        a = sd.tanh(a) if i < L else a
    loss = sd.mean(sd.logsumexp(a, axis=1) - sd.sum(sd.onehot(y, 3) * a, axis=1))
    return [loss, *sd.grad(loss, params)]


def test_pickled_tensor_gradients_rebuild_the_same_nodes():
    import gc

    blob = pickle.dumps(_mlp_and_grads(2))
    gc.collect()                                  # the original graph is gone
    loaded = pickle.loads(blob)
    rebuilt = _mlp_and_grads(2)
    assert all(a is b for a, b in zip(loaded, rebuilt))
    assert [n.shape for n in loaded] == [(), (5, 8), (8,), (8, 8), (8,), (8, 3), (3,)]
    assert sd.program_to_nodes(sd.schedule(rebuilt)) == rebuilt


def test_pickled_size_grows_linearly_with_the_layers():
    sizes = [len(pickle.dumps(_mlp_and_grads(L))) for L in range(1, 6)]
    steps = [b - a for a, b in zip(sizes, sizes[1:])]
    # a constant per layer (up to the lengths of names and slot numbers)
    assert max(steps) < 1.1 * min(steps), sizes
