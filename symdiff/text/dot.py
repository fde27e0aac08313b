"""Graphviz DOT text drawing an expression DAG as a computation graph
(:func:`to_dot`).

The walk is an explicit stack, so 10^5-deep expressions draw at the default
recursion limit, and the text depends only on the graph's structure and
names, so it is stable between runs.  Tensor graphs draw as matrix algebra:
composites are one box (``softmax(axis=1)``), structural ops are labelled
as text spells them (``@``, ``.T``, ``sum(axis=1)``, ``[0, 1:3]``), and
tensor values carry their shape on a second line.

Boxes are named as the program text names them (:func:`symdiff.to_program`:
``t1``, ``t2`` ... for shared operations, the output's name for an output),
inside the box so that no name sits on an edge.  Operands keep their order
left to right, and an operation whose operands do not commute shows which is
which: ``#1 - #2`` in the box, ``#1`` and ``#2`` on the edges.
"""

from __future__ import annotations

from symdiff.core.graph import as_outputs
from symdiff.core.node import Node
from symdiff.core.ops import ALL_OPS
from symdiff.core.shapes import format_shape
from symdiff.text import operators as _operators
from symdiff.text.composites import View
from symdiff.text.infix import ConstantNames, call_text, leaf_text, subscript_text
from symdiff.text.operators import Prefix
from symdiff.text.program import output_names, temporary_names

__all__ = ["to_dot"]

_DOT_ESCAPE = str.maketrans({'"': r'\"', "\\": r"\\", "\n": r"\n"})


def _q(text: str) -> str:
    return '"' + str(text).translate(_DOT_ESCAPE) + '"'


_HTML_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _html_label(lines: list[str], name: str | None, color: str) -> str:
    """An HTML-like Graphviz label: the op (and shape) lines, and under them
    the value's name in a smaller grey font."""
    body = "<BR/>".join(str(t).translate(_HTML_ESCAPE) for t in lines)
    if name:
        body += (f'<BR/><FONT POINT-SIZE="10" COLOR="{color}">'
                 f"{name.translate(_HTML_ESCAPE)}</FONT>")
    return f"<{body}>"


def _operand(j: int) -> str:
    """The name of operand j of an operation whose operands do not commute:
    #1, #2, ... (not a, b, ...: those could be the user's own variables)."""
    return f"#{j + 1}"


def _with_operands(label: str, n_args: int) -> str:
    """``-`` -> ``#1 - #2``, ``atan2`` -> ``atan2(#1, #2)``: the op label with
    its operands spelled out, so that the edges' ``#1`` and ``#2`` say which
    is which."""
    names = [_operand(j) for j in range(n_args)]
    if n_args == 2 and not label[:1].isalnum():
        return f"{names[0]} {label} {names[1]}"
    return f"{label}({', '.join(names)})"


def _op_label(name: str) -> str:
    """The box label of op ``name``: its infix spelling (``*``, ``^``), or
    its name for a call (``exp``) and for a prefix operator spelled like a
    binary one (``neg``: a lone ``-`` would read as subtraction)."""
    operators = _operators.OPERATORS
    form = operators.by_op.get(name)
    if form is None:
        return name
    spelling, f = form
    if isinstance(f, Prefix) and spelling in operators.binary:
        return name
    return spelling


# Styles, kept together so that a reader can restyle the whole figure here.
_STYLE_INPUT = 'shape=ellipse, style=filled, fillcolor="#dbe9f6", color="#2b5d8a"'
_STYLE_CONST = 'shape=plaintext, fontcolor="#707070"'
_STYLE_OP = 'shape=box, style="rounded,filled", fillcolor="#f4f4f4", color="#333333"'
_STYLE_DOP = ('shape=box, style="rounded,filled", fillcolor="#fde3d9", color="#c0392b", '
              'fontcolor="#c0392b"')
_STYLE_DCONST = 'shape=plaintext, fontcolor="#d98880"'
_EDGE_DERIV = 'color="#c0392b"'
_EDGE_OPERAND = 'fontsize=10, fontcolor="#707070"'
_NAME_COLOR = "#555555"
_DNAME_COLOR = "#c0392b"


def _node_label(n: Node, view: View) -> str:
    """The box label of a structural op or composite: its text spelling
    without the argument (``.T``, ``[0, 1:3]``, ``sum(axis=1)``,
    ``softmax(axis=1)``)."""
    m = view.match(n)
    if m is not None:
        spelled = ("call", m.name, m.keywords)
    else:
        op = ALL_OPS[n.op]
        if op.spell is None:
            return _op_label(n.op)
        spelled = op.spell(n.payload, [a.shape for a in n.args])
        if spelled[0] == "postfix":
            return spelled[1]
        if spelled[0] == "subscript":
            return "[" + subscript_text(spelled[1]) + "]"
    head, tail = call_text(spelled)
    if tail == ")":
        return head[:-1]                                # stop_gradient
    return head + tail[2:]                              # sum(axis=1)


