"""Side-by-side measurements of the ways to get a gradient.

Three questions from the lectures, answered with measurements:

* :func:`compare_methods`: on one expression at one point, what does each
  method (interpreted symbolic gradient, compiled gradient, forward mode,
  reverse tape, forward/central differences, complex step, Richardson)
  return, how far is it from the 40-digit mpmath reference, how long does a
  gradient take, and how much arithmetic (or how many evaluations of f)
  does it cost?
* :func:`scaling`: how do those costs grow with the number of inputs n on
  the built-in models (:data:`symdiff.lab.models.SCALING_MODELS`), including the
  naive symbolic approach (SymPy differentiating each variable separately,
  without CSE), whose n(n-1) blow-up motivates the whole project?
* :func:`fd_sweep`: the V-shaped error of forward and central differences
  against the step size, with each method's default step marked.

Every number here is measured on this machine in this process (or, for the
scaling runs, in a child process with a time cap); nothing is extrapolated.
An approach that exceeds the cap is reported as timed out and skipped for
larger n.  Drawing lives in :mod:`symdiff.lab.plots`, the command line in
:mod:`symdiff.cli.compare`.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from symdiff.core.differentiate import as_symbols
from symdiff.core.graph import as_outputs, count_ops, free_symbols, sort_symbols
from symdiff.core.program import schedule
from symdiff.core.node import Node

__all__ = ["METHODS", "EXACT_METHODS", "SCALING_APPROACHES", "APPROACH_LABELS",
           "MethodResult", "Reference", "reference", "compare_methods", "time_call",
           "ScalingRow", "scaling", "FDSweep", "fd_sweep", "Progress"]

#: Method names of :func:`compare_methods`, in report order.
METHODS = ("symbolic", "compiled", "forward", "reverse", "forward_difference",
           "central_difference", "complex_step", "richardson")

#: Methods that are exact up to floating-point rounding.
EXACT_METHODS = ("symbolic", "compiled", "forward", "reverse")

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


# ---------------------------------------------------------------------------
# timing


def time_call(call: Callable[[], object], repeat: int = 5, min_run: float = 2e-3,
              budget: float = 2.0) -> float:
    """Median wall time of one ``call()`` in seconds.

    Like :mod:`timeit`: calls are timed with ``time.perf_counter`` in loops
    long enough (``min_run`` seconds) that the clock's resolution and the
    loop overhead do not matter, ``repeat`` such runs are made and the
    median per-call time is returned.  The first call is a warm-up (it also
    sizes the loop).  ``budget`` caps the total time of the runs (at least
    one run is always made), so a slow method is timed fewer times instead
    of making the report wait.  The cyclic garbage collector is paused
    during the runs, as in :mod:`timeit`, so that a collection triggered by
    one method's garbage is not charged to another.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Size the loop: grow it tenfold until a loop takes a fifth of min_run.
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            elapsed = time.perf_counter() - t0
            if elapsed >= 0.2 * min_run or number >= 10 ** 6:
                break
            number *= 10
        per_call = elapsed / number
        if elapsed >= budget:
            # One call is already over budget: that measurement is the answer.
            return per_call
        number = max(1, min(10 ** 7, math.ceil(min_run / max(per_call, 1e-9))))
        runs = max(1, min(repeat, int(budget / max(per_call * number, 1e-12))))
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            times.append((time.perf_counter() - t0) / number)
        return statistics.median(times)
    finally:
        if gc_was_enabled:
            gc.enable()


# ---------------------------------------------------------------------------
# compare_methods


