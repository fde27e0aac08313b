"""How the cost of a gradient grows with the number of inputs n:
:func:`scaling`.

Each approach (symbolic build, compiled evaluation, forward mode, reverse
tape, central differences, and the naive symbolic approach: SymPy
differentiating each variable separately, without CSE, whose n(n-1) blow-up
motivates the whole project) is measured on the built-in models of
:data:`symdiff.lab.models.SCALING_MODELS`.  Every measurement runs in a
child process with a time cap that covers all of it: building the model,
differentiating, compiling and timing; an approach that exceeds it is
reported as timed out and skipped for larger n.  Nothing is extrapolated.
Sizes whose model could not fit in memory, or could not be built within
the cap even on a fast machine, are refused up front
(:func:`size_limit`).  Progress is
reported through a callback (the command line draws it); drawing the
results lives in :mod:`symdiff.lab.plots`.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from symdiff.core.graph import count_ops
from symdiff.lab.timing import time_call

__all__ = ["SCALING_APPROACHES", "APPROACH_LABELS", "ProgressCallback", "ScalingRow",
           "scaling", "MODEL_COSTS", "available_memory", "size_limit", "check_sizes"]

#: Approach names of :func:`scaling`, in report order.
SCALING_APPROACHES = ("symbolic", "compiled", "forward", "reverse", "central_difference",
                      "naive_symbolic")

#: Human-readable names of the scaling approaches (tables and plot legends).
APPROACH_LABELS = {
    "symbolic": "symdiff symbolic (build)",
    "compiled": "symdiff compiled (eval)",
    "forward": "forward mode (n passes)",
    "reverse": "reverse mode (tape)",
    "central_difference": "central differences",
    "naive_symbolic": "naive symbolic (SymPy, no CSE)",
}

#: ``progress(done, total, label)``: called before each measurement that
#: runs, with the number of measurements finished so far (skipped ones
#: included) out of ``total`` and a label for the one starting, such as
#: ``"forward n=10"``.
ProgressCallback = Callable[[int, int, str], None]


@dataclass
class ScalingRow:
    """One measurement of :func:`scaling`: ``approach`` at model size ``n``.

    ``n_inputs``: gradient length; ``f_ops``: operations of f's CSE'd
    program (|f|) (both None when no measurement at this n got as far as
    building the model); ``seconds``: build time (symbolic, naive_symbolic) or
    time per gradient (the others); ``ops``: operations of the gradient
    (CSE'd program size for symbolic/compiled, counted arithmetic for
    forward/reverse, evaluations x |f| for central differences, SymPy's
    ``count_ops`` summed over the derivatives for naive_symbolic);
    ``evaluations``: calls of f (central differences); ``setup_seconds``:
    compile time (compiled) or SymPy conversion time (naive_symbolic);
    ``status``: ``"ok"``, ``"timeout"``, ``"skipped"`` (an earlier size
    timed out) or ``"failed"``; ``note``: the reason when not ok.
    """

    approach: str
    n: int
    n_inputs: int | None
    f_ops: int | None
    seconds: float | None = None
    ops: int | None = None
    evaluations: int | None = None
    setup_seconds: float | None = None
    status: str = "ok"
    note: str | None = None

    @property
    def ops_ratio(self) -> float | None:
        """``ops / f_ops`` (None without an op count)."""
        if self.ops is None or not self.f_ops:
            return None
        return self.ops / self.f_ops


#: model -> (bytes, seconds) per unit of n that building f and its gradient
#: takes at least: bytes measured with tracemalloc at n = 20,000 (2,000
#: for mlp) and rounded up; seconds a fifth of what this project's 2-core
#: machine takes (README: prod_100000's gradient in 0.87 s), so that only
#: sizes no machine could build within the cap are refused.
MODEL_COSTS = {
    "prod": (3_000, 2e-6),
    "rosenbrock": (10_000, 1e-5),
    "chain": (3_000, 2e-6),
    "mlp": (25_000, 2e-5),
}

# Fraction of the available memory a measurement may plan to use: the
# compiled approach and SymPy need several times the graph's memory.
_MEMORY_SHARE = 0.25


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux: MemAvailable),
    else the physical memory, else None when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def size_limit(model: str, timeout: float, memory: int | None = None) -> tuple[int, str]:
    """(largest n, why) that :func:`scaling` accepts for ``model`` with a
    cap of ``timeout`` seconds per measurement and ``memory`` bytes
    available (default :func:`available_memory`): the smaller of what fits
    in a quarter of the memory and what a fast machine builds within the
    cap (:data:`MODEL_COSTS`)."""
    per_byte, per_second = MODEL_COSTS[model]
    memory = available_memory() if memory is None else memory
    limits = [(int(timeout / per_second),
               f"building the model and its gradient takes at least "
               f"{per_second * 1e6:g} us per unit of n, so larger n cannot finish within "
               f"the {timeout:g} s cap")]
    if memory is not None:
        limits.append((int(memory * _MEMORY_SHARE / per_byte),
                       f"the model and its gradient take about {per_byte:,} bytes per unit "
                       f"of n, and {memory / 2**30:.1f} GiB of memory is available"))
    return min(limits)


def check_sizes(model: str, sizes: Sequence[int], timeout: float,
                memory: int | None = None) -> None:
    """A ValueError naming the largest size of ``sizes`` that exceeds
    :func:`size_limit`, with the limit and the reason; nothing if all fit."""
    n_max, why = size_limit(model, timeout, memory)
    too_big = [n for n in sizes if n > n_max]
    if too_big:
        raise ValueError(f"n={max(too_big):,} is too large for the {model} model: the "
                         f"largest n is {n_max:,} ({why})")


def _scaling_point(n_inputs: int) -> np.ndarray:
    # Values near 1: a product of 10^4 of them neither under- nor overflows
    # (subnormal arithmetic would distort the timings).
    return np.random.default_rng(0).uniform(0.9, 1.1, n_inputs)


# One measurer per approach: (f, params, repeat, budget) -> the ScalingRow
# fields it measured.  Each runs inside the child process.


def _measure_symbolic(f, params, repeat, budget):
    from symdiff.core.differentiate import grad

    times = []
    g = None
    for _ in range(repeat):
        # Interning is weak, so dropping the previous gradient first makes
        # every build create its nodes from scratch.
        g = None
        t0 = time.perf_counter()
        g = grad(f, params)
        times.append(time.perf_counter() - t0)
        if sum(times) > budget:
            break
    return {"seconds": statistics.median(times), "ops": count_ops([f, *g])}


def _measure_compiled(f, params, repeat, budget):
    import compiler
    from symdiff.core.differentiate import grad

    g = grad(f, params)
    t0 = time.perf_counter()
    # cache=False: the compile time reported must be a real compilation.
    fn = compiler.compile([f, *g], params, cache=False)
    compile_s = time.perf_counter() - t0
    xbuf = _scaling_point(len(params))
    obuf = np.empty(1 + len(params))
    call = fn.bind(xbuf, obuf)
    return {"seconds": time_call(call, repeat, budget=budget), "ops": count_ops([f, *g]),
            "setup_seconds": compile_s}


def _measure_prepared(method: str, ops_per_evaluation: bool = False):
    """The measurer of an approach that :func:`symdiff.lab.methods.compare_methods`
    prepares too (its preparer ``method``): a gradient over all the
    parameters, timed.  With ``ops_per_evaluation`` the op count is the
    evaluations of f times |f|: every evaluation runs each of f's
    operations once (the interpreter executes the whole program), so the
    count is exact, not a model."""
    def measure(f, params, repeat, budget):
        from symdiff.lab.methods import PREPARERS, Problem

        p = Problem(f, params, params, list(_scaling_point(len(params))))
        call, _, ops, evals = PREPARERS[method](p)
        seconds = time_call(call, repeat, budget=budget)
        if ops_per_evaluation:
            return {"seconds": seconds, "ops": evals * p.program.n_ops, "evaluations": evals}
        return {"seconds": seconds, "ops": ops}

    return measure


def _measure_naive(f, params, repeat, budget):
    import sympy

    from symdiff.text.sympy_interop import to_sympy

    t0 = time.perf_counter()
    fs = to_sympy(f)
    by_name = {s.name: s for s in fs.free_symbols}
    t1 = time.perf_counter()
    # One independent derivative per variable, no CSE: what a user gets by
    # calling sympy.diff n times.  Variables f does not depend on give 0.
    derivs = [sympy.diff(fs, by_name[p.payload]) if p.payload in by_name else sympy.S.Zero
              for p in params]
    t2 = time.perf_counter()
    ops = sum(int(sympy.count_ops(d)) for d in derivs)
    return {"seconds": t2 - t1, "ops": ops, "setup_seconds": t1 - t0}


_MEASURE = {
    "symbolic": _measure_symbolic,
    "compiled": _measure_compiled,
    "forward": _measure_prepared("forward"),
    "reverse": _measure_prepared("reverse"),
    "central_difference": _measure_prepared("central_difference", ops_per_evaluation=True),
    "naive_symbolic": _measure_naive,
}


def _child_main(conn, phase, model, n, approach, repeat, budget):
    """Body of a measurement child process: build the model, measure, send
    the result back.  ``phase`` (a shared int) says how far it got: 0
    building the model, 1 measuring."""
    from symdiff.lab.models import SCALING_MODELS

    try:
        warnings.simplefilter("ignore")
        f, params = SCALING_MODELS[model](n)
        sizes = {"n_inputs": len(params), "f_ops": count_ops(f)}
        phase.value = 1
        with np.errstate(all="ignore"):
            result = _MEASURE[approach](f, params, repeat, budget)
        conn.send(("ok", {**sizes, **result}))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        msg = f"{type(exc).__name__}: {exc}"
        conn.send(("failed", msg if len(msg) <= 200 else msg[:197] + "..."))
    finally:
        conn.close()


def _mp_context():
    # fork: the child inherits the imported modules and the built model, so
    # starting one costs milliseconds; spawn (where fork does not exist)
    # re-imports and rebuilds, slower but equally correct.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run_child(model, n, approach, repeat, timeout):
    """Run one measurement, building the model included, in a child
    process with a hard time cap.  Returns ``(status, payload)``: ("ok",
    dict), ("failed", message), ("timeout", None) or ("timeout", "build")
    when the cap ran out while the model was being built."""
    ctx = _mp_context()
    recv_end, send_end = ctx.Pipe(duplex=False)
    phase = ctx.Value("i", 0, lock=False)
    # Leave the child a margin of the cap for op counting besides the timing.
    budget = max(0.05, min(2.0, timeout / 4))
    proc = ctx.Process(target=_child_main,
                       args=(send_end, phase, model, n, approach, repeat, budget),
                       daemon=True)
    proc.start()
    send_end.close()
    try:
        if recv_end.poll(timeout):
            try:
                return recv_end.recv()
            except EOFError:
                proc.join(5)
                return "failed", f"the measuring process died (exit code {proc.exitcode})"
        return "timeout", ("build" if phase.value == 0 else None)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv_end.close()


def scaling(model: str, sizes: Sequence[int], approaches: Sequence[str] | None = None,
            timeout: float = 20.0, repeat: int = 3,
            progress: ProgressCallback | None = None) -> list[ScalingRow]:
    """Measure the cost of a gradient against n on a built-in model.

    ``model``: a key of :data:`symdiff.lab.models.SCALING_MODELS` (prod,
    rosenbrock, chain, mlp); ``sizes``: the values of n.  ``approaches``:
    names from :data:`SCALING_APPROACHES` (default all).  Each measurement
    (approach, n) runs in a child process capped at ``timeout`` seconds;
    after a timeout the approach is skipped for larger n.  ``repeat``:
    timing runs per measurement.  ``progress``: a :data:`ProgressCallback`
    told before each measurement starts (default: none).

    Sizes beyond :func:`size_limit` are refused (ValueError) before
    anything runs; the model is built in each measuring child, inside its
    cap.

    Returns :class:`ScalingRow` s ordered by approach, then n.
    """
    from symdiff.lab.models import SCALING_MODELS

    if model not in SCALING_MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(SCALING_MODELS)}")
    approaches = list(SCALING_APPROACHES if approaches is None else approaches)
    unknown = [a for a in approaches if a not in _MEASURE]
    if unknown:
        raise ValueError(f"unknown approach(es) {', '.join(unknown)}; "
                         f"choose from {', '.join(SCALING_APPROACHES)}")
    sizes = [int(n) for n in sizes]
    if any(n < 2 for n in sizes):
        raise ValueError("sizes must be at least 2")
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    sizes = sorted(set(sizes))
    check_sizes(model, sizes, timeout)
    total = len(sizes) * len(approaches)
    rows: dict = {}
    timed_out: dict = {}
    for n in sizes:
        for approach in approaches:
            row = ScalingRow(approach, n, None, None)
            if approach in timed_out:
                row.status = "skipped"
                row.note = f"timed out at n={timed_out[approach]}"
            else:
                if progress is not None:
                    progress(len(rows), total, f"{approach} n={n}")
                status, payload = _run_child(model, n, approach, repeat, timeout)
                if status == "ok":
                    for key, value in payload.items():
                        setattr(row, key, value)
                elif status == "timeout":
                    row.status = "timeout"
                    row.note = f"over the {timeout:g} s cap" + (
                        " while building the model" if payload == "build" else "")
                    timed_out[approach] = n
                else:
                    row.status = "failed"
                    row.note = payload
            rows[approach, n] = row
        # Every measurement at n describes the same model: share its sizes.
        known = next((r for (a, m), r in rows.items() if m == n and r.f_ops is not None), None)
        if known is not None:
            for a in approaches:
                rows[a, n].n_inputs, rows[a, n].f_ops = known.n_inputs, known.f_ops
    return [rows[a, n] for a in approaches for n in sizes]
