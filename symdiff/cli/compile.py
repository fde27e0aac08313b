"""``symdiff compile``: JIT-compile f and its gradient (and Hessian), emit
LLVM IR, assembly, object files, shared libraries or C headers, and run it.

The compiler package is imported only when this command runs, so the
symbolic core never depends on llvmlite.
"""

from __future__ import annotations

import os
import sys
import time

from symdiff.cli.common import (
    UsageError,
    add_expr_args,
    add_shape_args,
    check_output_path,
    derivative_outputs,
    gradient_inputs,
    is_tensor_program,
    load_program,
    parse_point,
    parse_wrt,
    print_json,
    source_names,
    write_output,
)
from symdiff.cli.render import format_float, format_point, format_value, json_number, json_value
from symdiff.cli.stable import (
    print_rewrites,
    refuse_tensor_stable,
    rewrite_json,
    stabilize_derivatives,
    stabilize_expressions,
)

__all__ = ["register", "cmd_compile", "header_path"]

#: What ``--cpu`` builds object files and libraries for.  The default is
#: native, as for the JIT: generic code was measured 28x slower on the
#: lectures' example (200,000 rows: 41 ms against 1.5 ms), because the
#: vector math's fused multiply-adds become libm calls without FMA.
CPU_CHOICES = ("native", "generic")


def _kernel_name(name: str | None) -> str:
    """The ``--name`` given (default ``symdiff_fn``), refused with the
    compiler's reason if it cannot be a kernel's symbol."""
    from compiler.names import check_kernel_name

    try:
        return check_kernel_name(name or "symdiff_fn")
    except ValueError as exc:
        raise UsageError(f"--name: {str(exc).removeprefix('name ')}") from None


def header_path(path: str, emit: str) -> str:
    """The C header written beside the library or object file ``path``:
    ``libf.so`` -> ``f.h``, ``f.o`` -> ``f.h``, ``f`` -> ``f.h`` (a bare
    ``lib.so`` keeps its name: ``lib.h``)."""
    stem = os.path.splitext(path)[0]
    base = os.path.basename(stem)
    if emit == "shared" and base.startswith("lib") and len(base) > 3:
        stem = os.path.join(os.path.dirname(stem), base[3:])
    return stem + ".h"


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


def _native_paths(args, name: str) -> tuple[str, str]:
    """(library or object path, header path) of ``--emit obj|shared``,
    checked before anything is compiled: ``-o`` is required, both files
    must be writable, and they must be two different files (neither the
    input file)."""
    example = f"{name}.o" if args.emit == "obj" else f"lib{name}.so"
    if not args.output:
        raise UsageError(f"--emit {args.emit} needs -o FILE, e.g. -o {example} (the C header "
                         f"is written beside it: {header_path(example, args.emit)})")
    inputs = [args.file] if args.file else []
    path = check_output_path(args.output, "-o", inputs)
    header = header_path(path, args.emit)
    if _same_file(header, path):
        stem = os.path.splitext(os.path.basename(path))[0]
        example = f"{stem}.o" if args.emit == "obj" else f"lib{stem}.so"
        raise UsageError(f"-o {path}: its C header would be written to the same file; "
                         f"name the {'library' if args.emit == 'shared' else 'object file'} "
                         f"like {example} (its header is then {header_path(example, args.emit)})")
    check_output_path(header, "the C header", inputs)
    return path, header


def _emit_native(args, program, name: str, options: dict, writers: dict, header,
                 report: dict) -> bool:
    """``--emit obj|shared``: write the object file or shared library (with
    ``writers[args.emit]``) and its C header (the text ``header()`` returns)
    beside it; ``--emit c-header``: print or write the header.  False for
    every other ``--emit``.  The files written go into ``report["wrote"]``."""
    if args.emit in ("obj", "shared"):
        path, hpath = _native_paths(args, name)
        try:
            writers[args.emit](program, path, name, **options)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        except RuntimeError as exc:          # no C compiler, or the linker failed
            raise UsageError(str(exc).strip()) from None
        write_output(hpath, header(), "the C header", [args.file] if args.file else [],
                     announce=False)
        print(f"wrote {path} and {hpath}", file=sys.stderr)
        report["wrote"] = [path, hpath]
        return True
    if args.emit == "c-header":
        _write_or_print(header(), args, "c_header", report)
        return True
    return False


