"""Every tensor rewrite rule of ``symdiff/core/rules.py``: the rewritten
structure (the node it builds), its value against numpy evaluating the
*unrewritten* formula and against the scalar expansion, and the gradient
of the rewritten node against the expansion and central differences.

Rules the source marks exact must give the same bits as numpy on the
original formula; the others (scalar factors floated outward, the
distributive ``A x + B x -> (A + B) x``, ``(A c) d -> A (c d)``, ``sum(c 1) -> c k``) are exact up
to rounding, checked with ``EXACT`` (see ``tensor_oracles.py``).
"""

from __future__ import annotations

import zlib
from typing import Callable, NamedTuple

import numpy as np
import pytest
from tensor_oracles import check_grad, check_value

import symdiff as sd
from symdiff.core.node import dim, eye
from symdiff.core.rules import fast_rules

A, B = sd.tensor("A", (3, 3)), sd.tensor("B", (3, 3))
M, N = sd.tensor("M", (3, 2)), sd.tensor("N", (2, 4))
x, z = sd.tensor("x", (3,)), sd.tensor("z", (3,))
X = sd.tensor("X", ("m", 3))
c, d = sd.symbol("c"), sd.symbol("d")
I3 = eye(3)


class Rule(NamedTuple):
    id: str
    build: Callable          # () -> the expression as a user writes it
    expect: Callable         # () -> the node the rule must produce
    numpy: Callable          # arrays -> value of the unrewritten formula
    exact: bool              # same bits as numpy (the rule is exact in IEEE)


def _t(n):
    return sd.transpose(n)


