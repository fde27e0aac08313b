"""Program -> LLVM IR module text: assembles a module from the plan
(:mod:`compiler.plan`), the kernels (:mod:`compiler.kernels`, built with the
emitter of :mod:`compiler.lowering`) and the numpy-ABI entries
(:mod:`compiler.npyabi`).

This is the only place that turns a scheduled
:class:`symdiff.core.program.Program` into a module.  It loops over
``Program.instrs`` (never over expression trees).

Modules (``N`` is the kernel's name):

* :func:`module_text`: everything in one module -- ``N``, ``N_batch`` and,
  for the JIT, the numpy-ABI entries ``N__py``/``N__bound``.  Shared
  libraries and object files (no Python entries) and JIT programs whose body
  stays out of line (a noinline body or chunk chain: the row loop around it
  costs next to nothing to compile) use it.
* Small programs, whose body is inlined into the vectorized row loop, are
  split in two for the JIT, since that loop (with vecmath inlined into it)
  costs several times the compile time of a single call:
  :func:`scalar_module_text` (``N`` as straight-line code, ``N__py``,
  ``N__bound``; vecmath calls left to a runtime object,
  :func:`vecmath_module_text`), compiled at once, and
  :func:`batch_module_text` (``N__rows`` and ``N_batch``), compiled on the
  first batch.
"""

from __future__ import annotations

from symdiff.core.program import Program

from . import kernels, npyabi
from .lowering import ModuleState, vecmath_text
from .plan import Plan

__all__ = ["module_text", "scalar_module_text", "batch_module_text", "vecmath_module_text"]


def _header(program: Program, name: str, n_ops: int, what: str) -> str:
    n, m = len(program.inputs), len(program.outputs)
    return (f'; symdiff kernel "{name}": {n} inputs ({", ".join(program.inputs[:16])}'
            f'{", ..." if n > 16 else ""}), {m} outputs, {n_ops} ops; {what}')


def _assemble(head: str, state: ModuleState, parts: list[str]) -> str:
    return "\n".join([head, *state.decls.values()]) + "\n\n" + "\n\n".join(
        state.extra_defs + parts) + "\n"


def module_text(program: Program, name: str, pl: Plan, *, fast_math: bool = False,
                vector_math: bool = True, python_entries: bool = True) -> str:
    """The complete LLVM IR module for ``program`` laid out as ``pl`` says
    (:func:`compiler.plan.plan`), as text.

    ``python_entries`` adds the fast Python entry ``N__py`` and the pre-bound
    entry ``N__bound`` (JIT only: they call the runtime object of
    :func:`compiler.npyabi.runtime_text`; shared libraries get the two C-ABI
    kernels alone).

    Layout: all kernels funnel into ``N__rows(X, Y, nrows)``, a loop over
    contiguous rows.  The scalar kernel is ``N__rows(in, out, 1)``; the
    batch kernel calls it directly for contiguous X and otherwise gathers
    blocks of rows into a stack buffer first.  So the computation exists in
    one loop, which the vectorizer widens across rows when the body is
    small enough to be inlined into it.
    """
    return _row_loop_module(program, name, pl, fast_math, vector_math, scalar_kernel=True,
                            python_entries=python_entries, what=str(pl))


def batch_module_text(program: Program, name: str, pl: Plan, *, fast_math: bool = False,
                      vector_math: bool = True) -> str:
    """The batch JIT module of a small program: the body inlined into the
    ``N__rows`` loop (vecmath defined in the module, so the loop
    vectorizes) and ``N_batch``."""
    return _row_loop_module(program, name, pl, fast_math, vector_math, scalar_kernel=False,
                            python_entries=False, what=f"batch module; {pl}")


def _row_loop_module(program: Program, name: str, pl: Plan, fast_math: bool,
                     vector_math: bool, *, scalar_kernel: bool, python_entries: bool,
                     what: str) -> str:
    """A module built around ``N__rows``: the body (or chunk chain), the row
    loop and ``N_batch``, with ``scalar_kernel`` also ``N`` and with
    ``python_entries`` also ``N__py`` and ``N__bound``."""
    # vecmath only pays off where the loop is vectorized (inlined body); in
    # chunked or out-of-line bodies libm calls are smaller and as fast.
    state = ModuleState(vector_math and pl.inline_body)
    n, m = len(program.inputs), len(program.outputs)
    parts, calls, n_scratch = kernels.body_functions(program, name, pl, state, fast_math)
    parts.append(kernels.rows_function(name, n, m, calls, n_scratch, state))
    if scalar_kernel:
        parts.append(kernels.scalar_kernel(name))
    parts.append(kernels.batch_kernel(name, n, m))
    if python_entries:
        parts.append(npyabi.entries_text(name, n, m))
    if n:
        parts.append(kernels.loop_metadata())
    return _assemble(_header(program, name, pl.n_ops, what), state, parts)


def scalar_module_text(program: Program, name: str, *, fast_math: bool = False,
                       vector_math: bool = True) -> tuple[str, tuple]:
    """(module text, vecmath names it calls) of the scalar JIT module of a
    small program: ``N`` computing the body in place (no row loop),
    ``N__py`` and ``N__bound``.  The math :mod:`compiler.vecmath` implements
    is called, not defined: the loader links the runtime objects of
    :func:`vecmath_module_text` for the names returned, so a call computes
    exactly what a row of :func:`batch_module_text`'s loop computes."""
    # Only programs with an inlined body get this module, and those use
    # vecmath whenever vector_math is on (as module_text decides).
    state = ModuleState(vector_math, define_vecmath=False)
    n, m = len(program.inputs), len(program.outputs)
    parts = [kernels.direct_scalar_kernel(program, name, state, fast_math),
             npyabi.entries_text(name, n, m)]
    head = _header(program, name, program.n_ops, "scalar module (N, N__py, N__bound)")
    return _assemble(head, state, parts), tuple(state.vec_used)


def vecmath_module_text(names) -> str:
    """A module defining vecmath's ``names`` as ordinary external functions
    (``symdiff.v<name>``): the runtime object scalar modules link against."""
    decls: dict[str, str] = {}
    defs = []
    for name in names:
        _, text, d = vecmath_text(name, exported=True)
        decls.update(d)
        defs.append(text)
    return "\n".join([f"; symdiff runtime: vecmath {', '.join(names)}", *decls.values()]) + \
        "\n\n" + "\n\n".join(defs) + "\n"
