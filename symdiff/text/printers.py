"""Printers for whole programs: the CSE'd program text, LaTeX and Graphviz DOT.

* :func:`to_program` prints the flat SSA program with shared subexpressions
  bound to temporaries (``t1 = x*z``) and single-use subexpressions inlined,
  so the text shows exactly the work an evaluator does.
* :func:`to_latex` prints one expression as LaTeX with minimal parentheses.
* :func:`to_dot` draws the DAG as a computation graph.

Every walk is iterative (the scheduled program, :func:`symdiff.core.graph.toposort`
or an explicit stack), so 10^5-deep expressions print at the default
recursion limit.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np

from symdiff.core.graph import as_outputs, reachable, toposort

from symdiff.core.program import schedule
from symdiff.core.node import Node, symbol
from symdiff.core.ops import OPS, VARIADIC
from symdiff.text.infix import format_number, to_string

__all__ = ["to_program", "to_latex", "to_dot", "latex_symbol"]


# ---------------------------------------------------------------------------
# to_program


def _output_names(names, n: int, default: str) -> list[str]:
    if names is None:
        return [f"{default}{k}" for k in range(n)]
    if isinstance(names, str):
        names = [names]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"got {len(names)} names for {n} outputs")
    return names


def _temp_prefix(taken) -> str:
    """The first of t, tmp, _t, _t0_, _t1_ ... such that no name in ``taken``
    looks like a temporary (prefix + digits): a user symbol or output called
    t1 would otherwise be confused with the temporary t1."""
    taken = list(taken)
    candidates = itertools.chain(("t", "tmp", "_t"), (f"_t{k}_" for k in itertools.count()))
    for prefix in candidates:
        rx = re.compile(re.escape(prefix) + r"\d+$")
        if not any(rx.match(name) for name in taken):
            return prefix
    raise AssertionError("unreachable")


def _scheduled_nodes(outs: list[Node], inputs):
    """The program for ``outs`` and the node defining each of its slots."""
    program = schedule(outs, inputs)
    # schedule() numbers the inputs first, then every other reachable node in
    # topological order; replaying that here maps slots back to nodes without
    # rebuilding anything (which could re-simplify nodes made by make()).
    nodes = [symbol(name) for name in program.inputs]
    nodes.extend(n for n in toposort(outs) if n.op != "sym")
    assert len(nodes) == len(program.instrs)
    return program, nodes


def to_program(outputs, names=None, inputs=None) -> str:
    """The CSE'd program computing ``outputs`` as text, one assignment a line.

    Every operation used more than once (including an output that is also
    used by another output) is bound once to a temporary ``t1``, ``t2``, ...
    numbered in evaluation order; operations used once are inlined into their
    only user, so no work is duplicated and no line is a trivial copy.  The
    outputs follow, named by ``names`` (a list such as
    ``["f", "df/dx", "df/dz"]``; default ``out0``, ``out1``, ...).
    ``inputs`` is passed to :func:`symdiff.schedule` (default: the free
    symbols in natural order).  The right-hand sides use the infix syntax of
    :func:`symdiff.to_string`, so they parse back.
    """
    outs = as_outputs(outputs)
    labels = _output_names(names, len(outs), "out")
    program, nodes = _scheduled_nodes(outs, inputs)
    uses = [0] * len(program.instrs)
    for ins in program.instrs:
        for a in ins.args:
            uses[a] += 1
    for o in program.outputs:
        uses[o] += 1
    prefix = _temp_prefix([*program.inputs, *labels])
    temps: dict[Node, str] = {}
    lines: list[str] = []
    for k, ins in enumerate(program.instrs):
        # Leaves print as themselves; only shared operations get a name.
        if ins.args and uses[k] > 1:
            node = nodes[k]
            name = f"{prefix}{len(temps) + 1}"
            lines.append(f"{name} = {to_string(node, names=temps)}")
            temps[node] = name
    for label, o in zip(labels, program.outputs):
        node = nodes[o]
        text = temps.get(node)
        if text is None:
            text = to_string(node, names=temps)
        lines.append(f"{label} = {text}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# to_latex

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
    "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi",
    "varpi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon", "phi",
    "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi",
    "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
_INDEXED = re.compile(r"([A-Za-z]+?)(\d+(?:_\d+)*)$")      # x12, W3_4
_SUBSCRIPTED = re.compile(r"([A-Za-z][A-Za-z0-9]*?)_([A-Za-z0-9_]+)$")  # x_max


_LATEX_SPECIAL = str.maketrans({c: "\\" + c for c in "_#$%&{}"})


def _latex_word(word: str) -> str:
    if word in _GREEK:
        return "\\" + word
    if len(word) == 1 and word.isalnum() or word.isdigit():
        return word
    # Several letters would read as a product of single-letter variables.
    return r"\mathrm{" + word.translate(_LATEX_SPECIAL) + "}"


def latex_symbol(name: str) -> str:
    """LaTeX for a symbol name: ``x12`` -> ``x_{12}``, ``W3_4`` -> ``W_{3,4}``,
    ``alpha`` -> ``\\alpha``, ``x_max`` -> ``x_{\\mathrm{max}}``."""
    m = _INDEXED.match(name)
    if m:
        return f"{_latex_word(m.group(1))}_{{{','.join(m.group(2).split('_'))}}}"
    m = _SUBSCRIPTED.match(name)
    if m:
        sub = m.group(2)
        inner = ",".join(sub.split("_")) if re.fullmatch(r"\d+(_\d+)*", sub) \
            else _latex_word(sub)
        return f"{_latex_word(m.group(1))}_{{{inner}}}"
    return _latex_word(name)


def _latex_number(value: float) -> str:
    if math.isnan(value):
        return r"\mathrm{NaN}"
    if math.isinf(value):
        return r"\infty" if value > 0 else r"-\infty"
    if value == math.pi:
        return r"\pi"
    if value == math.e:
        return "e"
    text = format_number(value)
    if "e" in text:
        # 1.5e-10 -> 1.5 \cdot 10^{-10}; 1e+16 -> 10^{16}
        mant, expo = text.split("e")
        power = f"10^{{{int(expo)}}}"
        if mant in ("1", "-1"):
            return ("-" if mant == "-1" else "") + power
        return f"{mant} \\cdot {power}"
    return text


# Kinds of position an operand can sit in; each decides its own parentheses.
_TOP, _ADD_L, _ADD_R, _SUB_R, _MUL_L, _MUL_R, _NEG, _BASE = range(8)


_FIELD = re.compile(r"\{\{|\}\}|\{(\d+)\}")


def _split_template(template: str) -> list:
    """A LaTeX template as a list of literal strings and argument indices.

    ``{0}`` is an argument and ``{{``/``}}`` an escaped brace, as in
    ``str.format``; any other brace is kept literally, so a template written
    as plain LaTeX (``\\operatorname{relu}\\left({0}\\right)``) works too.
    """
    parts: list = []
    pos = 0
    for m in _FIELD.finditer(template):
        literal = template[pos:m.start()]
        if m.group(1) is None:
            literal += m.group(0)[0]
        if literal:
            if parts and isinstance(parts[-1], str):
                parts[-1] += literal
            else:
                parts.append(literal)
        if m.group(1) is not None:
            parts.append(int(m.group(1)))
        pos = m.end()
    if template[pos:]:
        if parts and isinstance(parts[-1], str):
            parts[-1] += template[pos:]
        else:
            parts.append(template[pos:])
    return parts


_TEMPLATES = {name: _split_template(op.latex) for name, op in OPS.items()
              if op.latex and op.infix is None}


def _template(name: str) -> list:
    parts = _TEMPLATES.get(name)
    if parts is None:  # an op added to the table after import
        op = OPS[name]
        latex = op.latex or (r"\operatorname{%s}\left({0}\right)" % name)
        parts = _TEMPLATES[name] = _split_template(latex)
    return parts


def _safe_base(name: str) -> bool:
    # A function printed with its own delimiters (\sin\left(x\right), \sqrt{x},
    # \left|x\right|) can carry an exponent; one printed as e^{x} cannot
    # (e^{x}^{2} is a LaTeX error).
    latex = OPS[name].latex or ""
    return "^" not in latex or latex.startswith(r"\left")


class _Latex:
    """State of one LaTeX print: memo of each node's leading character."""

    def __init__(self):
        self.lead_memo: dict[Node, str] = {}

    @staticmethod
    def _const_kind(v: float) -> str:
        if v < 0 or (v == 0 and math.copysign(1.0, v) < 0):
            return "minus"
        if math.isnan(v) or math.isinf(v) or v == math.pi or v == math.e:
            return "other"
        return "digit"

    def lead(self, node: Node) -> str:
        """'minus', 'digit' or 'other': how the unparenthesized text of
        ``node`` begins (decides ``a + (-b)`` and ``x \\cdot 2``)."""
        memo = self.lead_memo
        spine = []
        n = node
        # Walk down the left spine (iteratively) to the node that decides.
        while n not in memo:
            op = n.op
            if op == "const":
                memo[n] = self._const_kind(n.payload)
                break
            if op in ("add", "sub"):
                nxt = n.args[0]
            elif op == "mul":
                if n.args[0].op in ("add", "sub"):  # parenthesized first factor
                    memo[n] = "other"
                    break
                nxt = n.args[0]
            elif op == "neg":
                memo[n] = "minus"
                break
            elif op == "pow":
                base = n.args[0]
                paren = self.paren(base, _BASE)
                memo[n] = "other" if paren else \
                    (self._const_kind(base.payload) if base.op == "const" else "other")
                break
            else:  # symbols, \frac, functions
                memo[n] = "other"
                break
            spine.append(n)
            n = nxt
        kind = memo[n]
        for s in spine:
            memo[s] = kind
        return memo[node]

    def paren(self, node: Node, pos: int) -> bool:
        """Whether ``node`` needs parentheses in position ``pos``."""
        op = node.op
        if pos in (_TOP, _ADD_L):
            return False
        if pos == _BASE:
            if op == "sym":
                return False
            if op == "const":
                # 2^{x}, \pi^{x} and e^{x} are fine; -2, 10^{-9}, -\infty are not.
                text = _latex_number(node.payload)
                return any(c in text for c in " -^")
            if op in OPS and OPS[op].infix is None:
                return not _safe_base(op)
            return True
        if op == "const":
            kind = self._const_kind(node.payload)
            return kind == "minus" and pos != _MUL_L
        if pos == _ADD_R:
            return self.lead(node) == "minus"
        if pos == _MUL_L:
            return op in ("add", "sub")
        # _SUB_R, _MUL_R, _NEG
        return op in ("add", "sub") or self.lead(node) == "minus"