def _compile_timed(program, name: str, options: dict):
    """JIT-compile ``program``: (the function, seconds it took)."""
    import compiler  # imported on use: the other subcommands start without LLVM

    t0 = time.perf_counter()
    fn = compiler.compile(program, name=name, **options)
    return fn, time.perf_counter() - t0


def _emit_text(fn, name: str, args, report: dict) -> bool:
    """Print or write the IR or assembly ``--emit`` asks for; False when it
    asks for neither.  The IR is the kernel's functions alone unless
    ``--all`` asks for the whole module."""
    if args.emit == "llvm":
        from symdiff.cli.ir_view import kernel_ir

        text = fn.llvm_ir_opt if args.optimized else fn.llvm_ir
        _write_or_print(text if args.all else kernel_ir(text, name), args, "llvm", report)
        return True
    if args.emit == "asm":
        _write_or_print(fn.asm, args, "asm", report)
        return True
    return False


def _write_or_print(text: str, args, key: str, report: dict) -> None:
    """Write ``text`` to ``-o`` (never the input file), else print it; with
    ``--format json`` it goes into ``report[key]`` instead of stdout."""
    if args.output:
        write_output(args.output, text, "-o", [args.file] if args.file else [])
        report["wrote"] = [args.output]
    elif args.format == "json":
        report[key] = text
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _check_options(args) -> None:
    """Options that do not go together, refused before compiling."""
    if args.output is not None and not args.output.strip():
        raise UsageError("-o: the file name is empty")
    if args.all and args.emit != "llvm":
        raise UsageError("--all applies to --emit llvm")
    if args.optimized and args.emit != "llvm":
        raise UsageError("--optimized applies to --emit llvm")
    if args.cpu and args.emit not in ("obj", "shared", "c-header"):
        raise UsageError("--cpu applies to --emit obj|shared|c-header (JIT-compiled code "
                         "always targets this machine)")
    if args.emit in ("llvm", "asm", "c-header") and args.output:
        check_output_path(args.output, "-o", [args.file] if args.file else [])


