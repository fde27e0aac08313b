"""Matching helpers of the stability rules (:mod:`symdiff.core.stable_rules`):
each looks a bounded number of levels below a node, never recursively,
so that applying every rule at every node stays linear.

They read sums as signed term lists (:func:`sum_terms`), products as
factor lists (:func:`product_factors`, :func:`factors`), and decide what
is provably positive or nonnegative; results are built through
:mod:`symdiff.core.symbolic`.
"""

from __future__ import annotations

import math
from typing import Optional

from symdiff.core import symbolic as S
from symdiff.core.node import Node

__all__ = ["MAX_TERMS", "is_const", "exact_square_root", "square_base", "sum_terms",
           "build_sum", "positive", "one_plus", "coefficient", "drop_cancelling",
           "difference", "nonnegative", "reciprocal_of", "product_factors", "factors",
           "is_input", "halved_input", "hypot_of_squares", "hypot_one_of", "sqrt_u2_minus_1",
           "POSITIVE_OPS", "NONNEGATIVE_OPS"]


#: Sums are opened into at most this many terms when matched; deeper parts
#: of a longer sum stay whole terms (keeps the pass linear).
MAX_TERMS = 16


def is_const(n: Node, value: float) -> bool:
    """True if ``n`` is the scalar constant ``value``."""
    return n.op == "const" and n.payload == value


def exact_square_root(c: float) -> Optional[float]:
    """sqrt(c) for a positive constant that is an exact square in float64
    (1, 4, 0.25 ...), else None: the rewrite must not round the constant."""
    if c > 0 and math.isfinite(c):
        r = math.sqrt(c)
        if r * r == c:
            return r
    return None


def square_base(n: Node) -> Optional[Node]:
    """u if ``n`` is u^2 or u*u; the root of an exact-square constant."""
    if n.op == "pow" and is_const(n.args[1], 2.0):
        return n.args[0]
    if n.op == "mul" and n.args[0] is n.args[1]:
        return n.args[0]
    if n.op == "const" and not n.shape:
        r = exact_square_root(n.payload)
        return None if r is None else S.const(r)
    return None


def sum_terms(n: Node) -> list:
    """``n`` as a list of (sign, term) for its add/sub/neg tree, in order.

    The tree is opened one level at a time while the terms stay at most
    :data:`MAX_TERMS`; deeper sums are kept whole as terms, so matching
    costs O(MAX_TERMS) per node and ``(e + x) - (e + y)`` still cancels e
    however long e is."""
    terms = [(1, n)]
    while True:
        nxt = []
        opened = False
        for sign, t in terms:
            if t.op == "add":
                nxt += [(sign, t.args[0]), (sign, t.args[1])]
                opened = True
            elif t.op == "sub":
                nxt += [(sign, t.args[0]), (-sign, t.args[1])]
                opened = True
            elif t.op == "neg":
                nxt.append((-sign, t.args[0]))
                opened = True
            else:
                nxt.append((sign, t))
        if not opened or len(nxt) > MAX_TERMS:
            return terms
        terms = nxt


def build_sum(terms: list) -> Node:
    """The sum of signed terms, left to right (0 for none)."""
    acc = None
    for sign, t in terms:
        if acc is None:
            acc = t if sign > 0 else S.neg(t)
        else:
            acc = S.add(acc, t) if sign > 0 else S.sub(acc, t)
    return S.const(0.0) if acc is None else acc


POSITIVE_OPS = frozenset({"exp", "sigmoid", "softplus", "cosh"})


def positive(n: Node) -> bool:
    """True if ``n`` is provably > 0 in real arithmetic (conservative,
    looks one level down)."""
    if n.op == "const":
        return not n.shape and n.payload > 0
    return n.op in POSITIVE_OPS


def one_plus(n: Node) -> Optional[Node]:
    """u if ``n`` is 1 + u."""
    if n.op == "add" and is_const(n.args[0], 1.0):
        return n.args[1]
    return None


def coefficient(t: Node):
    """(c, b) with t = c*b for a scalar constant c, else (1.0, t)."""
    if t.op == "mul" and t.args[0].op == "const" and not t.args[0].shape:
        return t.args[0].payload, t.args[1]
    return 1.0, t


def drop_cancelling(terms: list):
    """(terms without those that cancel, whether any did): terms with the
    same base whose signed constant coefficients sum to exactly 0 (t and -t;
    x + x - 2x) are dropped together.  Other terms keep their order."""
    groups: dict = {}
    for k, (sign, t) in enumerate(terms):
        c, b = coefficient(t)
        groups.setdefault(b, []).append((k, sign * c))
    drop = set()
    for members in groups.values():
        if len(members) >= 2 and math.fsum(c for _, c in members) == 0.0 \
                and all(math.isfinite(c) for _, c in members):
            drop.update(k for k, _ in members)
            continue
        # Pairs t, -t inside a larger group (t + t - t -> t).
        seen: dict = {}
        for k, c in members:
            j = seen.get(-c)
            if j is not None and c != 0:
                drop.update((j, k))
                del seen[-c]
            else:
                seen.setdefault(c, k)
    if not drop:
        return terms, False
    return [t for k, t in enumerate(terms) if k not in drop], True


