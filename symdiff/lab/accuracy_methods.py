"""The ways of computing f and its gradient whose accuracy
:mod:`symdiff.lab.expr_accuracy` measures, each over a whole sample at once.

Every method takes the expression ``f``, its variable names and an
``(n, k)`` float64 array of points, and returns an ``(n, 1 + k)`` array:
f, then d f / d name for each name, at each point.

* ``compiled``: symdiff's gradient compiled by LLVM (``fn.batch``);
* ``compiled_stable``: the same after :func:`symdiff.core.stabilize.stabilize`
  (f is stabilized, differentiated, and the derivatives stabilized again);
* ``interpreter`` / ``interpreter_stable``: the same expressions through
  the numpy interpreter (:func:`symdiff.evaluate`);
* ``jax``: the expression as written, traced with ``jax.numpy`` (one
  primitive per op: ``x^2`` is ``x ** 2``, sigmoid is ``jax.nn.sigmoid``),
  ``jit(vmap(f))`` and ``jit(vmap(grad(f)))`` in float64 (this switches
  the process's JAX to 64-bit, ``jax_enable_x64``);
* ``sympy``: ``sympy.diff`` of :func:`symdiff.to_sympy` ``(f)``, evaluated by
  ``sympy.lambdify(..., modules="numpy")``.

A method that cannot run here (JAX not installed) raises
:class:`MethodUnavailable` with the reason, which the report prints.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["ACCURACY_METHODS", "METHOD_LABELS", "MethodUnavailable", "stabilizer",
           "stable_outputs", "stable_rewrite_count", "evaluate_method"]

#: Method names in report order.
ACCURACY_METHODS = ("compiled", "compiled_stable", "interpreter", "interpreter_stable",
                    "jax", "sympy")

#: Column headings of the report.
METHOD_LABELS = {
    "compiled": "symdiff", "compiled_stable": "symdiff stable",
    "interpreter": "interp.", "interpreter_stable": "interp. stable",
    "jax": "JAX", "sympy": "SymPy",
}


class MethodUnavailable(RuntimeError):
    """A method cannot run in this environment (the message says why)."""


def stabilizer() -> Callable:
    """:func:`symdiff.core.stabilize.stabilize` (imported on first use)."""
    from symdiff.core.stabilize import stabilize

    return stabilize


def _outputs(f, names: Sequence[str]) -> list:
    from symdiff.core.differentiate import grad
    from symdiff.core.node import symbol

    return [f, *grad(f, [symbol(n) for n in names])]


def stable_outputs(f, names: Sequence[str]) -> list:
    """``[f', *grad]``, f' = stabilize(f) and grad = stabilize(grad(f'))
    (how symdiff computes with ``stable=True``)."""
    return _stable(f, names)[0]


def stable_rewrite_count(f, names: Sequence[str]) -> int:
    """How many rewrites :func:`stable_outputs` applies to f and its
    gradient (0: the stabilizer leaves this expression alone)."""
    return len(_stable(f, names)[1])


def _stable(f, names):
    stabilize = stabilizer()
    from symdiff.core.differentiate import grad
    from symdiff.core.node import symbol

    fs, r1 = stabilize(f)
    gs, r2 = stabilize(list(grad(fs, [symbol(n) for n in names])))
    return [fs, *gs], [*r1, *r2]


def _columns(values, n: int) -> np.ndarray:
    # A list of per-output results (arrays or scalars, for a constant
    # derivative) as an (n, outputs) array.
    return np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in values],
                    axis=1)


def _compiled(outs, names, X):
    from compiler import compile as compile_outputs

    fn = compile_outputs(outs, list(names))
    return np.asarray(fn.batch(np.ascontiguousarray(X)), dtype=np.float64)


def _interpreted(outs, names, X):
    from symdiff.numeric.interpreter import evaluate

    with np.errstate(all="ignore"):
        vals = evaluate(outs, {n: X[:, j] for j, n in enumerate(names)}, list(names))
    return _columns(vals, len(X))


def _jax_namespace():
    import jax
    import jax.numpy as jnp

    from symdiff.core.namespace import Namespace

    def power(a, b):
        # A constant integral exponent is what a JAX user writes as x ** 2
        # (lax.integer_pow); anything else is jnp.power.
        if isinstance(b, float) and b == int(b) and abs(b) <= 64:
            return a ** int(b)
        return jnp.power(a, b)

    def variadic(fn):
        return lambda *xs: fn(jnp.stack(jnp.broadcast_arrays(*xs)), axis=0)

    impls = {
        "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide,
        "neg": jnp.negative, "pow": power, "exp": jnp.exp, "log": jnp.log,
        "log1p": jnp.log1p, "expm1": jnp.expm1, "sqrt": jnp.sqrt, "hypot": jnp.hypot,
        "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "asin": jnp.arcsin,
        "acos": jnp.arccos, "atan": jnp.arctan, "sinh": jnp.sinh, "cosh": jnp.cosh,
        "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus,
        "logsumexp": variadic(jax.scipy.special.logsumexp), "relu": jax.nn.relu,
        "abs": jnp.abs, "max": variadic(jnp.max), "min": variadic(jnp.min),
        "step": lambda a: jnp.where(a > 0, 1.0, 0.0), "sign": jnp.sign,
        "eq": lambda a, b: jnp.where(a == b, 1.0, 0.0),
    }
    return Namespace("jax", impls, const=float)


def _jax(f, names, X):
    try:
        import jax
    except ImportError:
        raise MethodUnavailable("jax is not installed (pip install jax)") from None
    jax.config.update("jax_enable_x64", True)
    from symdiff.core.program import run, schedule

    program = schedule([f], list(names))
    F = _jax_namespace()

    def fun(*args):
        return run(program, F, list(args))[0]

    k = len(names)
    cols = [np.asarray(X[:, j]) for j in range(k)]
    value = jax.jit(jax.vmap(fun))(*cols)
    grads = jax.jit(jax.vmap(jax.grad(fun, argnums=tuple(range(k)))))(*cols)
    return _columns([value, *grads], len(X))


def _sympy(f, names, X):
    import sympy

    from symdiff.lab.precise import sympy_gradient

    syms, outs = sympy_gradient(f, names)
    fn = sympy.lambdify(syms, outs, modules="numpy")
    with np.errstate(all="ignore"):
        vals = fn(*[X[:, j] for j in range(len(names))])
    return _columns(vals, len(X))


def evaluate_method(method: str, f, names: Sequence[str], X: np.ndarray) -> np.ndarray:
    """``(n, 1 + k)`` values of f and its partials by ``method`` (one of
    :data:`ACCURACY_METHODS`) at the rows of ``X``.  Raises
    :class:`MethodUnavailable` if the method cannot run here."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if method == "compiled":
        return _compiled(_outputs(f, names), names, X)
    if method == "compiled_stable":
        return _compiled(stable_outputs(f, names), names, X)
    if method == "interpreter":
        return _interpreted(_outputs(f, names), names, X)
    if method == "interpreter_stable":
        return _interpreted(stable_outputs(f, names), names, X)
    if method == "jax":
        return _jax(f, names, X)
    if method == "sympy":
        return _sympy(f, names, X)
    raise ValueError(f"unknown method {method!r}; expected one of {', '.join(ACCURACY_METHODS)}")