def cmd_compile(args) -> int:
    """Compile the gradient program and emit or run it."""
    import numpy as np

    import compiler
    from symdiff.core.differentiate import hessian
    from symdiff.core.program import schedule
    from symdiff.text.program import to_program

    name = _kernel_name(args.name)
    _check_options(args)
    prog, text = load_program(args)
    names = source_names(text, prog)
    if args.stable and is_tensor_program(prog):
        refuse_tensor_stable()
    if is_tensor_program(prog):
        return _compile_tensor(args, prog, name, names)
    outs = list(prog.outputs)
    f = outs[0]
    wrt = parse_wrt(args.wrt, outs, names=names)
    inputs = gradient_inputs(outs, wrt)
    point = parse_point(args.at, inputs, names=names)
    rewrites = []
    if args.stable:
        f, rewrites = stabilize_expressions(f)
    exprs, labels = derivative_outputs(f, wrt, H=hessian(f, wrt) if args.hessian else None)
    if args.stable:
        exprs, _, more = stabilize_derivatives(exprs, None)
        rewrites += more
    program = schedule(exprs, inputs)
    options = dict(opt=args.opt, fast_math=args.fast_math, vector_math=not args.no_vector_math)
    report: dict = {"name": name, "inputs": list(program.inputs), "outputs": labels,
                    "operations": program.n_ops}
    if args.stable:
        report["rewrites"] = [rewrite_json(r) for r in rewrites]
        if args.format != "json" and args.emit is None:
            print_rewrites(rewrites)
            print(to_program(exprs, names=labels))
            print()

    writers = {"obj": compiler.emit_object, "shared": compiler.emit_shared}
    cpu = args.cpu or "native"
    if _emit_native(args, program, name, {**options, "cpu": cpu}, writers,
                    lambda: _header_with_labels(
                        compiler.c_header(program, name, cpu=cpu if args.emit != "c-header"
                                          or args.cpu else None), labels),
                    report):
        return _finish(args, report)

    fn, compile_seconds = _compile_timed(program, name, options)
    if _emit_text(fn, name, args, report):
        return _finish(args, report)

    report["compile_seconds"] = compile_seconds
    if point is not None:
        x = np.array([point[s.payload] for s in inputs], dtype=np.float64)
        y = fn(x)
        report["at"] = {k: json_number(v) for k, v in point.items()}
        report["values"] = {lb: json_number(v) for lb, v in zip(labels, y)}
    if args.format == "json":
        return _finish(args, report)
    print(f"compiled {name}: {len(program.inputs)} inputs ({', '.join(program.inputs)}), "
          f"{len(program.outputs)} outputs, {program.n_ops} operations, "
          f"{compile_seconds * 1e3:.1f} ms")
    if point is not None:
        width = max(len(lb) for lb in labels)
        print(f"at {format_point(point)}:")
        for lb, v in zip(labels, y):
            print(f"  {lb.ljust(width)} = {format_float(v)}")
    else:
        print("outputs: " + ", ".join(labels))
        print("(use --at x=...,y=... to evaluate, --emit llvm|asm|obj|shared|c-header "
              "to see or save the code)")
    return 0


def _finish(args, report: dict) -> int:
    """Print the JSON report of ``--format json``; the exit status."""
    if args.format == "json":
        print_json(report)
    return 0


def _compile_tensor(args, prog, name: str, names=None) -> int:
    """``symdiff compile`` of a tensor program: the loss and its gradient
    with respect to the ``--wrt`` tensors as one kernel for every size of
    the named dimensions."""
    from compiler.tensor.aot import tensor_c_header, tensor_object, tensor_shared
    from symdiff.core.program import schedule
    from symdiff.core.shapes import format_shape
    from symdiff.numeric.interpreter import tensor_inputs

    outs = list(prog.outputs)
    f = outs[0]
    if f.shape:
        raise UsageError(f"symdiff compile differentiates a scalar, but the output has shape "
                         f"{format_shape(f.shape)} (reduce it, e.g. with sum(...) or mean(...))")
    if args.hessian:
        raise UsageError("--hessian of a tensor program: use symdiff diff --hessian, or "
                         "sd.hessian in Python")
    if args.fast_math:
        raise UsageError("--fast-math applies to scalar programs only")
    wrt = parse_wrt(args.wrt, outs, prog.declarations, names=names)
    inputs = gradient_inputs(outs, wrt)
    point = parse_point(args.at, inputs, files=True)
    exprs, labels = derivative_outputs(f, wrt)
    program = schedule(exprs, inputs)
    options = dict(opt=args.opt, vector_math=not args.no_vector_math)
    report: dict = {"name": name, "inputs": {n: format_shape(s) for n, s in
                                             zip(program.inputs, program.input_shapes)},
                    "outputs": labels}

    writers = {"obj": tensor_object, "shared": tensor_shared}
    cpu = args.cpu or "native"
    if _emit_native(args, program, name, {**options, "cpu": cpu}, writers,
                    lambda: tensor_c_header(program, name, labels,
                                            cpu=cpu if args.emit != "c-header" or args.cpu
                                            else None),
                    report):
        return _finish(args, report)

    fn, seconds = _compile_timed(program, name, options)
    if _emit_text(fn, name, args, report):
        return _finish(args, report)
    report["steps"] = len(fn.plan.steps)
    report["compile_seconds"] = seconds
    values = None
    if point is not None:
        try:
            arrays, _ = tensor_inputs(program, [point[s.payload] for s in inputs])
            values = fn(*arrays)
        except ValueError as exc:
            raise UsageError(f"--at: {exc}") from None
        report["at"] = dict(point.sources)
        report["values"] = {lb: json_value(v) for lb, v in zip(labels, values)}
    if args.format == "json":
        return _finish(args, report)
    shapes = ", ".join(f"{n}: {format_shape(s)}" for n, s in
                       zip(program.inputs, program.input_shapes))
    print(f"compiled {name}: inputs {shapes}; {len(program.outputs)} outputs, "
          f"{len(fn.plan.steps)} steps, {seconds * 1e3:.1f} ms")
    if values is not None:
        print("at " + ", ".join(program.inputs) + ":")
        for lb, v in zip(labels, values):
            print(f"  {lb} = {format_value(v)}")
    else:
        print("outputs: " + ", ".join(labels))
        print("(use --at X=X.npy,... to run it, --emit llvm|asm|obj|shared|c-header "
              "to see or save the code)")
    return 0