def difference(a: Node, b: Node):
    """a - b with the terms the two sums share cancelled, or None when
    nothing cancels (then the difference would round like the original):
    ``difference(1 + x, x)`` is ``1``."""
    keep, changed = drop_cancelling(sum_terms(a) + [(-s, t) for s, t in sum_terms(b)])
    return build_sum(keep) if changed else None


NONNEGATIVE_OPS = frozenset({"sqrt", "abs", "hypot", "exp", "sigmoid", "softplus", "cosh",
                              "relu"})


def nonnegative(n: Node) -> bool:
    """True if ``n`` is provably >= 0 (or NaN) in real arithmetic."""
    if n.op == "const":
        return not n.shape and n.payload >= 0
    return n.op in NONNEGATIVE_OPS or square_base(n) is not None


def reciprocal_of(n: Node):
    """(sign, d) if ``n`` is 1/d (+1) or -1/d (-1), else None."""
    if n.op == "div" and n.args[0].op == "const" and n.args[0].payload in (1.0, -1.0) \
            and not n.args[0].shape:
        return (1 if n.args[0].payload > 0 else -1), n.args[1]
    return None


def product_factors(n: Node, limit: int = 12) -> Optional[list]:
    """``n`` as a flat list of (factor, +1 or -1), opening mul and div (a
    numerator 1 dropped) but not a quotient of two exponentials, which is a
    bounded ratio to keep; None past ``limit`` factors."""
    out: list = []
    stack = [(n, 1)]
    while stack:
        t, e = stack.pop()
        if t.op == "mul" and not t.shape:
            stack += [(t.args[1], e), (t.args[0], e)]
        elif t.op == "div" and not t.shape and not (
                t.args[0].op == "exp" and t.args[1].op == "exp"):
            stack += [(t.args[1], -e), (t.args[0], e)]
        elif not is_const(t, 1.0):
            out.append((t, e))
        if len(stack) + len(out) > limit:
            return None
    return out


def is_input(n: Node) -> bool:
    """A symbol or the negative of one: exact, unlike a computed value."""
    return n.op == "sym" or (n.op == "neg" and n.args[0].op == "sym")


def halved_input(n: Node) -> bool:
    """±0.5 times an input: what the halving below produces (exact; the
    builders turn 0.5*(-x) into -0.5*x, so both signs count)."""
    if n.op == "neg":
        n = n.args[0]
    return n.op == "mul" and (is_const(n.args[0], 0.5) or is_const(n.args[0], -0.5)) \
        and is_input(n.args[1])


def hypot_one_of(h: Node, u: Node) -> bool:
    """True if ``h`` is hypot(1, u) or sqrt(u^2 + 1) (either order)."""
    if h.op == "hypot":
        p, q = h.args
        return (is_const(p, 1.0) and q is u) or (is_const(q, 1.0) and p is u)
    if h.op == "sqrt":
        terms = sum_terms(h.args[0])
        if len(terms) == 2 and all(s > 0 for s, _ in terms):
            bases = {id(square_base(t)) for _, t in terms}
            return bases == {id(u), id(S.const(1.0))}
    return False


def sqrt_u2_minus_1(r: Node, u: Node) -> bool:
    """True if ``r`` is the radicand u^2 - 1 or (u - 1)(u + 1), any order."""
    if r.op == "sub" and is_const(r.args[1], 1.0) and square_base(r.args[0]) is u:
        return True
    if r.op == "mul":
        minus = S.sub(u, S.const(1.0))
        plus = (S.add(u, S.const(1.0)), S.add(S.const(1.0), u))
        p, q = r.args
        return (p is minus and q in plus) or (q is minus and p in plus)
    return False


def hypot_of_squares(n: Node) -> Optional[Node]:
    """hypot(x, y, ...) if ``n`` is a sum x^2 + y^2 + ... of two or more
    squares (exact-square constants included, not all constant), else None."""
    terms = sum_terms(n)
    if len(terms) < 2 or any(s < 0 for s, _ in terms):
        return None
    bases = [square_base(t) for _, t in terms]
    if any(b is None for b in bases) or all(b.op == "const" for b in bases):
        return None
    acc = bases[0]
    for b in bases[1:]:
        acc = S.apply("hypot", acc, b)
    return acc


def factors(n: Node, limit: int = 12) -> Optional[dict]:
    """``n`` as a product of powers, {node: exponent}, opening mul and div
    (numerator 1 dropped) at most ``limit`` factors deep; None if larger."""
    out: dict = {}
    stack = [(n, 1)]
    while stack:
        t, e = stack.pop()
        if t.op == "mul" and not t.shape:
            stack += [(t.args[0], e), (t.args[1], e)]
        elif t.op == "div" and not t.shape:
            stack += [(t.args[0], e), (t.args[1], -e)]
        elif not is_const(t, 1.0):
            out[t] = out.get(t, 0) + e
        if len(stack) + len(out) > limit:
            return None
    return {k: v for k, v in out.items() if v}
