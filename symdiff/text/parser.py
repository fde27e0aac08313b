"""Parse infix text into expression nodes.

A program is a sequence of statements separated by newlines or ``;``::

    X : m x 64       # shape declarations first: X is a tensor symbol
    a = x*y          # every statement but the last is an assignment
    b = sin(a) + a
    b^2, a/b         # the last one is the output (comma-separated outputs)

The operators come from the op table (:mod:`symdiff.text.operators`): each
op's ``infix`` spelling and ``aliases``, ``precedence`` and ``right_assoc``.
With today's table the grammar of one statement is (``^`` and its alias
``**`` are the same operator; ``@`` is the matrix product)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '@') unary)*
    unary   := ('-' | '+') unary | power
    power   := postfix (('^' | '**') unary)?
    postfix := atom ('.T' | '[' index (',' index)* ']')*
    atom    := number | name | '(' expr ')' | list
             | name '(' arg (',' arg)* ')'
    arg     := expr | literal | name '=' literal
    index   := int | [int] ':' [int] [':' [int]]
    list    := '[' (number | list) (',' (number | list))* ']'

so ``-x^2`` is ``-(x^2)``, ``2^-x`` is ``2^(-x)``, ``-a*b`` is ``(-a)*b``,
``^`` is right-associative and ``a * B @ C`` is ``(a*B) @ C`` (as in
Python).  ``.T`` and subscripts bind tightest: ``-X.T`` is ``-(X.T)``.

Tensors: a declaration ``X : m x 64`` (dimensions are ints or names joined
by ``x``; ``y : m int`` declares integer labels; ``s : scalar``) makes ``X``
a tensor symbol (:func:`symdiff.tensor`); declarations come before every
other statement.  A dimension name in an expression reads as that
dimension's size (``sum(X, axis=0) / m``).  The tensor functions of
:mod:`symdiff.text.functions` take their leading arguments as expressions
and their parameters as literals: ``sum(Z, axis=1)``,
``max(Z, axis=1, keepdims=True)``, ``softmax(Z, axis=1)``,
``onehot(y, 10)``, ``reshape(x, (m, 1))``, ``eye(n)``; ``max`` of one
argument reduces it, of two or more is the elementwise max.  A list of
numbers is a constant array.  Shapes are checked as nodes are built: a
mismatch is a :class:`ParseError` under the operator or call, naming the op
and the shapes.

Nodes are built with the simplifying constructors of
:mod:`symdiff.core.symbolic` and the builders of the Python API, so the
result is the very node the Python API builds for the same expression
(``parse("x*y") is x*y``).

The parser is an operator-precedence (shunting-yard) loop over explicit
value and operator stacks: it never recurses, so 10^5-deep nesting parses
at the default recursion limit, in time linear in the input.  User text only
ever reaches ``float()`` and ``int()`` (for a matched number token), never
``eval``.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from symdiff.core import ops as _ops
from symdiff.core.node import Node, array_const, const, dim, symbol
from symdiff.core.shapes import format_shape
from symdiff.core.symbolic import apply
from symdiff.core.tensor import index as _index
from symdiff.core.tensor import tensor as _tensor
from symdiff.text import functions as _functions
from symdiff.text import operators as _operators
from symdiff.text.literals import read_declaration, read_index, read_literal
from symdiff.text.operators import Operators

__all__ = ["parse", "parse_program", "ParsedProgram", "ParseError"]

# Names that read as float constants.  ``inf`` and ``nan`` are here because
# the printer spells those values that way (see infix.format_number).
_CONSTANTS = {**_ops.CONSTANTS, "inf": math.inf, "nan": math.nan}
_FUNCTIONS = _ops.FUNCTIONS
_TENSOR_FUNCTIONS = _functions.FUNCTIONS
_CALLABLE = set(_FUNCTIONS) | set(_TENSOR_FUNCTIONS)

# Operator-stack entry kinds.  Entries below _OPEN are operators waiting for
# their right operand; _OPEN and _CALL are markers that ')' and ',' stop at.
_BIN, _PRE, _OPEN, _CALL = 0, 1, 2, 3

# One token per match, after optional blanks.  A number keeps a malformed
# tail (1.2.3, 1e+, 2e) so that it is reported as one bad number rather
# than as two tokens.  Digits are spelled [0-9] because \d also matches
# non-ASCII digits, which float() would happily accept.  Operators of more
# than one character (``**``) are tried before the catch-all, which
# excludes blanks so that trailing blanks never become tokens.
_SCAN_HEAD = r"""
    [ \t\f\v]*
    (
        \#.*                                               # comment to end of line
      | (?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?   # number
        (?:\.[0-9.]*|[eE](?:[+-]|(?![A-Za-z0-9_])))?       #   malformed tail
      | [A-Za-z_][A-Za-z0-9_]*                              # name
"""
_SCAN_TAIL = r"""
      | [^ \t\f\v]                                         # operator or stray character
    )
"""

# Token classes by first character; a token whose first character is in none
# of them (nor starts an operator) is a stray character.
_NUM, _NAME, _OP = 1, 2, 3
_CLASS = {**{c: _NUM for c in "0123456789."},
          **{c: _NAME for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"},
          **{c: _OP for c in "(),=[]:"}}


class _Grammar(NamedTuple):
    """The token-level grammar of one op table: its ``binary`` and ``prefix``
    operators (spelling -> :class:`~symdiff.text.operators.Binary` or
    :class:`~symdiff.text.operators.Prefix`), the token ``scan`` pattern and
    the token ``classes`` by first character."""

    binary: dict
    prefix: dict
    scan: re.Pattern
    classes: dict


def _grammar(operators: Operators) -> _Grammar:
    """The grammar reading the operators of ``operators``."""
    longer = "".join(f"      | {re.escape(t)}\n" for t in operators.tokens if len(t) > 1)
    scan = re.compile(_SCAN_HEAD + longer + _SCAN_TAIL, re.VERBOSE)
    classes = {**_CLASS, **{t[0]: _OP for t in operators.tokens}}
    return _Grammar(operators.binary, operators.prefix, scan, classes)


# (operators, grammar) for the current symdiff.text.operators.OPERATORS.
_GRAMMAR: list = [None, None]


def _current_grammar() -> _Grammar:
    """The grammar of the op table's operators, rebuilt if they were."""
    operators = _operators.OPERATORS
    if _GRAMMAR[0] is not operators:
        _GRAMMAR[:] = [operators, _grammar(operators)]
    return _GRAMMAR[1]


# Look-alike characters people paste from documents, with what to type.
_HINTS = {
    "\u2212": "'-'", "\u2013": "'-'", "\u00d7": "'*'", "\u22c5": "'*'",
    "\u00b7": "'*'", "\u00f7": "'/'", "\u00b2": "'^2'", "\u00b3": "'^3'",
    "\u03c0": "'pi'", "{": "'('", "}": "')'",
}

# Errors the builders raise for arguments that do not fit (ShapeError is a
# ValueError; TypeError: integer labels where floats are needed).
_BUILD_ERRORS = (ValueError, TypeError)


class ParseError(ValueError):
    """A syntax or name error in parsed text, with its position.

    Attributes: ``message``; ``line`` and ``column`` (1-based); ``source_line``
    (the text of that line); ``length`` (how many characters the caret
    underlines, at least 1).  ``str()`` renders the message with the line and
    a caret, compiler style.
    """

    def __init__(self, message: str, line: int, column: int, source_line: str,
                 length: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.length = max(1, int(length))

    def __reduce__(self):
        # The default reduce would call __init__ with only the message.
        return (ParseError, (self.message, self.line, self.column,
                             self.source_line, self.length))

    def __str__(self) -> str:
        """The one-screen display: message, position, source line and caret."""
        # Tabs become single spaces so the caret stays under the right column.
        text = self.source_line.replace("\t", " ")
        start = self.column - 1
        length = self.length
        # Long lines (a 10^5-term sum) are cut to a window around the caret.
        width = 100
        if len(text) > width:
            lo = max(0, min(start - 30, len(text) - width))
            hi = min(len(text), lo + width)
            left = "..." if lo > 0 else ""
            text = left + text[lo:hi] + ("..." if hi < len(text) else "")
            start = start - lo + len(left)
            length = max(1, min(length, hi - (self.column - 1)))
        gutter = " " * len(str(self.line))
        return (f"error: {self.message}\n"
                f"{gutter} --> line {self.line}, column {self.column}\n"
                f"{gutter} |\n"
                f"{self.line} | {text}\n"
                f"{gutter} | {' ' * start}{'^' * length}")


@dataclass(frozen=True)
class ParsedProgram:
    """The result of :func:`parse_program`.

    ``outputs``: the output expressions, in order.  ``definitions``: every
    assigned name and its node, in program order.  ``output_texts``: the
    source text of each output (for an output statement ``y = expr``, the
    name ``y``), useful as labels.  ``declarations``: every declared tensor
    (by a declaration line or the ``symbols`` argument) by name.
    """

    outputs: list
    definitions: dict
    output_texts: list
    declarations: dict = field(default_factory=dict)


def _char_message(ch: str) -> str:
    """Explain a character that cannot start a token."""
    if ch.isascii() and ch.isprintable():
        msg = f"unexpected character {ch!r}"
    else:
        name = unicodedata.name(ch, "")
        msg = f"unexpected character {ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"
        if not ch.isascii():
            msg += "; only ASCII is allowed"
    hint = _HINTS.get(ch)
    if hint:
        msg += f"; use {hint} instead"
    return msg


def _tokenize(lines: list[str], scan: re.Pattern) -> list[tuple[int, int, list[str]]]:
    """Split the program into statements: (line number, index of the first
    token within its line, token texts).

    Tokens are plain strings, the cheapest representation for inputs with
    hundreds of thousands of them; columns are recomputed only when an error
    or an output text needs them (see ``_Parser.col``).  Nothing is
    rejected here, so the first error is reported in statement order.
    """
    statements = []
    findall = scan.findall
    for lineno, line in enumerate(lines, 1):
        toks = findall(line)
        if toks and toks[-1][0] == "#":         # a comment is always last
            toks.pop()
        if ";" not in toks:
            if toks:
                statements.append((lineno, 0, toks))
            continue
        start = 0
        for k, tok in enumerate(toks + [";"]):
            if tok == ";":
                if k > start:
                    statements.append((lineno, start, toks[start:k]))
                start = k + 1
    return statements


class _TensorCall:
    """A call of a tensor function being parsed: its :class:`TensorFunction`
    row, the elementwise op of the same name if any (``max``), and the
    literal parameters read so far."""

    __slots__ = ("fn", "elementwise", "positional", "keywords")

    def __init__(self, fn, elementwise):
        self.fn = fn
        self.elementwise = elementwise
        self.positional: list = []
        self.keywords: dict = {}


class _Parser:
    """State for one program: the source lines, the declared tensors and
    their dimension names, the names assigned so far, and the statement
    each name is first assigned in (to report a use before the assignment
    instead of silently reading a free symbol)."""

    def __init__(self, text: str, symbols=None):
        # One newline convention, so that columns and source lines agree.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = text.split("\n")
        self.grammar = _current_grammar()
        self.definitions: dict[str, Node] = {}
        self.def_lines: dict[str, int] = {}
        self.future: dict[str, tuple[int, int]] = {}
        # name -> node for every name already read, assigned or declared: a
        # name's meaning never changes later (see _resolve), so this memo is
        # safe.
        self.resolved: dict[str, Node] = {}
        # Declared tensors (line 0: given by the caller) and dimension names
        # (with the tensor that brought each in, for messages).
        self.declared: dict[str, Node] = {}
        self.decl_lines: dict[str, int] = {}
        self.dims: dict[str, str] = {}
        self._columns: dict[int, list[int]] = {}
        # The statement being parsed.
        self.index = 0
        self.lineno = 1
        self.offset = 0
        self.toks: list[str] = []
        if symbols is not None:
            self._given(symbols)

    # -- positions and errors -----------------------------------------------

    def col(self, k: int) -> int:
        """1-based column of token ``k`` of the current statement."""
        cols = self._columns.get(self.lineno)
        if cols is None:
            line = self.lines[self.lineno - 1]
            cols = [m.start(1) + 1 for m in self.grammar.scan.finditer(line)]
            self._columns[self.lineno] = cols
        return cols[self.offset + k]

    def error(self, message: str, k: int, length: int | None = None) -> ParseError:
        """A ParseError with a caret under token ``k`` of the statement."""
        return ParseError(message, self.lineno, self.col(k),
                          self.lines[self.lineno - 1],
                          len(self.toks[k]) if length is None else length)

    def span_error(self, message: str, k1: int, k2: int) -> ParseError:
        """A ParseError underlining tokens ``k1`` through ``k2`` (a statement
        never spans lines, so this is one stretch of one line)."""
        return self.error(message, k1, self.col(k2) + len(self.toks[k2]) - self.col(k1))

    # -- statements ---------------------------------------------------------

    def run(self) -> ParsedProgram:
        """Parse every statement in order and collect the outputs."""
        statements = _tokenize(self.lines, self.grammar.scan)
        if not statements:
            raise ParseError("empty input: expected an expression", 1, 1, self.lines[0])
        n_decl = 0
        for index, (lineno, offset, toks) in enumerate(statements):
            if _is_declaration(toks):
                self.index, self.lineno, self.offset, self.toks = index, lineno, offset, toks
                if index != n_decl:
                    raise self.span_error("shape declarations must come before the first "
                                          "assignment or expression", 0, len(toks) - 1)
                self._declare()
                n_decl += 1
        if n_decl == len(statements):
            lineno, offset, toks = statements[-1]
            self.lineno, self.offset, self.toks = lineno, offset, toks
            raise self.span_error("expected an expression after the declarations",
                                  0, len(toks) - 1)
        statements = statements[n_decl:]
        for index, (lineno, _, toks) in enumerate(statements):
            if _is_assignment(toks):
                self.future.setdefault(toks[0], (index, lineno))
        last = len(statements) - 1
        outputs: list[Node] = []
        texts: list[str] = []
        for index, (lineno, offset, toks) in enumerate(statements):
            self.index, self.lineno, self.offset, self.toks = index, lineno, offset, toks
            if _is_assignment(toks):
                name = toks[0]
                self._check_target(name)
                values, _ = self._parse_exprs(2, 1, "assign")
                self.definitions[name] = self.resolved[name] = values[0]
                self.def_lines[name] = lineno
                if index == last:
                    outputs, texts = values, [name]
            else:
                values, bounds = self._parse_exprs(
                    0, -1, "output" if index == last else "statement")
                if index != last:
                    raise self.span_error(
                        "only the last statement can be an output expression; "
                        "earlier statements must be assignments like 'name = expr'",
                        0, len(toks) - 1)
                outputs = values
                src = self.lines[lineno - 1]
                texts = [src[self.col(a) - 1:self.col(b) - 1 + len(toks[b])]
                         for a, b in bounds]
        return ParsedProgram(outputs, dict(self.definitions), texts, dict(self.declared))

    def _check_target(self, name: str) -> None:
        """Reject assignments to functions, constants, declared names and
        assigned names."""
        if name in _CALLABLE:
            raise self.error(f"cannot assign to {name!r}: it is a function", 0)
        if name in _CONSTANTS:
            raise self.error(f"cannot assign to {name!r}: it is a constant", 0)
        if name in self.declared:
            raise self.error(f"cannot assign to {name!r}: it is declared "
                             f"{self._declared_where(name)}", 0)
        if name in self.dims:
            raise self.error(f"cannot assign to {name!r}: it is a dimension of "
                             f"{self.dims[name]}", 0)
        if name in self.definitions:
            raise self.error(f"{name!r} is already defined on line "
                             f"{self.def_lines[name]} (names can be assigned only once)", 0)

    # -- declarations ---------------------------------------------------------

    def _declared_where(self, name: str) -> str:
        node = self.declared[name]
        what = f"as {format_shape(node.shape)}" if node.op == "sym" else "as a constant"
        line = self.decl_lines[name]
        return f"{what} on line {line}" if line else f"{what} before the program text"

    def _given(self, symbols) -> None:
        """Declare the caller's ``symbols``: symbol (and dimension) nodes, or
        a mapping from names to nodes (tensors, or any node such as a named
        constant)."""
        items = symbols.items() if hasattr(symbols, "items") else \
            ((getattr(s, "payload", None), s) for s in symbols)
        for name, node in items:
            if not isinstance(node, Node) or (not isinstance(name, str)):
                raise TypeError(f"symbols: expected symbol nodes or a mapping from names "
                                f"to nodes, got {node!r}")
            if node.op == "dim" and not hasattr(symbols, "items"):
                self.dims.setdefault(name, "the caller's symbols")
                self.resolved[name] = node
                continue
            if node.op != "sym" and not hasattr(symbols, "items"):
                raise TypeError(f"symbols: {node!r} is neither a symbol nor a dimension")
            if name in _CALLABLE or name in _CONSTANTS:
                raise ValueError(f"symbols: {name!r} is reserved for a function or constant")
            self._add_declared(name, node, 0)

    def _add_declared(self, name: str, node: Node, line: int) -> str | None:
        """Record a declaration; the reason it conflicts, or None."""
        old = self.declared.get(name)
        if old is not None:
            if old is node and self.decl_lines[name] == 0:
                return None                      # the text repeats the caller's
            return f"{name!r} is already declared {self._declared_where(name)}"
        if name in self.dims:
            return f"{name!r} is a dimension of {self.dims[name]}; it cannot also be declared"
        for d in node.shape if node.op == "sym" else ():
            if isinstance(d, str):
                if d in self.declared:
                    return (f"dimension {d!r} of {name} is also declared "
                            f"{self._declared_where(d)}")
                self.dims.setdefault(d, name)
                self.resolved.setdefault(d, dim(d))
        self.declared[name] = self.resolved[name] = node
        self.decl_lines[name] = line
        return None

    def _declare(self) -> None:
        """One declaration statement: ``X : m x 64``."""
        toks = self.toks
        name, shape, dtype = read_declaration(toks, self.error)
        if name in _CALLABLE or name in _CONSTANTS:
            raise self.error(f"cannot declare {name!r}: it is a "
                             f"{'function' if name in _CALLABLE else 'constant'}", 0)
        for d in shape:
            if isinstance(d, str) and (d in _CALLABLE or d in _CONSTANTS):
                raise self.error(f"{d!r} cannot be a dimension name: it is a "
                                 f"{'function' if d in _CALLABLE else 'constant'}",
                                 toks.index(d, 2))
        try:
            node = _tensor(name, shape, dtype=int if dtype == "int64" else float)
        except ValueError as exc:
            raise self.error(str(exc), 0) from None
        conflict = self._add_declared(name, node, self.lineno)
        if conflict:
            raise self.span_error(conflict, 0, len(toks) - 1)

    # -- names --------------------------------------------------------------

    def _resolve(self, k: int) -> Node:
        """The node that name token ``k`` stands for outside a call (the
        slow path; the answer is memoized in ``resolved``)."""
        name = self.toks[k]
        if name in _CONSTANTS:
            node = const(_CONSTANTS[name])
        elif name in _CALLABLE:
            raise self.error(f"function {name!r} must be called with arguments, "
                             f"e.g. {name}(x)", k)
        elif name in self.future:
            # Assigned later (or in this very statement).  Names are
            # single-assignment, so reading it as a free symbol here would
            # give one name two meanings in one program.
            index, lineno = self.future[name]
            if index == self.index:
                raise self.error(f"{name!r} is used in its own definition", k)
            raise self.error(f"{name!r} is used before it is defined on line {lineno}", k)
        else:
            node = symbol(name)
        self.resolved[name] = node
        return node

    def _not_callable(self, k: int) -> ParseError:
        """The error for ``name(`` when ``name`` is not a function."""
        name = self.toks[k]
        if name in _CONSTANTS:
            return self.error(f"{name!r} is a constant, not a function "
                              f"(to multiply, write {name}*(...))", k)
        if name in self.definitions:
            return self.error(f"{name!r} is a variable defined on line "
                              f"{self.def_lines[name]}, not a function "
                              f"(to multiply, write {name}*(...))", k)
        if name in self.declared or name in self.dims:
            return self.error(f"{name!r} is a {'tensor' if name in self.declared else 'dimension'}"
                              f", not a function (to multiply, write {name}*(...) or "
                              f"{name} @ (...))", k)
        msg = f"unknown function {name!r}"
        close = difflib.get_close_matches(name, sorted(_CALLABLE), n=3, cutoff=0.75)
        if close:
            q = [repr(c) for c in close]
            msg += "; did you mean " + (q[0] if len(q) == 1 else
                                        ", ".join(q[:-1]) + " or " + q[-1]) + "?"
        elif len(name) <= 2 or name in self.future:
            # Short names are almost always variables: x(2) meant x*(2).
            msg += f"; to multiply, write {name}*(...)"
        # The full list is long (and grows with the op table): say where it is.
        msg += " (symdiff functions lists them all)"
        return self.error(msg, k)

    # -- building nodes, with shape errors at the operator ------------------

    def _reduce_top(self, top: tuple, vals: list) -> None:
        """Apply the operator entry ``top`` to the values on ``vals``."""
        try:
            if top[0] == _BIN:
                rhs = vals.pop()
                vals[-1] = apply(top[2], vals[-1], rhs)
            else:
                vals[-1] = apply(top[2], vals[-1])
        except _BUILD_ERRORS as exc:
            raise self.error(str(exc), top[3]) from None

    def _reduce_to_marker(self, stack: list, vals: list) -> None:
        """Apply pending operators down to the nearest '(' or call marker."""
        while stack and stack[-1][0] < _OPEN:
            self._reduce_top(stack.pop(), vals)

    def _apply_call(self, entry: tuple, args: list, close: int) -> Node:
        """An op-table function applied to ``args`` (the call spans the
        tokens from ``entry``'s name to ``close``)."""
        try:
            return apply(entry[2], *args)
        except _BUILD_ERRORS as exc:
            raise self.span_error(str(exc), entry[3], close) from None

    def _call_tensor(self, entry: tuple, exprs: list, close: int) -> Node:
        """A tensor function call, once its ')' at ``close`` is read."""
        tc = entry[5]
        name = entry[2]
        if tc.elementwise is not None:
            literals = tc.positional or tc.keywords
            if len(exprs) >= 2 and not literals:
                return self._apply_call(entry, exprs, close)     # max(x, y): elementwise
            if len(exprs) >= 2:
                raise self.span_error(f"{name} of {len(exprs)} arguments is elementwise; "
                                      "only the reduction of one tensor takes parameters",
                                      entry[3], close)
            if len(exprs) == 1 and not exprs[0].shape and not literals:
                raise self.span_error(f"{name} takes 2 or more arguments, got 1 (or one "
                                      "tensor to reduce)", entry[3], close)
        try:
            return _functions.call(tc.fn, exprs, tc.positional, tc.keywords)
        except _BUILD_ERRORS as exc:
            raise self.span_error(str(exc), entry[3], close) from None

    def _literal_args(self, stack: list, vals: list, j: int):
        """Read the literal parameters of the tensor call on top of
        ``stack`` from token ``j`` (just after its '(' or a ','): keywords
        ``axis=1``, and positional ones once its expression arguments are
        all there.  Returns (next token, whether the call was closed)."""
        entry = stack[-1]
        tc = entry[5]
        fn = tc.fn
        toks = self.toks
        hi = len(toks)
        classes = self.grammar.classes
        while True:
            if j >= hi:
                raise self.error("unclosed '(': no matching ')' on this line", entry[3] + 1)
            tok = toks[j]
            if tok == ")":
                if toks[j - 1] == ",":
                    raise self.error("expected an expression after ',', found ')'", j)
                stack.pop()
                base = entry[4]
                exprs = vals[base:]
                del vals[base:]
                vals.append(self._call_tensor(entry, exprs, j))
                return j + 1, True
            if j + 1 < hi and toks[j + 1] == "=" and classes.get(tok[0]) == _NAME:
                if tok not in fn.keywords and tok not in fn.positional:
                    known = ", ".join((*fn.positional, *fn.keywords)) or "none"
                    raise self.error(f"{fn.name} has no parameter {tok!r} "
                                     f"(parameters: {known})", j)
                if tok in tc.keywords or (tok in fn.positional and
                                          fn.positional.index(tok) < len(tc.positional)):
                    raise self.error(f"{fn.name}: {tok} is given twice", j)
                tc.keywords[tok], j = read_literal(toks, j + 2, self.error)
            elif tc.keywords:
                raise self.error(f"{fn.name}: an argument after keyword arguments must be "
                                 "a keyword argument too", j)
            elif len(vals) - entry[4] >= fn.n_exprs and len(tc.positional) < len(fn.positional):
                value, j = read_literal(toks, j, self.error)
                tc.positional.append(value)
            else:
                return j, False                  # an expression argument follows
            if j < hi and toks[j] == ",":
                j += 1
            elif j < hi and toks[j] != ")":
                raise self.error(f"expected ',' or ')' after a parameter of {fn.name}, "
                                 f"found {toks[j]!r} (parameters are literals such as 1, "
                                 "True, (m, 1))", j)

    def _postfix(self, i: int, vals: list) -> int:
        """``.T`` at token ``i``: applied to the last value."""
        toks = self.toks
        if i + 1 >= len(toks) or toks[i + 1] not in _functions.POSTFIX:
            where = i + 1 if i + 1 < len(toks) else i
            raise self.error("expected 'T' after '.' (x.T is the transpose; nothing else "
                             "may follow a '.')", where)
        try:
            vals[-1] = _functions.POSTFIX[toks[i + 1]](vals[-1])
        except _BUILD_ERRORS as exc:
            raise self.span_error(str(exc), i, i + 1) from None
        return i + 2

    def _subscript(self, i: int, vals: list) -> int:
        """``[i, a:b]`` at token ``i``: the last value indexed."""
        spec, j = read_index(self.toks, i, self.error)
        key = tuple(slice(*s) if isinstance(s, tuple) else s for s in spec)
        try:
            vals[-1] = _index(vals[-1], key)
        except _BUILD_ERRORS as exc:
            raise self.span_error(str(exc), i, j - 1) from None
        return j

    def _array(self, i: int) -> tuple[Node, int]:
        """A list literal ``[[1, 2], [3, 4]]`` starting at token ``i``: the
        constant array, and the index after its ']'."""
        toks = self.toks
        hi = len(toks)
        opened: list = []           # (items, index of its '[') for each open list
        j = i
        expect_item = True
        while True:
            if j >= hi:
                raise self.error("unclosed '[': no matching ']' on this line", opened[-1][1])
            tok = toks[j]
            if expect_item and tok == "[":
                if len(opened) == 32:
                    raise self.error("a list literal is nested too deeply (32 levels at "
                                     "most)", j)
                opened.append(([], j))
                j += 1
                continue
            if expect_item and tok == "]" and toks[j - 1] == "[":
                expect_item = False                        # an empty list
            if expect_item:
                value, j = self._list_number(j)
                opened[-1][0].append(value)
                expect_item = False
                continue
            if tok == ",":
                expect_item = True
            elif tok == "]":
                items, _ = opened.pop()
                if not opened:
                    break
                opened[-1][0].append(items)
            else:
                raise self.error(f"expected ',' or ']' in the list, found {tok!r}", j)
            j += 1
        try:
            values = np.array(items, dtype=np.float64)
        except ValueError:
            raise self.span_error("the rows of a list literal must all have the same "
                                  "length and depth", i, j) from None
        return array_const(values), j + 1

    def _list_number(self, j: int) -> tuple[float, int]:
        """A number (with its sign) inside a list literal."""
        toks = self.toks
        sign = 1.0
        k = j
        while k < len(toks) and toks[k] in ("-", "+"):
            sign = -sign if toks[k] == "-" else sign
            k += 1
        if k >= len(toks):
            raise self.error(f"expected a number after {toks[k - 1]!r}", k - 1)
        tok = toks[k]
        if tok in _CONSTANTS:
            return sign * _CONSTANTS[tok], k + 1
        if self.grammar.classes.get(tok[0]) == _NUM:
            return sign * self._number(k), k + 1
        raise self.error(f"a list literal holds numbers only, found {tok!r}", k)

    # -- expressions --------------------------------------------------------

    def _parse_exprs(self, lo: int, before: int, role: str):
        """Parse tokens ``lo:`` of the statement as one expression, or as
        comma-separated outputs when ``role`` is "output".

        ``before`` is the index of the token preceding ``lo`` (the '=' of an
        assignment), or -1.  Returns the nodes and, for each, the indices of
        its first and last tokens.
        """
        toks = self.toks
        resolved = self.resolved
        classes, binaries, prefixes = self.grammar.classes, self.grammar.binary, \
            self.grammar.prefix
        vals: list[Node] = []
        # Operator stack entries: (kind, precedence (for a call: the
        # function's arity), op name, token index, height of ``vals`` when a
        # '(' or call opened); a call entry has a sixth field, its
        # _TensorCall or None.
        stack: list[tuple] = []
        bounds: list[tuple[int, int]] = []
        expect_operand = True
        prev = before
        first = lo
        i, hi = lo, len(toks)
        while i < hi:
            tok = toks[i]
            cls = classes.get(tok[0])
            if expect_operand:
                if cls == _NAME:
                    if i + 1 < hi and toks[i + 1] == "(":
                        op = _FUNCTIONS.get(tok)
                        tfn = _TENSOR_FUNCTIONS.get(tok)
                        if tfn is None:
                            if op is None:
                                raise self._not_callable(i)
                            stack.append((_CALL, op.arity, tok, i, len(vals), None))
                            prev = i + 1                    # the '('
                            i += 2
                            continue
                        stack.append((_CALL, None, tok, i, len(vals), _TensorCall(tfn, op)))
                        j, closed = self._literal_args(stack, vals, i + 2)
                        expect_operand = not closed
                        prev, i = j - 1, j
                        continue
                    node = resolved.get(tok)
                    vals.append(node if node is not None else self._resolve(i))
                    expect_operand = False
                elif cls == _NUM:
                    vals.append(const(self._number(i)))
                    expect_operand = False
                elif tok == "(":
                    stack.append((_OPEN, 0, None, i, len(vals)))
                elif tok == "[":
                    node, j = self._array(i)
                    vals.append(node)
                    expect_operand = False
                    prev, i = j - 1, j
                    continue
                elif tok in prefixes:
                    pre = prefixes[tok]
                    stack.append((_PRE, pre.precedence, pre.op, i, 0))
                elif tok == "+":
                    pass                                # unary plus: a no-op
                elif cls is None:
                    raise self._bad_token(i)
                elif tok == ")" and prev >= 0 and toks[prev] == "(":
                    top = stack[-1]
                    if top[0] == _CALL:                 # f(): zero arguments
                        self._check_arity(top, 0, i)
                    raise self.span_error("empty parentheses: expected an expression "
                                          "inside '()'", prev, i)
                else:
                    raise self._missing_operand(i, prev)
            else:
                binary = binaries.get(tok)
                if binary is not None:
                    prec, right = binary.precedence, binary.right_assoc
                    # Apply pending operators that bind at least as tightly
                    # (strictly tighter for a right-associative one, so
                    # a^b^c is a^(b^c)).  A pending prefix operator that
                    # binds less tightly stays: with the table's precedences
                    # -x^2 is -(x^2), 2^-x^y is 2^(-(x^y)) and -a*b is (-a)*b.
                    while stack:
                        top = stack[-1]
                        if top[0] >= _OPEN or top[1] < prec or (top[1] == prec and right):
                            break
                        self._reduce_top(stack.pop(), vals)
                    stack.append((_BIN, prec, binary.op, i, 0))
                    expect_operand = True
                elif tok == ")":
                    if stack and stack[-1][0] < _OPEN:
                        self._reduce_to_marker(stack, vals)
                    if not stack:
                        raise self.error("unmatched ')'", i)
                    top = stack.pop()
                    if top[0] == _CALL:
                        base = top[4]
                        if top[5] is not None:
                            args = vals[base:]
                            del vals[base:]
                            vals.append(self._call_tensor(top, args, i))
                        elif top[1] == 1 and len(vals) == base + 1:
                            # The common one-argument call, without slicing.
                            vals[-1] = self._apply_call(top, [vals[-1]], i)
                        else:
                            args = vals[base:]
                            del vals[base:]
                            self._check_arity(top, len(args), i)
                            vals.append(self._apply_call(top, args, i))
                elif tok == ",":
                    self._reduce_to_marker(stack, vals)
                    if stack and stack[-1][0] == _OPEN:
                        raise self.error("',' inside parentheses: commas separate "
                                         "function arguments or outputs only", i)
                    if not stack:                       # between top-level outputs
                        if role == "assign":
                            raise self.error("an assignment takes a single expression; "
                                             "',' is not allowed here", i)
                        if role != "output":
                            raise self.error("several comma-separated outputs are "
                                             "allowed only in the last statement", i)
                        bounds.append((first, prev))
                        first = i + 1
                    elif stack[-1][5] is not None:      # parameters of a tensor call
                        j, closed = self._literal_args(stack, vals, i + 1)
                        expect_operand = not closed
                        prev, i = j - 1, j
                        continue
                    expect_operand = True
                elif tok == ".":
                    i = self._postfix(i, vals)
                    prev = i - 1
                    continue
                elif tok == "[":
                    i = self._subscript(i, vals)
                    prev = i - 1
                    continue
                elif tok == "=":
                    raise self._misplaced_equals(i, prev, role, stack)
                elif tok == ":":
                    raise self.error("':' belongs in declarations (X : m x 64) and slices "
                                     "(X[1:3]) only", i)
                elif tok == "]":
                    raise self.error("unmatched ']'", i)
                elif cls is None:
                    raise self._bad_token(i)
                else:
                    # An operand right after an operand: 2x, x y, 2 (x), (x)(y).
                    raise self.error(f"missing operator before {tok!r} (implicit "
                                     "multiplication is not supported; write '*')", i)
            prev = i
            i += 1
        if expect_operand:
            if toks[prev] == "(":
                # A '(' ending the line: report it as never closed.
                raise self.error("unclosed '(': no matching ')' on this line", prev)
            raise self.error(f"expected an expression after {toks[prev]!r}", prev)
        self._reduce_to_marker(stack, vals)
        if stack:
            # The innermost unclosed parenthesis (for a call, its '(').
            top = stack[-1]
            raise self.error("unclosed '(': no matching ')' on this line",
                             top[3] + (top[0] == _CALL))
        bounds.append((first, prev))
        return vals, bounds

    def _check_arity(self, entry, n: int, close: int) -> None:
        """Raise unless the call in stack ``entry`` can take ``n`` arguments."""
        name = entry[2]
        op = _FUNCTIONS[name]
        if op.check_arity(n):
            return
        if op.arity == _ops.VARIADIC:
            need = "2 or more arguments"
        else:
            need = f"{op.arity} argument{'s' if op.arity != 1 else ''}"
        raise self.span_error(f"{name} takes {need}, got {n}", entry[3], close)

    def _number(self, k: int) -> float:
        """The value of the number token ``k``; a malformed number, or one
        beyond the largest double (1.7976931348623157e308), is an error
        rather than a silent inf."""
        tok = self.toks[k]
        try:
            # float() of the matched token text only: never eval.
            value = float(tok)
        except ValueError:
            raise self._bad_token(k) from None
        if math.isinf(value):
            raise self.error(f"number {_abbrev(tok)} is too large for a double (the largest "
                             f"is about 1.8e308); write inf for infinity", k)
        return value

    def _bad_token(self, k: int) -> ParseError:
        """The error for a stray character or a malformed number."""
        tok = self.toks[k]
        if tok[0] in "0123456789." and tok != ".":
            return self.error(f"malformed number {tok!r}", k)
        return self.error(_char_message(tok), k)

    def _missing_operand(self, k: int, prev: int) -> ParseError:
        """The error for token ``k`` where an operand should start."""
        tok = self.toks[k]
        before = self.toks[prev] if prev >= 0 else None
        if tok == "=":
            if before is None:
                return self.error("missing name before '='", k)
            if before == "=":
                return self.error("'==' is not supported: '=' only assigns a name", k)
        if before is None:
            return self.error(f"expected an expression, found {tok!r}", k)
        return self.error(f"expected an expression after {before!r}, found {tok!r}", k)

    def _misplaced_equals(self, k: int, prev: int, role: str, stack: list) -> ParseError:
        """The error for '=' after a complete operand."""
        toks = self.toks
        if stack and stack[-1][0] == _CALL and prev == k - 1 and k >= 2 \
                and toks[k - 2] in ("(", ",") and _CLASS.get(toks[prev][0]) == _NAME:
            return self.error(f"{stack[-1][2]} takes no keyword arguments", prev)
        if role == "assign":
            return self.error("only one '=' is allowed in a statement", k)
        if prev == 0 and _CLASS.get(toks[0][0]) == _NUM:
            return self.error("the left side of '=' must be a name, not a number", k)
        return self.error("the left side of '=' must be a single name "
                          "(assignments look like 'name = expr')", k)


def _abbrev(tok: str, keep: int = 24) -> str:
    """``tok`` quoted, its middle elided when longer than ``keep``
    characters (a 400-digit literal in a message helps nobody)."""
    if len(tok) <= keep:
        return repr(tok)
    return repr(f"{tok[:10]}...{tok[-10:]}") + f" ({len(tok)} characters)"


def _is_assignment(toks: list[str]) -> bool:
    """True for a statement of the form ``name = ...``."""
    return len(toks) >= 2 and toks[1] == "=" and _CLASS.get(toks[0][0]) == _NAME


def _is_declaration(toks: list[str]) -> bool:
    """True for a statement of the form ``name : ...``."""
    return len(toks) >= 2 and toks[1] == ":" and _CLASS.get(toks[0][0]) == _NAME


def parse_program(text: str, symbols=None) -> ParsedProgram:
    """Parse a program: declarations, assignments, then one output statement.

    Statements are separated by newlines or ``;``; ``#`` starts a comment.
    Declarations (``X : m x 64``, ``y : m int``; see the module docstring)
    come first.  Each statement but the last is ``name = expr``; the last is
    either comma-separated output expressions or ``name = expr`` (whose
    value is the output).  Names are assigned once; a later use of an
    assigned name is the same node, an unassigned name is a free symbol,
    ``pi``, ``e``, ``inf`` and ``nan`` are constants.

    ``symbols`` declares names before the text does: symbol nodes (tensors
    such as ``sd.tensor("X", ("m", 64))``, whose dimension names then read
    as dimensions), or a mapping from names to nodes (also for named
    constants, e.g. the ``C1`` of a large array that the printers name), so
    that ``parse(to_string(e), symbols=free_symbols(e)) is e``.  Raises
    :class:`ParseError`.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    return _Parser(text, symbols).run()


def parse(text: str, symbols=None) -> Node | list[Node]:
    """Parse ``text`` and return its output: a Node, or a list of Nodes when
    the last statement lists several comma-separated outputs.  ``symbols``
    as for :func:`parse_program`.

    >>> from symdiff import parse, symbol
    >>> x = symbol("x")
    >>> parse("-x^2") is -(x**2)
    True
    """
    outputs = parse_program(text, symbols).outputs
    return outputs[0] if len(outputs) == 1 else list(outputs)
