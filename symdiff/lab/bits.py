"""Bits of error, and sample points drawn the way the floating-point
accuracy literature draws them: uniformly over float64 bit patterns.

*Ordered integers.*  Reading a double's 64 bits as an integer and negating
the magnitude bits of negative numbers gives an integer per double that
grows with the double: consecutive doubles differ by 1, ``-0.0`` and
``0.0`` both map to 0, and +-inf sit one past +-DBL_MAX.  The number of
doubles between two values is the difference of their ordered integers.

*Bits of error* (Herbie's measure): ``log2(1 + d)`` for ``d`` doubles
between a result and the correctly rounded reference: 0 when equal, 1 for
adjacent doubles, about 53 when a result has no correct digit, and at most
64.  A NaN or infinite result where the reference is finite has no
distance: it is counted apart (:attr:`BitsSummary.non_finite`) and enters
averages as :data:`NON_FINITE_BITS` = 64 bits, the most a finite wrong
result can cost.

*Sampling.*  A domain ``lo:hi`` is mapped to the range of ordered integers
``[ord(lo), ord(hi)]`` and integers are drawn uniformly from it, so every
binade in the domain gets the same share of points (``x=1e-300:1e300``
gives as many points near 1e-200 as near 1e200) and a sign-crossing domain
(``x=-800:800``) gives both signs and, mostly, the tiny magnitudes around
zero (about 1080 binades of them against 10 above 1).  ``+-lo:hi`` draws
magnitudes from ``lo:hi`` and a random sign: ``x=+-1e-2:800`` keeps both
signs but only the 16 binades from 0.01 to 800.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = ["NON_FINITE_BITS", "BitsSummary", "ordered", "from_ordered", "ulp_distance",
           "bits_of_error", "summarize_bits", "Interval", "parse_domains", "format_domain",
           "sample_domain"]

#: Bits charged in averages for a NaN/inf result where the reference is finite.
NON_FINITE_BITS = 64.0

_SIGN = np.int64(-2 ** 63)          # the sign bit as an int64
_MAGNITUDE = np.int64(2 ** 63 - 1)   # every other bit


def ordered(values) -> np.ndarray:
    """The ordered integers (int64) of float64 ``values``: monotone in the
    value, consecutive doubles 1 apart, ``-0.0`` and ``0.0`` both 0.  NaN
    maps to a meaningless integer beyond +-inf; callers mask it."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, -(bits & _MAGNITUDE), bits)


def from_ordered(ints) -> np.ndarray:
    """The doubles of ordered integers (the inverse of :func:`ordered`;
    0 gives ``+0.0``)."""
    o = np.asarray(ints, dtype=np.int64)
    bits = np.where(o < 0, (-o) | _SIGN, o)
    return np.ascontiguousarray(bits, dtype=np.int64).view(np.float64)


def ulp_distance(got, ref) -> np.ndarray:
    """Number of doubles between ``got`` and ``ref`` (float64 arrays of one
    shape), as float64 (exact below 2^53, which is all that matters for a
    logarithm): 0 for equal values, and for two NaNs; ``inf`` when exactly
    one of them is NaN.  An infinity is one step beyond DBL_MAX."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    nan_g, nan_r = np.isnan(got), np.isnan(ref)
    a = ordered(np.where(nan_g, 0.0, got))
    b = ordered(np.where(nan_r, 0.0, ref))
    # The difference of two int64 can overflow (it needs 65 bits): split
    # it into a high and a low part, each exact as a double.
    hi = (a >> 32) - (b >> 32)
    lo = (a & 0xFFFFFFFF) - (b & 0xFFFFFFFF)
    d = np.abs(hi.astype(np.float64) * 2.0 ** 32 + lo.astype(np.float64))
    d[nan_g & nan_r] = 0.0
    d[nan_g != nan_r] = math.inf
    return d


def bits_of_error(got, ref) -> np.ndarray:
    """``log2(1 + ulp distance)`` between ``got`` and the correctly rounded
    ``ref``, elementwise; :data:`NON_FINITE_BITS` where ``got`` is NaN or
    infinite and ``ref`` is finite (see :func:`summarize_bits` for the
    count).  Equal values: 0; adjacent doubles: 1; three apart: 2."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    bits = np.log2(1.0 + ulp_distance(got, ref))
    bad = ~np.isfinite(got) & np.isfinite(ref)
    return np.where(bad, NON_FINITE_BITS, np.minimum(bits, NON_FINITE_BITS))


@dataclass(frozen=True)
class BitsSummary:
    """Bits of error of one method on one output over the kept points."""

    mean: float           # average bits (non-finite results count NON_FINITE_BITS)
    max: float            # worst point
    non_finite: int       # NaN/inf results where the reference is finite
    points: int           # points averaged over


