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
    derivative_outputs,
    gradient_inputs,
    is_tensor_program,
    load_program,
    parse_point,
    parse_wrt,
)
from symdiff.cli.render import format_float, format_point, format_value

__all__ = ["register", "cmd_compile"]


def _emit_native(args, program, name: str, options: dict, writers: dict, header) -> bool:
    """``--emit obj|shared``: write the object file or shared library (with
    ``writers[args.emit]``) and its C header (the text ``header()`` returns)
    beside it; ``--emit c-header``: print or write the header.  False for
    every other ``--emit``."""
    if args.emit in ("obj", "shared"):
        default = f"{name}.o" if args.emit == "obj" else f"lib{name}.so"
        path = args.output or default
        try:
            writers[args.emit](program, path, name, **options)
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
        header_path = _header_path(path, args.emit)
        with open(header_path, "w", encoding="utf-8") as fh:
            fh.write(header())
        print(f"wrote {path} and {header_path}", file=sys.stderr)
        return True
    if args.emit == "c-header":
        _write_or_print(header(), args.output)
        return True
    return False


def _compile_timed(program, name: str, options: dict):
    """JIT-compile ``program``: (the function, seconds it took)."""
    import compiler  # imported on use: the other subcommands start without LLVM

    t0 = time.perf_counter()
    fn = compiler.compile(program, name=name, **options)
    return fn, time.perf_counter() - t0


def _emit_text(fn, args) -> bool:
    """Print or write the IR or assembly ``--emit`` asks for; False when it
    asks for neither."""
    if args.emit == "llvm":
        _write_or_print(fn.llvm_ir_opt if args.optimized else fn.llvm_ir, args.output)
        return True
    if args.emit == "asm":
        _write_or_print(fn.asm, args.output)
        return True
    return False


def _write_or_print(text: str, path: str | None):
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_compile(args) -> int:
    """Compile the gradient program and emit or run it."""
    import numpy as np

    import compiler
    from symdiff.core.differentiate import hessian
    from symdiff.core.program import schedule

    if args.name and not (args.name.isidentifier() and args.name.isascii()):
        raise UsageError(f"--name must be a C identifier, got {args.name!r}")
    name = args.name or "symdiff_fn"
    prog, _ = load_program(args)
    if is_tensor_program(prog):
        return _compile_tensor(args, prog, name)
    outs = list(prog.outputs)
    f = outs[0]
    wrt = parse_wrt(args.wrt, outs)
    inputs = gradient_inputs(outs, wrt)
    exprs, labels = derivative_outputs(f, wrt, H=hessian(f, wrt) if args.hessian else None)
    program = schedule(exprs, inputs)
    options = dict(opt=args.opt, fast_math=args.fast_math, vector_math=not args.no_vector_math)

    writers = {"obj": compiler.emit_object, "shared": compiler.emit_shared}
    if _emit_native(args, program, name, options, writers,
                    lambda: _header_with_labels(compiler.c_header(program, name), labels)):
        return 0

    fn, compile_seconds = _compile_timed(program, name, options)
    if _emit_text(fn, args):
        return 0

    print(f"compiled {name}: {len(program.inputs)} inputs ({', '.join(program.inputs)}), "
          f"{len(program.outputs)} outputs, {program.n_ops} operations, "
          f"{compile_seconds * 1e3:.1f} ms")
    if args.at is not None:
        point = parse_point(args.at, inputs)
        x = np.array([point[s.payload] for s in inputs], dtype=np.float64)
        y = fn(x)
        width = max(len(lb) for lb in labels)
        print(f"at {format_point(point)}:")
        for lb, v in zip(labels, y):
            print(f"  {lb.ljust(width)} = {format_float(v)}")
    else:
        print("outputs: " + ", ".join(labels))
        print("(use --at x=...,y=... to evaluate, --emit llvm|asm|obj|shared|c-header "
              "to see or save the code)")
    return 0


def _compile_tensor(args, prog, name: str) -> int:
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
    wrt = parse_wrt(args.wrt, outs, prog.declarations)
    inputs = gradient_inputs(outs, wrt)
    exprs, labels = derivative_outputs(f, wrt)
    program = schedule(exprs, inputs)
    options = dict(opt=args.opt, vector_math=not args.no_vector_math)
    if args.fast_math:
        raise UsageError("--fast-math applies to scalar programs only")

    writers = {"obj": tensor_object, "shared": tensor_shared}
    if _emit_native(args, program, name, options, writers,
                    lambda: tensor_c_header(program, name, labels)):
        return 0

    fn, seconds = _compile_timed(program, name, options)
    if _emit_text(fn, args):
        return 0
    shapes = ", ".join(f"{n}: {format_shape(s)}" for n, s in
                       zip(program.inputs, program.input_shapes))
    print(f"compiled {name}: inputs {shapes}; {len(program.outputs)} outputs, "
          f"{len(fn.plan.steps)} steps, {seconds * 1e3:.1f} ms")
    if args.at is not None:
        point = parse_point(args.at, inputs, files=True)
        try:
            arrays, _ = tensor_inputs(program, [point[s.payload] for s in inputs])
            values = fn(*arrays)
        except ValueError as exc:
            raise UsageError(f"--at: {exc}") from None
        print("at " + ", ".join(program.inputs) + ":")
        for lb, v in zip(labels, values):
            print(f"  {lb} = {format_value(v)}")
    else:
        print("outputs: " + ", ".join(labels))
        print("(use --at X=X.npy,... to run it, --emit llvm|asm|obj|shared|c-header "
              "to see or save the code)")
    return 0


def _header_path(path: str, emit: str) -> str:
    """``libf.so`` -> ``f.h``; ``f.o`` -> ``f.h``."""
    header = os.path.splitext(path)[0]
    if emit == "shared" and os.path.basename(header).startswith("lib"):
        header = os.path.join(os.path.dirname(header), os.path.basename(header)[3:])
    return header + ".h"


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
    p.add_argument("-o", "--output", help="output file (default: stdout for text)")
    p.add_argument("--opt", type=int, choices=[0, 1, 2, 3], default=2,
                   help="LLVM optimization level (default 2)")
    p.add_argument("--optimized", action="store_true",
                   help="with --emit llvm: print the optimized IR")
    p.add_argument("--hessian", action="store_true", help="also the Hessian (upper triangle)")
    p.add_argument("--at", help="run the compiled function at a point, e.g. x=2,z=3; "
                   "tensors from .npy files: X=X.npy")
    p.add_argument("--name", help="C symbol name of the kernels (default symdiff_fn)")
    p.add_argument("--fast-math", action="store_true", help="allow fast-math reassociation")
    p.add_argument("--no-vector-math", action="store_true",
                   help="use libm/LLVM intrinsics instead of symdiff's vectorizable math")
    p.set_defaults(func=cmd_compile)
