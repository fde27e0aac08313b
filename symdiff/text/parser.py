"""Parse infix text into expression nodes.

A program is a sequence of statements separated by newlines or ``;``::

    a = x*y          # every statement but the last is an assignment
    b = sin(a) + a
    b^2, a/b         # the last one is the output (comma-separated outputs)

The operators come from the op table (:mod:`symdiff.text.operators`): each
op's ``infix`` spelling and ``aliases``, ``precedence`` and ``right_assoc``.
With today's table the grammar of one statement is (``^`` and its alias
``**`` are the same operator)::

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := ('-' | '+') unary | power
    power := atom (('^' | '**') unary)?
    atom  := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'

so ``-x^2`` is ``-(x^2)``, ``2^-x`` is ``2^(-x)``, ``-a*b`` is ``(-a)*b`` and
``^`` is right-associative.  Nodes are built with the simplifying
constructors of :mod:`symdiff.core.symbolic`, so the result is the very node the
Python API builds for the same expression (``parse("x*y") is x*y``).

The parser is an operator-precedence (shunting-yard) loop over explicit
value and operator stacks: it never recurses, so 10^5-deep nesting parses
at the default recursion limit, in time linear in the input.  User text only
ever reaches ``float()`` (for a matched number token), never ``eval``.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from symdiff.core import ops as _ops
from symdiff.core.symbolic import apply
from symdiff.core.node import Node, const, symbol
from symdiff.text import operators as _operators
from symdiff.text.operators import Operators

__all__ = ["parse", "parse_program", "ParsedProgram", "ParseError"]

# Names that read as float constants.  ``inf`` and ``nan`` are here because
# the printer spells those values that way (see infix.format_number).
_CONSTANTS = {**_ops.CONSTANTS, "inf": math.inf, "nan": math.nan}
_FUNCTIONS = _ops.FUNCTIONS
_KNOWN = ", ".join(sorted(_FUNCTIONS))

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
          **{c: _OP for c in "(),="}}


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
    "\u03c0": "'pi'", "[": "'('", "]": "')'", "{": "'('", "}": "')'",
}


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
    name ``y``), useful as labels.
    """

    outputs: list
    definitions: dict
    output_texts: list


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