@dataclass
class MethodResult:
    """One row of :func:`compare_methods`.

    ``gradient``: float64 array in ``wrt`` order (None if the method could
    not run); ``max_rel_error``: normwise relative error against the mpmath
    reference (:func:`symdiff.numeric.reference.max_rel_error`); ``seconds``: median
    time per gradient; ``ops``: arithmetic operations per gradient where
    meaningful (CSE'd program size for symbolic/compiled, counted operations
    for forward/reverse), else None; ``evaluations``: calls of f for the
    finite-difference methods, else None; ``error``: why the row has no
    result (``"not applicable: ..."``, ``"unavailable: ..."``), else None.
    """

    name: str
    gradient: np.ndarray | None = None
    max_rel_error: float | None = None
    seconds: float | None = None
    ops: int | None = None
    evaluations: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the method produced a gradient."""
        return self.gradient is not None


@dataclass
class Reference:
    """The mpmath reference: ``value`` and ``gradient`` (mpf, in ``names``
    order), evaluated at ``dps`` significant digits."""

    names: list
    value: object
    gradient: list
    dps: int = 40


def _names(syms) -> list[str]:
    return [s.payload for s in syms]


def _as_symbols(wrt) -> list[Node]:
    syms = as_symbols(wrt)
    if len(set(syms)) != len(syms):
        raise ValueError("wrt lists a variable twice")
    return syms


def _setup(f, point, wrt):
    """Normalize the arguments shared by compare_methods and reference.

    Returns ``(f, wrt, order, x)``: the scalar expression, the symbols to
    differentiate by, every input in program order and the point as a list
    in that order.  The ``wrt`` symbols come first in ``order`` so that the
    k forward-mode passes seed exactly inputs 0..k-1.
    """
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"expected one scalar expression, got {len(outs)}")
    f = outs[0]
    wrt_syms = free_symbols([f]) if wrt is None else _as_symbols(wrt)
    chosen = set(wrt_syms)
    rest = [s for s in free_symbols([f]) if s not in chosen]
    order = wrt_syms + sort_symbols(rest)
    by_name = {}
    for k, v in dict(point).items():
        by_name[k.payload if isinstance(k, Node) else str(k)] = v
    missing = [s.payload for s in order if s.payload not in by_name]
    if missing:
        raise ValueError(f"no value given for {', '.join(missing)}")
    x = [float(by_name[s.payload]) for s in order]
    return f, wrt_syms, order, x


def reference(f, point, wrt=None, dps: int = 40) -> Reference:
    """f and its gradient with respect to ``wrt`` (default: all free
    symbols) at ``point``, evaluated in mpmath at ``dps`` digits by
    :func:`symdiff.numeric.reference.reference_gradient`."""
    from symdiff.numeric.reference import reference_gradient

    f, wrt_syms, order, x = _setup(f, point, wrt)
    value, g = reference_gradient(f, x, inputs=order, dps=dps)
    return Reference(_names(wrt_syms), value, list(g[:len(wrt_syms)]), dps)


class _NotApplicable(Exception):
    """A method that cannot handle this expression (reported, not raised)."""


def _symbolic(f, wrt, order, x, k):
    from symdiff.core.differentiate import grad
    from symdiff.numeric.interpreter import Interpreter

    g = grad(f, wrt)
    interp = Interpreter(schedule([f, *g], order))

    def call():
        return interp(x)

    return call, lambda r: np.array(r[1:], dtype=float), count_ops([f, *g]), None


def _compiled(f, wrt, order, x, k):
    from symdiff.core.differentiate import grad

    g = grad(f, wrt)
    try:
        # The compiler package is optional at import time (llvmlite, or a
        # compiler still being written): any failure makes the row
        # "unavailable" with the reason, instead of failing the command.
        import compiler

        fn = compiler.compile([f, *g], order)
        xbuf = np.array(x, dtype=np.float64)
        obuf = np.empty(1 + k)
        call = fn.bind(xbuf, obuf)
        call()
    except Exception as exc:  # noqa: BLE001 - reported in the row
        raise _NotApplicable(f"unavailable: {type(exc).__name__}: {exc}") from None
    # The bound call overwrites obuf: copy the gradient out after each run.
    return call, lambda r: obuf[1:].copy(), count_ops([f, *g]), None


def _forward(f, wrt, order, x, k):
    from symdiff.numeric.forward import forward_op_count, program_gradient

    # Scheduled once: rescheduling on every call would cost more than the
    # passes on small expressions.  ``order`` puts the wrt symbols first, so
    # passes=k seeds exactly those.
    program = schedule([f], order)

    def call():
        return program_gradient(program, x, passes=k)

    ops = forward_op_count(f, n_inputs=k, point=x, inputs=order)
    return call, lambda r: np.asarray(r[1], dtype=float), ops, None


def _reverse(f, wrt, order, x, k):
    from symdiff.numeric.reverse import reverse_op_count, tape_gradient

    program = schedule([f], order)

    def call():
        return tape_gradient(program, x)

    ops = reverse_op_count(f, point=x, inputs=order)
    return call, lambda r: np.array(r[1][:k], dtype=float), ops, None


def _restricted(fn, x, k):
    """``fn`` as a function of the first k coordinates, the others fixed."""
    if k == len(x):
        return fn
    base = np.array(x)  # float64, or complex128 for the complex step

    def fk(xk):
        full = base.copy()
        full[:k] = xk
        return fn(full)

    return fk


def _fd(method_name):
    def prepare(f, wrt, order, x, k):
        from symdiff.numeric import finite_diff as fd

        fn = _restricted(fd.graph_function(f, order), x, k)
        method = getattr(fd, method_name)
        xk = np.array(x[:k])

        def call():
            return method(fn, xk)

        evals = call().evaluations
        return call, lambda r: r.gradient.copy(), None, evals

    return prepare


def _complex_step(f, wrt, order, x, k):
    from symdiff.numeric import finite_diff as fd

    try:
        cfn = fd.complex_function(f, order)
    except ValueError as exc:
        reason = str(exc)
        prefix = "complex step is not applicable: "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        raise _NotApplicable(f"not applicable: {reason}") from None
    fn = _restricted(cfn, np.array(x, dtype=np.complex128), k)
    xk = np.array(x[:k])

    def call():
        return fd.complex_step(fn, xk)

    evals = call().evaluations
    return call, lambda r: r.gradient.copy(), None, evals


_PREPARE = {
    "symbolic": _symbolic,
    "compiled": _compiled,
    "forward": _forward,
    "reverse": _reverse,
    "forward_difference": _fd("forward_difference"),
    "central_difference": _fd("central_difference"),
    "complex_step": _complex_step,
    "richardson": _fd("richardson"),
}


def compare_methods(f, point, wrt=None, methods: Sequence[str] | None = None,
                    repeat: int = 5, ref: Reference | None = None) -> list[MethodResult]:
    """Compute the gradient of the scalar expression ``f`` at ``point`` by
    each method and measure it.

    ``point``: mapping from symbols or names to floats (every free symbol of
    ``f`` and of ``wrt``).  ``wrt``: symbols or names to differentiate by
    (default: the free symbols in natural order).  ``methods``: names from
    :data:`METHODS` (default: all, in that order).  ``repeat``: timing runs
    per method (see :func:`time_call`).  ``ref``: a precomputed
    :func:`reference` (computed here otherwise).

    Returns one :class:`MethodResult` per method, in the order asked.  A
    method that cannot handle the expression (complex step through a
    non-analytic op) or cannot run here (the compiler) gives a row with
    ``error`` set instead of raising.
    """
    methods = list(METHODS if methods is None else methods)
    unknown = [m for m in methods if m not in _PREPARE]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(METHODS)}")
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    f, wrt_syms, order, x = _setup(f, point, wrt)
    k = len(wrt_syms)
    if ref is None:
        ref = reference(f, dict(zip(_names(order), x)), wrt_syms)
    results = []
    for name in methods:
        row = MethodResult(name)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                # IEEE results (NaN, inf) are data here, not warnings.
                warnings.simplefilter("ignore", RuntimeWarning)
                call, extract, row.ops, row.evaluations = _PREPARE[name](f, wrt_syms, order, x, k)
                row.gradient = extract(call())
                row.seconds = time_call(call, repeat)
        except _NotApplicable as exc:
            row = MethodResult(name, error=str(exc))
        else:
            row.max_rel_error = _rel_error(row.gradient, ref.gradient)
        results.append(row)
    return results


def _rel_error(gradient, ref_gradient) -> float:
    from symdiff.numeric.reference import max_rel_error

    return max_rel_error(gradient, ref_gradient)


# ---------------------------------------------------------------------------
# scaling


@dataclass
class ScalingRow:
    """One measurement of :func:`scaling`: ``approach`` at model size ``n``.

    ``n_inputs``: gradient length; ``f_ops``: operations of f's CSE'd
    program (|f|); ``seconds``: build time (symbolic, naive_symbolic) or
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
    n_inputs: int
    f_ops: int
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


