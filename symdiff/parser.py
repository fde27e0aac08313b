"""Parse infix text into expression nodes.

A program is a sequence of statements separated by newlines or ``;``::

    a = x*y          # every statement but the last is an assignment
    b = sin(a) + a
    b^2, a/b         # the last one is the output (comma-separated outputs)

Grammar (one statement; ``^`` and ``**`` are the same operator)::

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := ('-' | '+') unary | power
    power := atom (('^' | '**') unary)?
    atom  := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'

so ``-x^2`` is ``-(x^2)``, ``2^-x`` is ``2^(-x)``, ``-a*b`` is ``(-a)*b`` and
``^`` is right-associative.  Nodes are built with the simplifying
constructors of :mod:`symdiff.build`, so the result is the very node the
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

from . import ops as _ops
from .build import apply
from .node import Node, const, symbol

__all__ = ["parse", "parse_program", "ParsedProgram", "ParseError"]

# Names that read as float constants.  ``inf`` and ``nan`` are here because
# the printer spells those values that way (see printing.format_number).
_CONSTANTS = {**_ops.CONSTANTS, "inf": math.inf, "nan": math.nan}
_FUNCTIONS = _ops.FUNCTIONS
_KNOWN = ", ".join(sorted(_FUNCTIONS))

# Binary operators: token -> (op name, precedence, right-associative).
_BINARY = {
    "+": ("add", _ops.PREC_ADD, False),
    "-": ("sub", _ops.PREC_ADD, False),
    "*": ("mul", _ops.PREC_MUL, False),
    "/": ("div", _ops.PREC_MUL, False),
    "^": ("pow", _ops.PREC_POW, True),
    "**": ("pow", _ops.PREC_POW, True),
}

# Operator-stack entry kinds.  Entries below _OPEN are operators waiting for
# their right operand; _OPEN and _CALL are markers that ')' and ',' stop at.
_BIN, _NEG, _OPEN, _CALL = 0, 1, 2, 3

# One alternative per token kind.  Digits are spelled [0-9] because \d
# also matches non-ASCII digits, which float() would happily accept.
_TOKEN = re.compile(r"""
    (?P<ws>[ \t\f\v]+)
  | (?P<comment>\#.*)
  | (?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/^(),;=])
  | (?P<bad>.)
