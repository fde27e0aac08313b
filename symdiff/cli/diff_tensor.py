"""``symdiff diff`` on a tensor program: the derivative as a tensor program
(one line per shared tensor operation, shapes as comments), plain
expressions, JSON or LaTeX, and its values at ``--at`` inputs read from
``.npy`` files.

A program is a tensor program when it declares a tensor (a ``--shape``
option or a line such as ``X : m x 64``).  Names the program assigns and
that the derivative shares (``Z = X @ Theta``) keep their names in the
printed program.
"""

from __future__ import annotations

from symdiff.cli.common import (
    UsageError,
    derivative_outputs,
    gradient_inputs,
    parse_point,
    parse_wrt,
    print_json,
)
from symdiff.cli.render import (
    format_value,
    json_value,
    print_expressions,
    print_latex_derivatives,
)

__all__ = ["diff_tensors"]


def _temp_names(prog, labels) -> dict:
    """The program's own names for its shared values: node -> first name
    assigned to it (not a leaf, not an output label)."""
    names: dict = {}
    for name, node in prog.definitions.items():
        if node.args and name not in labels and node not in names:
            names[node] = name
    return names


def _hessian_blocks(f, wrt, g) -> list:
    """Second derivatives d2f/dwi dwj for vector (or scalar) variables, as a
    full matrix of tensor expressions."""
    from symdiff.core.differentiate import grad, jacobian
    from symdiff.core.shapes import format_shape

    for w in wrt:
        if len(w.shape) > 1:
            raise UsageError(f"--hessian needs vector or scalar variables; {w.payload} has "
                             f"shape {format_shape(w.shape)} (choose others with --wrt)")
    # A scalar's derivative is a gradient (jacobian would give a 1 x 1
    # array of scalar expressions); a vector's is a tensor Jacobian.
    return [[grad(gi, wj) if not gi.shape else jacobian(gi, wj) for wj in wrt] for gi in g]


def diff_tensors(args, prog, source_names=None) -> int:
    """Print the derivatives of the tensor program ``prog`` (and values with
    ``--at``), in the format of ``args``.  ``source_names``: the variables of
    the program as written (:func:`symdiff.cli.common.source_names`)."""
    from symdiff.core.differentiate import grad
    from symdiff.core.graph import free_symbols
    from symdiff.core.shapes import format_shape
    from symdiff.numeric.interpreter import evaluate
    from symdiff.text.infix import to_string
    from symdiff.text.program import to_program

    outs = list(prog.outputs)
    f = outs[0]
    if f.shape:
        raise UsageError(f"symdiff diff differentiates a scalar, but the output has shape "
                         f"{format_shape(f.shape)} (reduce it, e.g. with sum(...) or mean(...))")
    wrt = parse_wrt(args.wrt, outs, prog.declarations, names=source_names)
    inputs = free_symbols(outs)
    missing = [s.payload for s in wrt if s not in inputs]
    g = grad(f, wrt) if wrt else []
    H = _hessian_blocks(f, wrt, g) if args.hessian else None
    all_inputs = gradient_inputs(outs, wrt)
    point = parse_point(args.at, all_inputs, files=True)
    names = [s.payload for s in wrt]
    exprs, labels = derivative_outputs(f, wrt, g, H)
    # The second derivatives follow the gradient in exprs, in this order.
    pairs = [] if H is None else [(i, j) for i in range(len(wrt)) for j in range(i, len(wrt))]

    values = None
    if point is not None:
        values = evaluate(exprs, point, inputs=all_inputs)

    if args.format == "json":
        doc: dict = {"inputs": [s.payload for s in inputs],
                     "shapes": {s.payload: list(s.shape) for s in all_inputs},
                     "derivatives": {n: to_string(d) for n, d in zip(names, g)},
                     "program": to_program(exprs, names=labels,
                                           temps=_temp_names(prog, labels))}
        if missing:
            doc["note"] = f"f does not depend on {', '.join(missing)}"
        if H is not None:
            doc["second_derivatives"] = [[to_string(h) for h in row] for row in H]
        if values is not None:
            doc["value"] = json_value(values[0])
            doc["gradient"] = {n: json_value(v) for n, v in zip(names, values[1:1 + len(g)])}
            if H is not None:
                hv = dict(zip(pairs, values[1 + len(g):]))
                doc["hessian"] = [[json_value(hv[(i, j)]) if (i, j) in hv
                                   else json_value(_transposed(hv[(j, i)]))
                                   for j in range(len(wrt))] for i in range(len(wrt))]
        print_json(doc)
        return 0

    if args.format == "latex":
        print_latex_derivatives(f, wrt, g, H)
    elif args.no_cse:
        print_expressions(labels, exprs)
    else:
        print(to_program(exprs, names=labels, temps=_temp_names(prog, labels)))
    if missing and args.format == "text":
        print(f"# f does not depend on {', '.join(missing)}")
    if values is not None:
        print()
        print("at " + ", ".join(_point_text(point, s) for s in all_inputs) + ":")
        for lb, v in zip(labels, values):
            print(f"  {lb} = {format_value(v)}")
    return 0


def _transposed(v):
    import numpy as np

    return np.asarray(v).T


def _point_text(point, sym) -> str:
    """``X=X.npy (5 x 64)`` or ``s=2.0``: an input as given on --at (a
    :class:`~symdiff.cli.common.Point`)."""
    import numpy as np

    from symdiff.cli.render import format_float
    from symdiff.core.shapes import format_shape

    name = sym.payload
    value = point[name]
    if isinstance(value, np.ndarray):
        return f"{name}={point.sources[name]} ({format_shape(value.shape)})"
    return f"{name}={format_float(value)}"