# Models built in this process, keyed by (model, n).  With the fork start
# method the children inherit them instead of rebuilding.
_MODELS: dict = {}


def _model(model: str, n: int):
    key = (model, n)
    if key not in _MODELS:
        from symdiff.lab.models import SCALING_MODELS

        _MODELS[key] = SCALING_MODELS[model](n)
    return _MODELS[key]


def _scaling_point(n_inputs: int) -> np.ndarray:
    # Values near 1: a product of 10^4 of them neither under- nor overflows
    # (subnormal arithmetic would distort the timings).
    return np.random.default_rng(0).uniform(0.9, 1.1, n_inputs)


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
    from symdiff.core.differentiate import grad

    import compiler

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


def _measure_forward(f, params, repeat, budget):
    from symdiff.numeric.forward import forward_op_count, program_gradient

    program = schedule([f], params)
    x = list(_scaling_point(len(params)))
    seconds = time_call(lambda: program_gradient(program, x), repeat, budget=budget)
    return {"seconds": seconds, "ops": forward_op_count(f, point=x, inputs=params)}


def _measure_reverse(f, params, repeat, budget):
    from symdiff.numeric.reverse import reverse_op_count, tape_gradient

    program = schedule([f], params)
    x = list(_scaling_point(len(params)))
    seconds = time_call(lambda: tape_gradient(program, x), repeat, budget=budget)
    return {"seconds": seconds, "ops": reverse_op_count(f, point=x, inputs=params)}


