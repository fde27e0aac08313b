"""Graphviz DOT text drawing an expression DAG as a computation graph
(:func:`to_dot`).

The walk is an explicit stack, so 10^5-deep expressions draw at the default
recursion limit, and the text depends only on the graph's structure and
names, so it is stable between runs.  Tensor graphs draw as matrix algebra:
composites are one box (``softmax(axis=1)``), structural ops are labelled
as text spells them (``@``, ``.T``, ``sum(axis=1)``, ``[0, 1:3]``), and
tensor values carry their shape on a second line.
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
from symdiff.text.program import output_names

__all__ = ["to_dot"]

_DOT_ESCAPE = str.maketrans({'"': r'\"', "\\": r"\\", "\n": r"\n"})


def _q(text: str) -> str:
    return '"' + str(text).translate(_DOT_ESCAPE) + '"'


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
_EDGE_DERIV = ' [color="#c0392b"]'


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


def to_dot(outputs, names=None, derivative_outputs=None, derivative_names=None) -> str:
    """Graphviz DOT text drawing the DAG of ``outputs`` as a computation graph.

    Inputs are blue ellipses, constants grey plain text, operations boxes
    labelled with the op (``*``, ``exp`` ...) and a Wengert-list variable
    name ``t1``, ``t2`` ... as an external label; outputs have a double
    border and carry their name (``names``, default ``out0`` ...).  Nodes
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

    lines = [
        "digraph symdiff {",
        "  rankdir=BT;",
        '  node [fontname="Helvetica"];',
        '  edge [arrowsize=0.7, color="#555555"];',
    ]
    ids: dict[Node, str] = {}
    op_labels: dict[str, str] = {}   # quoted op labels, built once per op
    n_temp = 0
    for k, n in enumerate(nodes):
        nid = f"n{k}"
        ids[n] = nid
        deriv_only = n_function is not None and k >= n_function
        names_here = out_names.get(n)
        args = view.args(n) if n.args else ()
        if n.op in ("sym", "dim"):
            attrs = f"label={_q(_with_shape(n.payload, n))}, {_STYLE_INPUT}"
        elif not n.args:
            text = leaf_text(n, constants)
            attrs = f"label={_q(_with_shape(text, n))}, " \
                    f"{_STYLE_DCONST if deriv_only else _STYLE_CONST}"
            if names_here:  # plaintext has no border: box it to show the output
                attrs += ", shape=box"
        else:
            style = _STYLE_DOP if deriv_only else _STYLE_OP
            if names_here:
                xlabel = ", ".join(names_here)
            else:
                n_temp += 1
                xlabel = f"t{n_temp}"
            if n.shape or args is not n.args or ALL_OPS[n.op].kind == "structural":
                label = _q(_with_shape(_node_label(n, view), n))
            else:
                label = op_labels.get(n.op)
                if label is None:
                    label = op_labels[n.op] = _q(_op_label(n.op))
            attrs = f"label={label}, xlabel={_q(xlabel)}, {style}"
        if names_here:
            if not args:
                attrs += f", xlabel={_q(', '.join(names_here))}"
            attrs += ", peripheries=2, penwidth=1.5"
        lines.append(f"  {nid} [{attrs}];")
        if args:
            edge_attr = _EDGE_DERIV if deriv_only else ""
            for a in args:
                lines.append(f"  {ids[a]} -> {nid}{edge_attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"
