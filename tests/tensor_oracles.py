"""Independent oracles for the tensor tests (shared by ``test_tensor_*.py``).

A tensor expression is checked three ways, none of which uses the tensor
derivative rules under test:

* its value against a numpy formula the test writes by hand;
* its value and gradient against the *scalar expansion*
  (:func:`symdiff.to_scalars`): the same expression as a DAG of scalar
  nodes, evaluated and differentiated by the scalar code that existed
  before tensors (the scalar rules are tested on their own in
  ``test_differentiate.py``);
* its gradient against central differences in a random direction:
  ``(f(x + h v) - f(x - h v)) / 2h`` must equal ``<grad f, v>``.

Tolerances.  The tensor value and the expansion differ only by the order
of floating-point operations (numpy's pairwise sums, scalar factors moved
by the tensor rules, "exact up to rounding"): a few ulps per operation, so
``rtol = 1e-12`` relative to the result's scale for the small, O(1) inputs
used here.  Central differences with step ``h`` have truncation error
``h^2 |f'''| / 6`` and rounding error ``eps |f| / h``; with
``h = 1e-5 (1 + |x|)`` both stay below ~1e-9 for these O(1) functions, so
``rtol = 1e-6`` on the directional derivative (scaled by ``|g| |v|``)
leaves a margin of a thousand.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

import symdiff as sd
from symdiff.core.node import Node

__all__ = ["EXACT", "FD", "names", "scalar_point", "expand_eval", "scalar_grad",
           "fd_directional", "check_value", "check_grad", "check_jacobian",
           "check_hessian", "close"]

#: Tensor vs scalar expansion (reordered rounding only).
EXACT = 1e-12
#: Central differences in a random direction.
FD = 1e-6


def names(inputs: Mapping) -> dict:
    """``{symbol or name: array}`` as ``{name: array}``."""
    return {(k.payload if isinstance(k, Node) else k): v for k, v in inputs.items()}


def _symbols(expr) -> dict:
    return {s.payload: s for s in sd.free_symbols(expr)}


def scalar_point(expr, inputs: Mapping, dims: Mapping) -> dict:
    """The values of the scalar symbols ``X{i}_{j}`` standing for the
    entries of every tensor symbol of ``expr``."""
    vals = names(inputs)
    point = {}
    for name, s in _symbols(expr).items():
        entries = sd.scalar_symbols(s, dims)
        v = np.asarray(vals[name], dtype=np.float64)
        if isinstance(entries, Node):
            point[entries.payload] = float(v)
            continue
        for idx in np.ndindex(entries.shape):
            point[entries[idx].payload] = float(v[idx])
    return point


def _eval_object(obj, point: dict) -> np.ndarray:
    """Evaluate a node or an object array of scalar nodes at ``point``."""
    if isinstance(obj, Node):
        return np.asarray(float(sd.evaluate(obj, point)) if (obj.args or obj.op == "sym")
                          else obj.value)
    flat = [sd.const(0.0) if not isinstance(n, Node) else n for n in obj.ravel()]
    used = {s.payload for s in sd.free_symbols(flat)}
    sub = {k: v for k, v in point.items() if k in used}
    out = sd.evaluate(flat, sub) if flat else []
    return np.array([float(v) for v in out], dtype=np.float64).reshape(obj.shape)


def expand_eval(expr: Node, inputs: Mapping, dims: Mapping | None = None) -> np.ndarray:
    """The value of ``expr`` computed through its scalar expansion."""
    dims = dict(dims or {})
    return _eval_object(sd.to_scalars(expr, dims), scalar_point(expr, inputs, dims))


def scalar_grad(f: Node, x: Node, inputs: Mapping, dims: Mapping | None = None):
    """d f / d x (an array of x's shape) from the scalar expansion of f,
    differentiated by the scalar reverse mode."""
    dims = dict(dims or {})
    fs = sd.to_scalars(f, dims)
    entries = sd.scalar_symbols(x, dims)
    if isinstance(entries, Node):
        return _eval_object(sd.grad(fs, entries), scalar_point(f, inputs, dims))
    g = sd.grad(fs, list(entries.ravel()))
    arr = np.empty(len(g), dtype=object)
    arr[:] = g
    return _eval_object(arr.reshape(entries.shape), scalar_point(f, inputs, dims))


def fd_directional(f: Node, x: Node, inputs: Mapping, v: np.ndarray,
                   dims: Mapping | None = None) -> float:
    """Central difference of f at ``inputs`` in the direction ``v`` of x."""
    vals = names(inputs)
    x0 = np.asarray(vals[x.payload], dtype=np.float64)
    h = 1e-5 * (1.0 + float(np.max(np.abs(x0)))) / max(float(np.max(np.abs(v))), 1e-300)
    plus = dict(vals, **{x.payload: x0 + h * v})
    minus = dict(vals, **{x.payload: x0 - h * v})
    return (float(sd.evaluate(f, plus, dims=dims)) - float(sd.evaluate(f, minus, dims=dims))) \
        / (2 * h)


def close(actual, expected, rtol: float, what: str = "") -> None:
    """``actual == expected`` to ``rtol`` relative to the larger of the
    expected array's scale and 1 (entries near zero are judged by the
    array's scale, not their own)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    err = float(np.max(np.abs(actual - expected), initial=0.0))
    assert err <= rtol * scale, f"{what}: max error {err:.3g} > {rtol:g} * {scale:.3g}\n" \
        f"actual={actual}\nexpected={expected}"


def check_value(expr: Node, inputs: Mapping, expected, dims: Mapping | None = None) -> None:
    """``expr`` evaluates to the numpy ``expected`` (EXACT) and so does its
    scalar expansion."""
    got = sd.evaluate(expr, names(inputs), dims=dims)
    close(got, expected, EXACT, f"value of {expr!r}")
    close(expand_eval(expr, inputs, dims), expected, EXACT, f"expansion of {expr!r}")


def check_grad(f: Node, x: Node, inputs: Mapping, rng: np.random.Generator,
               dims: Mapping | None = None, directions: int = 2):
    """The tensor gradient of the scalar ``f`` wrt ``x`` agrees with the
    gradient of the scalar expansion (EXACT) and with central differences
    in ``directions`` random directions (FD).  Returns the gradient."""
    assert f.shape == ()
    g = sd.grad(f, x)
    assert g.shape == x.shape
    gv = np.asarray(sd.evaluate(g, names(inputs), dims=dims), dtype=np.float64)
    assert gv.shape == np.shape(names(inputs)[x.payload])
    close(gv, scalar_grad(f, x, inputs, dims), EXACT, f"grad of {f!r} wrt {x.payload}")
    for _ in range(directions):
        v = rng.standard_normal(gv.shape)
        fd = fd_directional(f, x, inputs, v, dims)
        exact = float(np.sum(gv * v))
        scale = max(float(np.linalg.norm(gv) * np.linalg.norm(v)), 1.0)
        assert abs(fd - exact) <= FD * scale, \
            f"central difference {fd!r} != <grad, v> = {exact!r} for {f!r}"
    return gv


def _eval_rows(rows: list, point: dict) -> np.ndarray:
    """A list of lists of scalar nodes (a scalar Jacobian) evaluated."""
    arr = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, r in enumerate(rows):
        arr[i, :] = r
    return _eval_object(arr, point)


def check_jacobian(y: Node, x: Node, inputs: Mapping, rng: np.random.Generator,
                   dims: Mapping | None = None):
    """``jacobian(y, x)`` (a vector y, batched reverse mode) against the
    Jacobian of the scalar expansion (EXACT) and against central
    differences of y in a random direction (FD).  Returns it."""
    dims = dict(dims or {})
    J = sd.jacobian(y, x)
    ys = sd.to_scalars(y, dims)
    xs = sd.scalar_symbols(x, dims)
    x_entries = [xs] if isinstance(xs, Node) else list(xs.ravel())
    y_entries = [ys] if isinstance(ys, Node) else list(ys.ravel())
    n_y = len(y_entries)
    Jv = np.asarray(sd.evaluate(J, names(inputs), dims=dims), dtype=np.float64)
    assert J.shape == y.shape + x.shape
    expected = _eval_rows(sd.jacobian(y_entries, x_entries),
                          scalar_point(y, inputs, dims)).reshape(Jv.shape)
    close(Jv, expected, EXACT, f"jacobian of {y!r}")
    vals = names(inputs)
    x0 = np.asarray(vals[x.payload], dtype=np.float64)
    v = rng.standard_normal(x0.shape)
    h = 1e-5 * (1.0 + float(np.max(np.abs(x0))))
    yp = np.asarray(sd.evaluate(y, dict(vals, **{x.payload: x0 + h * v}), dims=dims))
    ym = np.asarray(sd.evaluate(y, dict(vals, **{x.payload: x0 - h * v}), dims=dims))
    fd = (yp - ym).reshape(n_y) / (2 * h)
    close(Jv.reshape(n_y, -1) @ v.ravel(), fd, FD * max(1.0, float(np.linalg.norm(v))),
          f"central differences of {y!r}")
    return Jv


def check_hessian(f: Node, x: Node, inputs: Mapping, rng: np.random.Generator,
                  dims: Mapping | None = None):
    """``hessian(f, x)`` for a vector x against the Hessian of the scalar
    expansion (EXACT), its symmetry, and ``hvp`` in a random direction
    (EXACT against H v).  Returns it."""
    dims = dict(dims or {})
    H = sd.hessian(f, x)
    assert H.shape == x.shape + x.shape
    Hv = np.asarray(sd.evaluate(H, names(inputs), dims=dims), dtype=np.float64)
    fs = sd.to_scalars(f, dims)
    xs = list(sd.scalar_symbols(x, dims).ravel())
    expected = _eval_rows(sd.hessian(fs, xs), scalar_point(f, inputs, dims))
    close(Hv, expected, EXACT, f"hessian of {f!r}")
    close(Hv, Hv.T, EXACT, f"symmetry of the hessian of {f!r}")
    v = rng.standard_normal(Hv.shape[0])
    hvp = sd.evaluate(sd.hvp(f, x, v), names(inputs), dims=dims)
    close(hvp, Hv @ v, EXACT * max(1.0, float(np.abs(v).sum())), f"hvp of {f!r}")
    return Hv