def _measure_central(f, params, repeat, budget):
    from symdiff.numeric.finite_diff import central_difference, graph_function

    fn = graph_function(f, params)
    x = _scaling_point(len(params))
    evals = central_difference(fn, x).evaluations
    seconds = time_call(lambda: central_difference(fn, x), repeat, budget=budget)
    # Every evaluation runs each of f's operations once (the interpreter
    # executes the whole program), so this count is exact, not a model.
    return {"seconds": seconds, "ops": evals * count_ops(f), "evaluations": evals}


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
    "forward": _measure_forward,
    "reverse": _measure_reverse,
    "central_difference": _measure_central,
    "naive_symbolic": _measure_naive,
}


def _child_main(conn, model, n, approach, repeat, budget):
    """Body of a measurement child process: measure, send the result back."""
    try:
        warnings.simplefilter("ignore")
        f, params = _model(model, n)
        with np.errstate(all="ignore"):
            result = _MEASURE[approach](f, params, repeat, budget)
        conn.send(("ok", result))
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
    """Run one measurement in a child process with a hard time cap.
    Returns ``(status, payload)``: ("ok", dict), ("failed", message) or
    ("timeout", None)."""
    ctx = _mp_context()
    recv_end, send_end = ctx.Pipe(duplex=False)
    # Leave the child a margin of the cap for op counting after the timing.
    budget = max(0.05, min(2.0, timeout / 4))
    proc = ctx.Process(target=_child_main, args=(send_end, model, n, approach, repeat, budget),
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
        return "timeout", None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv_end.close()


class Progress:
    """Progress display for long runs: a tqdm bar when tqdm is installed,
    else a one-line counter rewritten on stderr; nothing when disabled
    (by default: when stderr is not a terminal, so logs and pipes stay
    clean)."""

    def __init__(self, total: int, desc: str = "", enabled: bool | None = None,
                 stream=None):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.count = 0
        self.desc = desc
        self._bar = None
        self._width = 0
        if enabled:
            try:
                import tqdm

                # No monitor thread: measurements fork child processes, and
                # a thread holding a lock at fork time could stall a child.
                tqdm.tqdm.monitor_interval = 0
                self._bar = tqdm.tqdm(total=total, desc=desc, file=self.stream,
                                      leave=False, unit="run")
            except ImportError:
                self._bar = None

    def start(self, label: str) -> None:
        """Show that the task ``label`` is running."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=True)
            return
        text = f"{self.desc} [{self.count}/{self.total}] {label}"
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()

    def advance(self) -> None:
        """Count one finished task."""
        self.count += 1
        if self.enabled and self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        """Remove the progress display."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def scaling(model: str, sizes: Sequence[int], approaches: Sequence[str] | None = None,
            timeout: float = 20.0, repeat: int = 3,
            progress: bool | None = None) -> list[ScalingRow]:
    """Measure the cost of a gradient against n on a built-in model.

    ``model``: a key of :data:`symdiff.lab.models.SCALING_MODELS` (prod,
    rosenbrock, chain, mlp); ``sizes``: the values of n.  ``approaches``:
    names from :data:`SCALING_APPROACHES` (default all).  Each measurement
    (approach, n) runs in a child process capped at ``timeout`` seconds;
    after a timeout the approach is skipped for larger n.  ``repeat``:
    timing runs per measurement.  ``progress``: show progress on stderr
    (default: when stderr is a terminal).

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
    rows: dict = {}
    timed_out: dict = {}
    bar = Progress(len(sizes) * len(approaches), f"scaling {model}", enabled=progress)
    try:
        for n in sizes:
            f, params = _model(model, n)
            f_ops = count_ops(f)
            for approach in approaches:
                row = ScalingRow(approach, n, len(params), f_ops)
                if approach in timed_out:
                    row.status = "skipped"
                    row.note = f"timed out at n={timed_out[approach]}"
                else:
                    bar.start(f"{approach} n={n}")
                    status, payload = _run_child(model, n, approach, repeat, timeout)
                    if status == "ok":
                        for key, value in payload.items():
                            setattr(row, key, value)
                    elif status == "timeout":
                        row.status = "timeout"
                        row.note = f"over the {timeout:g} s cap"
                        timed_out[approach] = n
                    else:
                        row.status = "failed"
                        row.note = payload
                rows[approach, n] = row
                bar.advance()
            # Keep only the model being measured alive in this process.
            _MODELS.pop((model, n), None)
    finally:
        bar.close()
    return [rows[a, n] for a in approaches for n in sizes]


# ---------------------------------------------------------------------------
# finite-difference step sweep


@dataclass
class FDSweep:
    """Relative error of forward and central differences against the step.

    ``steps``: the steps tried; ``forward``/``central``: relative errors
    (NaN where ``x + h == x``, i.e. no step was taken); ``exact``: the
    reference derivative; ``default_steps``/``default_errors``: each
    method's default step (as :mod:`symdiff.numeric.finite_diff` chooses it at this
    point) and the error there.
    """

    var: str
    point: dict
    exact: float
    steps: np.ndarray
    forward: np.ndarray
    central: np.ndarray
    default_steps: dict = field(default_factory=dict)
    default_errors: dict = field(default_factory=dict)


def fd_sweep(f, point: Mapping, var=None, steps=None) -> FDSweep:
    """Error of the forward- and central-difference derivative d f / d
    ``var`` at ``point`` for each step (default: 61 steps log-spaced over
    1e-16..1e-1), against the 40-digit reference
    (:func:`symdiff.numeric.finite_diff.fd_error_sweep`).  ``var`` defaults to the
    first free symbol.  On a log-log plot the errors are V-shaped: rounding
    error ~ eps/h on the left, truncation error ~ h (forward) or h^2
    (central) on the right."""
    from symdiff.numeric import finite_diff as fd

    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"expected one scalar expression, got {len(outs)}")
    f = outs[0]
    point = {(k.payload if isinstance(k, Node) else str(k)): float(v) for k, v in point.items()}
    if var is None:
        free = free_symbols([f])
        if not free:
            raise ValueError("the expression has no variable to differentiate by")
        var = free[0].payload
    var = var.payload if isinstance(var, Node) else str(var)
    if var not in point:
        raise ValueError(f"no value given for {var}")
    steps = np.logspace(-16, -1, 61) if steps is None else np.asarray(steps, dtype=float).ravel()
    if steps.size == 0 or np.any(~(steps > 0)) or not np.all(np.isfinite(steps)):
        raise ValueError("steps must be positive and finite")
    xi = point[var]
    errors = {}
    defaults = {}
    errors_at_default = {}
    exact = math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A step below half an ulp of x leaves x unchanged: 0/0, NaN, no warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        for method, fd_method in (("forward", fd.forward_difference),
                                  ("central", fd.central_difference)):
            sweep = fd.fd_error_sweep(f, point, var, steps, method)
            errors[method] = sweep.relative_errors
            exact = sweep.exact
            # The default step as finite_diff picks it at this x (only x
            # matters for the step, not the function).
            h = float(fd_method(lambda v: 0.0, [xi]).step[0])
            defaults[method] = h
            errors_at_default[method] = float(
                fd.fd_error_sweep(f, point, var, [h], method).relative_errors[0])
    return FDSweep(var, point, float(exact), steps, errors["forward"], errors["central"],
                   defaults, errors_at_default)