def to_latex(expr) -> str:
    """LaTeX for one expression (a list of expressions gives a list).

    Division prints as ``\\frac{a}{b}``, powers as ``x^{2}``, products by
    juxtaposition (``2 x``) with ``\\cdot`` where a number would otherwise
    run into the previous factor (``x \\cdot 2``, ``2 \\cdot 3``); functions
    use the op table's ``latex`` templates (``\\ln``, ``\\sqrt{}``,
    ``\\left| \\right|``, ``\\sigma`` ...).  Parentheses appear only where
    the mathematical grouping needs them (sums are associative on paper,
    unlike in :func:`symdiff.to_string`).  Symbols: ``x12`` -> ``x_{12}``,
    ``W3_4`` -> ``W_{3,4}``, ``alpha`` -> ``\\alpha``.
    """
    if isinstance(expr, (list, tuple, np.ndarray)):
        return [to_latex(e) for e in as_outputs(expr)]
    if not isinstance(expr, Node):
        from symdiff.core.symbolic import as_node

        expr = as_node(expr)
    st = _Latex()
    out: list[str] = []
    # Work items: a literal string, or (node, position).
    stack: list = [(expr, _TOP)]
    push = stack.append
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, pos = item
        op = node.op
        if pos != _TOP and st.paren(node, pos):
            out.append(r"\left(")
            push(r"\right)")
        if op == "sym":
            out.append(latex_symbol(node.payload))
        elif op == "const":
            out.append(_latex_number(node.payload))
        elif op == "add" or op == "sub":
            a, b = node.args
            push((b, _ADD_R if op == "add" else _SUB_R))
            push(" + " if op == "add" else " - ")
            push((a, _ADD_L))
        elif op == "mul":
            a, b = node.args
            push((b, _MUL_R))
            # A factor starting with a digit needs an explicit dot, or
            # "x 2" / "2 3" would read as one number.
            right_digit = not st.paren(b, _MUL_R) and st.lead(b) == "digit"
            push(r" \cdot " if right_digit else " ")
            push((a, _MUL_L))
        elif op == "div":
            push("}")
            push((node.args[1], _TOP))
            push("}{")
            push((node.args[0], _TOP))
            out.append(r"\frac{")
        elif op == "neg":
            push((node.args[0], _NEG))
            out.append("-")
        elif op == "pow":
            push("}")
            push((node.args[1], _TOP))
            push("^{")
            push((node.args[0], _BASE))
        else:
            parts = _template(op)
            variadic = OPS[op].arity == VARIADIC
            for part in reversed(parts):
                if isinstance(part, str):
                    push(part)
                elif variadic and part == 0:
                    # max/min: {0} stands for all arguments, comma separated.
                    args = node.args
                    for i in range(len(args) - 1, -1, -1):
                        push((args[i], _TOP))
                        if i:
                            push(", ")
                else:
                    push((node.args[part], _TOP))
    return "".join(out)


