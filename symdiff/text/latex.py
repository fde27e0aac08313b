"""LaTeX printing of one expression with minimal parentheses.

Every op prints through the ``latex`` template of the op table
(``"{0} + {1}"``, ``r"\\frac{{{0}}}{{{1}}}"``, ``"{0}^{{{1}}}"``, ``"-{0}"``,
``r"\\sin\\left({0}\\right)"`` ...).  Where an argument needs parentheses is
decided by a few layout rules keyed on the table's fields and on the
template's shape, never on op names:

1. An argument inside braces or ``\\left ... \\right`` of its template is
   delimited already: never parenthesized (``\\frac{a + b}{c}``).
2. A template that starts and ends with text (``\\frac{..}{..}``,
   ``\\sin\\left(..\\right)``) prints as an atom; one that starts or ends
   with a bare argument is an operator form of the op's ``precedence``.
3. The first bare argument of an operator form needs the op's precedence
   (one more for a ``right_assoc`` op).  A later bare argument needs the
   same precedence if the op is ``commutative`` (sums and products are
   associative on paper: ``x + y + z``, ``x y z``) and one more otherwise
   (``x - \\left(y + z\\right)``); the argument of a prefix form (``-{0}``)
   is parenthesized exactly where a subtrahend would be, because on paper a
   leading minus binds like a binary one (``-x y``, ``-\\left(x + y\\right)``).
   A later bare argument whose text would begin with a minus is
   parenthesized too, so that two operators never touch
   (``x + \\left(-y\\right)``).
4. A bare argument followed by a superscript ``^`` (or a subscript ``_``)
   must be one visual unit: a symbol (before ``_``, one without a subscript
   of its own), a number without sign, space or exponent, or an atom that
   neither ends in its own superscript (``e^{x}^{2}`` is a LaTeX error) nor
   is a fraction (the exponent would read as the denominator's), unless the
   atom is wrapped in ``\\left ... \\right``; anything else is parenthesized.
5. A template's ``\\cdot`` prints as juxtaposition (``2 x``) unless the
   argument after it begins with a digit (``x \\cdot 2``, ``2 \\cdot 3``).
6. In the template of a variadic op, ``{0}`` stands for all the arguments,
   comma separated (``\\max\\left(x, y, z\\right)``).

Printing is iterative (an explicit stack), so 10^5-deep expressions print
at the default recursion limit.

Tensors: ``@`` is juxtaposition (``X^\\top G``; ``x^\\top y`` for two
vectors), ``.T`` a superscript ``^\\top``, the elementwise product of two
tensors ``\\odot`` (never mixed with juxtaposition without parentheses),
indexing a subscript (``X_{0, 1:3}``), ``onehot(y, k)`` ``I_{y}``, the
identity ``I``, a dimension its name, a small constant matrix or vector a
``bmatrix`` (a larger array is named ``C_{1}`` ...).  Other structural ops
and the composites print as operators with the parameters that differ
from their defaults (``\\operatorname{softmax}\\left(X \\Theta\\right)``,
``\\operatorname{sum}\\left(Z, \\mathrm{axis}=1\\right)``).  The
structural ops' templates come from the op table's ``latex`` field, a
function of the node's parameters and argument shapes.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np

from symdiff.core.graph import as_outputs
from symdiff.core.node import Node
from symdiff.core.ops import ALL_OPS, PREC_ADD, PREC_ATOM, PREC_MUL, VARIADIC
from symdiff.text import operators as _operators
from symdiff.text.composites import View
from symdiff.text.infix import (
    ConstantNames,
    format_number,
    is_signed,
    is_small_array,
    signed_precedence,
    subscript_text,
)

__all__ = ["to_latex", "latex_symbol"]


# ---------------------------------------------------------------------------
# symbols and numbers

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


def _const_lead(v: float) -> str:
    """How the LaTeX of the number ``v`` begins: 'minus', 'digit' or 'other'."""
    if is_signed(v):
        return "minus"
    if math.isnan(v) or math.isinf(v) or v == math.pi or v == math.e:
        return "other"
    return "digit"


# ---------------------------------------------------------------------------
# templates and their layout

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


class _Slot(NamedTuple):
    """Where an argument sits in its template (rules 1, 3 and 4)."""

    need: int             # minimum precedence printed without parentheses
    after_text: bool      # follows template text: a leading minus needs parentheses
    script: str           # followed by '^' or '_': must be one visual unit ('' if not)


_DELIMITED = _Slot(0, False, "")

# Template text that opens or closes a delimited group.
_GROUPING = re.compile(r"\\left|\\right|\\[{}]|[{}]")


def _depths(parts: list) -> list:
    """Grouping depth (braces and \\left/\\right pairs) at each part."""
    depth = 0
    out = []
    for part in parts:
        out.append(depth)
        if isinstance(part, str):
            for m in _GROUPING.finditer(part):
                tok = m.group(0)
                if tok in ("\\left", "{"):
                    depth += 1
                elif tok in ("\\right", "}"):
                    depth -= 1
    return out


# Printing steps of a layout, in the order they are pushed on the printer's
# stack (the template reversed): (_TEXT, literal, None), (_ARG, index, slot),
# (_CDOT, (literal, index of the next argument), its slot) and
# (_ALL, None, None) for the arguments of a variadic op.
_TEXT, _ARG, _CDOT, _ALL = range(4)

# Kinds of product a node prints as: the two must not meet unparenthesized
# (A \odot B C would read either way).
_HADAMARD, _MATRIX = "hadamard", "matrix"


class _Layout(NamedTuple):
    """How one op prints: its template ``parts`` (literals and argument
    indices), a :class:`_Slot` per part (``None`` for literals), its
    printed ``precedence``, ``lead`` (how its text begins when the template
    starts with text, else ``None``: the first argument decides),
    ``safe_base`` (rule 4, for atoms), the printing ``steps`` and whether
    it is a matrix ``product`` (juxtaposition of tensors)."""

    parts: list
    slots: list
    precedence: int
    lead: str | None
    safe_base: bool
    steps: tuple
    product: bool


def _layout_of(template: str, precedence: int, *, unary: bool, variadic: bool = False,
               right_assoc: bool = False, commutative: bool = False,
               product: bool = False) -> _Layout:
    parts = _split_template(template)
    depths = _depths(parts)
    bare_first = isinstance(parts[0], int)
    bare_last = isinstance(parts[-1], int)
    atom = not (bare_first or bare_last)
    p = PREC_ATOM if atom else precedence
    slots: list = []
    for k, part in enumerate(parts):
        if isinstance(part, str):
            slots.append(None)
        elif depths[k] > 0 or atom:
            slots.append(_DELIMITED)
        else:
            nxt = parts[k + 1] if k + 1 < len(parts) else ""
            script = nxt[0] if isinstance(nxt, str) and nxt[:1] in ("^", "_") else ""
            if k == 0:
                slots.append(_Slot(p + 1 if right_assoc else p, False, script))
            elif unary:
                slots.append(_Slot(PREC_ADD + 1, True, script))
            else:
                need = p if commutative else p + 1
                slots.append(_Slot(need, True, script))
    lead = None
    if not bare_first:
        lead = "minus" if parts[0][0] == "-" else "digit" if parts[0][0].isdigit() else "other"
    safe_base = template.startswith(r"\left") or \
        ("^" not in template and "_" not in template and not template.startswith(r"\frac"))
    steps = []
    for k in range(len(parts) - 1, -1, -1):
        part = parts[k]
        if isinstance(part, int):
            if variadic and part == 0:
                steps.append((_ALL, None, None))
            else:
                steps.append((_ARG, part, slots[k]))
        elif part.strip() == r"\cdot" and k + 1 < len(parts) and isinstance(parts[k + 1], int):
            steps.append((_CDOT, (part, parts[k + 1]), slots[k + 1]))
        else:
            steps.append((_TEXT, part, None))
    return _Layout(parts, slots, p, lead, safe_base, tuple(steps), product)


_CACHE_SIZE = 4096

# The one cache of layouts: (op name, template) -> (the OpDef it was built
# from, its layout), rebuilt if the table entry is replaced; a call layout
# (a composite, a structural op printed as a call) is keyed (None,
# template) and depends on no table entry.
_LAYOUTS: dict[tuple, tuple] = {}


def _cached(key: tuple, op, build) -> _Layout:
    entry = _LAYOUTS.get(key)
    if entry is None or entry[0] is not op:
        if len(_LAYOUTS) > _CACHE_SIZE:         # per-node templates (subscripts) vary
            _LAYOUTS.clear()
        entry = _LAYOUTS[key] = (op, build())
    return entry[1]


def _layout(name: str, template: str | None = None) -> _Layout:
    """The layout of op ``name``, with its table template or ``template``."""
    op = ALL_OPS[name]

    def build():
        structural = op.kind == "structural"
        text = template
        if text is None:
            text = op.latex or (r"\operatorname{%s}\left({0}\right)" % op.name)
        return _layout_of(text, op.precedence, unary=op.arity == 1,
                          variadic=op.arity == VARIADIC, right_assoc=op.right_assoc,
                          commutative=op.commutative,
                          product=structural and op.precedence == PREC_MUL)

    return _cached((name, template), op, build)


def _call_layout(template: str) -> _Layout:
    """The layout of a composite or of a structural op printed as a call."""
    return _cached((None, template), None,
                   lambda: _layout_of(template, PREC_ATOM, unary=True))


def _escape(text: str) -> str:
    """LaTeX text as a literal part of a template."""
    return text.replace("{", "{{").replace("}", "}}")


def _param(value) -> str:
    """A structural parameter in LaTeX: ``1``, ``\\left(m, 1\\right)``,
    ``\\mathrm{True}``, an index spec ``0, 1:3``."""
    if isinstance(value, tuple):
        if any(isinstance(v, tuple) for v in value):
            return r"\left[" + subscript_text(value, trim=False) + r"\right]"
        return r"\left(" + ", ".join(_param(v) for v in value) + r"\right)"
    if isinstance(value, str):
        return latex_symbol(value)
    if isinstance(value, bool) or value is None:
        return r"\mathrm{" + str(value) + "}"
    return str(value)


def _call_template(name: str, positional=(), keywords=None) -> str:
    """``\\operatorname{name}\\left({0}, params\\right)`` as a template."""
    params = [_param(v) for v in positional]
    params += [r"\mathrm{" + k.replace("_", r"\_") + "}=" + _param(v)
               for k, v in (keywords or {}).items()]
    inner = "".join(", " + _escape(p) for p in params)
    return (r"\operatorname{{" + name.replace("_", r"\_") + r"}}\left({0}" + inner
            + r"\right)")


def _without_defaults(match) -> dict:
    """A composite's keywords minus those equal to the builder's defaults
    (softmax over the last axis is plain softmax on paper)."""
    nd = len(match.x.shape)
    out = {}
    for key, value in match.keywords.items():
        default = match.defaults.get(key)
        if key == "axis" and isinstance(default, int) and isinstance(value, int) \
                and value % nd == default % nd:
            continue
        if value == default:
            continue
        out[key] = value
    return out


# ---------------------------------------------------------------------------
# the printer


def _bmatrix(values) -> str:
    """A small vector (a column) or matrix as a bmatrix."""
    rows = values.reshape(-1, 1) if values.ndim == 1 else values
    body = r" \\ ".join(" & ".join(_latex_number(v) for v in row) for row in rows.tolist())
    return r"\begin{bmatrix}" + body + r"\end{bmatrix}"


class _Latex:
    """State of one LaTeX print: memo of each node's leading character and
    of its form (layout and printed arguments), the composites view and the
    names of large constant arrays."""

    def __init__(self, view: View, expr: Node):
        self.lead_memo: dict[Node, str] = {}
        self.forms: dict[Node, tuple] = {}
        self.view = view
        self.constants = ConstantNames.of(expr)
        # A negative number reads like the prefix operator '-' applied to it.
        self.signed = signed_precedence(_operators.OPERATORS)

    def form(self, node: Node) -> tuple:
        """(layout, arguments) that ``node`` prints with."""
        f = self.forms.get(node)
        if f is not None:
            return f
        m = self.view.match(node)
        if m is not None:
            f = (_call_layout(_call_template(m.name, (), _without_defaults(m))), (m.x,))
        else:
            op = ALL_OPS[node.op]
            if op.kind != "structural":
                f = (_layout(node.op), node.args)
            else:
                f = (self._structural(node, op), node.args)
        self.forms[node] = f
        return f

    def _structural(self, node: Node, op) -> _Layout:
        shapes = [a.shape for a in node.args]
        template = op.latex(node.payload, shapes) if callable(op.latex) else op.latex
        if template is not None:
            return _layout(node.op, template)
        spelled = op.spell(node.payload, shapes)
        if spelled[0] == "subscript":
            return _layout(node.op, "{0}_{{" + _escape(subscript_text(spelled[1])) + "}}")
        if spelled[0] == "postfix":
            return _layout(node.op, "{0}" + _escape(spelled[1]))
        positional = spelled[3] if len(spelled) > 3 else ()
        return _call_layout(_call_template(spelled[1], positional, spelled[2]))

    def leaf(self, node: Node) -> str:
        """LaTeX of a leaf."""
        op = node.op
        if op == "sym" or op == "dim":
            return latex_symbol(node.payload)
        if op == "const":
            return _latex_number(node.payload)
        if op == "eye":
            return "I"
        if op == "array":
            values = node.payload
            if is_small_array(values) and values.ndim <= 2:
                return _bmatrix(values)
            return latex_symbol(self.constants.name(node))
        raise ValueError(f"cannot print leaf {op!r}")

    def kind(self, node: Node) -> str | None:
        """The kind of product ``node`` prints as, if any."""
        if not node.args:
            return None
        lay, args = self.form(node)
        if lay.product:
            return _MATRIX
        if len(args) == 2 and any(step[0] == _CDOT for step in lay.steps) \
                and args[0].shape and args[1].shape:
            return _HADAMARD
        return None

    def lead(self, node: Node) -> str:
        """'minus', 'digit' or 'other': how the unparenthesized text of
        ``node`` begins (decides ``a + (-b)`` and ``x \\cdot 2``)."""
        memo = self.lead_memo
        spine = []
        n = node
        # Walk down the first bare arguments (iteratively) to the node that
        # decides: a number, a symbol, text, or a parenthesized argument.
        while n not in memo:
            if n.op == "const":
                memo[n] = _const_lead(n.payload)
                break
            if not n.args:
                memo[n] = "other"
                break
            lay, args = self.form(n)
            if lay.lead is not None:
                memo[n] = lay.lead
                break
            first = args[lay.parts[0]]
            if self.paren(first, lay.slots[0], self.kind(n)):
                memo[n] = "other"
                break
            spine.append(n)
            n = first
        kind = memo[n]
        for s in spine:
            memo[s] = kind
        return memo[node]

    def paren(self, node: Node, slot: _Slot, context: str | None = None) -> bool:
        """Whether ``node`` needs parentheses in ``slot`` of a node that
        prints as a product of kind ``context`` (or None)."""
        if slot is _DELIMITED:
            return False
        op = node.op
        if slot.script:
            if op == "sym" or op == "dim":
                # W_{1}^{2} is fine, W_{1}_{0} is a LaTeX error.
                return slot.script == "_" and "_" in latex_symbol(node.payload)
            if op == "const":
                # 2^{x}, \pi^{x} and e^{x} are fine; -2, 10^{-9}, -\infty are not.
                text = _latex_number(node.payload)
                return any(c in text for c in " -^")
            if not node.args:
                return op == "array" and is_small_array(node.payload)
            lay = self.form(node)[0]
            return lay.precedence < PREC_ATOM or not lay.safe_base
        if op == "const":
            prec = self.signed if _const_lead(node.payload) == "minus" else PREC_ATOM
        elif not node.args:
            prec = PREC_ATOM
        else:
            prec = self.form(node)[0].precedence
            if context is not None and prec == PREC_MUL:
                kind = self.kind(node)
                if kind is not None and kind != context:
                    return True
        if prec < slot.need:
            return True
        return slot.after_text and self.lead(node) == "minus"


def to_latex(expr, view: View | None = None) -> str:
    """LaTeX for one expression (a list of expressions gives a list).

    Division prints as ``\\frac{a}{b}``, powers as ``x^{2}``, products by
    juxtaposition (``2 x``) with ``\\cdot`` where a number would otherwise
    run into the previous factor (``x \\cdot 2``, ``2 \\cdot 3``); every op
    uses its ``latex`` template from the op table (``\\ln``, ``\\sqrt{}``,
    ``\\left| \\right|``, ``\\sigma`` ...).  Parentheses appear only where
    the mathematical grouping needs them (sums are associative on paper,
    unlike in :func:`symdiff.to_string`); see the module docstring for the
    rules and for tensors.  Symbols: ``x12`` -> ``x_{12}``, ``W3_4`` ->
    ``W_{3,4}``, ``alpha`` -> ``\\alpha``.
    """
    if isinstance(expr, (list, tuple, np.ndarray)):
        view = View() if view is None else view
        return [to_latex(e, view) for e in as_outputs(expr)]
    if not isinstance(expr, Node):
        from symdiff.core.symbolic import as_node

        expr = as_node(expr)
    st = _Latex(View() if view is None else view, expr)
    out: list[str] = []
    # Work items: a literal string, or (node, slot, product kind of its user).
    stack: list = [(expr, _DELIMITED, None)]
    push = stack.append
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, slot, context = item
        if slot is not _DELIMITED and st.paren(node, slot, context):
            out.append(r"\left(")
            push(r"\right)")
        if not node.args:
            out.append(st.leaf(node))
            continue
        lay, args = st.form(node)
        kind = st.kind(node) if node.shape or args[0].shape else None
        for step, a, slot in lay.steps:
            if step == _ARG:
                push((args[a], slot, kind))
            elif step == _TEXT:
                push(a)
            elif step == _CDOT:
                if kind == _HADAMARD:
                    push(r" \odot ")
                    continue
                nxt = args[a[1]]
                digit = not st.paren(nxt, slot, kind) and st.lead(nxt) == "digit"
                push(a[0] if digit else " ")
            else:
                for i in range(len(args) - 1, -1, -1):
                    push((args[i], _DELIMITED, None))
                    if i:
                        push(", ")
    return "".join(out)
