"""The op table: the single source of truth for every primitive.

Each :class:`OpDef` says, for one primitive, everything the rest of symdiff
needs to know about it:

* ``arity`` (``VARIADIC`` for ``max``/``min``, which take two or more);
* ``numpy``: float64 evaluation on numpy arrays or scalars (also used for
  constant folding and by the interpreter);
* ``vjp``: the derivative rule, written once against a namespace ``F`` of
  arithmetic functions.  ``vjp(F, i, args, out, g)`` returns ``g`` times the
  partial derivative of the op with respect to argument ``i`` (or ``None``
  when that partial is identically zero).  With ``F`` = :mod:`symdiff.core.symbolic`
  it builds expression nodes (symbolic differentiation); with a numeric
  namespace it computes numbers (the forward- and reverse-mode evaluators).
  Because every primitive is scalar, ``vjp`` with ``g`` set to a tangent is
  also the forward-mode rule.  Rules receive the op's output ``out`` so they
  can reuse it (exp' = out, tanh' = 1 - out^2), as CasADi does;
* printing: infix spelling and precedence, or a function name, and LaTeX;
* ``python``: the same operation on Python floats where it is a single
  correctly rounded IEEE operation (add, sub, mul, div, neg): constant
  folding and the float namespace use it, 100x cheaper than a ufunc;
* ``rank``: where the op sorts among the operands of a commutative op
  (products before calls, so ``2*x*sin(x)`` prints that way);
* printing and parsing: the infix spelling (``aliases`` are other
  spellings the parser accepts, ``**`` for ``^``), precedence and
  associativity, or a function name, and a LaTeX template;
* ``lowering``: how the compiler emits it, one of :class:`Instruction`
  (one IR instruction), :class:`Intrinsic` (an LLVM intrinsic),
  :class:`Libm` (a C math library call) or :class:`Hook` (a short IR
  sequence written against the compiler's emitter, declaring the ops it
  calls).  Hooks only call methods of the emitter object (``em.fcmp``,
  ``em.select``, ``em.op`` ...), so this module never imports llvmlite.
  Structural tensor ops have none (None): the tensor compiler lowers them
  as loop nests or BLAS calls, and the scalar compiler rejects them;
* traits: ``commutative``, ``smooth``, ``complex_ok`` (complex-step safe)
  and ``domain`` (per-argument samplers the tests use).

Adding a primitive means adding one entry here (plus its row in
``tests/op_specs.py``).

Conventions at non-smooth points (shared with SymPy, CasADi and PyTorch):
relu'(0) = 0, |x|'(0) = 0; at ties of max/min the gradient is split equally
between the tied arguments.  ``max``/``min`` are IEEE 754-2019
maximumNumber / minimumNumber on every path: a NaN argument is ignored when
another argument is a number (as ``numpy.fmax``), and -0.0 < +0.0, so
max(+0.0, -0.0) = +0.0 and min(+0.0, -0.0) = -0.0 whatever the order.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from symdiff.core.shapes import (
    ShapeError,
    broadcast_shapes,
    format_tuple,
    matmul_shape,
    reduce_shape,
    shape_size,
)

VARIADIC = -1

#: dtype of every value but integer label tensors.
FLOAT_DTYPE = "float64"
#: dtype of integer label tensors (the argument of onehot).
INT_DTYPE = "int64"

# Precedences used by the printers and the parser.
PREC_ADD = 10
PREC_MUL = 20
PREC_NEG = 30
PREC_POW = 40
PREC_ATOM = 100


@dataclass(frozen=True)
class Instruction:
    """Lowered to one LLVM IR instruction (``fadd``, ``fneg`` ...)."""

    opcode: str


@dataclass(frozen=True)
class Intrinsic:
    """Lowered to an LLVM intrinsic (``llvm.exp.f64``), which LLVM knows the
    semantics of (constant folding, vectorization) and turns into a libm
    call or an instruction; ``libm`` names the C function it computes."""

    name: str
    libm: str


@dataclass(frozen=True)
class Libm:
    """Lowered to a call of the C math library function ``name``."""

    name: str


@dataclass(frozen=True)
class Hook:
    """Lowered by ``fn(em, *args)``, a short IR sequence built with the
    compiler's emitter (``em.const``, ``em.fcmp``, ``em.select``, ``em.fadd``
    ..., ``em.op(name, *args)`` to lower another op of this table and
    ``em.intrinsic(name, *args)``).  ``calls`` lists the ops it lowers
    through ``em.op``, so the compiler knows what math a hook needs without
    running it."""

    fn: Callable
    calls: tuple = ()


@dataclass(frozen=True)
class OpDef:
    """Everything symdiff knows about one primitive."""

    name: str
    arity: int
    numpy: Callable
    vjp: Optional[Callable]
    lowering: object
    python: Optional[Callable] = None
    infix: Optional[str] = None
    aliases: tuple = ()
    precedence: int = PREC_ATOM
    right_assoc: bool = False
    # A str.format template; a structural op's is a function of its
    # parameters and argument shapes returning one (see below).
    latex: Optional[object] = None
    rank: int = 9
    function: bool = True
    commutative: bool = False
    smooth: bool = True
    complex_ok: bool = False
    domain: tuple = ("real",)
    doc: str = ""
    kind: str = "elementwise"
    shape_rule: Optional[Callable] = None
    spell: Optional[Callable] = None
    # Structural ops only (see the conventions above _structural):
    # scalar_adjoint: the vjp takes a scalar adjoint as it is (it stands for
    # that value broadcast to the node's shape); other rules get the adjoint
    # broadcast to the node's full shape.
    scalar_adjoint: bool = False
    # int_args: the arguments may be integer tensors (labels); every other
    # op takes floats only.
    int_args: bool = False
    # fold_constants: on constant arguments the op is evaluated at build
    # time (when that makes no more numbers than went in).
    fold_constants: bool = True

    def check_arity(self, n: int) -> bool:
        """True if the op accepts ``n`` arguments."""
        return n >= 2 if self.arity == VARIADIC else n == self.arity


# ---------------------------------------------------------------------------
# numpy evaluation helpers (IEEE double; never raise on domain errors)


def _sigmoid(x):
    # exp(-|x|) never overflows; pick the branch that divides by 1 + small.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x):
    # max(x, 0) + log1p(exp(-|x|)): exact to the last bit where exp(x)
    # would overflow, and propagates NaN through np.maximum.
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _logsumexp(*args):
    # log(e^a + e^b + ...) as a left fold of numpy's logaddexp, which shifts
    # each pair by its max and adds log1p(exp(-|a - b|)): no overflow, full
    # accuracy where one term dominates (logsumexp(0, -40) = 4.2e-18, not 0),
    # NaN propagates.  The compiled hook computes the very same fold.
    out = args[0]
    for a in args[1:]:
        out = np.logaddexp(out, a)
    return out


def _relu(x):
    # x where x > 0 or x is NaN, else +0.0.
    return np.where(x <= 0, 0.0, x)


def _step(x):
    # Heaviside step with step(0) = 0 (so relu'(0) = 0); NaN stays NaN.
    return np.where(x > 0, 1.0, np.where(x <= 0, 0.0, np.nan))


def _eq(a, b):
    return np.where(a == b, 1.0, 0.0)


def _max2(a, b):
    # IEEE 754-2019 maximumNumber: a NaN loses to a number (np.fmax), and
    # -0.0 < +0.0.  np.fmax returns either zero at a tie of +0.0 and -0.0
    # (its first argument, or the other one for arrays): there the answer
    # is b if a is -0.0, else a.
    if isinstance(a, float) and isinstance(b, float):   # np.float64 too
        if a != a or (a == b == 0 and math.copysign(1.0, a) < 0):
            return b
        return a if a >= b or b != b else b
    r = np.fmax(a, b)
    zero = r == 0
    if not zero.any():                        # the common case: one pass more
        return r
    return np.where(zero & (a == b), np.where(np.signbit(a), b, a), r)[()]


def _min2(a, b):
    # IEEE 754-2019 minimumNumber: as _max2, with -0.0 winning a tie of
    # zeros: a if a is -0.0, else b.
    if isinstance(a, float) and isinstance(b, float):
        if a != a or (a == b == 0 and math.copysign(1.0, a) > 0):
            return b
        return a if a <= b or b != b else b
    r = np.fmin(a, b)
    zero = r == 0
    if not zero.any():
        return r
    return np.where(zero & (a == b), np.where(np.signbit(a), a, b), r)[()]


def _fmax(*args):
    out = args[0]
    for a in args[1:]:
        out = _max2(out, a)
    return out


def _fmin(*args):
    out = args[0]
    for a in args[1:]:
        out = _min2(out, a)
    return out


def _power(a, b):
    # C99 pow (Annex F), as libm and the compiled code compute it.  numpy
    # computes x ** 0.5 as sqrt(x), which differs at two bases: sqrt(-inf)
    # is NaN where pow(-inf, 0.5) = +inf, and sqrt(-0.0) = -0.0 where
    # pow(-0.0, 0.5) = +0.0.  At both, pow(x, 0.5) = |x|.
    r = np.power(a, b)
    if isinstance(a, float) and isinstance(b, float):   # np.float64 too
        return abs(a) if b == 0.5 and (a == 0 or a == -math.inf) else r
    if r.dtype.kind == "c" or not np.any(b == 0.5):
        return r                                # complex step: no such bases
    fix = (b == 0.5) & ((a == 0) | (a == -np.inf))
    return np.where(fix, np.abs(a), r)[()] if fix.any() else r


def _py_div(a, b):
    # Python raises on x/0 where IEEE (numpy, the compiled code) gives
    # +-inf or NaN; only that case pays for numpy.
    try:
        return a / b
    except ZeroDivisionError:
        with np.errstate(all="ignore"):
            return float(np.divide(float(a), float(b)))


def fold(op: "OpDef", *values: float) -> float:
    """Evaluate ``op`` on Python floats (constant folding): IEEE results,
    never an exception for domain errors or overflow."""
    if op.python is not None:
        # Python float arithmetic is IEEE double too, and ~50x cheaper than
        # entering np.errstate.
        return op.python(*values)
    with np.errstate(all="ignore"):
        r = op.numpy(*values)
    return float(r)


# ---------------------------------------------------------------------------
# derivative rules: vjp(F, i, args, out, g) -> g * d(out)/d(args[i])


def _vjp_add(F, i, a, out, g):
    return g


def _vjp_sub(F, i, a, out, g):
    return g if i == 0 else F.neg(g)


def _vjp_mul(F, i, a, out, g):
    return F.mul(g, a[1 - i])


def _vjp_div(F, i, a, out, g):
    q = F.div(g, a[1])  # shared by both partials
    return q if i == 0 else F.neg(F.mul(q, out))


def _vjp_neg(F, i, a, out, g):
    return F.neg(g)


def _vjp_pow(F, i, a, out, g):
    base, expo = a
    if i == 0:
        c = F.constant_value(expo)
        if c is not None:
            # c*u^(c-1)*g; for c = 2 the pow folds away (u^1 -> u).  A
            # constant or negated adjoint is combined with c first, where it
            # folds (6*x, not 3*(2*x); c*-g -> (-c)*g saves the negation);
            # otherwise (c*u)*g prints as 2*x*sin(x).
            p = F.pow(base, F.const(c - 1.0))
            if F.constant_value(g) is not None or getattr(g, "op", None) == "neg":
                return F.mul(F.mul(expo, g), p)
            return F.mul(F.mul(expo, p), g)
        return F.mul(g, F.mul(expo, F.pow(base, F.sub(expo, F.const(1.0)))))
    return F.mul(g, F.mul(F.log(base), out))


def _one_minus_sq(F, u):
    return F.sub(F.const(1.0), F.mul(u, u))


def _vjp_tanh(F, i, a, out, g):
    # tanh' = 1/cosh(x)^2, as (g / cosh(x)) / cosh(x): 1 - tanh(x)^2
    # cancels (relative error 1e-8 at x = 10, 0 instead of 1.7e-17 at
    # x = 20).  Dividing twice never forms cosh^2, which overflows from
    # |x| = 355 where sech^2 is still a normal or subnormal number, and g is
    # never multiplied by an overflowed factor (g / inf = 0, not NaN).
    # Three ops per tanh (cosh, two divisions), as 1 - t*t times g was:
    # the gradient stays within 4x the ops of f (test_differentiate).
    c = F.cosh(a[0])
    return F.div(F.div(g, c), c)


def _vjp_sigmoid(F, i, a, out, g):
    # sigmoid' = sigmoid(x) sigmoid(-x): s(1 - s) cancels for x >> 0 (off by
    # 3.6e-8 at x = 20, 0 from x = 37); both factors are <= 1, so g times
    # them never overflows.
    return F.mul(F.mul(g, out), F.sigmoid(F.neg(a[0])))


def _vjp_hypot(F, i, a, out, g):
    # d hypot(x, y)/dx = x / hypot(x, y): the ratio is at most 1 in
    # magnitude, so neither it nor g times it overflows (x/sqrt(x^2 + y^2)
    # does from |x| = 1.3e154).  NaN at the origin, as for sqrt(x^2 + y^2).
    return F.mul(g, F.div(a[i], out))


def _vjp_logsumexp(F, i, a, out, g):
    # The softmax weight of argument i.  With two arguments it is
    # sigmoid(a_i - a_j), accurate to a few ulps down to e^-745: a_i - a_j
    # is exact when the two are close, while exp(a_i - out) loses |out|
    # ulps to the rounding of out (31 ulp at (38.77, 23.34); 1.5 vs 1.7
    # bits on the accuracy corpus's logaddexp, where the naive
    # e^a/(e^a + e^b) has 0.9: a tiny weight still pays |a_i - a_j|/2 ulps
    # for the rounding of the difference).  With more, exp(a_i - out)
    # <= 1: no overflow, tiny weights keep their relative accuracy, and
    # the error, about |out| ulps, is the softmax's own condition number
    # (measured: shifting by max(a) instead gave 32 vs 44 ulp at
    # |a| <= 30, 485 vs 485 at 800).
    if len(a) == 2:
        return F.mul(g, F.sigmoid(F.sub(a[i], a[1 - i])))
    return F.mul(g, F.exp(F.sub(a[i], out)))


def _vjp_maxmin(F, i, a, out, g):
    # Ties split equally: weight_i = [a_i == out] / #{j : a_j == out}.
    hits = [F.eq(x, out) for x in a]
    total = hits[0]
    for h in hits[1:]:
        total = F.add(total, h)
    return F.mul(g, F.div(hits[i], total))


def _zero(F, i, a, out, g):
    return None


# ---------------------------------------------------------------------------
# LLVM lowering hooks for primitives that are not a single instruction,
# intrinsic or libm call.  ``em`` is the compiler's emitter (duck-typed).


def _lower_relu(em, x):
    # ugt is true for x > 0 and for NaN: NaN propagates, -0.0 and 0 give +0.
    return em.select(em.fcmp("ugt", x, em.const(0.0)), x, em.const(0.0))


def _lower_step(em, x):
    gt = em.select(em.fcmp("ogt", x, em.const(0.0)), em.const(1.0), em.const(0.0))
    return em.select(em.fcmp("uno", x, x), x, gt)


def _lower_sign(em, x):
    pos = em.select(em.fcmp("ogt", x, em.const(0.0)), em.const(1.0), em.const(0.0))
    neg = em.select(em.fcmp("olt", x, em.const(0.0)), em.const(1.0), em.const(0.0))
    s = em.fsub(pos, neg)
    return em.select(em.fcmp("uno", x, x), x, s)


def _lower_eq(em, a, b):
    return em.select(em.fcmp("oeq", a, b), em.const(1.0), em.const(0.0))


def _lower_sigmoid(em, x):
    e = em.op("exp", em.fneg(em.op("abs", x)))
    d = em.fadd(em.const(1.0), e)
    pos = em.fdiv(em.const(1.0), d)
    neg = em.fdiv(e, d)
    # x >= 0 (ordered) takes the first branch; NaN goes to the second, where
    # e is NaN too, so NaN propagates.
    return em.select(em.fcmp("oge", x, em.const(0.0)), pos, neg)


def _lower_softplus(em, x):
    lin = em.select(em.fcmp("ugt", x, em.const(0.0)), x, em.const(0.0))
    return em.fadd(lin, em.op("log1p", em.op("exp", em.fneg(em.op("abs", x)))))


def _lower_logsumexp(em, *args):
    # The fold of numpy's npy_logaddexp, step for step (symdiff's numpy
    # evaluation), so compiled and interpreted results agree to libm's ulps.
    acc = args[0]
    for b in args[1:]:
        a = acc
        d = em.fsub(a, b)
        pos = em.fadd(a, em.op("log1p", em.op("exp", em.fneg(d))))
        neg = em.fadd(b, em.op("log1p", em.op("exp", d)))
        # d > 0: the first form; d <= 0: the second; d NaN: NaN.
        r = em.select(em.fcmp("ogt", d, em.const(0.0)), pos,
                      em.select(em.fcmp("ole", d, em.const(0.0)), neg, d))
        # a == b (infinities of one sign included): a + log 2.
        acc = em.select(em.fcmp("oeq", a, b), em.fadd(a, em.const(math.log(2.0))), r)
    return acc


def _lower_maxmin(intrinsic):
    def lower(em, *args):
        acc = args[0]
        for a in args[1:]:
            acc = em.intrinsic(intrinsic, acc, a)
        return acc

    return lower


#: Constant exponents lowered without a pow call (see _lower_pow): x^2 =
#: x*x, x^-1 = 1/x, x^1 = x, x^0 = 1, each exact or one correctly rounded
#: operation.  Every other exponent calls pow.
POW_UNROLLED = frozenset({-1.0, 0.0, 1.0, 2.0})
#: The largest |n| in POW_UNROLLED (read by symdiff.lab.accuracy); note
#: that -2 is NOT unrolled: 1/(x*x) rounds twice and underflows early.
POW_INT_MAX = 2


def _lower_pow(em, x, y):
    # Only exponents whose unrolled form is ONE correctly rounded operation
    # are unrolled: x*x and 1/x are then at least as accurate as libm's pow
    # and overflow and underflow exactly where the true power does.  Longer
    # products are not: x*x*x rounds twice (2 ulp, glibc pow < 1 ulp) and
    # 1/(x*x*x) overflows x^3 first (0 at x = 1e103, where x^-3 is the
    # subnormal 1e-309), so every other exponent calls pow.  LLVM keeps
    # C99's special cases itself (pow(x, 0.5) -> sqrt only with -0.0 and
    # -inf handled), and with fast_math it expands small integer powers.
    c = em.const_value(y)
    if c == 2.0:
        return em.fmul(x, x)
    if c == -1.0:
        return em.fdiv(em.const(1.0), x)
    if c == 1.0:
        return x                  # pow(x, 1) = x, also -0.0 and NaN
    if c == 0.0:
        return em.const(1.0)      # pow(x, 0) = 1 even for NaN, as in libm
    return em.intrinsic("llvm.pow.f64", x, y)


def _unary(name, fn, vjp, lowering, *, latex=None, complex_ok=True, smooth=True,
           domain=("real",), doc=""):
    return OpDef(
        name=name, arity=1, numpy=fn, vjp=vjp, lowering=lowering,
        latex=latex or (r"\operatorname{{%s}}\left({0}\right)" % name),
        complex_ok=complex_ok, smooth=smooth, domain=domain, doc=doc,
    )


def _intr(name):
    return Intrinsic(f"llvm.{name}.f64", name)


_TABLE = [
    # --- arithmetic -------------------------------------------------------
    OpDef("add", 2, np.add, _vjp_add, Instruction("fadd"), python=operator.add, infix="+",
          precedence=PREC_ADD, latex="{0} + {1}", rank=4, function=False, commutative=True,
          complex_ok=True, domain=("real", "real"), doc="a + b"),
    OpDef("sub", 2, np.subtract, _vjp_sub, Instruction("fsub"), python=operator.sub,
          infix="-", precedence=PREC_ADD, latex="{0} - {1}", rank=5, function=False,
          complex_ok=True, domain=("real", "real"), doc="a - b"),
    OpDef("mul", 2, np.multiply, _vjp_mul, Instruction("fmul"), python=operator.mul,
          infix="*", precedence=PREC_MUL, latex=r"{0} \cdot {1}", rank=0, function=False,
          commutative=True, complex_ok=True, domain=("real", "real"), doc="a * b"),
    OpDef("div", 2, np.divide, _vjp_div, Instruction("fdiv"), python=_py_div, infix="/",
          precedence=PREC_MUL, latex=r"\frac{{{0}}}{{{1}}}", rank=1, function=False,
          complex_ok=True, domain=("real", "nonzero"), doc="a / b"),
    OpDef("neg", 1, np.negative, _vjp_neg, Instruction("fneg"), python=operator.neg,
          infix="-", precedence=PREC_NEG, latex="-{0}", rank=3, function=False, complex_ok=True,
          doc="-a"),
    OpDef("pow", 2, _power, _vjp_pow, Hook(_lower_pow), infix="^", aliases=("**",),
          precedence=PREC_POW, right_assoc=True, latex="{0}^{{{1}}}", rank=2,
          complex_ok=True, domain=("positive", "real"), doc="a ^ b (IEEE pow)"),
    # --- exponentials and logarithms --------------------------------------
    _unary("exp", np.exp, lambda F, i, a, out, g: F.mul(g, out), _intr("exp"),
           latex=r"e^{{{0}}}", doc="e^x"),
    _unary("log", np.log, lambda F, i, a, out, g: F.div(g, a[0]), _intr("log"),
           latex=r"\ln\left({0}\right)", domain=("positive",), doc="natural logarithm"),
    _unary("log1p", np.log1p,
           lambda F, i, a, out, g: F.div(g, F.add(F.const(1.0), a[0])), Libm("log1p"),
           latex=r"\ln\left(1 + {0}\right)", domain=("gt_minus1",), doc="log(1 + x)"),
    _unary("expm1", np.expm1,
           # expm1' = exp(x), not out + 1: adding 1 to expm1(-20) = -1 + 2e-9
           # keeps 2e-9 only to 1e-8 relative accuracy.
           lambda F, i, a, out, g: F.mul(g, F.exp(a[0])), Libm("expm1"),
           latex=r"\left(e^{{{0}}} - 1\right)", doc="exp(x) - 1"),
    _unary("sqrt", np.sqrt,
           lambda F, i, a, out, g: F.div(F.mul(F.const(0.5), g), out), _intr("sqrt"),
           latex=r"\sqrt{{{0}}}", domain=("positive",), doc="square root"),
    OpDef("hypot", 2, np.hypot, _vjp_hypot, Libm("hypot"),
          latex=r"\operatorname{{hypot}}\left({0}, {1}\right)", commutative=True,
          domain=("real", "real"),
          doc="sqrt(x^2 + y^2) without overflow or underflow (libm hypot)"),
    # --- trigonometric ----------------------------------------------------
    _unary("sin", np.sin, lambda F, i, a, out, g: F.mul(g, F.cos(a[0])), _intr("sin"),
           latex=r"\sin\left({0}\right)"),
    _unary("cos", np.cos, lambda F, i, a, out, g: F.neg(F.mul(g, F.sin(a[0]))), _intr("cos"),
           latex=r"\cos\left({0}\right)"),
    _unary("tan", np.tan,
           lambda F, i, a, out, g: F.mul(g, F.add(F.const(1.0), F.mul(out, out))), Libm("tan"),
           latex=r"\tan\left({0}\right)", domain=("trig",)),
    _unary("asin", np.arcsin,
           lambda F, i, a, out, g: F.div(g, F.sqrt(_one_minus_sq(F, a[0]))), Libm("asin"),
           latex=r"\arcsin\left({0}\right)", domain=("unit",)),
    _unary("acos", np.arccos,
           lambda F, i, a, out, g: F.neg(F.div(g, F.sqrt(_one_minus_sq(F, a[0])))),
           Libm("acos"), latex=r"\arccos\left({0}\right)", domain=("unit",)),
    _unary("atan", np.arctan,
           lambda F, i, a, out, g: F.div(g, F.add(F.const(1.0), F.mul(a[0], a[0]))),
           Libm("atan"), latex=r"\arctan\left({0}\right)"),
    # --- hyperbolic -------------------------------------------------------
    _unary("sinh", np.sinh, lambda F, i, a, out, g: F.mul(g, F.cosh(a[0])), Libm("sinh"),
           latex=r"\sinh\left({0}\right)"),
    _unary("cosh", np.cosh, lambda F, i, a, out, g: F.mul(g, F.sinh(a[0])), Libm("cosh"),
           latex=r"\cosh\left({0}\right)"),
    _unary("tanh", np.tanh, _vjp_tanh,
           Libm("tanh"), latex=r"\tanh\left({0}\right)"),
    # --- activations ------------------------------------------------------
    _unary("sigmoid", _sigmoid,
           _vjp_sigmoid,
           Hook(_lower_sigmoid, calls=("exp", "abs")),
           latex=r"\sigma\left({0}\right)", complex_ok=False,
           doc="1 / (1 + e^-x), evaluated without overflow"),
    _unary("softplus", _softplus, lambda F, i, a, out, g: F.mul(g, F.sigmoid(a[0])),
           Hook(_lower_softplus, calls=("exp", "abs", "log1p")),
           latex=r"\operatorname{{softplus}}\left({0}\right)", complex_ok=False,
           doc="log(1 + e^x), evaluated without overflow"),
    OpDef("logsumexp", VARIADIC, _logsumexp, _vjp_logsumexp,
          Hook(_lower_logsumexp, calls=("exp", "log1p")),
          latex=r"\operatorname{{logsumexp}}\left({0}\right)", commutative=True,
          domain=("real", "real"),
          doc="log(e^a + e^b + ...) without overflow; the gradient is the softmax"),
    _unary("relu", _relu, lambda F, i, a, out, g: F.mul(g, F.step(a[0])), Hook(_lower_relu),
           latex=r"\operatorname{{relu}}\left({0}\right)", complex_ok=False, smooth=False,
           doc="max(x, 0); relu'(0) = 0"),
    _unary("abs", np.abs, lambda F, i, a, out, g: F.mul(g, F.sign(a[0])), _intr("fabs"),
           latex=r"\left|{0}\right|", complex_ok=False, smooth=False, doc="|x|; |x|'(0) = 0"),
    OpDef("max", VARIADIC, _fmax, _vjp_maxmin, Hook(_lower_maxmin("llvm.maximumnum.f64")),
          latex=r"\max\left({0}\right)", commutative=True, smooth=False,
          domain=("real", "real"),
          doc="largest argument (NaN-ignoring); ties split the gradient equally"),
    OpDef("min", VARIADIC, _fmin, _vjp_maxmin, Hook(_lower_maxmin("llvm.minimumnum.f64")),
          latex=r"\min\left({0}\right)", commutative=True, smooth=False,
          domain=("real", "real"),
          doc="smallest argument (NaN-ignoring); ties split the gradient equally"),
    # --- derivative helpers (piecewise constant, derivative zero) ---------
    _unary("step", _step, _zero, Hook(_lower_step), latex=r"\theta\left({0}\right)",
           complex_ok=False, smooth=False,
           doc="1 for x > 0, 0 for x <= 0 (the derivative of relu)"),
    _unary("sign", np.sign, _zero, Hook(_lower_sign),
           latex=r"\operatorname{{sign}}\left({0}\right)", complex_ok=False, smooth=False,
           doc="-1, 0 or 1 (the derivative of abs)"),
    OpDef("eq", 2, _eq, _zero, Hook(_lower_eq), latex=r"\left[{0} = {1}\right]",
          commutative=True, smooth=False, domain=("real", "real"),
          doc="1 if a == b else 0 (splits max/min gradients at ties)"),
]

# ---------------------------------------------------------------------------
# Structural tensor ops.  Elementwise ops above apply to tensors with numpy
# broadcasting and reuse their scalar rules unchanged (the symbolic
# namespace is shape-polymorphic); only the ops below, which move, reduce
# or combine whole arrays, have rules of their own.
#
# Conventions shared by their entries:
# * ``params`` is a tuple of hashable values (the node's payload), passed
#   unpacked after the arguments to ``numpy``, to the namespaces' functions
#   and to ``shape_rule``; the vjp gets it as one tuple.  Axes are negative
#   (counted from the end) and index specs cover every axis, so that each
#   rule also works on adjoints with extra *leading* batch axes (Jacobians
#   and Hessians are reverse mode with a batched seed).
# * ``shape_rule(shapes, dtypes, *params) -> (shape, dtype)`` raises
#   ShapeError naming the op and the shapes.
# * ``spell(params, arg_shapes)`` says how text shows the op: ("call", name,
#   keyword arguments[, positional parameters]), ("postfix", text) or
#   ("subscript", items).  ``name`` is a function the parser calls with the
#   op's argument, then the positional parameters, then the keywords, and
#   gets the very same node back (symdiff.text.functions).
# * ``latex(params, arg_shapes)``, where given, is the LaTeX template of the
#   node (``{0}`` its argument, as for elementwise ops), or None to typeset
#   the ``spell`` form.
# * Derivative rules receive the adjoint ``g`` with the node's full shape
#   (plus batch axes), or, for ops marked ``scalar_adjoint``, possibly a
#   scalar standing for that value in every entry; what they return may be
#   broadcastable to the argument's shape, or larger (the differentiation
#   loop sums it down).


def _swap_last(F, x):
    return F.transpose(x, (1, 0))


def _expand(F, g, axis_from_end: int):
    """g with a new axis of length 1 inserted ``axis_from_end`` positions from
    the end (-1: a new last axis)."""
    shape = g.shape
    k = len(shape) + 1 + axis_from_end
    return F.reshape(g, shape[:k] + (1,) + shape[k:])


def _vjp_matmul(F, i, a, out, g, params):
    A, B = a
    if len(A.shape) >= 2 and len(B.shape) == 2:          # (.., m, k) @ (k, p)
        return F.matmul(g, _swap_last(F, B)) if i == 0 else F.matmul(_swap_last(F, A), g)
    if len(A.shape) == 2 and len(B.shape) == 1:          # (m, k) @ (k,)
        return F.mul(_expand(F, g, -1), B) if i == 0 else F.matmul(g, A)
    if len(A.shape) == 1 and len(B.shape) == 2:          # (k,) @ (k, p)
        return F.matmul(g, _swap_last(F, B)) if i == 0 else \
            F.mul(F.reshape(A, A.shape + (1,)), _expand(F, g, -2))
    # (k,) @ (k,): the dot product
    other = B if i == 0 else A
    if not g.shape:
        return F.mul(g, other)
    return F.mul(_expand(F, g, -1), other)


def _matmul_shape(shapes, dtypes, *params):
    a, b = shapes
    if len(a) > 2 and len(b) == 2:        # a stack of matrices (batched adjoints)
        return a[:-2] + matmul_shape(a[-2:], b), FLOAT_DTYPE
    if len(b) > 2 and len(a) == 2:
        r = matmul_shape(a, b[-2:])
        return b[:-2] + r, FLOAT_DTYPE
    if len(a) > 2 or len(b) > 2:
        raise ShapeError(f"matmul: shapes {format_tuple(a)} and {format_tuple(b)}: only "
                         "vectors, matrices and a stack of matrices times a matrix are "
                         "supported")
    return matmul_shape(a, b), FLOAT_DTYPE


def _np_transpose(x, perm):
    nd = np.ndim(x)
    lead = nd - len(perm)
    return np.transpose(x, tuple(range(lead)) + tuple(lead + p for p in perm))


def _vjp_transpose(F, i, a, out, g, params):
    if not g.shape:
        return g                            # a broadcast scalar, transposed
    (perm,) = params
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    return F.transpose(g, tuple(inv))


def _transpose_shape(shapes, dtypes, perm):
    (s,) = shapes
    if sorted(perm) != list(range(len(perm))) or len(perm) > len(s):
        raise ShapeError(f"transpose: axes {perm} are not a permutation of the last "
                         f"axes of shape {format_tuple(s)}")
    lead = len(s) - len(perm)
    return s[:lead] + tuple(s[lead + p] for p in perm), dtypes[0]


def _spell_transpose(params, shapes):
    (perm,) = params
    nd = len(shapes[0])
    if perm == tuple(range(len(perm) - 1, -1, -1)) and len(perm) == nd:
        return ("postfix", ".T")
    # transpose(x, axes=...) takes a permutation of every axis.
    lead = nd - len(perm)
    return ("call", "transpose", {"axes": tuple(range(lead)) + tuple(lead + p for p in perm)})


def _latex_transpose(params, shapes):
    return r"{0}^\top" if _spell_transpose(params, shapes)[0] == "postfix" else None


def _latex_matmul(params, shapes):
    # A vector times a vector is the dot product x^T y on paper; every other
    # product is juxtaposition (A x, X^T G).
    if len(shapes[0]) == 1 and len(shapes[1]) == 1:
        return r"{0}^\top {1}"
    return "{0} {1}"


def _abs_axes(axes, ndim):
    return tuple(a + ndim for a in axes)


def _reduce_shape_rule(shapes, dtypes, axes, keepdims):
    (s,) = shapes
    return reduce_shape(s, _abs_axes(axes, len(s)), keepdims), dtypes[0]


def _spell_reduce(name):
    def spell(params, shapes):
        axes, keepdims = params
        nd = len(shapes[0])
        kw = {}
        if len(axes) != nd:
            ax = _abs_axes(axes, nd)
            kw["axis"] = ax[0] if len(ax) == 1 else ax
        if keepdims:
            kw["keepdims"] = True
        return ("call", name, kw)
    return spell


def _keep_shape(shape, axes):
    """``shape`` (an output without the reduced axes) with 1s put back at
    the reduced axes (negative, relative to the input's end)."""
    nd = len(shape) + len(axes)
    ax = set(a + nd for a in axes)
    it = iter(shape)
    return tuple(1 if k in ax else next(it) for k in range(nd))


def _unreduce(F, g, out, axes):
    """``g`` (shaped like the reduction ``out``, plus leading batch axes)
    with the reduced axes put back as 1s: broadcastable to the input."""
    nb = len(g.shape) - len(out.shape)
    return F.reshape(g, g.shape[:nb] + _keep_shape(out.shape, axes))


def _vjp_sum(F, i, a, out, g, params):
    axes, keepdims = params
    if keepdims or not g.shape:
        return g                            # already broadcastable to the input
    return _unreduce(F, g, out, axes)


def _vjp_reduce_max(F, i, a, out, g, params):
    # Ties split equally: weight = [x == max] / #ties, as for elementwise max.
    axes, keepdims = params
    x = a[0]
    m = out if keepdims else _unreduce(F, out, out, axes)
    if not keepdims and g.shape:
        g = _unreduce(F, g, out, axes)
    hits = F.eq(x, m)
    return F.mul(g, F.div(hits, F.sum(hits, axes, True)))


def _np_reduce_max(x, axes, keepdims):
    # NaN-ignoring like the elementwise max (IEEE maxNum).
    return np.fmax.reduce(x, axis=axes, keepdims=keepdims)


def _reshape_shape(shapes, dtypes, shape):
    (s,) = shapes
    a, b = list(s), list(shape)
    # Equal leading and trailing dimensions stay (a named batch axis may
    # keep its name); what lies between must hold the same number of
    # entries: ints with equal products, or the same axes up to 1s.
    while a and b and a[0] == b[0]:
        a.pop(0), b.pop(0)
    while a and b and a[-1] == b[-1]:
        a.pop(), b.pop()
    n_in, n_out = shape_size(tuple(a)), shape_size(tuple(b))
    if n_in is not None and n_out is not None:
        ok = n_in == n_out
    else:
        ok = [d for d in a if d != 1] == [d for d in b if d != 1]
    if not ok:
        raise ShapeError(f"reshape: cannot reshape shape {format_tuple(s)} into "
                         f"{format_tuple(shape)}")
    return tuple(shape), dtypes[0]


def _vjp_reshape(F, i, a, out, g, params):
    if not g.shape:
        return g
    nb = len(g.shape) - len(out.shape)
    return F.reshape(g, g.shape[:nb] + a[0].shape)


def _broadcast_shape(shapes, dtypes, shape):
    (s,) = shapes
    if len(s) > len(shape) or broadcast_shapes([s, shape], "broadcast_to") != tuple(shape):
        raise ShapeError(f"broadcast_to: cannot broadcast shape {format_tuple(s)} to "
                         f"{format_tuple(shape)}")
    return tuple(shape), dtypes[0]


def _vjp_broadcast(F, i, a, out, g, params):
    return g                                # summed down by the differentiation loop


def index_key(spec) -> tuple:
    """The numpy key of an index spec (integers, and slices as (start,
    stop, step) triples), applied to the last axes."""
    return (Ellipsis,) + tuple(slice(*s) if isinstance(s, tuple) else s for s in spec)


def _np_index(x, spec):
    return x[index_key(spec)]


def _index_shape(shapes, dtypes, spec):
    (s,) = shapes
    lead = len(s) - len(spec)           # leading batch axes of an adjoint
    if lead < 0:
        raise ShapeError(f"index: {len(spec)} indices for shape {format_tuple(s)}")
    out = list(s[:lead])
    for k, (d, item) in enumerate(zip(s[lead:], spec), start=lead):
        if isinstance(item, int):
            if isinstance(d, int) and not -d <= item < d:
                raise ShapeError(f"index {item} is out of range for axis {k} of shape "
                                 f"{format_tuple(s)}")
            continue
        start, stop, step = item
        if isinstance(d, int):
            out.append(len(range(*slice(start, stop, step).indices(d))))
        elif (start, stop, step) in ((None, None, None), (None, None, 1), (0, None, 1)):
            out.append(d)
        else:
            raise ShapeError(f"index: cannot slice the named dimension {d} (axis {k} of "
                             f"shape {format_tuple(s)}) with bounds; only ':' is allowed")
    return tuple(out), dtypes[0]


def _spell_index(params, shapes):
    return ("subscript", params[0])


def _vjp_index(F, i, a, out, g, params):
    (spec,) = params
    return F.unindex(g, spec, a[0].shape)


def _np_unindex(g, spec, shape):
    nb = np.ndim(g) - _index_rank(spec)
    z = np.zeros(np.shape(g)[:nb] + tuple(shape))
    z[index_key(spec)] = g
    return z


def _index_rank(spec):
    return sum(1 for s in spec if not isinstance(s, int))


def _unindex_shape(shapes, dtypes, spec, shape):
    (s,) = shapes
    return s[:len(s) - _index_rank(spec)] + tuple(shape), dtypes[0]


def _vjp_unindex(F, i, a, out, g, params):
    return F.index(g, params[0])


def _np_onehot(labels, k):
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = labels[(labels < 0) | (labels >= k)].ravel()[0]
        raise ValueError(f"onehot: label {int(bad)} is outside 0..{k - 1}")
    return (labels[..., None] == np.arange(k)).astype(np.float64)


def _onehot_shape(shapes, dtypes, k):
    if dtypes[0] != INT_DTYPE:
        raise ShapeError("onehot: labels must be an integer tensor "
                         "(declare it with dtype=int)")
    return shapes[0] + (k,), FLOAT_DTYPE


def _same_shape(shapes, dtypes, *params):
    return shapes[0], dtypes[0]


def _none(F, i, a, out, g, params):
    return None


def _structural(name, arity, numpy, vjp, shape_rule, spell, *, infix=None,
                precedence=PREC_ATOM, smooth=True, latex=None, doc="", scalar_adjoint=False,
                int_args=False, fold_constants=True):
    return OpDef(name, arity, numpy, vjp, None, infix=infix, precedence=precedence,
                 latex=latex, rank=8, function=False, smooth=smooth, domain=(),
                 doc=doc, kind="structural", shape_rule=shape_rule, spell=spell,
                 scalar_adjoint=scalar_adjoint, int_args=int_args,
                 fold_constants=fold_constants)


_TABLE += [
    _structural("matmul", 2, lambda a, b: np.matmul(a, b), _vjp_matmul, _matmul_shape,
                None, infix="@", precedence=PREC_MUL, latex=_latex_matmul,
                doc="matrix product (matrix-matrix, matrix-vector, vector-vector)"),
    _structural("transpose", 1, _np_transpose, _vjp_transpose, _transpose_shape,
                _spell_transpose, latex=_latex_transpose, scalar_adjoint=True,
                doc="permute the last axes (x.T reverses them all)"),
    _structural("sum", 1, lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
                _vjp_sum, _reduce_shape_rule, _spell_reduce("sum"), scalar_adjoint=True,
                doc="sum over axes"),
    _structural("reduce_max", 1, _np_reduce_max, _vjp_reduce_max, _reduce_shape_rule,
                _spell_reduce("max"), smooth=False, scalar_adjoint=True,
                doc="largest entry over axes (NaN-ignoring); ties split the gradient"),
    _structural("reshape", 1, lambda x, shape: np.reshape(x, shape), _vjp_reshape,
                _reshape_shape, lambda params, shapes: ("call", "reshape", {}, params),
                scalar_adjoint=True, doc="the same entries in another shape"),
    _structural("broadcast_to", 1, lambda x, shape: np.broadcast_to(x, shape),
                _vjp_broadcast, _broadcast_shape,
                lambda params, shapes: ("call", "broadcast_to", {}, params),
                fold_constants=False, doc="numpy broadcasting made explicit"),
    _structural("index", 1, _np_index, _vjp_index, _index_shape, _spell_index,
                doc="x[i, j:k]: integers and slices"),
    _structural("unindex", 1, _np_unindex, _vjp_unindex, _unindex_shape,
                lambda params, shapes: ("call", "unindex", {}, params),
                doc="zeros of a shape with g placed at an index (index's adjoint)"),
    _structural("onehot", 1, _np_onehot, _none, _onehot_shape,
                lambda params, shapes: ("call", "onehot", {}, params), smooth=False,
                latex=lambda params, shapes: "I_{{{0}}}", scalar_adjoint=True, int_args=True,
                doc="integer labels to rows of the identity (I_y)"),
    _structural("stop_gradient", 1, lambda x: x, _none, _same_shape,
                lambda params, shapes: ("call", "stop_gradient", {}), scalar_adjoint=True,
                doc="the value, with no derivative"),
]


#: name -> OpDef for every elementwise primitive (scalar ops; on tensors
#: they apply entry by entry with broadcasting).
OPS: dict[str, OpDef] = {op.name: op for op in _TABLE if op.kind == "elementwise"}

#: name -> OpDef for the structural tensor ops (matmul, transpose, sum ...).
TENSOR_OPS: dict[str, OpDef] = {op.name: op for op in _TABLE if op.kind == "structural"}

#: Every op of the table, for lookups by name.
ALL_OPS: dict[str, OpDef] = {op.name: op for op in _TABLE}

#: Functions a user may call by name in the parser and CLI.
FUNCTIONS: dict[str, OpDef] = {op.name: op for op in _TABLE if op.function}

#: Names the text syntax calls tensor functions by (symdiff.text.functions;
#: a test checks the two agree): reserved, like op names, so that no symbol
#: prints as a call.
TENSOR_FUNCTION_NAMES = frozenset({"sum", "mean", "max", "logsumexp", "softmax", "onehot",
                                   "transpose", "reshape", "broadcast_to", "stop_gradient",
                                   "unindex", "eye"})

#: Named constants understood by the parser.
CONSTANTS = {"pi": float(np.pi), "e": float(np.e)}
