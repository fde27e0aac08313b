"""compiler: symdiff programs -> LLVM -> native kernels.

Stages, each inspectable: :mod:`compiler.emit` (Program -> LLVM IR text,
``fn.llvm_ir``; it assembles modules from :mod:`compiler.plan` (function
layout and optimization levels), :mod:`compiler.kernels` (bodies, chunks,
the row loop, the C-ABI kernels), :mod:`compiler.lowering` (the emitter the
op table's lowerings run against) and :mod:`compiler.npyabi` (the fast
Python entry reading numpy's array header)), :mod:`compiler.backend`
(optimize -> ``fn.llvm_ir_opt``, object code -> ``fn.asm``, MCJIT
loading), :mod:`compiler.build` (the ``name``/``opt`` checks and the
cache-or-compile step every module goes through), :mod:`compiler.runtime`
(code shared by all kernels, compiled once per process and linked into
each engine), :mod:`compiler.cache` (object code on disk, keyed on the IR
text), :mod:`compiler.function`
(the Python callable) and :mod:`compiler.aot` (object files, shared
libraries and C headers for the CLI).  ``SYMDIFF_DUMP_IR=dir`` writes each
compiled module's IR to ``dir``.

symdiff itself never imports llvmlite; ``symdiff.compile`` lazily maps to
:func:`compile` here.
"""

from symdiff.core.program import Program

from .aot import c_header, emit_object, emit_shared
from .function import CompiledFunction, as_program
from .function import compile as _compile_scalar
from .tensor.function import TensorFunction, compile_tensor

__all__ = ["compile", "CompiledFunction", "TensorFunction", "emit_object", "emit_shared",
           "c_header"]


def compile(outputs, inputs=None, *, threads: int | None = None, stable: bool = False,
            **options):
    """Compile expressions to native code.

    Scalar expressions give a :class:`CompiledFunction` (``f(x)`` maps a
    vector of the inputs to a vector of the outputs; ``f.batch(X)`` many
    points); see :func:`compiler.function.compile` for the options.
    Tensor expressions give a :class:`TensorFunction`: ``f(X, Theta, y)``
    (or by input name) returns a tuple of arrays, one kernel for every size
    of the named dimensions; ``threads`` bounds the threads of its loops
    (default ``SYMDIFF_NUM_THREADS``, ``OMP_NUM_THREADS`` or all cores, read
    at call time like ``batch()`` does).  ``opt`` and ``name`` are checked
    alike for both (:mod:`compiler.build`).  ``stable``: first rewrite the
    expressions into numerically stable forms
    (:func:`symdiff.core.stabilize.stabilize`: ``log(1 + exp(x))`` ->
    ``softplus(x)`` ...); pass the derivatives of the stabilized f, so that
    they are built from the stable forms too.
    """
    if stable:
        if isinstance(outputs, Program):
            raise ValueError("compile: stable=True rewrites expressions; it does not "
                             "apply to a Program")
        from symdiff.core.graph import as_outputs
        from symdiff.core.program import schedule
        from symdiff.core.stabilize import stabilize

        outputs = as_outputs(outputs)
        if inputs is None:
            # The inputs of the expressions as given: a rewrite may cancel a
            # variable (x + y - y -> x), and the caller passes all of them.
            inputs = list(schedule(outputs).inputs)
        outputs, _ = stabilize(outputs)
    program = as_program(outputs, inputs)
    if program.is_tensor:
        allowed = {"opt", "cache", "fast_math", "vector_math", "name", "blas"}
        unknown = set(options) - allowed
        if unknown:
            raise TypeError(f"compile: unknown option(s) for a tensor program: "
                            f"{', '.join(sorted(unknown))}")
        return compile_tensor(program, threads=threads, **options)
    if threads is not None:
        raise TypeError("compile: threads is an option of tensor programs; scalar "
                        "functions take threads= in .batch()")
    return _compile_scalar(program, **options)