""", re.VERBOSE)

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


# A token is a tuple (kind, text, line, column, message).  ``kind`` is "num",
# "name", "bad" or the operator text itself; ``message`` is set for "bad".
# Tuples, not objects: a 10^5-deep input has hundreds of thousands of tokens.


def _bad_number_end(line: str, end: int, text: str) -> int:
    """End of a malformed number starting with the valid ``text`` that ends
    at ``end``, or ``end`` when the number is well formed."""
    n = len(line)
    if end < n and line[end] == ".":
        # 1.2.3 or 1e5.2: swallow the rest of the digit run.
        while end < n and (line[end].isdigit() or line[end] == "."):
            end += 1
        return end
    if end < n and line[end] in "eE" and "e" not in text.lower():
        nxt = line[end + 1] if end + 1 < n else ""
        if nxt in ("+", "-"):                   # 1e+ : the sign has no digits
            return end + 2
        if not (nxt.isalnum() or nxt == "_"):   # 1e at a boundary
            return end + 1
        # 2exp(x): a number then a name, reported as a missing operator.
    return end


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


def _tokenize(lines: list[str]) -> list[list[tuple]]:
    """Split each line into statements, each a list of tokens.

    Errors are not raised here: an unknown character becomes a "bad" token
    so that the parser reports the first error in statement order.
    """
    statements = []
    match = _TOKEN.match
    for lineno, line in enumerate(lines, 1):
        current: list[tuple] = []
        pos, n = 0, len(line)
        while pos < n:
            m = match(line, pos)
            kind = m.lastgroup
            end = m.end()
            if kind == "ws" or kind == "comment":
                pass
            elif kind == "op":
                text = m.group()
                if text == ";":
                    if current:
                        statements.append(current)
                    current = []
                else:
                    current.append((text, text, lineno, pos + 1, None))
            elif kind == "num":
                text = m.group()
                bad_end = _bad_number_end(line, end, text)
                if bad_end != end:
                    end = bad_end
                    text = line[pos:end]
                    current.append(("bad", text, lineno, pos + 1,
                                    f"malformed number {text!r}"))
                else:
                    current.append(("num", text, lineno, pos + 1, None))
            elif kind == "name":
                current.append(("name", m.group(), lineno, pos + 1, None))
            else:
                ch = m.group()
                current.append(("bad", ch, lineno, pos + 1, _char_message(ch)))
            pos = end
        if current:
            statements.append(current)
    return statements


def _describe(tok) -> str:
    """How a token is named in messages."""
    return "end of line" if tok is None else repr(tok[1])


class _Parser:
    """State for one program: source lines, names defined so far, and the
    line each name is first assigned on (to catch uses before definition)."""

    def __init__(self, text: str):
        # One newline convention, so columns and source lines agree.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = text.split("\n")
        self.definitions: dict[str, Node] = {}
        self.def_lines: dict[str, int] = {}
        self.future: dict[str, tuple[int, int]] = {}

    def error(self, message: str, tok, length: int | None = None) -> ParseError:
        """A ParseError pointing at ``tok`` (a caret under its text)."""
        line, col = tok[2], tok[3]
        return ParseError(message, line, col, self.lines[line - 1],
                          len(tok[1]) if length is None else length)

    def span_error(self, message: str, first, last) -> ParseError:
        """A ParseError underlining from ``first`` to the end of ``last``
        (both on one line, as every statement is)."""
        return self.error(message, first, last[3] + len(last[1]) - first[3])

    # -- statements ---------------------------------------------------------

    def run(self) -> ParsedProgram:
        statements = _tokenize(self.lines)
        if not statements:
            raise ParseError("empty input: expected an expression", 1, 1, self.lines[0])
        # First assignment of every name, so that a use before it can be
        # reported as such instead of silently meaning a free symbol.
        for index, toks in enumerate(statements):
            if len(toks) >= 2 and toks[0][0] == "name" and toks[1][0] == "=":
                self.future.setdefault(toks[0][1], (index, toks[0][2]))
        last = len(statements) - 1
        outputs: list[Node] = []
        texts: list[str] = []
        for index, toks in enumerate(statements):
            self.index = index
            is_assign = len(toks) >= 2 and toks[0][0] == "name" and toks[1][0] == "="
            if is_assign:
                name_tok = toks[0]
                self._check_target(name_tok)
                values, _ = self._parse_exprs(toks, 2, toks[1], "assign")
                self.definitions[name_tok[1]] = values[0]
                self.def_lines[name_tok[1]] = name_tok[2]
                if index == last:
                    outputs, texts = values, [name_tok[1]]
            else:
                values, bounds = self._parse_exprs(
                    toks, 0, None, "output" if index == last else "statement")
                if index != last:
                    raise self.span_error(
                        "only the last statement can be an output expression; "
                        "earlier statements must be assignments like 'name = expr'",
                        toks[0], toks[-1])
                outputs = values
                src = self.lines[toks[0][2] - 1]
                texts = [src[a[3] - 1:b[3] - 1 + len(b[1])] for a, b in bounds]
        return ParsedProgram(outputs, dict(self.definitions), texts)

    def _check_target(self, tok) -> None:
        """Reject assignments to functions, constants and defined names."""
        name = tok[1]
        if name in _FUNCTIONS:
            raise self.error(f"cannot assign to {name!r}: it is a function", tok)
        if name in _CONSTANTS:
            raise self.error(f"cannot assign to {name!r}: it is a constant", tok)
        if name in self.definitions:
            raise self.error(f"{name!r} is already defined on line "
                             f"{self.def_lines[name]} (names can be assigned only once)",
                             tok)

    # -- names --------------------------------------------------------------

    def _name(self, tok) -> Node:
        """The node a name stands for outside a call."""
        name = tok[1]
        node = self.definitions.get(name)
        if node is not None:
            return node
        if name in _CONSTANTS:
            return const(_CONSTANTS[name])
        if name in _FUNCTIONS:
            raise self.error(f"function {name!r} must be called with arguments, "
                             f"e.g. {name}(x)", tok)
        later = self.future.get(name)
        if later is not None:
            if later[0] == self.index:
                raise self.error(f"{name!r} is used in its own definition", tok)
            raise self.error(f"{name!r} is used before it is defined on line {later[1]}",
                             tok)
        return symbol(name)

    def _not_callable(self, tok) -> ParseError:
        """The error for ``name(`` when ``name`` is not a function."""
        name = tok[1]
        if name in _CONSTANTS:
            return self.error(f"{name!r} is a constant, not a function "
                              f"(to multiply, write {name}*(...))", tok)
        if name in self.definitions:
            return self.error(f"{name!r} is a variable defined on line "
                              f"{self.def_lines[name]}, not a function "
                              f"(to multiply, write {name}*(...))", tok)
        msg = f"unknown function {name!r} (known functions: {_KNOWN})"
        close = difflib.get_close_matches(name, list(_FUNCTIONS), n=1, cutoff=0.75)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        elif len(name) <= 2 or name in self.future:
            # Short names are almost always variables: x(2) meant x*(2).
            msg += f"; to multiply, write {name}*(...)"
        return self.error(msg, tok)

    # -- expressions --------------------------------------------------------

    def _parse_exprs(self, toks, lo, before, role):
        """Parse ``toks[lo:]`` as one expression, or as comma-separated
        outputs when ``role`` is "output".

        ``before`` is the token preceding ``toks[lo]`` (the '=' of an
        assignment) for messages.  Returns the list of nodes and, per node,
        the (first, last) tokens of its text.
        """
        vals: list[Node] = []
        # Entries: (kind, precedence, op name, token, value-stack base).
        stack: list[tuple] = []
        bounds: list[tuple] = []
        expect_operand = True
        prev = before
        first = lo
        i, hi = lo, len(toks)
        while i < hi:
            tok = toks[i]
            kind = tok[0]
            if kind == "bad":
                raise self.error(tok[4], tok)
            if expect_operand:
                if kind == "num":
                    # float() on the matched token only: never eval.
                    vals.append(const(float(tok[1])))
                    expect_operand = False
                elif kind == "name":
                    if i + 1 < hi and toks[i + 1][0] == "(":
                        if tok[1] not in _FUNCTIONS:
                            raise self._not_callable(tok)
                        i += 1
                        stack.append((_CALL, 0, tok[1], tok, len(vals), toks[i]))
                        tok = toks[i]
                    else:
                        vals.append(self._name(tok))
                        expect_operand = False
                elif kind == "(":
                    stack.append((_OPEN, 0, None, tok, len(vals), tok))
                elif kind == "-":
                    stack.append((_NEG, _ops.PREC_NEG, "neg", tok, 0, None))
                elif kind == "+":
                    pass                                # unary plus: a no-op
                elif kind == ")" and prev is not None and prev[0] == "(" and stack:
                    top = stack[-1]
                    if top[0] == _CALL:                 # f() : zero arguments
                        self._check_arity(top, 0, tok)
                    raise self.span_error("empty parentheses: expected an expression "
                                          "inside '()'", prev, tok)
                else:
                    raise self._missing_operand(tok, prev)
            else:
                if kind in _BINARY:
                    name, prec, right = _BINARY[kind]
                    # Pop operators that bind at least as tightly (strictly
                    # tighter for the right-associative '^').  A pending
                    # unary minus (PREC_NEG) stays below an incoming '^', so
                    # -x^2 is -(x^2) and 2^-x^y is 2^(-(x^y)).
                    while stack:
                        top = stack[-1]
                        if top[0] >= _OPEN or top[1] < prec or (top[1] == prec and right):
                            break
                        stack.pop()
                        self._reduce(top, vals)
                    stack.append((_BIN, prec, name, tok, 0, None))
                    expect_operand = True
                elif kind == ")":
                    self._reduce_to_marker(stack, vals)
                    if not stack:
                        raise self.error("unmatched ')'", tok)
                    top = stack.pop()
                    if top[0] == _CALL:
                        base = top[4]
                        args = vals[base:]
                        del vals[base:]
                        self._check_arity(top, len(args), tok)
                        vals.append(apply(top[2], *args))
                elif kind == ",":
                    self._reduce_to_marker(stack, vals)
                    if stack and stack[-1][0] == _OPEN:
                        raise self.error("',' inside parentheses: commas separate "
                                         "function arguments or outputs only", tok)
                    if not stack:
                        if role != "output":
                            raise self.error(
                                "an assignment takes a single expression; ',' is not "
                                "allowed here" if role == "assign" else
                                "several comma-separated outputs are allowed only in "
                                "the last statement", tok)
                        bounds.append((toks[first], prev))
                        first = i + 1
                    expect_operand = True
                elif kind == "=":
                    raise self._misplaced_equals(tok, prev, role, toks, lo)
                else:
                    # An operand right after an operand: 2x, x y, 2 (x), (x)(y).
                    raise self.error(f"missing operator before {_describe(tok)} "
                                     "(implicit multiplication is not supported; "
                                     "write '*')", tok)
            prev = tok
            i += 1
        if expect_operand:
            if prev[0] == "(":
                # '(' at the end of the line: report it as never closed.
                raise self.error("unclosed '(': no matching ')' on this line", prev)
            raise self.error(f"expected an expression after {_describe(prev)}", prev)
        self._reduce_to_marker(stack, vals)
        if stack:
            # Innermost unclosed parenthesis: the one nearest the line's end.
            raise self.error("unclosed '(': no matching ')' on this line", stack[-1][5])
        bounds.append((toks[first], prev))
        return vals, bounds

    @staticmethod
    def _reduce(entry, vals) -> None:
        """Apply one operator entry to the top of the value stack."""
        if entry[0] == _BIN:
            b = vals.pop()
            vals[-1] = apply(entry[2], vals[-1], b)
        else:
            vals[-1] = apply("neg", vals[-1])

    def _reduce_to_marker(self, stack, vals) -> None:
        """Apply pending operators down to the nearest '(' or call marker."""
        while stack and stack[-1][0] < _OPEN:
            self._reduce(stack.pop(), vals)

    def _check_arity(self, entry, n: int, close_tok) -> None:
        """Raise if the call in ``entry`` cannot take ``n`` arguments."""
        name = entry[2]
        op = _FUNCTIONS[name]
        if op.check_arity(n):
            return
        if op.arity == _ops.VARIADIC:
            need = "2 or more arguments"
        else:
            need = f"{op.arity} argument{'s' if op.arity != 1 else ''}"
        raise self.span_error(f"{name} takes {need}, got {n}", entry[3], close_tok)

    def _missing_operand(self, tok, prev) -> ParseError:
        """The error for a token that cannot start an operand."""
        if tok[0] == "=":
            if prev is None:
                return self.error("missing name before '='", tok)
            if prev[0] == "=":
                return self.error("'==' is not supported: '=' only assigns a name", tok)
        if prev is None:
            return self.error(f"expected an expression, found {_describe(tok)}", tok)
        return self.error(f"expected an expression after {_describe(prev)}, "
                          f"found {_describe(tok)}", tok)

    def _misplaced_equals(self, tok, prev, role, toks, lo) -> ParseError:
        """The error for '=' after a complete operand."""
        if role == "assign":
            return self.error("only one '=' is allowed in a statement", tok)
        if lo == 0 and toks[0][0] == "num" and prev is toks[0]:
            return self.error("the left side of '=' must be a name, not a number", tok)
        return self.error("the left side of '=' must be a single name "
                          "(assignments look like 'name = expr')", tok)


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
