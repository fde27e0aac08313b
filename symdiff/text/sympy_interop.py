"""Conversion between symdiff expressions and SymPy.

:func:`to_sympy` loops over the scheduled program, building each distinct
node once, so shared subexpressions stay shared.  :data:`TO_SYMPY` is the
per-op table (one entry per op in :data:`symdiff.core.ops.OPS`; a test checks it
is complete).

:func:`from_sympy` walks a SymPy expression with an explicit stack.  It
recognizes the exact shapes :func:`to_sympy` produces for ops SymPy lacks
(``log(1 + x)`` -> log1p, ``exp(x) - 1`` -> expm1, ``1/(1 + exp(-x))`` ->
sigmoid, ``log(1 + exp(x))`` -> softplus, ``Max(x, 0)`` -> relu, the
``Piecewise`` of ``eq``), so that ``from_sympy(to_sympy(e))`` rebuilds ``e``
itself for every primitive, and turns n-ary ``Add``/``Mul`` into balanced
trees with subtraction and division instead of ``+ (-1)*b`` and ``b**-1``.
Neither direction recurses on our side; SymPy's own constructors may.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from symdiff.core import symbolic as build
from symdiff.core.builders import balanced
from symdiff.core.graph import as_outputs
from symdiff.core.namespace import Namespace
from symdiff.core.node import const, symbol
from symdiff.core.program import run, schedule

__all__ = ["to_sympy", "from_sympy", "TO_SYMPY", "FROM_SYMPY_FUNCTIONS"]

_S = sympy.S


def _sympy_eq(a, b):
    return sympy.Piecewise((_S.One, sympy.Eq(a, b)), (_S.Zero, True))


#: op name -> function building the SymPy expression from SymPy arguments.
TO_SYMPY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "pow": lambda a, b: a ** b,
    "exp": sympy.exp,
    "log": sympy.log,
    "log1p": lambda a: sympy.log(_S.One + a),
    "expm1": lambda a: sympy.exp(a) - _S.One,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "sigmoid": lambda a: _S.One / (_S.One + sympy.exp(-a)),
    "softplus": lambda a: sympy.log(_S.One + sympy.exp(a)),
    "relu": lambda a: sympy.Max(a, _S.Zero),
    "abs": sympy.Abs,
    "max": sympy.Max,
    "min": sympy.Min,
    # step(0) = 0 in symdiff, hence Heaviside's second argument.
    "step": lambda a: sympy.Heaviside(a, _S.Zero),
    "sign": sympy.sign,
    "eq": _sympy_eq,
}

#: SymPy function class -> symdiff op, for functions that map one to one.
FROM_SYMPY_FUNCTIONS = {
    sympy.exp: "exp", sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan",
    sympy.asin: "asin", sympy.acos: "acos", sympy.atan: "atan", sympy.sinh: "sinh",
    sympy.cosh: "cosh", sympy.tanh: "tanh", sympy.Abs: "abs", sympy.sign: "sign",
    sympy.Max: "max", sympy.Min: "min",
}


def _sympy_number(value: float):
    if math.isnan(value):
        return _S.NaN
    if math.isinf(value):
        return _S.Infinity if value > 0 else _S.NegativeInfinity
    # Integral values below 2^53 are exact integers; keeping them Integer
    # lets SymPy simplify x**2 and 2*x the usual way.
    if value == int(value) and abs(value) < 2.0 ** 53:
        return sympy.Integer(int(value))
    # 17 significant digits identify every double uniquely.
    return sympy.Float(value, 17)


def to_sympy(expr_or_list, evaluate: bool = True):
    """Convert an expression (or a list/array of them) to SymPy.

    Symbols become ``sympy.Symbol(name, real=True)``, integral constants
    ``Integer`` and other constants ``Float`` with 17 digits; every op maps
    through :data:`TO_SYMPY` (log1p -> ``log(1 + x)``, expm1 ->
    ``exp(x) - 1``, sigmoid -> ``1/(1 + exp(-x))``, softplus ->
    ``log(1 + exp(x))``, relu -> ``Max(x, 0)``, step -> ``Heaviside(x, 0)``,
    eq -> ``Piecewise((1, Eq(a, b)), (0, True))``).  A single node gives one
    SymPy expression, anything else a list.

    ``evaluate=False`` builds the SymPy tree under ``sympy.evaluate(False)``:
    no automatic simplification, the structure mirrors ours exactly, and
    SymPy's recursive assumption queries are not triggered, so very deep
    expressions convert too.
    """
    single = not isinstance(expr_or_list, (list, tuple, np.ndarray))
    outs = as_outputs(expr_or_list)
    program = schedule(outs)
    if evaluate:
        vals = _to_sympy_values(program)
    else:
        with sympy.evaluate(False):
            vals = _to_sympy_values(program)
    result = [vals[o] for o in program.outputs]
    return result[0] if single else result


def _to_sympy_values(program) -> list:
    # The namespace is made per call from TO_SYMPY, so that the table can
    # be edited (or patched by a test) at run time.
    missing = sorted({ins.op for ins in program.instrs if ins.args} - set(TO_SYMPY))
    if missing:
        raise ValueError(f"to_sympy: no SymPy translation for op {missing[0]!r}")
    F = Namespace("sympy", TO_SYMPY, const=_sympy_number)
    inputs = [sympy.Symbol(name, real=True) for name in program.inputs]
    return run(program, F, inputs, all_slots=True)


# ---------------------------------------------------------------------------
# from_sympy.  Each SymPy node gets a *plan*: the SymPy subexpressions it
# needs converted first, and a function combining their conversions.  The
# subexpressions may be new SymPy objects (the -x of exp(-x) in a sigmoid),
# which the stack converts like any other.


def _is_one(e) -> bool:
    return e.is_Number and e == 1


def _split_one(e):
    """For an Add containing the term 1, ``1 + u``, return ``u``, else None."""
    if isinstance(e, sympy.Add):
        terms = list(e.args)
        for k, t in enumerate(terms):
            if t is _S.One:
                return sympy.Add(*(terms[:k] + terms[k + 1:]))
    return None


def _sigmoid_arg(e):
    """For ``1/(1 + exp(w))`` return ``-w`` (the sigmoid's argument)."""
    if isinstance(e, sympy.Pow) and e.exp.is_Number and e.exp == -1:
        u = _split_one(e.base)
        if isinstance(u, sympy.exp):
            return -u.args[0]
    return None


def _number(e) -> float:
    try:
        return float(e)
    except (TypeError, OverflowError) as exc:  # zoo, huge integers
        raise ValueError(f"from_sympy: cannot represent {e!r} as a float") from exc


def _const_plan(value):
    return (), lambda: const(value)


def _pos_neg_exponent(e):
    """The positive exponent ``-e`` if ``e`` is a negative number, else None."""
    if e.is_Number and e.is_extended_real and e < 0:
        return -e
    return None


def _reciprocal_plan(base, pexp):
    """Plan for ``base**(-pexp)`` with pexp > 0 a SymPy number: ``1/base^pexp``."""
    if pexp == _S.Half:
        return (base,), lambda b: build.div(1.0, build.sqrt(b))
    if _is_one(pexp):
        return (base,), lambda b: build.div(1.0, b)
    p = _number(pexp)
    return (base,), lambda b: build.div(1.0, build.pow(b, p))


def _mul_plan(e):
    coeff, rest = e.as_coeff_Mul()
    factors = sympy.Mul.make_args(rest) if not _is_one(rest) else ()
    num_c: list = []   # constant factors of the numerator
    den_c: list = []   # and of the denominator
    negate = False
    if coeff.is_Rational and not coeff.is_Integer:
        p, q = int(coeff.p), int(coeff.q)
        if p < 0:
            negate, p = True, -p
        if p != 1:
            num_c.append(float(p))
        den_c.append(float(q))
    elif coeff == -1:
        negate = True
    elif not _is_one(coeff):
        num_c.append(_number(coeff))
    # Factors with a negative numeric exponent go to the denominator, so
    # x/y comes back as one division rather than x * y**-1.
    num, den = [], []
    for f in factors:
        if isinstance(f, sympy.Pow) and _sigmoid_arg(f) is None:
            pexp = _pos_neg_exponent(f.exp)
            if pexp is not None:
                den.append(f.base if _is_one(pexp) else sympy.Pow(f.base, pexp))
                continue
        num.append(f)
    children = tuple(num) + tuple(den)
    n_num = len(num)

    def combine(*conv):
        top = [const(c) for c in num_c] + list(conv[:n_num])
        bottom = [const(c) for c in den_c] + list(conv[n_num:])
        r = balanced(top, build.mul) if top else const(1.0)
        if bottom:
            r = build.div(r, balanced(bottom, build.mul))
        return build.neg(r) if negate else r

    return children, combine


def _add_plan(e):
    terms = list(e.args)
    # exp(u) - 1 -> expm1(u), also inside a longer sum.
    expm1_arg = None
    if _S.NegativeOne in terms:
        for k, t in enumerate(terms):
            if isinstance(t, sympy.exp):
                expm1_arg = t.args[0]
                del terms[k]
                terms.remove(_S.NegativeOne)
                break
    if expm1_arg is not None and not terms:
        return (expm1_arg,), build.expm1
    pos, neg = [], []
    for t in terms:
        # Terms with a minus sign are subtracted, so x - y stays a subtraction.
        if t.could_extract_minus_sign():
            neg.append(-t)
        else:
            pos.append(t)
    n_pos, n_neg = len(pos), len(neg)
    extra = (expm1_arg,) if expm1_arg is not None else ()

    def combine(*conv):
        plus = list(conv[:n_pos])
        if extra:
            plus.append(build.expm1(conv[-1]))
        p = balanced(plus, build.add)
        q = balanced(list(conv[n_pos:n_pos + n_neg]), build.add)
        if p is None:
            return build.neg(q)
        return p if q is None else build.sub(p, q)

    return tuple(pos) + tuple(neg) + extra, combine


def _pow_plan(e):
    base, ex = e.args
    s = _sigmoid_arg(e)
    if s is not None:
        return (s,), build.sigmoid
    if ex == _S.Half:
        return (base,), build.sqrt
    pexp = _pos_neg_exponent(ex)
    if pexp is not None:
        return _reciprocal_plan(base, pexp)
    return (base, ex), build.pow


def _log_plan(e):
    u = _split_one(e.args[0])
    if u is not None:
        if isinstance(u, sympy.exp):       # log(1 + exp(v)) -> softplus(v)
            return (u.args[0],), build.softplus
        return (u,), build.log1p           # log(1 + u) -> log1p(u)
    return (e.args[0],), build.log


def _max_plan(e):
    args = e.args
    if isinstance(e, sympy.Max) and len(args) == 2:
        for z, other in ((args[0], args[1]), (args[1], args[0])):
            if z.is_Number and z == 0:     # Max(x, 0) -> relu(x)
                return (other,), build.relu
    name = "max" if isinstance(e, sympy.Max) else "min"
    return args, lambda *c: build.apply(name, *c)


def _heaviside_plan(e):
    x = e.args[0]
    h0 = e.args[1] if len(e.args) > 1 else _S.Half
    if h0.is_Number and h0 == 0:
        return (x,), build.step
    # Heaviside(x, h0) = step(x) + h0*[x == 0], exact for every x.
    return (x, h0), lambda xc, hc: build.add(build.step(xc),
                                             build.mul(hc, build.eq(xc, 0.0)))


def _piecewise_plan(e):
    pieces = e.args
    if len(pieces) == 2 and pieces[1].cond == sympy.true \
            and isinstance(pieces[0].cond, sympy.Eq):
        (v1, cond), (v2, _) = pieces
        a, b = cond.args
        if v1.is_Number and v2.is_Number:
            if v1 == 1 and v2 == 0:        # the shape to_sympy gives eq
                return (a, b), build.eq
            if v1 == 0 and v2 == 1:
                return (a, b), lambda x, y: build.sub(1.0, build.eq(x, y))
    raise ValueError(f"from_sympy: unsupported Piecewise {e} (only the indicator "
                     f"Piecewise((1, Eq(a, b)), (0, True)) has a symdiff op)")


def _plan(e):
    """(children, combine) for one SymPy node; raises ValueError if unknown."""
    if isinstance(e, sympy.Symbol):
        return (), lambda: symbol(e.name)
    if e is _S.Pi:
        return _const_plan(math.pi)
    if e is _S.Exp1:
        return _const_plan(math.e)
    if e is _S.Infinity:
        return _const_plan(math.inf)
    if e is _S.NegativeInfinity:
        return _const_plan(-math.inf)
    if e is _S.NaN:
        return _const_plan(math.nan)
    if isinstance(e, (sympy.Integer, sympy.Rational, sympy.Float)):
        return _const_plan(_number(e))
    if isinstance(e, sympy.Add):
        return _add_plan(e)
    if isinstance(e, sympy.Mul):
        return _mul_plan(e)
    if isinstance(e, sympy.Pow):
        return _pow_plan(e)
    if isinstance(e, sympy.log):
        if len(e.args) != 1:
            raise ValueError(f"from_sympy: unsupported logarithm {e}")
        return _log_plan(e)
    if isinstance(e, (sympy.Max, sympy.Min)):
        return _max_plan(e)
    if isinstance(e, sympy.Heaviside):
        return _heaviside_plan(e)
    if isinstance(e, sympy.Piecewise):
        return _piecewise_plan(e)
    name = FROM_SYMPY_FUNCTIONS.get(type(e))
    if name is not None:
        return e.args, lambda *c: build.apply(name, *c)
    kind = type(e).__name__
    raise ValueError(f"from_sympy: unsupported SymPy expression {e} (of type {kind})")


def from_sympy(sympy_expr):
    """Convert a SymPy expression (or a list of them) to a symdiff node.

    Supports numbers (Integer, Rational, Float, pi, E, oo, nan), symbols,
    Add and Mul (as balanced trees, with subtraction and division), Pow,
    exp, log, sqrt, the trigonometric and hyperbolic functions of the op
    table, Abs, sign, Max, Min, Heaviside and the indicator Piecewise that
    :func:`to_sympy` produces for ``eq``; the shapes :func:`to_sympy` emits
    for log1p, expm1, sigmoid, softplus and relu come back as those ops.
    Anything else raises a ``ValueError`` naming it.  Strings are rejected
    (never sympified).
    """
    if isinstance(sympy_expr, (list, tuple)):
        return [from_sympy(e) for e in sympy_expr]
    if isinstance(sympy_expr, str):
        raise TypeError("from_sympy takes a SymPy expression, not a string "
                        "(use symdiff.parse for text)")
    if isinstance(sympy_expr, (int, float)) and not isinstance(sympy_expr, bool):
        return const(float(sympy_expr))
    if not isinstance(sympy_expr, sympy.Basic):
        raise TypeError(f"from_sympy takes a SymPy expression, got "
                        f"{type(sympy_expr).__name__}")
    done: dict = {}
    plans: dict = {}
    # Explicit post-order walk: an entry is visited once to push its
    # children and once, after them, to combine their conversions.
    stack = [sympy_expr]
    while stack:
        e = stack[-1]
        if e in done:
            stack.pop()
            continue
        plan = plans.get(e)
        if plan is None:
            plan = plans[e] = _plan(e)
            pending = [c for c in plan[0] if c not in done]
            if pending:
                stack.extend(reversed(pending))
                continue
        stack.pop()
        children, combine = plan
        done[e] = combine(*(done[c] for c in children))
    return done[sympy_expr]
