"""Accuracy of f and its gradient, per method, on the corpus of expressions
that naive floating point gets wrong (symdiff.lab.accuracy_corpus).

Usage:
    python benchmarks/bench_accuracy.py [--quick] [--points 256] [--seed 0]
                                        [--only NAME,NAME] [--json] [--no-progress]

For every corpus expression: points drawn uniformly over the float64 bit
patterns of its domain (fixed seed per expression), a correctly rounded
reference for f and each partial (SymPy derivatives in mpmath interval
arithmetic at increasing precision), and the bits of error,
log2(1 + ulps), of each method:

  symdiff            compiled (LLVM), as written
  symdiff stable     compiled after symdiff.core.stabilize (f, then its gradient)
  interp.            the numpy interpreter, as written
  interp. stable     the numpy interpreter after stabilize
  JAX                jit(vmap(f)) and jit(vmap(grad(f))) in float64, as written
  SymPy              sympy.diff + lambdify(numpy)

A NaN/inf result where the reference is finite counts as 64 bits in the
averages and is also counted apart ("non-finite").  Points whose reference
is not a finite double, or does not settle by 16384 bits, are dropped and
counted.  Averages over the corpus weigh every expression equally.

Targets checked at the end: (1) stable symdiff's average bits of error of
grad f is at most a third of naive JAX's; (2) stable symdiff has no
non-finite result (where the reference is finite) on the expressions the
stabilizer rewrites; (3) compiled and interpreted paths agree (average bits
within 0.5 per expression and output kind, same non-finite counts).

--quick: 8 expressions, 64 points.  --json: one JSON document on stdout.
Progress goes to stderr (tqdm when installed, else a counter) and only
when stderr is a terminal; the output is deterministic.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _tables import padded_table  # noqa: E402 - the scripts' folder is on sys.path

import symdiff as sd  # noqa: E402 - after the sys.path setup above
from symdiff.cli.render import ProgressBar  # noqa: E402
from symdiff.lab.accuracy_corpus import CORPUS  # noqa: E402
from symdiff.lab.accuracy_methods import (  # noqa: E402
    ACCURACY_METHODS,
    METHOD_LABELS,
    MethodUnavailable,
    stable_rewrite_count,
)
from symdiff.lab.bits import NON_FINITE_BITS, parse_domains  # noqa: E402
from symdiff.lab.expr_accuracy import agreement, measure_expression  # noqa: E402

QUICK = ("log1p", "expm1", "softplus_naive", "logaddexp", "sigmoid", "tanh", "hypot_naive",
         "quadratic_root")
AGREE_BITS = 0.5      # target 3: compiled and interpreted averages within this


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def _measure_all(entries, points, seed, progress):
    rows = []
    for i, entry in enumerate(entries):
        if progress:
            progress(i, len(entries), entry.name)
        f = sd.parse(entry.text)
        # One seed per expression, from its name: adding or reordering
        # entries leaves the others' points alone.
        res = measure_expression(f, parse_domains(entry.domain), points,
                                 [seed, zlib.crc32(entry.name.encode())])
        try:
            rewrites = stable_rewrite_count(f, res.names)
        except MethodUnavailable:
            rewrites = None
        rows.append((entry, res, rewrites))
    if progress:
        progress(len(entries), len(entries), "done")
    return rows


def _num(v):
    # JSON has no NaN: an average over no points is null.
    return None if isinstance(v, float) and math.isnan(v) else v


def _method_doc(m):
    if m.unavailable:
        return {"unavailable": m.unavailable}
    return {part: {"mean_bits": _num(s.mean), "max_bits": _num(s.max),
                   "non_finite": s.non_finite, "points": s.points}
            for part, s in (("f", m.f), ("grad", m.grad))}


def _summary(rows, methods):
    """Per method: corpus averages of f and grad bits and non-finite totals."""
    out = {}
    for name in methods:
        ms = [res.methods[name] for _, res, _ in rows]
        ran = [m for m in ms if not m.unavailable]
        if not ran:
            out[name] = None
            continue
        out[name] = {
            "f_bits": sum(m.f.mean for m in ran if m.f.points) / max(1, sum(
                1 for m in ran if m.f.points)),
            "grad_bits": sum(m.grad.mean for m in ran if m.grad.points) / max(1, sum(
                1 for m in ran if m.grad.points)),
            "f_non_finite": sum(m.f.non_finite for m in ran),
            "grad_non_finite": sum(m.grad.non_finite for m in ran),
            "expressions": len(ran),
        }
    return out


def _agreement_check(rows, a_name, b_name):
    """(worst |mean bits difference|, expressions with different non-finite
    counts, fraction of results within 2 ulps) between two methods."""
    worst, mismatched, fractions = 0.0, [], []
    for entry, res, _ in rows:
        a, b = res.methods.get(a_name), res.methods.get(b_name)
        if a is None or b is None or a.unavailable or b.unavailable:
            continue
        for sa, sb in ((a.f, b.f), (a.grad, b.grad)):
            if sa.points:
                worst = max(worst, abs(sa.mean - sb.mean))
            if sa.non_finite != sb.non_finite:
                mismatched.append(entry.name)
        fractions.append(agreement(a, b))
    frac = sum(fractions) / len(fractions) if fractions else None
    return worst, sorted(set(mismatched)), frac


def _targets(rows, summary):
    t = {}
    st, jx = summary.get("compiled_stable"), summary.get("jax")
    if st and jx:
        t["grad_third_of_jax"] = {"stable_grad_bits": st["grad_bits"],
                                  "jax_grad_bits": jx["grad_bits"],
                                  "met": st["grad_bits"] <= jx["grad_bits"] / 3}
    if st:
        bad = []
        for entry, res, rewrites in rows:
            m = res.methods["compiled_stable"]
            if rewrites and (m.f.non_finite or m.grad.non_finite):
                bad.append(f"{entry.name} ({m.f.non_finite} f, {m.grad.non_finite} grad)")
        t["no_non_finite_where_rewritten"] = {
            "rewritten": sum(1 for _, _, r in rows if r), "offenders": bad, "met": not bad}
        # Never worse: NaN/inf from the stable version where the original
        # (compiled, as written) was finite and the reference is finite.
        worse = []
        for entry, res, _ in rows:
            plain, st_m = res.methods["compiled"], res.methods["compiled_stable"]
            if plain.values is None or st_m.values is None:
                continue
            new_bad = (np.isfinite(res.reference.values) & np.isfinite(plain.values)
                       & ~np.isfinite(st_m.values))
            if new_bad.any():
                worse.append(f"{entry.name} ({int(new_bad.sum())})")
        t["stable_never_newly_non_finite"] = {"offenders": worse, "met": not worse}
        ranked = sorted(((res.methods["compiled_stable"].grad.mean, entry.name)
                         for entry, res, _ in rows
                         if res.methods["compiled_stable"].grad.points), reverse=True)
        t["largest_stable_grad_errors"] = [{"name": n, "grad_bits": b} for b, n in ranked[:10]]
    agree = {}
    for a, b in (("compiled", "interpreter"), ("compiled_stable", "interpreter_stable")):
        worst, mism, frac = _agreement_check(rows, a, b)
        agree[f"{a}~{b}"] = {"worst_mean_bits_diff": worst, "non_finite_mismatch": mism,
                             "within_2_ulps": frac,
                             "met": frac is not None and worst <= AGREE_BITS and not mism}
    t["compiled_agrees_with_interpreter"] = agree
    return t


def _print_report(rows, summary, targets, methods, points):
    labels = [METHOD_LABELS[m] for m in methods]
    print(f"Bits of error, log2(1 + ulps) against the correctly rounded value, averaged over "
          f"{points} points per expression (uniform over float64 bit patterns in the "
          f"domain); each cell: f / grad f (all partials pooled).  NaN/inf where the "
          f"reference is finite counts {NON_FINITE_BITS:g} bits.\n")
    table = [["expression", "domain", "kept f/grad", "rewrites"] + labels]
    for entry, res, rewrites in rows:
        ref = res.reference
        n = len(res.X)
        kept_f = n - ref.non_finite[0] - ref.unsettled[0]
        kept_g = len(res.names) * n - sum(ref.non_finite[1:]) - sum(ref.unsettled[1:])
        cells = [entry.text if len(entry.text) <= 44 else entry.text[:41] + "...",
                 entry.domain, f"{kept_f}/{kept_g}", "-" if rewrites is None else str(rewrites)]
        for name in methods:
            m = res.methods[name]
            cells.append("n/a" if m.unavailable else f"{_fmt(m.f.mean)} / {_fmt(m.grad.mean)}")
        table.append(cells)
    print(padded_table(table))
    print("\nNon-finite results where the reference is finite (f / grad f), expressions "
          "with any:\n")
    nf = [["expression"] + labels]
    for entry, res, _ in rows:
        cells, anyone = [entry.name], False
        for name in methods:
            m = res.methods[name]
            if m.unavailable:
                cells.append("n/a")
                continue
            anyone |= bool(m.f.non_finite or m.grad.non_finite)
            cells.append(f"{m.f.non_finite} / {m.grad.non_finite}")
        if anyone:
            nf.append(cells)
    print(padded_table(nf) if len(nf) > 1 else "(none)")
    print(f"\nSummary over {len(rows)} expressions (average of the per-expression averages):\n")
    srows = [["method", "f: bits", "grad f: bits", "f: non-finite", "grad f: non-finite"]]
    for name in methods:
        s = summary[name]
        if s is None:
            unavailable = rows[0][1].methods[name].unavailable if rows else ""
            srows.append([METHOD_LABELS[name], "n/a", "n/a", "n/a", unavailable])
            continue
        srows.append([METHOD_LABELS[name], f"{s['f_bits']:.2f}", f"{s['grad_bits']:.2f}",
                      str(s["f_non_finite"]), str(s["grad_non_finite"])])
    print(padded_table(srows))
    print("\nTargets:")
    g = targets.get("grad_third_of_jax")
    if g:
        print(f"  stable symdiff grad f {g['stable_grad_bits']:.2f} bits vs naive JAX "
              f"{g['jax_grad_bits']:.2f} (target <= {g['jax_grad_bits'] / 3:.2f}): "
              f"{'met' if g['met'] else 'NOT met'}")
    else:
        print("  stable symdiff vs JAX: n/a (stabilizer or JAX missing)")
    nf_t = targets.get("no_non_finite_where_rewritten")
    if nf_t:
        print(f"  no non-finite stable result on the {nf_t['rewritten']} rewritten expressions: "
              + ("met" if nf_t["met"] else "NOT met: " + ", ".join(nf_t["offenders"])))
    nw = targets.get("stable_never_newly_non_finite")
    if nw:
        print("  (never worse) stable NaN/inf where the original is finite: "
              + ("none" if nw["met"] else ", ".join(nw["offenders"])))
    big = targets.get("largest_stable_grad_errors")
    if big:
        print("  largest stable grad f errors: "
              + ", ".join(f"{d['name']} {d['grad_bits']:.1f}" for d in big))
    for pair, a in targets["compiled_agrees_with_interpreter"].items():
        frac = "n/a" if a["within_2_ulps"] is None else f"{100 * a['within_2_ulps']:.1f}%"
        print(f"  {pair.replace('~', ' vs ')}: worst average difference "
              f"{a['worst_mean_bits_diff']:.2f} bits, {frac} of results within 2 ulps, "
              f"non-finite counts differ on {a['non_finite_mismatch'] or 'none'}: "
              f"{'met' if a['met'] else 'NOT met'}")


def main(argv=None) -> int:
    """Run the accuracy benchmark (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="8 expressions, 64 points")
    p.add_argument("--points", type=int, help="points per expression (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", help="comma-separated corpus names")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    entries = list(CORPUS)
    if a.quick:
        entries = [e for e in entries if e.name in QUICK]
    if a.only:
        wanted = {s.strip() for s in a.only.split(",") if s.strip()}
        unknown = wanted - {e.name for e in CORPUS}
        if unknown:
            p.error(f"--only: unknown expression {sorted(unknown)[0]!r}")
        entries = [e for e in CORPUS if e.name in wanted]
    points = a.points if a.points is not None else (64 if a.quick else 256)
    if points < 1:
        p.error("--points must be at least 1")
    methods = list(ACCURACY_METHODS)
    with ProgressBar("accuracy", enabled=False if a.no_progress else None) as bar:
        rows = _measure_all(entries, points, a.seed, bar)
    summary = _summary(rows, methods)
    targets = _targets(rows, summary)
    if a.json:
        doc = {"points": points, "seed": a.seed, "non_finite_bits": NON_FINITE_BITS,
               "expressions": [{
                   "name": e.name, "text": e.text, "domain": e.domain, "category": e.category,
                   "stable_rewrites": rw,
                   "reference": {"non_finite": res.reference.non_finite,
                                 "unsettled": res.reference.unsettled,
                                 "max_precision": res.reference.max_precision},
                   "methods": {m: _method_doc(res.methods[m]) for m in methods},
               } for e, res, rw in rows],
               "summary": summary, "targets": targets}
        print(json.dumps(doc, indent=2))
        return 0
    _print_report(rows, summary, targets, methods, points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
