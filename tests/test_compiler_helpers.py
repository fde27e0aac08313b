"""Shared helpers for the compiler tests (no tests here): NaN-aware,
ulp-based comparison, domain samplers and the lecture example."""

from __future__ import annotations

import math

import numpy as np

import symdiff as sd

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, math.inf, -math.inf, math.nan, 1e300,
           -1e300, 5e-324, -5e-324, 1e-310, 2.2250738585072014e-308, 709.9, -745.5, 22.0,
           1e6, 4e6, 1e7]

# Sample ranges per OpDef.domain tag (wider than the finite-difference ones:
# here we only compare values).
_RANGES = {
    "real": (-30.0, 30.0),
    "positive": (1e-6, 1e6),
    "unit": (-1.0, 1.0),
    "gt_minus1": (-0.999, 1e3),
    "nonzero": (1e-3, 1e3),
    "trig": (-1.5, 1.5),
}


def sample(tag: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Random values inside an OpDef domain tag (log-uniform for the wide
    positive ranges, random signs for 'nonzero')."""
    lo, hi = _RANGES.get(tag, _RANGES["real"])
    if tag in ("positive", "nonzero"):
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), size))
        if tag == "nonzero":
            x *= rng.choice([-1.0, 1.0], size)
        return x
    return rng.uniform(lo, hi, size)


def ordered(a: np.ndarray) -> np.ndarray:
    """Map doubles to integers whose order matches the float order (so the
    difference of two is the distance in ulps); -0.0 and 0.0 map to 0."""
    i = np.asarray(a, dtype=np.float64).view(np.int64).astype(object)
    return np.where(i < 0, -(i - (-(2 ** 63))), i)


def ulp_distance(a, b) -> np.ndarray:
    """|a - b| in units in the last place (object ints: no overflow)."""
    return np.abs(ordered(np.asarray(a)) - ordered(np.asarray(b)))


def assert_same(got, ref, *, max_ulp=0, signed_zero=True, what=""):
    """NaN where ref is NaN, identical infinities, finite values within
    ``max_ulp`` ulps (0: bitwise, including the sign of zero unless
    ``signed_zero`` is False)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, what
    nan_g, nan_r = np.isnan(got), np.isnan(ref)
    bad = nan_g != nan_r
    both = ~nan_g & ~nan_r
    if max_ulp == 0:
        eq = got == ref
        if signed_zero:
            eq &= np.signbit(got) == np.signbit(ref)
        bad |= both & ~eq
    else:
        inf = np.isinf(got) | np.isinf(ref)
        bad |= both & inf & (got != ref)
        fin = both & ~inf
        d = ulp_distance(got[fin], ref[fin])
        sub = np.zeros_like(bad)
        sub[fin] = d > max_ulp
        bad |= sub
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        raise AssertionError(f"{what}: {bad.sum()} mismatches, e.g. "
                             + ", ".join(f"[{i}] got {got.flat[i]!r} want {ref.flat[i]!r}"
                                         for i in idx))


def lecture():
    """The lecture example f(x, z) = exp(xz) + xz/log(x) + sin(log(x))/(xz),
    its gradient, and the closed-form gradient at (2, 3)."""
    x, z = sd.symbol("x"), sd.symbol("z")
    f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
    g = sd.grad(f, [x, z])
    l2 = math.log(2.0)
    want = [3 * math.exp(6) + 3 / l2 - 3 / l2 ** 2 + math.cos(l2) / 12 - math.sin(l2) / 12,
            2 * math.exp(6) + 2 / l2 - math.sin(l2) / 18]
    return f, g, (x, z), want


def run_py(code: str, env_extra: dict | None = None, args=(), timeout=120) -> str:
    """Run ``code`` (dedented) in a fresh Python with the repository and the
    tests on its path; returns stdout, fails the test on a non-zero exit."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "tests"),
                                         env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         capture_output=True, text=True, env=env, timeout=timeout,
                         cwd=str(root))
    assert res.returncode == 0, f"subprocess failed ({res.returncode}):\n{res.stderr}"
    return res.stdout