def _header_with_labels(header: str, labels) -> str:
    # The compiler's header names outputs by slot; the CLI knows what they mean.
    lines = header.split("\n")
    out = []
    k = 0
    for line in lines:
        if line.startswith(" *   out[") and k < len(labels):
            line = f" *   out[{k}] = {labels[k]}"
            k += 1
        out.append(line)
    return "\n".join(out)


def register(sub) -> None:
    """Add the ``compile`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("compile", help="JIT-compile f and its gradient through LLVM; "
                       "emit IR, assembly, objects or shared libraries")
    add_expr_args(p)
    add_shape_args(p)
    p.add_argument("--wrt", help="comma-separated variables (default: all, natural order)")
    p.add_argument("--emit", choices=["llvm", "asm", "obj", "shared", "c-header"],
                   help="what to produce (default: compile and report; with --at, run)")
    p.add_argument("-o", "--output", help="output file (default: stdout for text; "
                   "required with --emit obj|shared, whose C header is written beside it: "
                   "libf.so -> f.h)")
    p.add_argument("--opt", type=int, choices=[0, 1, 2, 3], default=2,
                   help="LLVM optimization level (default 2)")
    p.add_argument("--optimized", action="store_true",
                   help="with --emit llvm: print the optimized IR")
    p.add_argument("--all", action="store_true",
                   help="with --emit llvm: the whole module, helpers (symdiff's vector math, "
                        "matrix product loops, Python entries) included; by default only "
                        "the kernel's functions")
    p.add_argument("--cpu", choices=CPU_CHOICES,
                   help="with --emit obj|shared: the CPUs the code runs on; native (the "
                        "default) uses every instruction of this machine's CPU (fast, may "
                        "not run on other machines), generic runs on every CPU of this "
                        "architecture (portable, slower); the C header says which")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: a JSON report (compile time, values with --at, the code "
                        "or the files written)")
    p.add_argument("--hessian", action="store_true", help="also the Hessian (upper triangle)")
    p.add_argument("--stable", action="store_true",
                   help="compile numerically stable forms: rewrite f, then its derivatives "
                        "(log(1+exp(x)) -> softplus(x), ...), and print them")
    p.add_argument("--at", help="run the compiled function at a point, e.g. x=2,z=3; "
                   "tensors from .npy files: X=X.npy")
    p.add_argument("--name", help="C symbol name of the kernels (default symdiff_fn; not a "
                   "C keyword, reserved name or C library function such as pow)")
    p.add_argument("--fast-math", action="store_true", help="allow fast-math reassociation")
    p.add_argument("--no-vector-math", action="store_true",
                   help="use libm/LLVM intrinsics instead of symdiff's vectorizable math")
    p.set_defaults(func=cmd_compile)