# ---------------------------------------------------------------------------
# to_dot

_DOT_ESCAPE = str.maketrans({'"': r'\"', "\\": r"\\", "\n": r"\n"})


def _q(text: str) -> str:
    return '"' + str(text).translate(_DOT_ESCAPE) + '"'


def _op_label(node: Node) -> str:
    if node.op == "neg":
        return "neg"  # "-" alone would be confused with subtraction
    op = OPS[node.op]
    return op.infix if op.infix else node.op


# Styles, kept together so that a reader can restyle the whole figure here.
_STYLE_INPUT = 'shape=ellipse, style=filled, fillcolor="#dbe9f6", color="#2b5d8a"'
_STYLE_CONST = 'shape=plaintext, fontcolor="#707070"'
_STYLE_OP = 'shape=box, style="rounded,filled", fillcolor="#f4f4f4", color="#333333"'
_STYLE_DOP = ('shape=box, style="rounded,filled", fillcolor="#fde3d9", color="#c0392b", '
              'fontcolor="#c0392b"')
_STYLE_DCONST = 'shape=plaintext, fontcolor="#d98880"'
_EDGE_DERIV = ' [color="#c0392b"]'


def _postorder(outputs: list[Node]) -> list[Node]:
    """Reachable nodes, each after its arguments, in depth-first order over
    the outputs and then the arguments in order.  Unlike sorting by creation
    id, this order depends only on the graph, so the DOT text is the same
    whatever else the process has built."""
    order: list[Node] = []
    expanded: set[Node] = set()
    done: set[Node] = set()
    # The stack holds bare nodes (a node is seen twice: once to push its
    # arguments, once to emit it).  Per-entry tuples or iterators would be
    # 10^5 live GC-tracked objects on a deep chain, and the collector's
    # repeated passes over them cost more than the walk itself.
    stack = list(reversed(outputs))
    while stack:
        n = stack[-1]
        if n in done:
            stack.pop()
        elif n in expanded:
            stack.pop()
            done.add(n)
            order.append(n)
        else:
            expanded.add(n)
            args = n.args
            for i in range(len(args) - 1, -1, -1):
                if args[i] not in done:
                    stack.append(args[i])
    return order


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
    labels = _output_names(names, len(outs), "out")
    dlabels = _output_names(derivative_names, len(douts), "dout")

    function_nodes = reachable(outs) if douts else None
    nodes = _postorder(outs + douts)
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
        deriv_only = function_nodes is not None and n not in function_nodes
        names_here = out_names.get(n)
        if n.op == "sym":
            attrs = f"label={_q(n.payload)}, {_STYLE_INPUT}"
        elif n.op == "const":
            attrs = f"label={_q(format_number(n.payload))}, " \
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
            label = op_labels.get(n.op)
            if label is None:
                label = op_labels[n.op] = _q(_op_label(n))
            attrs = f"label={label}, xlabel={_q(xlabel)}, {style}"
        if names_here:
            if not n.args:
                attrs += f", xlabel={_q(', '.join(names_here))}"
            attrs += ", peripheries=2, penwidth=1.5"
        lines.append(f"  {nid} [{attrs}];")
        if n.args:
            edge_attr = _EDGE_DERIV if deriv_only else ""
            for a in n.args:
                lines.append(f"  {ids[a]} -> {nid}{edge_attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"
