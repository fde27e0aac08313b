"""Per-op test specifications: one row per primitive of the op table.

Like the spec tables of JAX's op tests (``lax_test.py`` with its
``lax_reference``), every per-op test loops over :data:`OP_SPECS` instead of
keeping its own domains, grids and oracles.  Each :class:`OpSpec` row holds:

* ``domains``: a sampler tag per argument (:data:`INTERVALS`, :data:`GRID`):
  log and sqrt positive, asin in (-1, 1), tan inside (-pi/2, pi/2) ...;
* ``mp``: an mpmath oracle, exact to the working precision inside the domain;
* ``sympy``: a SymPy oracle building the op from SymPy arguments (its
  derivative comes from ``sympy.diff``);
* ``kink``: for a non-smooth op, the distance from a point to the nearest
  point where the op is not differentiable (``None`` for smooth ops);
* ``special``: values at special points (zeros, infinities, NaN, domain
  edges) under IEEE real arithmetic;
* ``text`` and ``latex``: how the op applied to ``x, y[, z]`` prints.

The oracles are written here on purpose, independently of
:mod:`symdiff.core.ops` and of the product's own per-op tables
(:data:`symdiff.numeric.reference.MP_OPS`,
:data:`symdiff.text.sympy_interop.TO_SYMPY`), which the tests check against
them.  Where there is a choice the forms differ from the product's (sigmoid
is ``e^x / (1 + e^x)`` here, relu and step are ``Piecewise``), so that a
mistake copied into both would still show.  Adding an op to the table needs
a row here: ``test_op_specs.py`` checks that every op has one.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable, Optional

import mpmath
import numpy as np
import sympy

__all__ = ["OpSpec", "OP_SPECS", "SPECS", "INTERVALS", "GRID", "points", "sample",
           "seed_of"]

inf, nan = math.inf, math.nan

#: Open sampling intervals per domain tag, away from poles and branch
#: points so that central differences stay inside.
INTERVALS = {
    "real": (-2.0, 2.0),
    "positive": (0.1, 3.0),
    "unit": (-0.9, 0.9),          # asin, acos: (-1, 1)
    "gt_minus1": (-0.9, 3.0),     # log1p: (-1, inf)
    "nonzero": (0.2, 3.0),        # the magnitude; the sign is drawn separately
    "trig": (-1.4, 1.4),          # tan: (-pi/2, pi/2)
}

#: Fixed points tried first in each domain: zero and negatives wherever the
#: domain allows them.
GRID = {
    "real": (0.0, -1.5, 2.0),
    "positive": (0.5, 1.0, 2.5),
    "unit": (0.0, -0.5, 0.7),
    "gt_minus1": (0.0, -0.5, 1e-8),
    "nonzero": (-1.5, 0.5, 2.0),
    "trig": (0.0, -1.0, 1.2),
}


@dataclass(frozen=True)
class OpSpec:
    """The test specification of one op (see the module docstring)."""

    name: str
    nargs: int                    # arguments the tests apply it to (3 for max/min)
    domains: tuple
    mp: Callable
    sympy: Callable
    text: str
    latex: str
    special: tuple = ()           # ((args, expected value), ...)
    kink: Optional[Callable] = None


def _at_zero(pt) -> float:
    return abs(pt[0])


def _at_tie(pt) -> float:
    return min(abs(a - b) for i, a in enumerate(pt) for b in pt[i + 1:])


def _spec(name, domains, mp, sym, text, latex, special=(), kink=None):
    return OpSpec(name, len(domains), tuple(domains), mp, sym, text, latex,
                  tuple(special), kink)


_S = sympy.S
_mpf = mpmath.mpf

OP_SPECS = [
    # --- arithmetic -------------------------------------------------------
    _spec("add", ("real", "real"), lambda a, b: a + b, lambda a, b: a + b,
          "x + y", "x + y", [((1.0, 2.0), 3.0), ((inf, -inf), nan)]),
    _spec("sub", ("real", "real"), lambda a, b: a - b, lambda a, b: a - b,
          "x - y", "x - y", [((1.0, 2.0), -1.0), ((inf, inf), nan)]),
    _spec("mul", ("real", "real"), lambda a, b: a * b, lambda a, b: a * b,
          "x*y", "x y", [((3.0, -2.0), -6.0), ((inf, 0.0), nan)]),
    _spec("div", ("real", "nonzero"), lambda a, b: a / b, lambda a, b: a / b,
          "x/y", r"\frac{x}{y}",
          [((1.0, 0.0), inf), ((-1.0, 0.0), -inf), ((0.0, 0.0), nan), ((1.0, 4.0), 0.25)]),
    _spec("neg", ("real",), lambda a: -a, lambda a: -a, "-x", "-x",
          [((2.0,), -2.0), ((-inf,), inf)]),
    _spec("pow", ("positive", "real"), mpmath.power, lambda a, b: a ** b, "x^y", "x^{y}",
          [((-8.0, 1.0 / 3.0), nan),          # IEEE pow: no real cube root
           ((-2.0, 3.0), -8.0), ((0.0, -1.0), inf), ((nan, 0.0), 1.0), ((1.0, nan), 1.0),
           ((2.0, 10.0), 1024.0)]),
    # --- exponentials and logarithms --------------------------------------
    _spec("exp", ("real",), mpmath.exp, sympy.exp, "exp(x)", "e^{x}",
          [((0.0,), 1.0), ((-inf,), 0.0), ((inf,), inf)]),
    _spec("log", ("positive",), mpmath.log, sympy.log, "log(x)", r"\ln\left(x\right)",
          [((-1.0,), nan), ((0.0,), -inf), ((1.0,), 0.0)]),
    _spec("log1p", ("gt_minus1",), mpmath.log1p, lambda a: sympy.log(1 + a), "log1p(x)",
          r"\ln\left(1 + x\right)", [((-1.0,), -inf), ((0.0,), 0.0), ((-2.0,), nan)]),
    _spec("expm1", ("real",), mpmath.expm1, lambda a: sympy.exp(a) - 1, "expm1(x)",
          r"\left(e^{x} - 1\right)", [((0.0,), 0.0), ((-inf,), -1.0)]),
    _spec("sqrt", ("positive",), mpmath.sqrt, sympy.sqrt, "sqrt(x)", r"\sqrt{x}",
          [((-4.0,), nan), ((0.0,), 0.0), ((4.0,), 2.0)]),
    _spec("hypot", ("real", "real"), lambda a, b: mpmath.sqrt(a * a + b * b),
          lambda a, b: sympy.sqrt(a ** 2 + b ** 2), "hypot(x, y)",
          r"\operatorname{hypot}\left(x, y\right)",
          [((3.0, -4.0), 5.0), ((1e200, 1e200), 1.4142135623730951e200),   # x^2 overflows
           ((3e-200, 4e-200), 5e-200), ((inf, nan), inf)]),             # C99: inf wins
    # --- trigonometric ----------------------------------------------------
    _spec("sin", ("real",), mpmath.sin, sympy.sin, "sin(x)", r"\sin\left(x\right)",
          [((0.0,), 0.0)]),
    _spec("cos", ("real",), mpmath.cos, sympy.cos, "cos(x)", r"\cos\left(x\right)",
          [((0.0,), 1.0)]),
    _spec("tan", ("trig",), mpmath.tan, sympy.tan, "tan(x)", r"\tan\left(x\right)",
          [((0.0,), 0.0)]),
    _spec("asin", ("unit",), mpmath.asin, sympy.asin, "asin(x)", r"\arcsin\left(x\right)",
          [((2.0,), nan), ((0.0,), 0.0)]),
    _spec("acos", ("unit",), mpmath.acos, sympy.acos, "acos(x)", r"\arccos\left(x\right)",
          [((2.0,), nan), ((1.0,), 0.0)]),
    _spec("atan", ("real",), mpmath.atan, sympy.atan, "atan(x)", r"\arctan\left(x\right)",
          [((0.0,), 0.0)]),
    # --- hyperbolic -------------------------------------------------------
    _spec("sinh", ("real",), mpmath.sinh, sympy.sinh, "sinh(x)", r"\sinh\left(x\right)",
          [((0.0,), 0.0)]),
    _spec("cosh", ("real",), mpmath.cosh, sympy.cosh, "cosh(x)", r"\cosh\left(x\right)",
          [((0.0,), 1.0)]),
    _spec("tanh", ("real",), mpmath.tanh, sympy.tanh, "tanh(x)", r"\tanh\left(x\right)",
          [((0.0,), 0.0), ((inf,), 1.0)]),
    # --- activations ------------------------------------------------------
    _spec("sigmoid", ("real",), lambda a: 1 / (1 + mpmath.exp(-a)),
          lambda a: sympy.exp(a) / (1 + sympy.exp(a)), "sigmoid(x)", r"\sigma\left(x\right)",
          [((0.0,), 0.5), ((-800.0,), 0.0), ((800.0,), 1.0)]),   # e^-800 underflows
    _spec("softplus", ("real",), lambda a: mpmath.log(1 + mpmath.exp(a)),
          lambda a: sympy.log(1 + sympy.exp(a)), "softplus(x)",
          r"\operatorname{softplus}\left(x\right)",
          [((800.0,), 800.0), ((-800.0,), 0.0)]),
    _spec("relu", ("real",), lambda a: a if a > 0 else _mpf(0),
          lambda a: sympy.Piecewise((a, a > 0), (0, True)), "relu(x)",
          r"\operatorname{relu}\left(x\right)",
          [((0.0,), 0.0), ((-3.0,), 0.0), ((2.5,), 2.5)], kink=_at_zero),
    _spec("abs", ("real",), mpmath.fabs, sympy.Abs, "abs(x)", r"\left|x\right|",
          [((-2.5,), 2.5), ((-inf,), inf)], kink=_at_zero),
    OpSpec("max", 3, ("real", "real", "real"), lambda *a: max(a), sympy.Max,
           "max(x, y, z)", r"\max\left(x, y, z\right)",
           (((1.0, nan, 3.0), 3.0), ((2.0, -1.0), 2.0)), kink=_at_tie),  # NaN ignored (fmax)
    OpSpec("min", 3, ("real", "real", "real"), lambda *a: min(a), sympy.Min,
           "min(x, y, z)", r"\min\left(x, y, z\right)",
           (((nan, 2.0), 2.0), ((2.0, -1.0, 0.5), -1.0)), kink=_at_tie),
    OpSpec("logsumexp", 3, ("real", "real", "real"),
           lambda *a: mpmath.log(mpmath.fsum(mpmath.exp(v) for v in a)),
           lambda *a: sympy.log(sympy.Add(*[sympy.exp(v) for v in a])),
           "logsumexp(x, y, z)", r"\operatorname{logsumexp}\left(x, y, z\right)",
           (((800.0, 800.0), 800.6931471805599),           # e^800 overflows
            ((0.0, -40.0), 4.248354255291589e-18),         # log(1 + 4e-18) would be 0
            ((-inf, -inf, -inf), -inf), ((1.0, nan), nan), ((inf, 2.0), inf))),
    # --- derivative helpers (piecewise constant) --------------------------
    _spec("step", ("real",), lambda a: _mpf(1) if a > 0 else _mpf(0),
          lambda a: sympy.Piecewise((1, a > 0), (0, True)), "step(x)",
          r"\theta\left(x\right)",
          [((0.0,), 0.0), ((1e-300,), 1.0), ((-1.0,), 0.0)], kink=_at_zero),
    _spec("sign", ("real",), mpmath.sign, sympy.sign, "sign(x)",
          r"\operatorname{sign}\left(x\right)",
          [((0.0,), 0.0), ((-2.5,), -1.0), ((inf,), 1.0)], kink=_at_zero),
    _spec("eq", ("real", "real"), lambda a, b: _mpf(1) if a == b else _mpf(0),
          lambda a, b: sympy.Piecewise((1, sympy.Eq(a, b)), (0, True)), "eq(x, y)",
          r"\left[x = y\right]",
          [((2.0, 2.0), 1.0), ((2.0, 3.0), 0.0), ((nan, nan), 0.0)], kink=_at_tie),
]

#: name -> OpSpec
SPECS = {s.name: s for s in OP_SPECS}


def seed_of(name: str) -> int:
    """A fixed seed for ``name`` (``hash()`` of a str is salted per process)."""
    return zlib.crc32(name.encode())


def _draw(spec: OpSpec, rng: np.random.Generator) -> tuple:
    pt = []
    for d in spec.domains:
        lo, hi = INTERVALS[d]
        v = float(rng.uniform(lo, hi))
        if d == "nonzero" and rng.random() < 0.5:
            v = -v
        pt.append(v)
    return tuple(pt)


def sample(spec: OpSpec, rng: np.random.Generator, margin: float = 0.0) -> tuple:
    """A random point of the op's domain, more than ``margin`` away from a
    kink (where a non-smooth op has no derivative)."""
    while True:
        pt = _draw(spec, rng)
        if spec.kink is None or spec.kink(pt) > margin:
            return pt


def points(spec: OpSpec, n_random: int = 4, margin: Optional[float] = None) -> list:
    """The grid points of the op's domain, then ``n_random`` random ones
    (seeded by the op's name).  With ``margin``, points within ``margin``
    of a kink are left out (and random ones redrawn)."""
    # Rotate the grid per argument so that multi-argument ops see no ties.
    pts = [tuple(GRID[d][(k + j) % 3] for j, d in enumerate(spec.domains)) for k in range(3)]
    if margin is not None and spec.kink is not None:
        pts = [p for p in pts if spec.kink(p) > margin]
    rng = np.random.default_rng(seed_of(spec.name))
    for _ in range(n_random):
        pts.append(_draw(spec, rng) if margin is None else sample(spec, rng, margin))
    return pts
