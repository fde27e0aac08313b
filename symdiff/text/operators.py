"""The infix operators of the op table, as the parser and the printers see them.

Built from an op table (:data:`symdiff.core.ops.ALL_OPS` by default, so the
tensor product ``@`` is here with the elementwise operators): an op with
an ``infix`` spelling is a *binary* operator when it takes two arguments and
a *prefix* operator when it takes one (``-x``); ``aliases`` are further
spellings the parser accepts (printers always write ``infix``).  Precedence
and associativity come from the op's ``precedence`` and ``right_assoc``.
Nothing in this module names an op, so an infix op added to the table is
parsed and printed with no change here.

Two grammar rules are not per-op and live here, keyed on the table's
fields rather than on op names:

* operators that share a precedence share an associativity (otherwise
  ``a ^ b % c`` would have no single reading);
* the right operand of a right-associative operator is a ``unary`` in the
  grammar, so it may start with a prefix operator (``2^-x``).  Such a prefix
  operator captures every operator that binds more tightly than itself, so
  the printer may leave it bare only where no binary operator's precedence
  lies strictly between the prefix operator's and the right-associative
  operator's (:attr:`Binary.prefix_need`).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from symdiff.core.ops import ALL_OPS, OpDef

__all__ = ["Binary", "Prefix", "Operators", "from_table", "OPERATORS"]

# Characters an operator spelling may not use: they start names, numbers or
# comments, or are punctuation the grammar itself reads.
_RESERVED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.#(),;=")


class Binary(NamedTuple):
    """One binary operator: ``op`` (the op name), ``precedence``,
    ``right_assoc``, and the minimum precedences its operands need to print
    without parentheses: ``left_need``, ``right_need``, and ``prefix_need``
    for a right operand that begins with a prefix operator or a sign."""

    op: str
    precedence: int
    right_assoc: bool
    left_need: int
    right_need: int
    prefix_need: int


class Prefix(NamedTuple):
    """One prefix operator: ``op`` (the op name), ``precedence``, and the
    minimum precedences its operand needs to print without parentheses:
    ``need``, and ``prefix_need`` for an operand that itself begins with a
    prefix operator or a sign (``--x``)."""

    op: str
    precedence: int
    need: int
    prefix_need: int


class Operators(NamedTuple):
    """The operators of one op table.

    ``binary`` and ``prefix`` map every spelling (``infix`` and ``aliases``)
    to its operator; ``by_op`` maps an op name to the spelling printers
    write and its :class:`Binary` or :class:`Prefix`; ``tokens`` lists every
    spelling, longest first, for a tokenizer.
    """

    binary: dict
    prefix: dict
    by_op: dict
    tokens: tuple


def _spellings(op: OpDef) -> tuple:
    spellings = (op.infix, *op.aliases)
    for s in spellings:
        if not s or any(c in _RESERVED or c.isspace() for c in s):
            raise ValueError(f"op {op.name!r}: operator spelling {s!r} must be "
                             "punctuation (no letters, digits, blanks or _.#(),;=)")
    return spellings


def from_table(ops: Mapping[str, OpDef] = ALL_OPS) -> Operators:
    """The :class:`Operators` of the op table ``ops``.

    Raises ``ValueError`` for a table the grammar cannot read: an infix op
    that takes neither one nor two arguments, a spelling used twice in one
    role, or one precedence with both associativities.
    """
    binary: dict[str, str] = {}      # spelling -> op name
    prefix: dict[str, str] = {}
    assoc: dict[int, bool] = {}
    infix_ops = [op for op in ops.values() if op.infix is not None]
    for op in infix_ops:
        if op.arity not in (1, 2):
            raise ValueError(f"op {op.name!r} has an infix spelling but takes "
                             f"{'2 or more' if op.arity < 0 else op.arity} arguments")
        role = prefix if op.arity == 1 else binary
        for s in _spellings(op):
            if s in role:
                raise ValueError(f"operator {s!r} is spelled the same by {role[s]!r} "
                                 f"and {op.name!r}")
            role[s] = op.name
        if op.arity == 2:
            if assoc.setdefault(op.precedence, op.right_assoc) != op.right_assoc:
                raise ValueError(f"precedence {op.precedence} has left- and "
                                 f"right-associative operators ({op.name!r})")
    levels = sorted(assoc)
    by_op: dict[str, tuple] = {}
    for op in infix_ops:
        p = op.precedence
        if op.arity == 1:
            # The operand needs a tighter binding than the prefix, or "-a OP b"
            # would read as (-a) OP b; at a tie only a right-associative OP
            # wins (as ^ does in a^b^c).  A nested prefix (--x) is fine.
            entry = Prefix(op.name, p, p if assoc.get(p) else p + 1, p)
        elif op.right_assoc:
            # a^b^c is a^(b^c): the left operand must bind more tightly, the
            # right one may be another a^b.  A bare prefix operator on the
            # right (2^-x) captures every following operator that binds more
            # tightly than itself; only operators looser than p can follow,
            # so it is safe if it binds at least as tightly as the next
            # binary level below p.
            below = [q for q in levels if q < p]
            entry = Binary(op.name, p, True, p + 1, p, below[-1] if below else 0)
        else:
            # Left-associative: a-b-c is (a-b)-c, so a right operand of the
            # same precedence keeps its parentheses (they change rounding).
            entry = Binary(op.name, p, False, p, p + 1, p + 1)
        by_op[op.name] = (op.infix, entry)
    binary_ops = {s: by_op[name][1] for s, name in binary.items()}
    prefix_ops = {s: by_op[name][1] for s, name in prefix.items()}
    tokens = tuple(sorted({*binary_ops, *prefix_ops}, key=lambda s: (-len(s), s)))
    return Operators(binary_ops, prefix_ops, by_op, tokens)


#: The operators of :data:`symdiff.core.ops.ALL_OPS`.  The parser and the
#: printers read this attribute on every call, so replacing it (as a test
#: adding an op to the table does) changes them all.
OPERATORS = from_table(ALL_OPS)
