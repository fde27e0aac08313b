"""compiler: symdiff programs -> LLVM -> native kernels.

Stages, each inspectable: :mod:`compiler.emit` (Program -> LLVM IR text,
``fn.llvm_ir``; it assembles modules from :mod:`compiler.plan` (function
layout and optimization levels), :mod:`compiler.kernels` (bodies, chunks,
the row loop, the C-ABI kernels), :mod:`compiler.lowering` (the emitter the
op table's lowerings run against) and :mod:`compiler.npyabi` (the fast
Python entry reading numpy's array header)), :mod:`compiler.backend`
(optimize -> ``fn.llvm_ir_opt``, object code -> ``fn.asm``, MCJIT
loading), :mod:`compiler.runtime` (code shared by all kernels, compiled
once per process and linked into each engine), :mod:`compiler.cache`
(object code on disk, keyed on the IR text), :mod:`compiler.function`
(the Python callable) and :mod:`compiler.aot` (object files, shared
libraries and C headers for the CLI).  ``SYMDIFF_DUMP_IR=dir`` writes each
compiled module's IR to ``dir``.

symdiff itself never imports llvmlite; ``symdiff.compile`` lazily maps to
:func:`compile` here.
"""

from .aot import c_header, emit_object, emit_shared
from .function import CompiledFunction, compile

__all__ = ["compile", "CompiledFunction", "emit_object", "emit_shared", "c_header"]
