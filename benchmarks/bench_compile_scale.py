"""Compile time and memory against program size, by kind of program.

Usage:
    python benchmarks/bench_compile_scale.py [--quick] [--kinds arith,sin,rosenbrock,widesum]
                                             [--sizes 1000,10000,100000] [--opt 2]
                                             [--timeout 600] [--json FILE]

Kinds (``size`` is the number of operations asked for; the table shows the
operations the compiled program really has):
  * arith: a chain t = t*1.0001 + x (two operations a step), f only;
  * sin: a chain t = sin(t), f only (one math call per operation);
  * rosenbrock: Rosenbrock in size/12 variables, f and its gradient;
  * widesum: sum of c_i * x_(i mod 64)^2 over size/3 terms, f only.

Each (kind, size) runs in a fresh child process (so its peak resident
memory is its own), cold: ``cache=False``.  Columns: build (graph and
gradient), schedule (the flat program), then the compiler's stages from
``compile_info`` -- IR emit, parse, LLVM optimize (the IR pipeline; "-"
where the plan skips it), codegen (machine code), load (MCJIT) -- the
compile total (emit to load) per operation, and the child's peak RSS.
--quick: sizes 1,000 and 10,000.  Wall times on a loaded machine are noisy;
compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _tables import numeric_table  # noqa: E402 - the scripts' folder is on sys.path

KINDS = ("arith", "sin", "rosenbrock", "widesum")
STAGES = ("emit_s", "parse_s", "optimize_s", "codegen_s", "load_s")


def build(kind: str, size: int):
    """(outputs, inputs) of the ``kind`` program with about ``size``
    operations (built with Python operators, like user code)."""
    import symdiff as sd

    if kind == "arith":
        x = sd.symbol("x")
        t = x
        for _ in range(size // 2):
            t = t * 1.0001 + x
        return [t], [x]
    if kind == "sin":
        x = sd.symbol("x")
        t = x
        for _ in range(size):
            t = sd.sin(t)
        return [t], [x]
    if kind == "rosenbrock":
        n = max(2, size // 12)
        xs = sd.symbols(" ".join(f"x{i}" for i in range(n)))
        f = 0.0
        for i in range(n - 1):
            f = f + 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
        return [f, *sd.grad(f, list(xs))], list(xs)
    if kind == "widesum":
        xs = sd.symbols(" ".join(f"x{i}" for i in range(64)))
        f = 0.0
        for i in range(max(1, size // 3)):
            f = f + (1.0 + i * 1e-3) * xs[i % 64] ** 2
        return [f], list(xs)
    raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(kind: str, size: int, opt: int) -> dict:
    """One cold build and compile of ``kind`` at ``size``, in this process."""
    import compiler
    from compiler.function import as_program

    base = _peak_mb()
    t0 = time.perf_counter()
    outputs, inputs = build(kind, size)
    t1 = time.perf_counter()
    program = as_program(outputs, inputs)
    t2 = time.perf_counter()
    fn = compiler.compile(program, cache=False, opt=opt)
    t3 = time.perf_counter()
    info = fn.compile_info
    pl = info["plan"]
    return {"kind": kind, "size": size, "ops": info["n_ops"], "build_s": t1 - t0,
            "schedule_s": t2 - t1, "compile_s": t3 - t2,
            **{k: info.get(k) for k in STAGES},
            "chunks": len(pl.chunks) if pl.chunks else 0,
            "levels": _levels(pl.scalar_levels() if pl.inline_body else pl.levels()),
            "us_per_op": (t3 - t2) / max(info["n_ops"], 1) * 1e6,
            "base_rss_mb": base, "peak_rss_mb": _peak_mb()}


def _levels(levels: dict) -> str:
    # The module compiled at once: a small program's scalar module, else the
    # whole program's ("-": no IR pipeline).
    opt = levels["opt_level"]
    return f"{'-' if opt is None else opt}/{levels['codegen_level']}"


def _child(kind, size, opt, q):
    try:
        q.put(measure(kind, size, opt))
    except BaseException as e:  # reported as the row's status, the run goes on
        q.put({"kind": kind, "size": size, "error": f"{type(e).__name__}: {e}"})


def run_isolated(kind: str, size: int, opt: int, timeout: float) -> dict:
    """:func:`measure` in a fresh process, or a row saying why it has none."""
    ctx = mp.get_context("spawn")   # a fresh interpreter: no inherited memory
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(kind, size, opt, q))
    p.start()
    deadline = time.monotonic() + timeout
    try:
        # Poll, so that a child that dies (a crash, the OOM killer) is
        # reported at once as what it is, not as a timeout much later.
        while True:
            try:
                return q.get(timeout=1.0)
            except queue.Empty:
                if p.exitcode is not None:
                    return {"kind": kind, "size": size,
                            "error": f"child died (exit code {p.exitcode})"}
                if time.monotonic() > deadline:
                    return {"kind": kind, "size": size, "error": f"timeout ({timeout:.0f} s)"}
    finally:
        p.join(5)
        if p.is_alive():
            p.kill()


def _t(s) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:,.1f} ms" if s < 1 else f"{s:,.2f} s"


def table(rows: list[dict]) -> str:
    """The report as a Markdown table."""
    header = ["kind", "ops", "chunks", "opt/cg", "build", "schedule", "emit", "parse",
              "optimize", "codegen", "load", "compile", "us/op", "peak RSS"]
    out = []
    for r in rows:
        if "error" in r:
            out.append([r["kind"], f"{r['size']:,} (asked)", *["-"] * 10, r["error"], "-"])
            continue
        opt_s = "-" if r["levels"].startswith("-") else _t(r["optimize_s"])
        out.append([r["kind"], f"{r['ops']:,}", r["chunks"], r["levels"], _t(r["build_s"]),
                    _t(r["schedule_s"]), _t(r["emit_s"]), _t(r["parse_s"]), opt_s,
                    _t(r["codegen_s"]), _t(r["load_s"]), _t(r["compile_s"]),
                    f"{r['us_per_op']:.1f}",
                    f"{r['peak_rss_mb']:,.0f} MB (+{r['peak_rss_mb'] - r['base_rss_mb']:,.0f})"])
    return numeric_table(header, out)


def main(argv=None) -> int:
    """Parse the options, run every (kind, size) and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 1,000 and 10,000 only")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    ap.add_argument("--sizes", default=None, help="comma-separated sizes (operations)")
    ap.add_argument("--opt", type=int, default=2, choices=range(4), help="compile opt level")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds allowed per (kind, size)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers to FILE")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s): {', '.join(unknown)} (known: {', '.join(KINDS)})")
    try:
        sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
                 else [1000, 10000] if args.quick else [1000, 10000, 100000])
    except ValueError:
        ap.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    rows = []
    for kind in kinds:
        for size in sizes:
            r = run_isolated(kind, size, args.opt, args.timeout)
            rows.append(r)
            print(f"# {kind} {size}: " + (r.get("error") or
                                         f"{r['ops']} ops, {r['us_per_op']:.1f} us/op"),
                  file=sys.stderr, flush=True)
    print(f"Cold compile (cache=False, opt={args.opt}) against size; one child process per "
          "row.\n")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
