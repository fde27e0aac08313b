"""Ahead-of-time output for the ``symdiff compile`` CLI: object files, shared
libraries and C headers.

The exported C ABI is the JIT's, minus the Python-only entries::

    void NAME(const double *in, double *out);
    void NAME_batch(const double *X, long long row_stride, long long col_stride,
                    double *Y, long long n);

Object code for files is built with position-independent code and the
default code model (the JIT's objects use the JIT code model and cannot be
linked into a shared library), so it is compiled afresh rather than taken
from the JIT cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

from symdiff.core.program import Program

from . import backend, emit
from .names import check_kernel_name
from .plan import plan

__all__ = ["emit_object", "emit_shared", "c_header", "kernel_name", "write_object",
           "link_shared", "header_frame", "cpu_note"]


# -- shared by scalar and tensor programs (compiler.tensor.aot) ---------------


def kernel_name(fn_name: str | None, name: str | None) -> str:
    """The exported name of a kernel: ``name`` when given, else the compiled
    function's (``fn_name``; None for a Program), else ``"symdiff_fn"``.
    Object files, shared libraries and headers all follow this rule, so a
    header always declares what the library exports.  A name that would
    shadow a C library function, is a C keyword or is reserved is refused
    with a ValueError (:func:`compiler.names.check_kernel_name`)."""
    return check_kernel_name(name or fn_name or "symdiff_fn")


def write_object(text: str, levels: dict, path, cpu: str = "native") -> str:
    """Compile the module ``text`` at backend ``levels`` to a relocatable
    (PIC) object file at ``path`` for ``cpu`` (:data:`compiler.backend.CPUS`);
    returns the path."""
    obj, _ = backend.compile_text(text, **levels, pic=True, cpu=cpu)
    path = os.fspath(path)
    with open(path, "wb") as f:
        f.write(obj)
    return path


def _find_cc() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise RuntimeError("no C compiler found (set CC, or install cc/gcc/clang)")


def _version_script(directory: str, exports) -> list[str]:
    """Linker options that export only the symbols ``exports`` from a
    shared library (every other symbol becomes local), or none where the
    GNU version-script syntax is not understood (not ELF)."""
    if not sys.platform.startswith(("linux", "freebsd")):
        return []
    script = os.path.join(directory, "exports.map")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write("{\n  global:\n" + "".join(f"    {e};\n" for e in exports)
                 + "  local: *;\n};\n")
    return [f"-Wl,--version-script={script}"]


def link_shared(path, name: str, write_obj, cc: str | None = None, exports=None) -> str:
    """Build the shared library ``path`` from the object file that
    ``write_obj(object path)`` writes, linked by ``cc`` (default: ``$CC``,
    else cc, gcc or clang) with ``-shared ... -lm``; returns the path.

    ``exports``: the symbols the library exports (its C API; default
    ``name`` alone).  Everything else the object defines stays local, so
    no helper of the kernel can interpose on a symbol of the program that
    loads the library."""
    path = os.fspath(path)
    with tempfile.TemporaryDirectory(prefix="symdiff-") as tmp:
        objpath = os.path.join(tmp, name + ".o")
        write_obj(objpath)
        # Linked inside the temporary directory, then copied: a path that
        # cannot be written is an OSError naming it (not a linker message),
        # and a failed link leaves no half-written file at ``path``.
        libpath = os.path.join(tmp, "lib" + name + ".so")
        cmd = [cc or _find_cc(), "-shared", "-o", libpath, objpath, "-lm",
               *_version_script(tmp, exports or [name])]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"linking failed: {' '.join(cmd)}\n{res.stderr}")
        _install(libpath, path)
    return path


def _install(built: str, path: str) -> None:
    """Put the file ``built`` at ``path`` as a new file (a new inode,
    renamed into place), executable as the linker made it.  Copying over
    the old file in place would change the code under any process that has
    the old library loaded (and crash it).  Only a regular file (or no
    file) is replaced that way: a device or a pipe at ``path`` (/dev/full,
    a FIFO) is written to, never renamed over."""
    if os.path.exists(path) and not os.path.isfile(path):
        shutil.copyfile(built, path)
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp_out = tempfile.mkstemp(dir=folder, prefix=".symdiff-", suffix=".so")
    os.close(fd)
    try:
        shutil.copyfile(built, tmp_out)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_out, 0o755 & ~umask)
        os.replace(tmp_out, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_out)
        raise


def cpu_note(cpu: str | None) -> list[str]:
    """The header comment lines saying which CPUs the code of a file built
    for ``cpu`` runs on (none when ``cpu`` is None: not known)."""
    if cpu is None:
        return []
    if backend.check_cpu(cpu) == "generic":
        return [" *", " * Built for any CPU of this architecture (cpu=generic; cpu=native is",
                " * faster on the machine that built it, but not portable)."]
    return [" *", " * Built for the CPU of the machine that built it (cpu=native): it may",
            " * not run on other CPUs (cpu=generic is portable)."]


def header_frame(name: str, doc: list[str], decls: list[str], includes=()) -> str:
    """A C header for kernel ``name``: the ``doc`` comment lines, then the
    include guard, ``includes`` and ``decls`` inside ``extern "C"``."""
    guard = f"SYMDIFF_{name.upper()}_H"
    return "\n".join([*doc, f"#ifndef {guard}", f"#define {guard}", *includes,
                      "#ifdef __cplusplus", 'extern "C" {', "#endif", "", *decls, "",
                      "#ifdef __cplusplus", "}", "#endif", f"#endif /* {guard} */", ""])


# -- scalar programs -------------------------------------------------------------


def _program_and_options(fn_or_program, name, opt, fast_math, vector_math):
    from .function import CompiledFunction, _normalize_options

    if isinstance(fn_or_program, CompiledFunction):
        return (fn_or_program.program, dict(fn_or_program.options),
                kernel_name(fn_or_program.name, name))
    if isinstance(fn_or_program, Program):
        return (fn_or_program, _normalize_options(opt, fast_math, vector_math),
                kernel_name(None, name))
    raise TypeError("expected a CompiledFunction or a symdiff.core.graph.Program, got "
                    f"{type(fn_or_program).__name__}")


def _object(program: Program, options: dict, name: str, path, cpu: str) -> str:
    pl = plan(program, options["opt"], vector_math=options["vector_math"])
    text = emit.module_text(program, name, pl, fast_math=options["fast_math"],
                            vector_math=options["vector_math"], python_entries=False)
    return write_object(text, pl.levels(), path, cpu)


def emit_object(fn_or_program, path, name: str | None = None, *, opt: int = 2,
                fast_math: bool = False, vector_math: bool = True,
                cpu: str = "native") -> str:
    """Write a relocatable (PIC) object file defining ``NAME`` and
    ``NAME_batch`` for a CompiledFunction (its program, name and options) or
    a Program.  ``name`` (default: the function's, else ``symdiff_fn``)
    overrides the function's name.  ``cpu``: ``"native"`` (the default, as
    for the JIT: this machine's CPU and all its instructions; the code may
    not run on other CPUs) or ``"generic"`` (every CPU of the architecture;
    slower where vector math needs FMA).  Returns the path."""
    program, options, name = _program_and_options(fn_or_program, name, opt, fast_math,
                                                   vector_math)
    return _object(program, options, name, path, backend.check_cpu(cpu))


def emit_shared(fn_or_program, path, name: str | None = None, *, opt: int = 2,
                fast_math: bool = False, vector_math: bool = True,
                cpu: str = "native") -> str:
    """Build a shared library exporting ``NAME`` and ``NAME_batch`` and
    nothing else (names, options and ``cpu`` as for :func:`emit_object`),
    linked with the system C compiler (``$CC``, else cc, gcc or clang:
    ``-shared ... -lm``).  Returns the path."""
    program, options, name = _program_and_options(fn_or_program, name, opt, fast_math,
                                                   vector_math)
    cpu = backend.check_cpu(cpu)
    return link_shared(path, name, lambda o: _object(program, options, name, o, cpu),
                       exports=[name, f"{name}_batch"])


def c_header(fn_or_program, name: str | None = None, cpu: str | None = None) -> str:
    """A C header declaring the two kernels of a Program or a
    CompiledFunction (named as for :func:`emit_object`), with a comment
    listing inputs and outputs and, given the ``cpu`` the library is built
    for, which CPUs it runs on."""
    program, _, name = _program_and_options(fn_or_program, name, 2, False, True)
    n, m = len(program.inputs), len(program.outputs)
    doc = [
        f"/* Generated by symdiff: {name} -- {n} inputs, {m} outputs, "
        f"{program.n_ops} operations.",
        " *",
        " * Inputs (in[j]):",
    ]
    doc += [f" *   in[{j}] = {s}" for j, s in enumerate(program.inputs)]
    doc.append(" * Outputs (out[k]):")
    doc += [f" *   out[{k}] = output {k} (slot {s})" for k, s in enumerate(program.outputs)]
    doc += [
        " *",
        f" * {name}: one point.  in and out must not overlap.",
        f" * {name}_batch: row i of X is X[i*row_stride + j*col_stride] (strides in",
        f" *   doubles); writes Y[i*{m} + k] for i < n.  X and Y must not overlap.",
        *cpu_note(cpu),
        " */",
    ]
    decls = [
        f"#define {name.upper()}_N_INPUTS {n}",
        f"#define {name.upper()}_N_OUTPUTS {m}",
        "",
        f"void {name}(const double *in, double *out);",
        f"void {name}_batch(const double *X, long long row_stride, long long col_stride,",
        "    double *Y, long long n);",
    ]
    return header_frame(name, doc, decls)