RULES = [
    # --- elementwise rules on tensors
    Rule("-0+B", lambda: -0.0 + A, lambda: A, lambda v: -0.0 + v["A"], True),
    Rule("A-0", lambda: A - 0.0, lambda: A, lambda v: v["A"] - 0.0, True),
    Rule("-0-B", lambda: -0.0 - A, lambda: -A, lambda v: -0.0 - v["A"], True),
    Rule("a+-c", lambda: A + (-B), lambda: A - B, lambda v: v["A"] + -v["B"], True),
    Rule("-c+b", lambda: (-A) + x, lambda: x - A, lambda v: -v["A"] + v["x"], True),
    Rule("a--c", lambda: A - (-B), lambda: A + B, lambda v: v["A"] - -v["B"], True),
    Rule("1*b", lambda: 1.0 * A, lambda: A, lambda v: 1.0 * v["A"], True),
    Rule("-1*b", lambda: -1.0 * A, lambda: -A, lambda v: -1.0 * v["A"], True),
    Rule("c*-d", lambda: 2.0 * (-A), lambda: -2.0 * A, lambda v: 2.0 * -v["A"], True),
    Rule("-a*-b", lambda: (-A) * (-x), lambda: A * x, lambda v: -v["A"] * -v["x"], True),
    Rule("-a*b", lambda: (-A) * B, lambda: -(A * B), lambda v: -v["A"] * v["B"], True),
    Rule("a*-b", lambda: A * (-x), lambda: -(A * x), lambda v: v["A"] * -v["x"], True),
    Rule("a/1", lambda: A / 1.0, lambda: A, lambda v: v["A"] / 1.0, True),
    Rule("a/-1", lambda: A / -1.0, lambda: -A, lambda v: v["A"] / -1.0, True),
    Rule("-a/-b", lambda: (-A) / (-(2.0 + B * B)), lambda: A / (2.0 + B * B),
         lambda v: -v["A"] / -(2.0 + v["B"] ** 2), True),
    Rule("-a/b", lambda: (-A) / (2.0 + x * x), lambda: -(A / (2.0 + x * x)),
         lambda v: -v["A"] / (2.0 + v["x"] ** 2), True),
    Rule("--a", lambda: (-A).__neg__(), lambda: A, lambda v: v["A"], True),
    Rule("a^1", lambda: A ** 1.0, lambda: A, lambda v: v["A"] ** 1.0, True),
    Rule("A+A", lambda: A + A, lambda: 2.0 * A, lambda v: v["A"] + v["A"], True),
    # --- scalar factors float outward (up to rounding)
    Rule("X*(1/d)", lambda: A * (1.0 / d), lambda: A / d, lambda v: v["A"] * (1.0 / v["d"]),
         False),
    Rule("(c/S)*E", lambda: (c / (2.0 + B * B)) * A, lambda: A / (2.0 + B * B) * c,
         lambda v: v["c"] / (2.0 + v["B"] ** 2) * v["A"], False),
    Rule("(Ac)*B", lambda: (A * c) * B, lambda: (A * B) * c,
         lambda v: v["A"] * v["c"] * v["B"], False),
    Rule("(A/d)*B", lambda: (A / d) * B, lambda: (A * B) / d,
         lambda v: v["A"] / v["d"] * v["B"], False),
    Rule("(Ac)d", lambda: (A * c) * d, lambda: A * (c * d),
         lambda v: v["A"] * v["c"] * v["d"], False),
    Rule("(2A)/2", lambda: 0.5 * (2.0 * A), lambda: A, lambda v: 0.5 * (2.0 * v["A"]), True),
    Rule("Ac+Bc", lambda: A * c + B * c, lambda: (A + B) * c,
         lambda v: v["A"] * v["c"] + v["B"] * v["c"], False),
    Rule("A/d-B/d", lambda: A / d - B / d, lambda: (A - B) / d,
         lambda v: v["A"] / v["d"] - v["B"] / v["d"], False),
    # --- factoring products (distributive: up to rounding)
    Rule("Ax+Bx", lambda: A @ x + B @ x, lambda: (A + B) @ x,
         lambda v: v["A"] @ v["x"] + v["B"] @ v["x"], False),
    Rule("xA+zA", lambda: x @ A + z @ A, lambda: _t(A) @ (x + z),
         lambda v: v["x"] @ v["A"] + v["z"] @ v["A"], False),
    Rule("Ax+Az", lambda: A @ x + A @ z, lambda: A @ (x + z),
         lambda v: v["A"] @ v["x"] + v["A"] @ v["z"], False),
    Rule("MN+MP-nonsquare", lambda: M @ N + M @ (N * N), lambda: M @ (N + N * N),
         lambda v: v["M"] @ v["N"] + v["M"] @ (v["N"] * v["N"]), False),
    # --- structural ops pull scalar factors and negations out
    Rule("T(Ac)", lambda: _t(A * c), lambda: _t(A) * c, lambda v: (v["A"] * v["c"]).T, True),
    Rule("T(-A)", lambda: _t(-A), lambda: -_t(A), lambda v: (-v["A"]).T, True),
    Rule("reshape(A/d)", lambda: sd.reshape(A / d, (9,)), lambda: sd.reshape(A, (9,)) / d,
         lambda v: (v["A"] / v["d"]).reshape(9), True),
    Rule("sum(Ac)", lambda: sd.sum(A * c, axis=0), lambda: sd.sum(A, axis=0) * c,
         lambda v: (v["A"] * v["c"]).sum(axis=0), False),
    Rule("sum(-A)", lambda: sd.sum(-A, axis=1), lambda: -sd.sum(A, axis=1),
         lambda v: (-v["A"]).sum(axis=1), True),
    Rule("index(Ac)", lambda: (A * c)[1:, 0], lambda: A[1:, 0] * c,
         lambda v: (v["A"] * v["c"])[1:, 0], True),
    Rule("index(-A)", lambda: (-A)[::2], lambda: -(A[::2]), lambda v: (-v["A"])[::2], True),
    # --- transpose
    Rule("(A^T)^T", lambda: _t(_t(A)), lambda: A, lambda v: v["A"].T.T, True),
    Rule("(A^P)^Q", lambda: sd.transpose(sd.transpose(sd.tensor("T", (2, 3, 4)), (1, 2, 0)),
                                         (2, 0, 1)),
         lambda: sd.tensor("T", (2, 3, 4)),
         lambda v: np.transpose(np.transpose(v["T"], (1, 2, 0)), (2, 0, 1)), True),
    Rule("(A^P)^P", lambda: sd.transpose(sd.transpose(sd.tensor("T", (2, 3, 4)), (1, 2, 0)),
                                         (1, 2, 0)),
         lambda: sd.transpose(sd.tensor("T", (2, 3, 4)), (2, 0, 1)),
         lambda v: np.transpose(np.transpose(v["T"], (1, 2, 0)), (1, 2, 0)), True),
    Rule("(MN)^T", lambda: _t(M @ N), lambda: _t(N) @ _t(M), lambda v: (v["M"] @ v["N"]).T,
         True),
    Rule("I^T", lambda: _t(I3) @ x, lambda: x, lambda v: np.eye(3).T @ v["x"], True),
    Rule("(c1)^T", lambda: _t(sd.broadcast_to(c, (2, 3))), lambda: sd.broadcast_to(c, (3, 2)),
         lambda v: np.broadcast_to(v["c"], (2, 3)).T, True),
    # --- reshape and broadcast_to
    Rule("reshape-own-shape", lambda: sd.reshape(A, (3, 3)), lambda: A, lambda v: v["A"], True),
    Rule("reshape(reshape)", lambda: sd.reshape(sd.reshape(A, (9,)), (1, 9)),
         lambda: sd.reshape(A, (1, 9)), lambda v: v["A"].reshape(1, 9), True),
    Rule("reshape(c1)", lambda: sd.reshape(sd.broadcast_to(c, (2, 3)), (6,)),
         lambda: sd.broadcast_to(c, (6,)),
         lambda v: np.broadcast_to(v["c"], (2, 3)).reshape(6), True),
    Rule("bcast-own-shape", lambda: sd.broadcast_to(A, (3, 3)), lambda: A, lambda v: v["A"],
         True),
    Rule("bcast(bcast)", lambda: sd.broadcast_to(sd.broadcast_to(x, (3, 3)), (2, 3, 3)),
         lambda: sd.broadcast_to(x, (2, 3, 3)),
         lambda v: np.broadcast_to(v["x"], (2, 3, 3)), True),
    # --- sum
    Rule("sum(c1)", lambda: sd.sum(sd.broadcast_to(c, (2, 3, 4)), axis=(0, 2)),
         lambda: sd.broadcast_to(c * 8.0, (3,)),
         lambda v: np.broadcast_to(v["c"], (2, 3, 4)).sum(axis=(0, 2)), False),
    Rule("sum(c1)-named", lambda: sd.sum(sd.broadcast_to(c, ("m", 3))),
         lambda: c * (3.0 * dim("m")),
         lambda v: np.broadcast_to(v["c"], (2, 3)).sum(), False),
    Rule("sum(u*v)", lambda: sd.sum(x * z), lambda: x @ z, lambda v: np.sum(v["x"] * v["z"]),
         False),
    # --- matmul
    Rule("IB", lambda: I3 @ A, lambda: A, lambda v: np.eye(3) @ v["A"], True),
    Rule("AI", lambda: A @ I3, lambda: A, lambda v: v["A"] @ np.eye(3), True),
    Rule("Ix", lambda: I3 @ x, lambda: x, lambda v: np.eye(3) @ v["x"], True),
    Rule("vA", lambda: x @ M, lambda: _t(M) @ x, lambda v: v["x"] @ v["M"], True),
    Rule("(Ac)@B", lambda: (M * c) @ N, lambda: (M @ N) * c,
         lambda v: (v["M"] * v["c"]) @ v["N"], False),
    Rule("A@(B/d)", lambda: M @ (N / d), lambda: (M @ N) / d,
         lambda v: v["M"] @ (v["N"] / v["d"]), False),
    Rule("(-A)@B", lambda: (-M) @ N, lambda: -(M @ N), lambda v: (-v["M"]) @ v["N"], True),
    Rule("A@(-x)", lambda: A @ (-x), lambda: -(A @ x), lambda v: v["A"] @ -v["x"], True),
    # --- stop_gradient
    Rule("sg(sg)", lambda: sd.stop_gradient(sd.stop_gradient(A)) * A,
         lambda: sd.stop_gradient(A) * A, lambda v: v["A"] * v["A"], True),
]