def summarize_bits(got, ref) -> BitsSummary:
    """Average and worst bits of error of ``got`` against the finite
    correctly rounded ``ref`` (points where ``ref`` is not finite are left
    out), and the count of non-finite results among them."""
    got = np.asarray(got, dtype=np.float64).ravel()
    ref = np.asarray(ref, dtype=np.float64).ravel()
    keep = np.isfinite(ref)
    if not keep.any():
        return BitsSummary(math.nan, math.nan, 0, 0)
    bits = bits_of_error(got[keep], ref[keep])
    return BitsSummary(float(bits.mean()), float(bits.max()),
                       int((~np.isfinite(got[keep])).sum()), int(keep.sum()))


# ---------------------------------------------------------------------------
# Domains and sampling


@dataclass(frozen=True)
class Interval:
    """The sampling domain of one variable: ``[lo, hi]``, or with
    ``both_signs`` the values whose magnitude is in ``[lo, hi]`` (0 <= lo),
    of either sign (written ``+-lo:hi``)."""

    lo: float
    hi: float
    both_signs: bool = False

    def __str__(self) -> str:
        return f"{'+-' if self.both_signs else ''}{self.lo:g}:{self.hi:g}"


def parse_domains(spec: str) -> dict[str, Interval]:
    """Parse ``"x=-800:800,y=+-1e-3:1e300"`` into ``{"x": Interval(-800.0,
    800.0), "y": Interval(1e-3, 1e300, both_signs=True)}``.  Bounds are
    finite floats with ``lo < hi`` (and ``0 <= lo`` after ``+-``); the error
    names the offending part."""
    out: dict[str, Interval] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, rng = part.partition("=")
        name, rng = name.strip(), rng.strip()
        if not eq or not name.isidentifier():
            raise ValueError(f"domain {part!r}: expected NAME=LO:HI, e.g. x=-800:800")
        both = rng.startswith(("+-", "\u00b1"))
        if both:
            rng = rng[2:] if rng.startswith("+-") else rng[1:]
        lo_text, colon, hi_text = rng.partition(":")
        if not colon:
            raise ValueError(f"domain {part!r}: expected LO:HI after '=', e.g. x=-800:800")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise ValueError(f"domain {part!r}: bounds must be numbers") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"domain {part!r}: bounds must be finite")
        if not lo < hi:
            raise ValueError(f"domain {part!r}: the lower bound must be below the upper")
        if both and lo < 0:
            raise ValueError(f"domain {part!r}: after +- give magnitudes, 0 <= LO < HI")
        if name in out:
            raise ValueError(f"domain of {name!r} given twice")
        out[name] = Interval(lo, hi, both)
    if not out:
        raise ValueError("no domain given, e.g. x=-800:800")
    return out


def format_domain(domains: Mapping[str, Interval]) -> str:
    """The text :func:`parse_domains` reads, e.g. ``x=-800:800,y=+-1:1e300``."""
    return ",".join(f"{k}={iv}" for k, iv in domains.items())


def sample_domain(domains: Mapping[str, Interval], names: Sequence[str],
                  n: int, seed: int | Sequence[int] = 0) -> np.ndarray:
    """``(n, len(names))`` float64 points, column j uniform over the float64
    bit patterns of ``domains[names[j]]`` (bounds included; for a
    ``both_signs`` interval, uniform over the magnitudes' bit patterns with
    a random sign), drawn from ``numpy.random.default_rng(seed)`` column by
    column (reproducible).  ``-0.0`` is drawn only as the sign-flipped zero
    of a ``both_signs`` interval starting at 0."""
    missing = [v for v in names if v not in domains]
    if missing:
        raise ValueError(f"no domain for variable {missing[0]!r}")
    rng = np.random.default_rng(seed)
    cols = []
    for name in names:
        iv = domains[name]
        a = int(ordered(np.array([iv.lo]))[0])
        b = int(ordered(np.array([iv.hi]))[0])
        # b - a can exceed int64: draw offsets as uint64 and add with wrap-
        # around, which lands back in [a, b] as int64.
        off = rng.integers(0, b - a, size=n, dtype=np.uint64, endpoint=True)
        col = from_ordered((off + np.uint64(a % 2 ** 64)).view(np.int64))
        if iv.both_signs:
            col = np.where(rng.integers(0, 2, size=n) == 1, -col, col)
        cols.append(col)
    return np.ascontiguousarray(np.stack(cols, axis=1)) if cols else np.zeros((n, 0))
