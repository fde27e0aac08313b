"""Program -> LLVM IR module text: assembles a module from the plan
(:mod:`compiler.plan`), the kernels (:mod:`compiler.kernels`, built with the
emitter of :mod:`compiler.lowering`) and the numpy-ABI entries
(:mod:`compiler.npyabi`).

This is the only place that turns a scheduled
:class:`symdiff.core.program.Program` into a module.  It loops over
``Program.instrs`` (never over expression trees).
"""

from __future__ import annotations

from symdiff.core.program import Program

from . import kernels, npyabi
from .lowering import ModuleState
from .plan import plan

__all__ = ["module_text"]


def _header(program: Program, name: str, what: str) -> str:
    n, m = len(program.inputs), len(program.outputs)
    return (f'; symdiff kernel "{name}": {n} inputs ({", ".join(program.inputs[:16])}'
            f'{", ..." if n > 16 else ""}), {m} outputs, {program.n_ops} ops; {what}')


def _assemble(head: str, state: ModuleState, parts: list[str]) -> str:
    return "\n".join([head, *state.decls.values()]) + "\n\n" + "\n\n".join(
        state.extra_defs + parts) + "\n"


def module_text(program: Program, name: str, *, opt: int = 2, fast_math: bool = False,
                vector_math: bool = True, python_entries: bool = True,
                use_fma=None, chunk_size: int | None = None) -> str:
    """The complete LLVM IR module for ``program`` as text.

    ``python_entries`` adds the fast Python entry ``N__py`` and the pre-bound
    entry ``N__bound`` with their globals (JIT only; shared libraries get
    the two C-ABI kernels alone).

    Layout: all kernels funnel into ``N__rows(X, Y, nrows)``, a loop over
    contiguous rows.  The scalar kernel is ``N__rows(in, out, 1)``; the
    batch kernel calls it directly for contiguous X and otherwise gathers
    blocks of rows into a stack buffer first.  So the computation exists in
    one loop, which the vectorizer widens across rows when the body is
    small enough to be inlined into it.
    """
    pl = plan(program, opt, vector_math=vector_math, chunk_size=chunk_size)
    # vecmath only pays off where the loop is vectorized (inlined body); in
    # chunked or out-of-line bodies libm calls are smaller and as fast.
    state = ModuleState(vector_math and pl.inline_body, use_fma)
    n, m = len(program.inputs), len(program.outputs)
    parts, calls, n_scratch = kernels.body_functions(program, name, pl, state, fast_math)
    parts.append(kernels.rows_function(name, n, m, calls, n_scratch, state))
    parts.append(kernels.scalar_kernel(name))
    parts.append(kernels.batch_kernel(name, n, m))
    if python_entries:
        parts.append(npyabi.entries_text(name, n, m))
    if n:
        parts.append(kernels.loop_metadata())
    return _assemble(_header(program, name, str(pl)), state, parts)
