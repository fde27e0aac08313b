"""The non-expression pieces of the text syntax, read from a statement's
tokens: literal parameters of tensor functions (``axis=1``,
``keepdims=True``, ``(m, 1)``), index specs (``[0, 1:3]``) and shape
declarations (``X : m x 64``, ``y : m int``).

Each reader takes the statement's tokens, the index to start at and an
``error(message, k)`` callback that returns the :class:`ParseError` for
token ``k`` (so messages carry the caret), and returns what it read with
the index of the next token.  None of them recurses.  Integers only ever
reach ``int()`` of a token of digits.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["read_literal", "read_index", "read_declaration", "DTYPES", "DECLARATION_SYNTAX"]

#: Type names a declaration may end with.
DTYPES = {"float": "float64", "int": "int64"}

#: How a declaration looks, for error messages.
DECLARATION_SYNTAX = "'X : m x 64', 'y : m int' or 's : scalar'"

_WORDS = {"True": True, "False": False, "None": None}

#: The largest integer a literal may hold: sizes, axes and indices end up
#: as int64 (numpy, the compiled kernels), where a larger one would wrap.
INT_MAX = 2 ** 63 - 1


def _checked_int(tok: str, k: int, error: Callable) -> int:
    """``int`` of the digits token ``tok`` (token ``k``), refusing values
    beyond :data:`INT_MAX` with a clear error."""
    digits = tok.lstrip("0")
    # Compare lengths first: int() of more than 4300 digits raises.
    if len(digits) > 19 or (len(digits) == 19 and int(digits) > INT_MAX):
        shown = tok if len(tok) <= 24 else f"{tok[:10]}...{tok[-10:]} ({len(tok)} digits)"
        raise error(f"integer {shown} is too large (the largest is 2^63 - 1 = {INT_MAX})", k)
    return int(tok)


def _is_name(tok: str) -> bool:
    return tok[0].isalpha() or tok[0] == "_"


def _int(toks: list, j: int, error: Callable, what: str):
    """An optionally signed integer at ``j``: (value, next index)."""
    sign = 1
    k = j
    if k < len(toks) and toks[k] in ("-", "+"):
        sign = -1 if toks[k] == "-" else 1
        k += 1
    if k >= len(toks):
        raise error(f"expected {what} after {toks[k - 1]!r}", k - 1)
    tok = toks[k]
    if not tok.isdigit() or not tok.isascii():
        raise error(f"expected {what}, found {tok!r}", k)
    return sign * _checked_int(tok, k, error), k + 1


def _atom(toks: list, j: int, error: Callable):
    """An int, ``True``/``False``/``None`` or a dimension name."""
    if j >= len(toks):
        raise error(f"expected a value after {toks[j - 1]!r}", j - 1)
    tok = toks[j]
    if tok in _WORDS:
        return _WORDS[tok], j + 1
    if _is_name(tok):
        return tok, j + 1                        # a dimension name (in a shape)
    return _int(toks, j, error, "an integer, True, False, None, a name or a tuple")


def read_literal(toks: list, j: int, error: Callable):
    """A literal parameter starting at token ``j``: an int, ``True``,
    ``False``, ``None``, a dimension name, a tuple of those (``(0, 1)``,
    ``(m,)``) or an index spec in brackets.  Returns (value, next index)."""
    if j < len(toks) and toks[j] == "[":
        return read_index(toks, j, error)
    if j >= len(toks) or toks[j] != "(":
        return _atom(toks, j, error)
    items = []
    k = j + 1
    while True:
        if k >= len(toks):
            raise error("unclosed '(': no matching ')' on this line", j)
        if toks[k] == ")":
            return tuple(items), k + 1
        if toks[k] == "(":
            raise error("a parameter tuple holds integers and names, not tuples", k)
        value, k = _atom(toks, k, error)
        items.append(value)
        if k < len(toks) and toks[k] == ",":
            k += 1
        elif k >= len(toks) or toks[k] != ")":
            found = repr(toks[k]) if k < len(toks) else "the end of the line"
            raise error(f"expected ',' or ')' in the tuple, found {found}", min(k, len(toks) - 1))


def read_index(toks: list, j: int, error: Callable):
    """An index spec ``[i, a:b, ::c]`` starting at the '[' at ``j``: a tuple
    of ints and ``(start, stop, step)`` triples (None where omitted), and
    the index after the ']'."""
    items = []
    k = j + 1
    while True:
        if k >= len(toks):
            raise error("unclosed '[': no matching ']' on this line", j)
        if toks[k] == "]" and not items and k == j + 1:
            raise error("empty index: expected integers or slices inside '[]'", j)
        parts = [None]                   # the numbers between colons
        while k < len(toks) and toks[k] not in (",", "]"):
            if toks[k] == ":":
                if len(parts) == 3:
                    raise error("a slice has at most two ':' (start:stop:step)", k)
                parts.append(None)
                k += 1
                continue
            if parts[-1] is not None:
                raise error(f"expected ':', ',' or ']', found {toks[k]!r}", k)
            parts[-1], k = _int(toks, k, error, "an integer index or slice bound")
        if k >= len(toks):
            raise error("unclosed '[': no matching ']' on this line", j)
        if len(parts) == 1:
            if parts[0] is None:
                raise error(f"expected an index before {toks[k]!r}", k)
            items.append(parts[0])
        else:
            if len(parts) == 3 and parts[2] == 0:
                raise error("a slice step cannot be 0", k - 1)
            items.append(tuple(parts + [None] * (3 - len(parts))))
        if toks[k] == "]":
            return tuple(items), k + 1
        k += 1


def read_declaration(toks: list, error: Callable):
    """A declaration statement ``name : dims [int|float]``: dims are
    ``scalar`` or dimensions (ints or names) joined by ``x`` (``m x 64``,
    also ``64x10``).  Returns (name, shape, dtype)."""
    name = toks[0]
    parts = toks[2:]
    dtype = "float64"
    end = len(toks)
    if parts and parts[-1] in DTYPES:
        dtype = DTYPES[parts[-1]]
        end -= 1
    k = 2
    if k == end:
        if end < len(toks):
            return name, (), dtype                # 'k : int': a scalar
        raise error(f"expected a shape after ':', such as {DECLARATION_SYNTAX}", 1)
    if toks[k] == "scalar":
        if k + 1 != end:
            raise error(f"expected nothing after 'scalar' but int or float, found "
                        f"{toks[k + 1]!r}", k + 1)
        return name, (), dtype
    shape = []
    expect_dim = True
    while k < end:
        tok = toks[k]
        if expect_dim:
            if tok.isdigit() and tok.isascii():
                shape.append(_checked_int(tok, k, error))
            elif _is_name(tok) and tok not in _WORDS and tok != "scalar":
                shape.append(tok)
            else:
                raise error(f"expected a dimension (an integer or a name), found {tok!r}; "
                            f"declarations look like {DECLARATION_SYNTAX}", k)
            expect_dim = False
        elif tok == "x":
            expect_dim = True
        elif tok[0] == "x" and tok[1:].isdigit() and tok.isascii():
            shape.append(_checked_int(tok[1:], k, error))   # '64x10' reads as 64, x10
        else:
            raise error(f"expected 'x' between dimensions, found {tok!r}; declarations "
                        f"look like {DECLARATION_SYNTAX}", k)
        k += 1
    if expect_dim:
        raise error("expected a dimension after 'x'", k - 1)
    return name, tuple(shape), dtype
