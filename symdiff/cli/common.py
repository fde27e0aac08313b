"""What the ``symdiff`` subcommands share on the way in: the user-error
exception, the EXPR / ``-f FILE`` arguments and reading them, ``--shape``
declarations, which programs take the tensor paths, the ``--wrt`` and
``--at`` option parsers (``--at`` reads ``.npy`` files for tensor inputs),
the derivative outputs and their labels (f, df/dx, d2f/dxdy ...), and on
the way out the checks and writes of output files (``-o FILE``) and JSON
documents (``--format json``)."""

from __future__ import annotations

import json
import os
import re
import sys

__all__ = ["UsageError", "add_expr_args", "add_shape_args", "parse_shapes", "read_source",
           "load_program", "load_expression", "is_tensor_program", "source_names", "parse_wrt",
           "Point", "parse_point", "gradient_inputs", "derivative_outputs", "print_json",
           "check_output_path", "write_output"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class UsageError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def add_expr_args(parser) -> None:
    """Add the positional EXPR and the ``-f FILE`` option to a subcommand's
    argparse ``parser``."""
    parser.add_argument("expr", nargs="?", help="the expression or program (statements "
                        "separated by ';' or newlines, last line is the output)")
    parser.add_argument("-f", "--file", help="read the program from FILE")


def add_shape_args(parser) -> None:
    """Add the repeatable ``--shape NAME=DIMS`` option to ``parser``."""
    parser.add_argument("--shape", action="append", metavar="NAME=DIMS",
                        help="declare a tensor: X=m,64 (dimensions are ints or names), "
                             "y=m:int for integer labels, s=scalar; the same as a line "
                             "'X : m x 64' at the top of the program (repeatable)")


def parse_shapes(specs) -> list:
    """``--shape`` options (``X=m,64``, ``y=m:int``, ``s=scalar``) as
    tensor symbols."""
    from symdiff.core.tensor import tensor

    out = []
    seen = set()
    for spec in specs or ():
        name, eq, dims = spec.partition("=")
        name, dims = name.strip(), dims.strip()
        dims, _, dtype = dims.partition(":")
        dtype = dtype.strip() or "float"
        if not eq or not _NAME.match(name) or not dims.strip():
            raise UsageError(f"--shape: expected NAME=DIMS such as X=m,64 or y=m:int, "
                             f"got {spec!r}")
        if dtype not in ("int", "float"):
            raise UsageError(f"--shape {spec}: the type after ':' must be int or float, "
                             f"got {dtype!r}")
        if name in seen:
            raise UsageError(f"--shape: {name} is declared twice")
        seen.add(name)
        shape = []
        if dims.strip() != "scalar":
            for d in dims.split(","):
                d = d.strip()
                if d.isdigit() and d.isascii():
                    shape.append(int(d))
                elif _NAME.match(d):
                    shape.append(d)
                else:
                    raise UsageError(f"--shape {spec}: {d!r} is not a dimension (an integer "
                                     "or a name)")
        try:
            out.append(tensor(name, tuple(shape), dtype=dtype))
        except ValueError as exc:
            raise UsageError(f"--shape {spec}: {exc}") from None
    return out


def read_source(args) -> str:
    """The program text: ``args.expr``, or the contents of ``args.file``
    (exactly one of the two)."""
    if getattr(args, "file", None):
        if args.expr is not None:
            raise UsageError("give either EXPR or -f FILE, not both")
        try:
            with open(args.file, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    if args.expr is None:
        raise UsageError("no expression given (EXPR or -f FILE)")
    return args.expr


def load_program(args, *, single=True):
    """Parse the program given on the command line, with the tensors of its
    ``--shape`` options declared; returns (ParsedProgram, text).  With
    ``single`` (the default) exactly one output is required."""
    from symdiff.text.parser import ParseError, parse_program

    text = read_source(args)
    symbols = parse_shapes(getattr(args, "shape", None))
    try:
        prog = parse_program(text, symbols=symbols)
    except ParseError:
        raise
    except (TypeError, ValueError) as exc:       # the symbols themselves
        raise UsageError(f"--shape: {exc}") from None
    if single and len(prog.outputs) != 1:
        raise UsageError(f"expected one scalar output expression, got {len(prog.outputs)} "
                         "(separate statements with newlines or ';')")
    return prog, text


def is_tensor_program(prog) -> bool:
    """Whether ``symdiff diff`` and ``symdiff compile`` take their tensor
    path for the parsed program ``prog``: it declares a tensor, or its
    output has a shape (the tensor path explains that only a scalar is
    differentiated)."""
    return bool(prog.declarations) or bool(prog.outputs[0].shape)


def load_expression(args, *, single=True):
    """Parse the program given on the command line; returns (outputs, text).
    With ``single`` (the default) exactly one output is required."""
    prog, text = load_program(args, single=single)
    return list(prog.outputs), text


# Tokens of program text: numbers first, so that the exponent of 1e5 is not
# read as a name, then names (with what precedes and follows them).
_TOKEN = re.compile(r"(\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|([A-Za-z_][A-Za-z0-9_]*)")


def source_names(text: str, prog) -> list[str]:
    """The variables of the program ``text`` as written, before
    simplification: every name that is not called, assigned, a keyword
    parameter, an attribute (``.T``), a constant or a function, in order
    of first appearance.  ``0*x + y`` simplifies to ``y``, but ``x`` is
    still a variable the user may name in ``--at`` and ``--wrt``."""
    from symdiff.core.ops import CONSTANTS, FUNCTIONS

    skip = set(CONSTANTS) | set(FUNCTIONS) | {"inf", "nan"} | set(prog.definitions)
    seen: dict[str, None] = {}
    for m in _TOKEN.finditer(text):
        name = m.group(2)
        if name is None or name in skip:
            continue
        before = text[:m.start()].rstrip()[-1:]
        after = text[m.end():].lstrip()
        if before == "." or after.startswith("(") or (after.startswith("=")
                                                      and not after.startswith("==")):
            continue
        seen.setdefault(name)
    return list(seen)


def parse_wrt(spec: str | None, outputs, declared=None, names=None):
    """Variables to differentiate by: ``--wrt x,z`` or all free (float)
    symbols.  A name denotes the expression's symbol of that name (a tensor
    too), else a ``declared`` one, else a scalar symbol.

    ``names``: the variables of the program as written
    (:func:`source_names`); a ``--wrt`` name that is none of them, nor a
    symbol of ``outputs`` or a ``declared`` tensor, is an error (its
    derivative would be a meaningless 0).  None: every name is accepted."""
    from symdiff.core.graph import free_symbols
    from symdiff.core.node import symbol

    free = free_symbols(outputs)
    if not spec:
        return [s for s in free if s.dtype == "float64"]
    names_given = [s.strip() for s in spec.split(",") if s.strip()]
    if not names_given:
        raise UsageError("--wrt needs at least one variable name")
    for n in names_given:
        if not n.isidentifier() or not n.isascii():
            raise UsageError(f"--wrt: {n!r} is not a variable name")
    if len(set(names_given)) != len(names_given):
        raise UsageError("--wrt: a variable is listed twice")
    by_name = {**(declared or {}), **{s.payload: s for s in free}}
    if names is not None:
        known = list(dict.fromkeys([*(s.payload for s in free), *names, *(declared or {})]))
        for n in names_given:
            if n not in known:
                its = (f"its variables are: {', '.join(_natural(known))}" if known
                       else "it has no variables")
                raise UsageError(f"--wrt: {n} does not occur in the expression; {its}")
    return [by_name.get(n) or symbol(n) for n in names_given]


def _natural(names):
    """``names`` in natural order (x2 before x10)."""
    return sorted(names, key=lambda n: [int(p) if p.isdigit() else p
                                        for p in re.split(r"(\d+)", n)])


class Point(dict):
    """The values of ``--at``, name -> value, with ``sources``: name -> the
    value's text as given (``"pi/4"``, ``"X.npy"``)."""

    def __init__(self):
        super().__init__()
        self.sources: dict[str, str] = {}


def parse_point(spec: str | None, inputs, files: bool = False, names=()) -> Point | None:
    """``--at x=2,z=3`` -> {"x": 2.0, "z": 3.0} (a :class:`Point`, which
    also keeps each value's text); values may be constant expressions
    such as ``pi/4`` (parsed, never eval'd).  Every symbol of ``inputs``
    needs a value and no other name may be given.  With ``files``, a value
    ending in ``.npy`` is an array read from that file (``X=X.npy``; never
    unpickled), checked against the input's declared shape and dtype; a
    tensor input needs one.  ``names``: further variables of the program
    as written that simplification removed (:func:`source_names`); they
    may be given (their values are kept in the point, and unused)."""
    if spec is None:
        return None
    from symdiff.text.parser import ParseError, parse

    by_name = {s.payload: s for s in inputs}

    point = Point()
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name or not value.strip():
            raise UsageError(f"--at: expected NAME=VALUE, got {item!r}")
        if name in point:
            raise UsageError(f"--at: {name} is given twice")
        point.sources[name] = value.strip()
        if files and value.strip().lower().endswith(".npy"):
            point[name] = _load_npy(name, value.strip(), by_name.get(name))
            continue
        sym = by_name.get(name)
        if files and sym is not None and sym.shape:
            from symdiff.core.shapes import format_shape

            raise UsageError(f"--at: {name} is a {format_shape(sym.shape)} tensor; give its "
                             f"values in a .npy file ({name}={name}.npy)")
        try:
            node = parse(value.strip())
        except ParseError as exc:
            raise UsageError(f"--at: bad value for {name}: {exc.message}") from None
        if getattr(node, "op", None) != "const":
            raise UsageError(f"--at: the value of {name} must be a number, got {value!r}")
        point[name] = float(node.payload)
    extra_names = set(names)
    names = [s.payload for s in inputs]
    missing = [n for n in names if n not in point]
    if missing:
        raise UsageError(f"--at: no value given for {', '.join(missing)}")
    extra = [n for n in point if n not in names and n not in extra_names]
    if extra:
        raise UsageError(f"--at: {', '.join(extra)} does not occur in the expression")
    return point


def _load_npy(name: str, path: str, sym):
    """The array in the .npy file ``path`` for input ``name``."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"--at: cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, EOFError) as exc:
        raise UsageError(f"--at: {path} is not a readable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"--at: {path} holds several arrays; give one array per .npy file")
    if sym is not None and sym.dtype == "int64":
        if arr.dtype.kind not in "iub":
            raise UsageError(f"--at: {name} holds integer labels, but {path} holds "
                             f"{arr.dtype} values")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iubf":
        raise UsageError(f"--at: {path} holds {arr.dtype} values; {name} needs real numbers")
    return arr.astype(np.float64)


def gradient_inputs(outputs, wrt) -> list:
    """The inputs of a gradient program: the free symbols of ``outputs`` in
    natural order, then each ``wrt`` symbol they do not contain (its
    derivative is 0, but it still needs a value)."""
    from symdiff.core.graph import free_symbols

    inputs = free_symbols(outputs)
    return inputs + [s for s in wrt if s not in inputs]


def derivative_outputs(f, wrt, g=None, H=None):
    """The outputs a derivative command prints, evaluates or compiles, and
    their labels: ``[f, df/dw1, ..., d2f/dwi dwj for i <= j]``.  ``g`` is
    the gradient of ``f`` with respect to the symbols ``wrt`` (computed if
    not given), ``H`` the matrix of second derivatives (None: none)."""
    if g is None:
        from symdiff.core.differentiate import grad

        g = grad(f, wrt) if wrt else []
    names = [s.payload for s in wrt]
    outs = [f, *g]
    labels = ["f"] + [f"df/d{n}" for n in names]
    if H is not None:
        for i, ni in enumerate(names):
            for j in range(i, len(names)):
                outs.append(H[i][j])
                labels.append(f"d2f/d{ni}d{names[j]}")
    return outs, labels


# -- output ------------------------------------------------------------------


def print_json(doc) -> None:
    """Print the JSON document ``doc`` on stdout (``--format json``), two
    spaces of indentation; every subcommand's JSON goes through here."""
    print(json.dumps(doc, indent=2))


def check_output_path(path: str, flag: str = "-o", inputs=()) -> str:
    """``path`` if an output file can be written there, else a UsageError
    naming the problem: an empty name, a directory, a missing or
    unwritable directory, or one of the ``inputs`` files (never
    overwritten).  Called before any long computation, so a mistyped
    path fails at once."""
    if not path or not path.strip():
        raise UsageError(f"{flag}: the file name is empty")
    if path.endswith(os.sep) or os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: directory {folder} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is not writable")
    for inp in inputs:
        if inp and os.path.exists(inp) and os.path.exists(path) and \
                os.path.samefile(inp, path):
            raise UsageError(f"{flag} {path}: that is the input file; refusing to overwrite it")
    return path


def write_output(path: str, data, flag: str = "-o", inputs=(), announce: bool = True) -> None:
    """Write ``data`` (text or bytes) to the file ``path`` after
    :func:`check_output_path`, and (with ``announce``) say so on stderr; a
    failed write (a full disk, /dev/full) is a UsageError naming the file."""
    check_output_path(path, flag, inputs)
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    try:
        with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if announce:
        print(f"wrote {path}", file=sys.stderr)