def _dims(e) -> dict:
    """m = 2 wherever the expression mentions m (the inputs use 2 for it)."""
    return {"m": 2} if dim("m") in sd.toposort([e]) or any(
        "m" in n.shape for n in sd.toposort([e])) else {}


def _inputs(e, rng) -> dict:
    vals = {}
    for s in sd.free_symbols(e):
        shape = tuple(2 if isinstance(k, str) else k for k in s.shape)
        vals[s.payload] = rng.uniform(0.5, 1.5) if not shape else \
            rng.uniform(-1.0, 1.0, shape)
    return vals


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_structure_and_value(rule, rng):
    e = rule.build()
    assert e is rule.expect(), f"{rule.id}: built {e!r}, expected {rule.expect()!r}"
    vals = _inputs(e, rng)
    expected = rule.numpy(vals)
    got = sd.evaluate(e, vals, dims=_dims(e)) if e.args or e.op == "sym" else e.payload
    if rule.exact:
        np.testing.assert_array_equal(got, expected)
    check_value(e, vals, expected, _dims(e))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_gradient(rule, rng):
    e = rule.build()
    vals = _inputs(e, rng)
    dims = _dims(e)
    w = np.random.default_rng(zlib.crc32(rule.id.encode())).uniform(
        -1.0, 1.0, tuple(1 if isinstance(k, str) else k for k in e.shape))
    f = sd.sum(sd.sin(e * w)) if e.shape else sd.sin(e)
    if rule.id == "sg(sg)":
        # the expansion drops stop_gradient: d/dA sum(sin(w sg(A) A)) by hand
        a = vals["A"]
        g = sd.evaluate(sd.grad(f, A), vals)
        np.testing.assert_allclose(g, np.cos(w * a * a) * w * a, rtol=1e-14)
        return
    for s in sd.free_symbols(e):
        check_grad(f, s, vals, rng, dims)


