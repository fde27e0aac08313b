"""``symdiff graph``: write the computation graph as Graphviz DOT, or as
SVG/PNG through Graphviz's ``dot`` program; with ``--grad`` the gradient's
extra nodes are drawn in red."""

from __future__ import annotations

import os
import sys

from symdiff.cli.common import (
    UsageError,
    add_expr_args,
    add_shape_args,
    check_output_path,
    load_program,
    parse_wrt,
    write_output,
)

__all__ = ["register", "cmd_graph"]

_GRAPHVIZ_FORMATS = {".svg": "svg", ".png": "png"}


def register(sub) -> None:
    """Add the ``graph`` subcommand to the CLI's subparsers ``sub``."""
    g = sub.add_parser(
        "graph", help="draw the computation graph (DOT, or SVG/PNG with Graphviz)",
        description="Write the computation graph: inputs, intermediate values and "
                    "constants drawn apart; with --grad the gradient's extra nodes in red.")
    add_expr_args(g)
    add_shape_args(g)
    g.add_argument("--grad", action="store_true", help="also draw the gradient")
    g.add_argument("--wrt", help="with --grad: variables to differentiate by (default: all)")
    g.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: one JSON object with the DOT text (without -o) or the file "
                        "written, and the node counts, on stdout")
    g.add_argument("-o", "--output", metavar="FILE",
                   help="FILE.dot (written directly), FILE.svg or FILE.png (through "
                        "Graphviz's dot); default: DOT on stdout")
    g.set_defaults(func=cmd_graph)


def _output_names(texts: list, outs) -> list[str]:
    """Labels for the outputs: the assigned name of ``y = ...``, else f
    (f0, f1, ... for several outputs)."""
    names = []
    for k, t in enumerate(texts):
        if t.isidentifier():
            names.append(t)
        else:
            names.append("f" if len(outs) == 1 else f"f{k}")
    return names


def cmd_graph(args) -> int:
    """``symdiff graph``: write the computation graph (with ``--grad``, the
    gradient too) as DOT, SVG or PNG."""
    from symdiff.core.differentiate import grad
    from symdiff.text.dot import to_dot

    prog, _ = load_program(args, single=False)
    outs = list(prog.outputs)
    names = _output_names(prog.output_texts, outs)
    douts = []
    if args.grad:
        if len(outs) != 1:
            raise UsageError(f"--grad needs one scalar output, got {len(outs)}")
        wrt = parse_wrt(args.wrt, outs, prog.declarations)
        douts = grad(outs[0], wrt)
        dot_text = to_dot(outs, names=names, derivative_outputs=douts,
                          derivative_names=[f"d{names[0]}/d{s.payload}" for s in wrt])
    else:
        if args.wrt is not None:
            raise UsageError("--wrt needs --grad")
        dot_text = to_dot(outs, names=names)

    path = args.output
    if path is None or path == "-":
        if args.format == "json":
            _print_json(None, "dot", dot_text, outs, douts)
        else:
            sys.stdout.write(dot_text)
        return 0
    ext = os.path.splitext(path)[1].lower()
    inputs = [args.file] if args.file else []     # never overwritten
    if ext in (".dot", ".gv"):
        write_output(path, dot_text, "-o", inputs, announce=False)
    elif ext in _GRAPHVIZ_FORMATS:
        check_output_path(path, "-o", inputs)
        _run_graphviz(dot_text, path, _GRAPHVIZ_FORMATS[ext])
    else:
        raise UsageError(f"-o {path}: unknown format {ext or '(no extension)'}; "
                         "use FILE.dot, FILE.svg or FILE.png")
    counts = _counts(outs, douts)
    if args.format == "json":
        _print_json(path, _GRAPHVIZ_FORMATS.get(ext, "dot"), None, outs, douts)
    # What was written is a message, not the command's output: stderr, so
    # that stdout stays clean for pipes.
    words = [f"{k} {word}{'' if k == 1 else 's'}" for word, k in
             zip(("node", "input", "constant", "operation"), counts.values())]
    print(f"wrote {path}: {words[0]} ({', '.join(words[1:])})", file=sys.stderr)
    return 0


def _counts(outs, douts) -> dict:
    """Node counts of the drawing: all, inputs, constants, operations."""
    from symdiff.core.graph import reachable

    nodes = reachable(list(outs) + list(douts))
    n_in = sum(1 for n in nodes if n.op == "sym")
    n_const = sum(1 for n in nodes if n.op == "const")
    return {"nodes": len(nodes), "inputs": n_in, "constants": n_const,
            "operations": len(nodes) - n_in - n_const}


def _print_json(path, fmt: str, dot_text, outs, douts) -> None:
    import json

    doc = {"output": path, "format": fmt, **_counts(outs, douts)}
    if dot_text is not None:
        doc["dot"] = dot_text
    print(json.dumps(doc, indent=2))


def _run_graphviz(dot_text: str, path: str, fmt: str) -> None:
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(f"writing {fmt.upper()} needs Graphviz's 'dot' program, which is not "
                         "on PATH (install Graphviz, e.g. 'apt-get install graphviz'); "
                         "-o FILE.dot works without it")
    try:
        proc = subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot_text.encode("utf-8"),
                              capture_output=True, check=False)
    except OSError as exc:
        raise UsageError(f"cannot run {exe}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"Graphviz failed writing {path}: "
                         f"{msg[0] if msg else f'exit status {proc.returncode}'}")