class _Parser:
    """State for one program: the source lines, the names assigned so far,
    and the statement each name is first assigned in (to report a use
    before the assignment instead of silently reading a free symbol)."""

    def __init__(self, text: str):
        # One newline convention, so that columns and source lines agree.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = text.split("\n")
        self.grammar = _current_grammar()
        self.definitions: dict[str, Node] = {}
        self.def_lines: dict[str, int] = {}
        self.future: dict[str, tuple[int, int]] = {}
        # name -> node for every name already read or assigned: a name's
        # meaning never changes later (see _resolve), so this memo is safe.
        self.resolved: dict[str, Node] = {}
        self._columns: dict[int, list[int]] = {}
        # The statement being parsed.
        self.index = 0
        self.lineno = 1
        self.offset = 0
        self.toks: list[str] = []

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
        return ParsedProgram(outputs, dict(self.definitions), texts)

    def _check_target(self, name: str) -> None:
        """Reject assignments to functions, constants and assigned names."""
        if name in _FUNCTIONS:
            raise self.error(f"cannot assign to {name!r}: it is a function", 0)
        if name in _CONSTANTS:
            raise self.error(f"cannot assign to {name!r}: it is a constant", 0)
        if name in self.definitions:
            raise self.error(f"{name!r} is already defined on line "
                             f"{self.def_lines[name]} (names can be assigned only once)", 0)

    # -- names --------------------------------------------------------------

    def _resolve(self, k: int) -> Node:
        """The node that name token ``k`` stands for outside a call (the
        slow path; the answer is memoized in ``resolved``)."""
        name = self.toks[k]
        if name in _CONSTANTS:
            node = const(_CONSTANTS[name])
        elif name in _FUNCTIONS:
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
        msg = f"unknown function {name!r} (known functions: {_KNOWN})"
        close = difflib.get_close_matches(name, list(_FUNCTIONS), n=1, cutoff=0.75)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        elif len(name) <= 2 or name in self.future:
            # Short names are almost always variables: x(2) meant x*(2).
            msg += f"; to multiply, write {name}*(...)"
        return self.error(msg, k)

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
        # '(' or call opened).
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
                        if op is None:
                            raise self._not_callable(i)
                        stack.append((_CALL, op.arity, tok, i, len(vals)))
                        prev = i + 1                    # the '('
                        i += 2
                        continue
                    node = resolved.get(tok)
                    vals.append(node if node is not None else self._resolve(i))
                    expect_operand = False
                elif cls == _NUM:
                    try:
                        # float() of the matched token text only: never eval.
                        value = float(tok)
                    except ValueError:
                        raise self._bad_token(i) from None
                    vals.append(const(value))
                    expect_operand = False
                elif tok == "(":
                    stack.append((_OPEN, 0, None, i, len(vals)))
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
                        stack.pop()
                        if top[0] == _BIN:
                            rhs = vals.pop()
                            vals[-1] = apply(top[2], vals[-1], rhs)
                        else:
                            vals[-1] = apply(top[2], vals[-1])
                    stack.append((_BIN, prec, binary.op, i, 0))
                    expect_operand = True
                elif tok == ")":
                    if stack and stack[-1][0] < _OPEN:
                        _reduce_to_marker(stack, vals)
                    if not stack:
                        raise self.error("unmatched ')'", i)
                    top = stack.pop()
                    if top[0] == _CALL:
                        base = top[4]
                        if top[1] == 1 and len(vals) == base + 1:
                            # The common one-argument call, without slicing.
                            vals[-1] = apply(top[2], vals[-1])
                        else:
                            args = vals[base:]
                            del vals[base:]
                            self._check_arity(top, len(args), i)
                            vals.append(apply(top[2], *args))
                elif tok == ",":
                    _reduce_to_marker(stack, vals)
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
                    expect_operand = True
                elif tok == "=":
                    raise self._misplaced_equals(i, prev, role)
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
        _reduce_to_marker(stack, vals)
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

    def _misplaced_equals(self, k: int, prev: int, role: str) -> ParseError:
        """The error for '=' after a complete operand."""
        if role == "assign":
            return self.error("only one '=' is allowed in a statement", k)
        if prev == 0 and _CLASS.get(self.toks[0][0]) == _NUM:
            return self.error("the left side of '=' must be a name, not a number", k)
        return self.error("the left side of '=' must be a single name "
                          "(assignments look like 'name = expr')", k)


def _is_assignment(toks: list[str]) -> bool:
    """True for a statement of the form ``name = ...``."""
    return len(toks) >= 2 and toks[1] == "=" and _CLASS.get(toks[0][0]) == _NAME


def _reduce_to_marker(stack: list, vals: list) -> None:
    """Apply pending operators down to the nearest '(' or call marker."""
    while stack and stack[-1][0] < _OPEN:
        top = stack.pop()
        if top[0] == _BIN:
            rhs = vals.pop()
            vals[-1] = apply(top[2], vals[-1], rhs)
        else:
            vals[-1] = apply(top[2], vals[-1])


def parse_program(text: str) -> ParsedProgram:
    """Parse a program: assignments, then one output statement.

    Statements are separated by newlines or ``;``; ``#`` starts a comment.
    Each statement but the last is ``name = expr``; the last is either
    comma-separated output expressions or ``name = expr`` (whose value is
    the output).  Names are assigned once; a later use of an assigned name
    is the same node, an unassigned name is a free symbol, ``pi``, ``e``,
    ``inf`` and ``nan`` are constants.  Raises :class:`ParseError`.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    return _Parser(text).run()


def parse(text: str) -> Node | list[Node]:
    """Parse ``text`` and return its output: a Node, or a list of Nodes when
    the last statement lists several comma-separated outputs.

    >>> from symdiff import parse, symbol
    >>> x = symbol("x")
    >>> parse("-x^2") is -(x**2)
    True
    """
    outputs = parse_program(text).outputs
    return outputs[0] if len(outputs) == 1 else list(outputs)