def test_rules_never_fire_on_scalars():
    # The tensor rules move scalar factors only when a tensor is involved:
    # scalar expressions keep their exact scalar rules.
    a, b = sd.symbols("a b")
    e = (a * c) * b
    assert e.op == "mul" and a * c in e.args           # not reassociated
    e = a * (1.0 / d)
    assert e.op == "mul" and 1.0 / d in e.args        # not a / d (differs in rounding)
    e = a * c + b * c
    assert e.op == "add"                               # not (a + b) c


def test_a_rule_result_is_broadcast_back_to_the_op_shape():
    # 0 * X -> 0 (finite X), broadcast to X's shape: a broadcast node, not
    # a folded array of zeros; with a named dimension it is bound when
    # evaluated.
    with fast_rules():                    # 0 * X -> 0 is a fast rule
        z = 0.0 * A
        zX = 0.0 * X
    assert z.shape == (3, 3) and z.op == "broadcast_to" and z.args[0] is sd.const(0.0)
    assert zX.shape == ("m", 3) and zX.op == "broadcast_to"
    np.testing.assert_array_equal(sd.evaluate(zX + X, {X: np.ones((2, 3))}), np.ones((2, 3)))
    assert (A ** 0.0).op == "broadcast_to" and (A ** 0.0).args[0] is sd.const(1.0)