def _with_shape(label: str, n: Node) -> str:
    return f"{label}\n{format_shape(n.shape)}" if n.shape else label


def _label_lines(label: str, n: Node) -> list[str]:
    return [label, format_shape(n.shape)] if n.shape else [label]


def to_dot(outputs, names=None, derivative_outputs=None, derivative_names=None) -> str:
    """Graphviz DOT text drawing the DAG of ``outputs`` as a computation graph.

    Inputs are blue ellipses, constants grey plain text, operations boxes
    labelled with the op (``*``, ``exp`` ...) and, under it, the name the
    program text gives the value (:func:`symdiff.to_program` of the outputs
    followed by the derivative outputs: ``t1``, ``t2`` ... for shared
    operations; operations used once are inlined there and stay unnamed);
    outputs have a double border and carry their name (``names``, default
    ``out0`` ...).  Operands are ordered left to right; where they do not
    commute the box reads ``#1 - #2`` and the edges ``#1`` and ``#2``.  Nodes
    needed only by ``derivative_outputs`` (reachable from them but not from
    ``outputs``) are drawn in red, with red edges, so the function and its
    derivative can be told apart; derivative outputs are named by
    ``derivative_names`` (default ``dout0`` ...), or by ``names`` when it
    lists the outputs followed by the derivative outputs.  Edges go from an
    argument to its user.  The text depends only on the graph's structure
    and names, so it is stable between runs.
    """
    outs = as_outputs(outputs)
    douts = as_outputs(derivative_outputs) if derivative_outputs is not None else []
    if names is not None and not isinstance(names, str) and derivative_names is None \
            and douts and len(list(names)) == len(outs) + len(douts):
        names = list(names)
        names, derivative_names = names[:len(outs)], names[len(outs):]
    labels = output_names(names, len(outs), "out")
    dlabels = output_names(derivative_names, len(douts), "dout")

    view = View()
    # One walk: the function's nodes, then those only the derivative needs.
    # The order depends only on the graph, so the DOT text is the same
    # whatever else the process has built.
    nodes = view.postorder(outs)
    n_function = len(nodes) if douts else None
    if douts:
        nodes += view.postorder(douts, done=set(nodes))
    constants = ConstantNames(lambda: [x.payload for x in nodes if x.op == "sym"])
    out_names: dict[Node, list[str]] = {}
    for label, o in zip(labels + dlabels, outs + douts):
        out_names.setdefault(o, []).append(label)

    temps = temporary_names(outs + douts, names=labels + dlabels)
    lines = [
        "digraph symdiff {",
        "  rankdir=BT;",
        "  ordering=in;",
        '  node [fontname="Helvetica"];',
        '  edge [arrowsize=0.7, color="#555555", fontname="Helvetica"];',
    ]
    ids: dict[Node, str] = {}
    for k, n in enumerate(nodes):
        nid = f"n{k}"
        ids[n] = nid
        deriv_only = n_function is not None and k >= n_function
        names_here = out_names.get(n)
        args = view.args(n) if n.args else ()
        name_color = _DNAME_COLOR if deriv_only else _NAME_COLOR
        ordered = False
        if n.op in ("sym", "dim"):
            text, style, name = n.payload, _STYLE_INPUT, None
        elif not n.args:
            text, name = leaf_text(n, constants), None
            style = _STYLE_DCONST if deriv_only else _STYLE_CONST
            if names_here:  # plaintext has no border: box it to show the output
                style += ", shape=box"
        else:
            style = _STYLE_DOP if deriv_only else _STYLE_OP
            if n.shape or args is not n.args or ALL_OPS[n.op].kind == "structural":
                text = _node_label(n, view)
            else:
                text = _op_label(n.op)
            ordered = len(args) >= 2 and not ALL_OPS[n.op].commutative \
                and view.match(n) is None
            if ordered:
                text = _with_operands(text, len(args))
            name = temps.get(n)
        if names_here:
            name = ", ".join(names_here)
        if name:
            label = _html_label(_label_lines(text, n), name, name_color)
        else:
            label = _q(_with_shape(text, n))
        attrs = f"label={label}, {style}"
        if names_here:
            attrs += ", peripheries=2, penwidth=1.5"
        lines.append(f"  {nid} [{attrs}];")
        if args:
            for j, a in enumerate(args):
                edge = [_EDGE_DERIV] if deriv_only else []
                if ordered:
                    edge.append(f'label="{_operand(j)}", {_EDGE_OPERAND}')
                attr = f" [{', '.join(edge)}]" if edge else ""
                lines.append(f"  {ids[a]} -> {nid}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"
