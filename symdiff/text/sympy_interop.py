"""Conversion between symdiff expressions and SymPy.

:func:`to_sympy` loops over the scheduled program, building each distinct
node once, so shared subexpressions stay shared.  :data:`TO_SYMPY` is the
per-op table (one entry per op in :data:`symdiff.core.ops.OPS`; a test checks it
is complete).

:func:`from_sympy` walks a SymPy expression with an explicit stack.  It
recognizes the exact shapes :func:`to_sympy` produces for ops SymPy lacks
and the opaque functions of :mod:`symdiff.text.sympy_functions` it uses
for symdiff's stable primitives, plus the written-out shapes users build
(``log(1 + x)`` -> log1p, ``exp(x) - 1`` -> expm1, ``1/(1 + exp(-x))`` ->
sigmoid, ``log(1 + exp(x))`` -> softplus, ``Max(x, 0)`` -> relu, the
indicator ``Piecewise``), so that ``from_sympy(to_sympy(e))`` rebuilds
``e`` itself for every primitive, and turns n-ary ``Add``/``Mul`` into balanced
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
from symdiff.text.sympy_functions import STABLE_FUNCTIONS

__all__ = ["to_sympy", "from_sympy", "TO_SYMPY", "FROM_SYMPY_FUNCTIONS"]

_S = sympy.S


def _sympy_extremum(kind):
    """Max or Min over the arguments that are not NaN: symdiff's max/min
    ignore a NaN argument when another is a number (IEEE maxNum), and
    SymPy's Max/Min refuse NaN."""
    def build_extremum(*args):
        # zoo (no sign) is as good as NaN here, and SymPy refuses it too.
        kept = [a for a in args if a is not _S.NaN and a is not _S.ComplexInfinity]
        return kind(*kept) if kept else _S.NaN

    return build_extremum


def _sympy_relu(a):
    # relu(nan) is nan; SymPy's Max(nan, 0) raises.
    return _S.NaN if a is _S.NaN else sympy.Max(a, _S.Zero)


#: op name -> function building the SymPy expression from SymPy arguments.
TO_SYMPY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a * _S.Infinity if b is _S.Zero else a / b,   # IEEE a/0
    "neg": lambda a: -a,
    # IEEE at 0 where SymPy gives the signless zoo: 0^-n = inf, log(0) = -inf.
    "pow": lambda a, b: _S.Infinity if a is _S.Zero and b.is_negative else a ** b,
    "exp": sympy.exp,
    "log": lambda a: _S.NegativeInfinity if a is _S.Zero else sympy.log(a),
    # The stable primitives stay opaque functions (see sympy_functions):
    # written out, softplus(softplus(x)) would simplify to log(2 + exp(x)).
    "log1p": STABLE_FUNCTIONS["log1p"],
    "expm1": STABLE_FUNCTIONS["expm1"],
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
    "sigmoid": STABLE_FUNCTIONS["sigmoid"],
    "softplus": STABLE_FUNCTIONS["softplus"],
    "relu": _sympy_relu,
    "abs": sympy.Abs,
    "max": _sympy_extremum(sympy.Max),
    "min": _sympy_extremum(sympy.Min),
    # step(0) = 0 in symdiff, hence Heaviside's second argument.
    "step": lambda a: sympy.Heaviside(a, _S.Zero),
    "sign": sympy.sign,
    "eq": STABLE_FUNCTIONS["eq"],
    "hypot": STABLE_FUNCTIONS["hypot"],
    "logsumexp": STABLE_FUNCTIONS["logsumexp"],
}

