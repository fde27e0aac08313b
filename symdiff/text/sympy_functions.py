"""SymPy functions for symdiff's numerically stable primitives.

Written out in elementary functions, ``softplus(softplus(x))`` becomes
``log(1 + exp(log(1 + exp(x))))``, which SymPy simplifies to
``log(2 + exp(x))``: mathematically equal, but it overflows to inf at
x = 800 where symdiff's softplus gives 800.  :func:`symdiff.to_sympy`
therefore keeps these primitives as opaque SymPy functions that SymPy does
not expand: ``log1p``, ``expm1`` and ``hypot`` are SymPy's own
(:mod:`sympy.codegen.cfunctions`, known to its C and numpy printers);
:class:`sigmoid`, :class:`softplus` and :class:`logsumexp` are defined
here, with :class:`eq` (symdiff's indicator [a == b], which as a
``Piecewise`` SymPy would fold into shapes no op matches).  Each knows its
derivative (``sympy.diff`` works), its value at special points, numeric
evaluation (``evalf``), numpy code for ``lambdify``, and rewrites into
``exp``/``log`` (``e.rewrite(sympy.exp)``) for whoever wants the
elementary form.
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import expm1, hypot, log1p
from sympy.core.function import ArgumentIndexError
from sympy.core.logic import fuzzy_and

__all__ = ["sigmoid", "softplus", "logsumexp", "eq", "log1p", "expm1", "hypot",
           "STABLE_FUNCTIONS"]

_S = sympy.S


class _PositiveOfReal(sympy.Function):
    """What sigmoid and softplus share: numeric values through the
    elementary form, real for a real argument, and always positive."""

    def _eval_evalf(self, prec):
        return self.rewrite(sympy.exp)._eval_evalf(prec)

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None


class sigmoid(_PositiveOfReal):  # noqa: N801 - SymPy function classes are lower case
    """The logistic function 1 / (1 + exp(-x)), kept unexpanded."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return _S.Half
        if arg is _S.Infinity:
            return _S.One
        if arg is _S.NegativeInfinity:
            return _S.Zero
        return None

    def fdiff(self, argindex=1):
        """d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x))."""
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self * (_S.One - self)

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return _S.One / (_S.One + sympy.exp(-arg))

    def _numpycode(self, printer):
        # 1/(1 + exp(-x)) is already overflow-safe in floating point
        # (exp(-x) = inf gives 0, not NaN).
        exp = printer._module_format("numpy.exp")
        return f"(1/(1 + {exp}(-({printer._print(self.args[0])}))))"


class softplus(_PositiveOfReal):  # noqa: N801 - SymPy function classes are lower case
    """log(1 + exp(x)), kept unexpanded (it does not overflow for large x)."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sympy.log(2)
        if arg is _S.Infinity:
            return _S.Infinity
        if arg is _S.NegativeInfinity:
            return _S.Zero
        return None

    def fdiff(self, argindex=1):
        """d softplus(x)/dx = sigmoid(x)."""
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return sympy.log(_S.One + sympy.exp(arg))

    _eval_rewrite_as_log = _eval_rewrite_as_exp


    def _numpycode(self, printer):
        # numpy.logaddexp(0, x) = log(1 + exp(x)) without overflow.
        lae = printer._module_format("numpy.logaddexp")
        return f"{lae}(0, {printer._print(self.args[0])})"


class logsumexp(sympy.Function):  # noqa: N801 - SymPy function classes are lower case
    """log(exp(x1) + exp(x2) + ...), kept unexpanded (written out,
    logsumexp(x, x) becomes log(2 exp(x)), which overflows at x = 800)."""

    @classmethod
    def eval(cls, *args):
        if len(args) == 1:
            return args[0]
        return None

    def fdiff(self, argindex=1):
        """d/dx_i = exp(x_i - logsumexp(x)) (the softmax weight)."""
        if not 1 <= argindex <= len(self.args):
            raise ArgumentIndexError(self, argindex)
        return sympy.exp(self.args[argindex - 1] - self)

    def _eval_rewrite_as_exp(self, *args, **kwargs):
        return sympy.log(sympy.Add(*[sympy.exp(a) for a in args]))

    _eval_rewrite_as_log = _eval_rewrite_as_exp

    def _eval_evalf(self, prec):
        return self.rewrite(sympy.exp)._eval_evalf(prec)

    def _eval_is_extended_real(self):
        return fuzzy_and(a.is_extended_real for a in self.args)

    def _numpycode(self, printer):
        lae = printer._module_format("numpy.logaddexp")
        code = printer._print(self.args[0])
        for a in self.args[1:]:
            code = f"{lae}({code}, {printer._print(a)})"
        return code


class eq(sympy.Function):  # noqa: N801 - SymPy function classes are lower case
    """The indicator [a == b] (1 or 0), kept unexpanded: as a Piecewise,
    SymPy folds it into conditions and values (1/eq(x, y) becomes
    Piecewise((1, Eq(x, y)), (zoo, True))) that have no symdiff op."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a is _S.NaN or b is _S.NaN:
            return _S.Zero
        if a.is_Number and b.is_Number:
            return _S.One if a == b else _S.Zero
        return None

    def fdiff(self, argindex=1):
        """Zero: the indicator is piecewise constant (symdiff's rule too)."""
        if argindex not in (1, 2):
            raise ArgumentIndexError(self, argindex)
        return _S.Zero

    def _eval_rewrite_as_Piecewise(self, a, b, **kwargs):  # noqa: N802 - SymPy's name
        return sympy.Piecewise((_S.One, sympy.Eq(a, b)), (_S.Zero, True))

    def _eval_evalf(self, prec):
        a, b = (v.evalf(prec) for v in self.args)
        if a.is_Number and b.is_Number:
            return sympy.Float(1 if a == b else 0, prec)
        return None

    def _eval_is_extended_real(self):
        return True

    def _eval_is_nonnegative(self):
        return True

    def _numpycode(self, printer):
        equal = printer._module_format("numpy.equal")
        a, b = (printer._print(v) for v in self.args)
        return f"(1.0*{equal}({a}, {b}))"


#: symdiff op -> the SymPy function class that stands for it unexpanded.
STABLE_FUNCTIONS = {"log1p": log1p, "expm1": expm1, "sigmoid": sigmoid, "softplus": softplus,
                    "hypot": hypot, "logsumexp": logsumexp, "eq": eq}
