"""numpy ufuncs applied to symdiff expressions (``Node.__array_ufunc__``).

Model code written for numpy (``np.exp(w * x) + np.sin(x)``) builds symbolic
expressions when its inputs are nodes: each supported ufunc maps to the op
table's primitive of the same meaning, applied through the usual
simplifying builders (so arrays mixed in behave as with the Python
operators: a numeric array meets a tensor as a constant tensor and a
scalar expression entry by entry).  ``UFUNC_OPS`` is the table; a ufunc
outside it is refused with a ``TypeError`` naming it.

Numpy's object-dtype loops call a method named after the ufunc on each
entry (``np.exp`` on an object array calls ``entry.exp()``), so
:data:`OBJECT_LOOP_METHODS` lists the method names ``Node`` provides for
them.
"""

from __future__ import annotations

import numpy as np

from symdiff.core import ops

__all__ = ["UFUNC_OPS", "OBJECT_LOOP_METHODS", "apply_ufunc", "object_loop_method"]

#: numpy ufunc name -> symdiff op.  np.maximum/np.minimum map to symdiff's
#: max/min, which ignore a NaN argument when the other is a number (IEEE
#: maxNum, like np.fmax): there is no NaN-propagating max in the op table.
UFUNC_OPS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
    "true_divide": "div", "power": "pow", "float_power": "pow", "negative": "neg",
    "matmul": "matmul",
    "exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt",
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos",
    "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "absolute": "abs", "fabs": "abs", "sign": "sign",
    "maximum": "max", "minimum": "min", "fmax": "max", "fmin": "min",
}
# Ufuncs that are a small expression of primitives rather than one op.
_DERIVED = {
    "square": lambda a: _binary("pow", a, 2.0),          # x^2, as x**2 would
    "reciprocal": lambda a: _binary("div", 1.0, a),
    "positive": lambda a: a,
}
# Nodes compare by identity (interning makes that structural), as Python's
# ``==`` does on them, so ``np.float64(1) == x`` is False, as it was before
# nodes took ufuncs; orderings are undefined on expressions.
_IDENTITY = {"equal": True, "not_equal": False}
_ORDERINGS = {"less", "less_equal", "greater", "greater_equal"}
_BINARY = {"add", "sub", "mul", "div", "pow", "matmul"}

#: method name numpy's object loops call -> symdiff op (np.exp on an object
#: array of nodes calls node.exp()).
OBJECT_LOOP_METHODS = {name: op for name, op in UFUNC_OPS.items()
                       if op not in _BINARY and name not in ("absolute", "negative",
                                                             "maximum", "minimum",
                                                             "fmax", "fmin", "true_divide",
                                                             "float_power", "divide")}

_functions: dict = {}


def _function(op: str):
    fn = _functions.get(op)
    if fn is None:
        from symdiff.core.builders import function

        fn = _functions[op] = function(op)
    return fn


def _binary(op: str, a, b):
    from symdiff.core.symbolic import binary_operator

    out = binary_operator(op, a, b)
    if out is NotImplemented:
        raise TypeError(f"cannot combine {type(a).__name__} and {type(b).__name__} "
                        f"with {op} in a symdiff expression")
    return out


def _plain(value):
    # A 0-d numeric array is a number (np.array(2.0) + x is a Node, not a
    # 0-d object array).
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype != object:
        return float(value)
    return value


def _identity(a, b, equal: bool):
    same = np.frompyfunc(lambda u, v: (u is v) == equal, 2, 1)(
        np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    if isinstance(same, np.ndarray):
        return same.astype(bool)
    return bool(same)


def supported_names() -> list[str]:
    """The numpy ufunc names nodes accept, sorted: the table above, the
    derived ones, and ops of the op table that share numpy's name (hypot)."""
    same_name = {n for n, op in ops.OPS.items()
                 if op.function and isinstance(getattr(np, n, None), np.ufunc)}
    return sorted(set(UFUNC_OPS) | set(_DERIVED) | same_name)


def apply_ufunc(ufunc, method: str, inputs: tuple, kwargs: dict):
    """The symdiff expression for ``ufunc(*inputs)`` (the body of
    ``Node.__array_ufunc__``): ``==``/``!=`` by identity, ``TypeError``
    for orderings and for unsupported ufuncs, methods and keywords."""
    name = ufunc.__name__
    if name in _IDENTITY and method == "__call__" and len(inputs) == 2:
        return _identity(inputs[0], inputs[1], _IDENTITY[name])
    if name in _ORDERINGS:
        raise TypeError(f"numpy ufunc {name!r}: symdiff expressions have no order "
                        "(compare their values after evaluating them)")
    if method != "__call__":
        hint = " (use sd.sum / sd.max for reductions)" if method == "reduce" else ""
        raise TypeError(f"numpy ufunc method {name}.{method} is not supported on symdiff "
                        f"expressions{hint}")
    if kwargs:
        raise TypeError(f"numpy ufunc {name}: keyword argument(s) "
                        f"{', '.join(sorted(kwargs))} are not supported on symdiff "
                        "expressions (they build new expressions, never write into out=)")
    args = [_plain(a) for a in inputs]
    derived = _DERIVED.get(name)
    if derived is not None:
        return derived(*args)
    op = UFUNC_OPS.get(name)
    if op is None and name in ops.OPS and ops.OPS[name].function:
        op = name        # an op the table gained with numpy's name (hypot, ...)
    if op is None:
        raise TypeError(f"numpy ufunc {name!r} has no symdiff equivalent; supported: "
                        f"{', '.join(supported_names())}")
    if op in _BINARY:
        return _binary(op, *args)
    if op == "neg":       # unary: its one input is the node
        from symdiff.core.symbolic import neg

        return neg(args[0])
    return _function(op)(*args)


def object_loop_method(name: str, op: str):
    """The Node method ``name`` numpy's object loops call for ``np.<name>``
    (node.exp(), node.arcsin()), building ``op``."""
    def method(self):
        return _function(op)(self)

    method.__name__ = name
    method.__doc__ = f"{op}(self), for numpy's object-array loops (np.{name} on nodes)."
    return method