#: SymPy function class -> symdiff op, for functions that map one to one.
FROM_SYMPY_FUNCTIONS = {
    sympy.exp: "exp", sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan",
    sympy.asin: "asin", sympy.acos: "acos", sympy.atan: "atan", sympy.sinh: "sinh",
    sympy.cosh: "cosh", sympy.tanh: "tanh", sympy.Abs: "abs", sympy.sign: "sign",
    sympy.Max: "max", sympy.Min: "min",
    **{cls: name for name, cls in STABLE_FUNCTIONS.items()},
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


def to_sympy(expr_or_list, evaluate: bool = True, real: bool = False):
    """Convert an expression (or a list/array of them) to SymPy.

    Symbols become plain ``sympy.Symbol(name)``, so the result works with
    the symbols users write (``sympy.diff(e, sympy.Symbol('x'))``,
    ``e.subs(sympy.Symbol('x'), 2)``); ``real=True`` declares them
    ``Symbol(name, real=True)`` instead, which lets SymPy simplify more
    (then use the same real symbols to differentiate or substitute).
    Integral constants become ``Integer`` and other constants ``Float``
    with 17 digits; every op maps through :data:`TO_SYMPY`: log1p, expm1,
    sigmoid, softplus, hypot, logsumexp and the indicator eq stay
    unexpanded SymPy functions of those names
    (:mod:`symdiff.text.sympy_functions`; ``.rewrite(sympy.exp)`` or
    ``.rewrite(sympy.Piecewise)`` writes them out; written out,
    softplus(softplus(x)) would simplify to log(2 + exp(x)), which
    overflows at x = 800), relu -> ``Max(x, 0)``, step -> ``Heaviside(x,
    0)``.  A single node gives one SymPy expression, anything else a list.

    ``evaluate=False`` builds the SymPy tree under ``sympy.evaluate(False)``:
    no automatic simplification, the structure mirrors ours exactly, and
    SymPy's recursive assumption queries are not triggered, so very deep
    expressions convert too.
    """
    single = not isinstance(expr_or_list, (list, tuple, np.ndarray))
    outs = as_outputs(expr_or_list)
    program = schedule(outs)
    if evaluate:
        vals = _to_sympy_values(program, real)
    else:
        with sympy.evaluate(False):
            vals = _to_sympy_values(program, real)
    result = [vals[o] for o in program.outputs]
    return result[0] if single else result


def _to_sympy_values(program, real: bool) -> list:
    # The namespace is made per call from TO_SYMPY, so that the table can
    # be edited (or patched by a test) at run time.
    missing = sorted({ins.op for ins in program.instrs if ins.args} - set(TO_SYMPY))
    if missing:
        raise ValueError(f"to_sympy: no SymPy translation for op {missing[0]!r}")
    F = Namespace("sympy", TO_SYMPY, const=_sympy_number)
    inputs = [sympy.Symbol(name, real=True) if real else sympy.Symbol(name)
              for name in program.inputs]
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
    # The numeric factors and the others, from e's own arguments: an
    # unevaluated Mul(-1, 3, Mul(x, x)) (to_sympy(..., evaluate=False)) keeps
    # its inner product, where as_coeff_Mul + make_args would flatten it
    # and regroup the rounding.
    coeff = sympy.Mul(*[a for a in e.args if a.is_Number])
    factors = tuple(a for a in e.args if not a.is_Number)
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


def _negated(t):
    """-t without regrouping: SymPy's -t would evaluate and flatten the
    nested sums and products of an unevaluated expression
    (to_sympy(..., evaluate=False)), changing how it rounds."""
    if isinstance(t, sympy.Mul) and t.args[0].is_Number:
        if t.args[0] is _S.NegativeOne:
            rest = t.args[1:]
            return rest[0] if len(rest) == 1 else sympy.Mul(*rest, evaluate=False)
        return sympy.Mul(-t.args[0], *t.args[1:], evaluate=False)
    if isinstance(t, sympy.Add):
        return sympy.Add(*[_negated(a) for a in t.args], evaluate=False)
    return -t


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
            neg.append(_negated(t))
        else:
            pos.append(t)
    numbers = [t for t in terms if t.is_Number]
    if not pos and numbers and expm1_arg is None:
        # -3 - y, not -(3 + y): the same value, and how to_sympy's source
        # reads (sub(-3, y)).
        pos.append(numbers[0])
        neg.remove(-numbers[0])
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
        h = _hypot_args(base)
        if h is not None:
            return h, lambda a, b: build.apply("hypot", a, b)
        return (base,), build.sqrt
    # 1/b and 1/sqrt(b) are how SymPy writes divisions; other negative
    # powers stay powers (x^-3 is not 1/x^3 to the last bit).
    if ex == _S.NegativeOne or (ex.is_Rational and ex == -_S.Half):
        return _reciprocal_plan(base, -ex)
    return (base, ex), build.pow


def _hypot_args(e):
    """(a, b) if ``e`` is ``a**2 + b**2`` (what to_sympy gives hypot), else None."""
    if isinstance(e, sympy.Add) and len(e.args) == 2 and all(
            isinstance(t, sympy.Pow) and t.args[1] == 2 for t in e.args):
        return tuple(t.args[0] for t in e.args)
    return None


def _logsumexp_args(e):
    """(a, b, ...) if ``e`` is ``exp(a) + exp(b) + ...`` (what to_sympy gives
    logsumexp), else None."""
    if isinstance(e, sympy.Add) and all(isinstance(t, sympy.exp) for t in e.args):
        return tuple(t.args[0] for t in e.args)
    return None


def _log_plan(e):
    lse = _logsumexp_args(e.args[0])
    if lse is not None:                    # log(exp(a) + exp(b) + ...) -> logsumexp
        return lse, lambda *c: build.apply("logsumexp", *c)
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


def _atan2(y, x):
    """atan2(y, x) from the op table's primitives: atan(y/x), plus pi for
    x < 0 and y >= 0, minus pi for x < 0 and y < 0 (x = 0 goes through
    atan(+-inf) = +-pi/2).  SymPy introduces atan2 for arguments of
    complex expressions; symdiff has no atan2 primitive."""
    turn = build.mul(build.step(build.neg(x)),
                     build.sub(1.0, build.mul(2.0, build.step(build.neg(y)))))
    return build.add(build.atan(build.div(y, x)), build.mul(math.pi, turn))


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
    if e is _S.NaN or e is _S.ComplexInfinity:
        # zoo (SymPy's a/0 when it has cancelled the divisor to 0) has no
        # sign: the nearest real value is nan.
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
    if isinstance(e, (sympy.re, sympy.conjugate)):
        # SymPy adds these for symbols not declared real (|exp(z)| =
        # exp(re(z))); symdiff's variables and values are real, so
        # re(e) = conjugate(e) = e and im(e) = 0.
        return (e.args[0],), lambda a: a
    if isinstance(e, sympy.im):
        return _const_plan(0.0)
    if isinstance(e, sympy.arg):           # of a real value: 0, or pi below 0
        return e.args, lambda a: build.mul(math.pi, build.step(build.neg(a)))
    if isinstance(e, sympy.atan2):
        return e.args, _atan2
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
    :func:`to_sympy` produces for ``eq``; the functions log1p, expm1,
    sigmoid and softplus (:mod:`symdiff.text.sympy_functions`) and the
    written-out shapes ``log(1 + x)``, ``exp(x) - 1``, ``1/(1 + exp(-x))``,
    ``log(1 + exp(x))`` and ``Max(x, 0)`` come back as symdiff's ops.
    ``re``, ``im``, ``conjugate``, ``arg`` and ``atan2``, which SymPy
    introduces for symbols not declared real, are read under symdiff's
    assumption that every variable is real: ``re(e) -> e``,
    ``conjugate(e) -> e``, ``im(e) -> 0``, ``arg(e) -> pi*step(-e)``,
    atan2 through atan (exact but for signed zeros and atan2(0, 0)).
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
