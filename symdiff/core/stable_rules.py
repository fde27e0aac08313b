"""The stability rewrite rules, as data: one :class:`StableRule` per
identity, next to the op table.

Each rule is an identity in real arithmetic whose right-hand side behaves
better in floating point: no overflow of an intermediate, no cancellation,
no rounding of a tiny term against 1.  ``rewrite(node)`` receives a node
whose op is ``rule.op`` (its arguments already rewritten) and returns the
replacement, or ``None`` when the rule does not match.  Matching looks a
bounded number of levels below the node (sums at most :data:`MAX_TERMS`
terms), never recursively, so the pass that applies the rules
(:mod:`symdiff.core.stabilize`) stays linear and iterative on graphs of
millions of nodes.  Results are built through
:mod:`symdiff.core.symbolic`, so they are interned and lightly simplified.

Every rule is an identity on the whole domain where the original is real
(``log(x^2) -> 2 log|x|``, not ``2 log x``; ``log(a*b) -> log|a| + log|b|
+ log(sign(a) sign(b))``, NaN exactly where ``a*b < 0``).  Two kinds change
IEEE special values on purpose, as rewriting for stability must: a result
that overflowed or cancelled becomes finite and right (``log(exp(800)) ->
800``), and cancelling ``a - a`` in a sum (or ``a`` against ``1/a`` in a
product, ``(a*b)/a -> b``) drops the NaN that ``inf - inf`` (``0/0``) would
give.

Rules whose stable form could cancel for some signs are guarded: a
conjugate ``sqrt(A) - B -> (A - B^2)/(sqrt(A) + B)`` needs ``B`` provably
nonnegative, and a rule that would round an exact input (``exp(x)/exp(y)
-> exp(x - y)``) takes a form that does not.  Some forms trade speed for
accuracy (``u * (1/v) -> u/v`` divides once per use of a shared ``1/v``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from symdiff.core import symbolic as S
from symdiff.core.node import Node
from symdiff.core.stable_match import (  # noqa: F401 (MAX_TERMS is re-exported)
    MAX_TERMS,
    build_sum,
    difference,
    drop_cancelling,
    factors,
    halved_input,
    hypot_of_squares,
    hypot_one_of,
    is_const,
    is_input,
    nonnegative,
    one_plus,
    positive,
    product_factors,
    reciprocal_of,
    sqrt_u2_minus_1,
    square_base,
    sum_terms,
)

__all__ = ["StableRule", "STABLE_RULES", "RULES_BY_OP", "MAX_TERMS"]


@dataclass(frozen=True)
class StableRule:
    """One rewrite: ``rewrite(node)`` for a node with op ``op`` returns the
    stable form or ``None``; ``why`` says what it fixes."""

    name: str
    op: str
    rewrite: Callable[[Node], Optional[Node]]
    why: str


# ---------------------------------------------------------------------------
# Matching helpers (each looks at most a few levels down)


# ---------------------------------------------------------------------------
# The rules


def _log_exp(n):
    # log(exp(u)) -> u: exp overflows from u = 709.8 (log gives inf) and
    # underflows below -745 (log gives -inf).
    return n.args[0].args[0] if n.args[0].op == "exp" else None


def _log_logsumexp(n):
    # log(exp(a) + exp(b) + ...) -> logsumexp(a, b, ...): the exponentials
    # overflow from 709.8 and underflow below -745 (log(0) = -inf).
    # A positive constant c is exp(log c) (1 is exp(0), exactly):
    # log(exp(x) + exp(2x) + 1) -> logsumexp(x, 2x, 0).
    terms = sum_terms(n.args[0])
    if len(terms) < 2 or any(s < 0 for s, _ in terms):
        return None
    if sum(t.op == "exp" for _, t in terms) < 2:
        return None                             # 1 + exp(u): the softplus rule
    args = []
    for _, t in terms:
        if t.op == "exp":
            args.append(t.args[0])
        elif t.op == "const" and not t.shape and 0 < t.payload < math.inf:
            args.append(S.const(math.log(t.payload)))
        else:
            return None
    return S.apply("logsumexp", *args)


def _log_softplus(n):
    # log(1 + exp(u)) -> softplus(u): inf from u = 709.8, and 0 instead of
    # e^u below u = -37 (1 + e^u rounds to 1).
    u = one_plus(n.args[0])
    if u is not None and u.op == "exp":
        return S.softplus(u.args[0])
    return None


def _log1p_softplus(n):
    # log1p(exp(u)) -> softplus(u): exp overflows from u = 709.8.
    return S.softplus(n.args[0].args[0]) if n.args[0].op == "exp" else None


def _log_log1p(n):
    # log(1 + u) -> log1p(u): 1 + u rounds u away for |u| < 1.1e-16
    # (log(1 + 1e-20) = 0, log1p(1e-20) = 1e-20).
    u = one_plus(n.args[0])
    return None if u is None else S.log1p(u)


def _log_log1p_sub(n):
    # log(1 - u) -> log1p(-u): the same rounding of u against 1.
    a = n.args[0]
    if a.op == "sub" and is_const(a.args[0], 1.0):
        return S.log1p(S.neg(a.args[1]))
    return None


def _log_power(n):
    # log(u^c) -> c log|u| (c an even integer) or c log(u) (any other
    # constant c): u^c overflows or underflows long before log(u^c) does
    # (log(1e200^2) = inf, 2 log(1e200) = 921).  |u| keeps the identity for
    # negative u where u^c is real; for other c both sides are NaN there.
    a = n.args[0]
    if a.op == "mul" and a.args[0] is a.args[1]:
        u, c = a.args[0], 2.0
    elif a.op == "pow" and a.args[1].op == "const" and not a.args[1].shape:
        u, c = a.args[0], a.args[1].payload
    else:
        return None
    if c == 0.0 or not math.isfinite(c):
        return None
    base = S.abs(u) if c == int(c) and int(c) % 2 == 0 else u
    return S.mul(S.const(c), S.log(base))


def _log_product(n):
    # log(a*b) -> log(a) + log(b), log(a/b) -> log(a) - log(b) when a or b
    # is provably positive (exp, sigmoid, softplus, cosh, a positive
    # constant): the product can overflow or underflow where the logs are
    # moderate (log(exp(800) * x) -> 800 + log(x)).  With one positive
    # factor both sides are NaN exactly when the other is negative.
    a = n.args[0]
    if a.op not in ("mul", "div") or a.shape:
        return None
    p, q = a.args
    if not (positive(p) or positive(q)):
        return _log_signed_product(a)
    if p.op == "const" and q.op == "const":
        return None
    if p.op == "const" or q.op == "const":
        # log(2*x) -> log(2) + log(x) only moves a rounding: not worth it
        # unless the other factor is itself an exp (log(exp) folds away).
        other = q if p.op == "const" else p
        if other.op != "exp":
            return None
    combine = S.add if a.op == "mul" else S.sub
    return combine(S.log(p), S.log(q))


def _log_signed_product(a: Node) -> Optional[Node]:
    """log(p*q) -> log|p| + log|q| + log(sign(p) sign(q)) for factors of
    unknown sign (neither constant): the product overflows or underflows
    where the logs are moderate (log(1e200 * 1e200) = inf, 921 exactly).
    The last term is log(1) = 0, log(-1) = NaN or log(0) = -inf: NaN exactly
    where p q < 0 and -inf where it is 0, as the original.  The price: where
    p q is near 1 the two logs cancel, losing log2|log p| bits more than the
    rounding of the product does (a relative error of 1e-16 |log p|/|log pq|
    against 1e-16/|log pq|)."""
    if a.op != "mul":
        return None
    p, q = a.args
    if p.op == "const" or q.op == "const" or p is q or "sign" in (p.op, q.op):
        return None
    logs = S.add(S.log(S.abs(p)), S.log(S.abs(q)))
    return S.add(logs, S.log(S.mul(S.sign(p), S.sign(q))))


def _sub_hypot_minus(n):
    # hypot(p, u) - u -> p (p/(hypot(p, u) + |u|)) + 2 relu(-u) (and
    # u - hypot(p, u) its negative): for u > 0 the difference of two nearly
    # equal numbers (sqrt(x^2 + 1) - x = 0 from x = 1e8 on, 5e-9 exactly);
    # the conjugate alone, p^2/(hypot(p, u) + u), would cancel for u < 0.
    # 2 relu(-u) = |u| - u is 0 or 2|u| exactly, every term is >= 0, and its
    # derivative -2 step(-u) is exactly 0 for u > 0 (written |u| - u, the
    # derivative sign(u) - 1 would meet the small terms and cancel).
    a, b = n.args
    sign = 1.0
    if b.op == "hypot" and a.op != "hypot":
        a, b, sign = b, a, -1.0
    if a.op != "hypot" or b not in a.args:
        return None
    p = a.args[1] if a.args[0] is b else a.args[0]
    au = S.abs(b)
    out = S.add(S.mul(p, S.div(p, S.add(a, au))),
                S.mul(S.const(2.0), S.relu(S.neg(b))))
    return out if sign > 0 else S.neg(out)


def _sub_log1p_log(n):
    # log1p(u) - log(u) -> log1p(1/u) + log(sign(u)): log((1 + u)/u), the
    # difference of two close logarithms for large u (28 bits lost at
    # u = 1e8, all of them from u = 1e16 on, where log1p(1/u) = 1/u).  The
    # last term is 0 for u > 0 and NaN for u < 0, where log(u) is NaN too.
    a, b = n.args
    if a.op == "log1p" and b.op == "log" and a.args[0] is b.args[0]:
        u = b.args[0]
        return S.add(S.log1p(S.div(S.const(1.0), u)), S.log(S.sign(u)))
    return None


def _exp_pair(n) -> Optional[Node]:
    """u if ``n`` (a sub or add node) is exp(u) op exp(-u), else None."""
    a, b = n.args
    if a.op == "exp" and b.op == "exp" and b.args[0] is S.neg(a.args[0]):
        return a.args[0]
    return None


def _sub_sinh(n):
    # exp(u) - exp(-u) -> 2 sinh(u): cancels for small u (59 bits lost at
    # u = 1e-17, where the difference is 0), and inf - 0 is fine but
    # 2 sinh(u) is what tanh and the hyperbolic rules recognize.
    u = _exp_pair(n)
    return None if u is None else S.mul(S.const(2.0), S.sinh(u))


def _add_cosh(n):
    # exp(u) + exp(-u) -> 2 cosh(u): one libm call, and the quotient
    # sinh/cosh of tanh written out (inf/inf beyond 710) becomes tanh(u).
    u = _exp_pair(n)
    return None if u is None else S.mul(S.const(2.0), S.cosh(u))


def _log_atanh(n):
    # log((1 + u)/(1 - u)) -> log1p(u) - log1p(-u) (twice atanh(u)): 1 + u
    # and 1 - u round away a tiny u (log gives 0 at u = 1e-17, where the
    # answer is 2e-17).  Both sides are real exactly for |u| < 1, and give
    # inf at u = 1, -inf at u = -1.
    a = n.args[0]
    if a.op != "div":
        return None
    p, q = a.args
    u = one_plus(p)
    if u is not None and q.op == "sub" and is_const(q.args[0], 1.0) and q.args[1] is u:
        return S.sub(S.log1p(u), S.log1p(S.neg(u)))
    return None


def _sub_expm1(n):
    # exp(u) - 1 -> expm1(u): cancels for |u| < 1 (exp(1e-10) - 1 has 7
    # correct digits); 1 - exp(u) -> -expm1(u) likewise.
    a, b = n.args
    if is_const(b, 1.0) and a.op == "exp":
        return S.expm1(a.args[0])
    if is_const(a, 1.0) and b.op == "exp":
        return S.neg(S.expm1(b.args[0]))
    return None


def _add_expm1(n):
    # -1 + exp(u) -> expm1(u): the same cancellation.
    a, b = n.args
    if is_const(a, -1.0) and b.op == "exp":
        return S.expm1(b.args[0])
    return None


def _div_sigmoid(n):
    # 1/(1 + exp(-u)) -> sigmoid(u) (and 1/(1 + exp(v)) -> sigmoid(-v)):
    # exp(-u) overflows for u < -709.8, where the quotient is still a
    # representable e^u down to -745.
    a, b = n.args
    u = one_plus(b)
    if u is None or u.op != "exp":
        return None
    if is_const(a, 1.0):
        return S.sigmoid(S.neg(u.args[0]))
    if a is u:                                  # exp(u)/(1 + exp(u)) -> sigmoid(u)
        return S.sigmoid(u.args[0])
    return None


def _div_sigmoid_ratio(n):
    # exp(a)/(exp(a) + exp(b)) -> sigmoid(a - b): inf/inf = NaN once the
    # exponentials overflow (a, b > 709.8).
    a, b = n.args
    if a.op != "exp" or b.op != "add":
        return None
    p, q = b.args
    if p.op == "exp" and q.op == "exp" and (p is a or q is a):
        other = q if p is a else p
        return S.sigmoid(S.sub(a.args[0], other.args[0]))
    return None


def _div_softmax(n):
    # exp(a)/(exp(a) + exp(b) + ...) -> exp(a - m)/(exp(a - m) + exp(b - m)
    # + ...), m = max(a, b, ...): inf/inf = NaN once the exponentials
    # overflow, 0/0 once they all underflow (two terms: sigmoid_ratio).
    # Shifting by the max rather than writing exp(a - logsumexp(...))
    # keeps the dominant weights to a few ulps: a - m is exact for a near
    # m, while the rounding of logsumexp costs |logsumexp| ulps (79 ulp at
    # (750, 749, 0)).
    a, b = n.args
    if a.op != "exp" or (a.args[0].op == "sub" and a.args[0].args[1].op == "max"):
        return None                             # not again on its own result
    terms = sum_terms(b)
    if len(terms) < 3 or any(s < 0 or t.op != "exp" for s, t in terms) \
            or a not in [t for _, t in terms]:
        return None
    m = S.apply("max", *[t.args[0] for _, t in terms])
    shifted = [(1, S.exp(S.sub(t.args[0], m))) for _, t in terms]
    return S.div(S.exp(S.sub(a.args[0], m)), build_sum(shifted))


def _mul_reciprocal(n):
    # u * (1/v) -> u/v: one rounding instead of two, no overflow of 1/v for
    # a tiny v (1/x * cos(x) = inf at a subnormal x), and the quotient is
    # what the sigmoid, softmax and common-denominator rules recognize (the
    # derivative of log(1 + exp(x)) is built as exp(x) * (1/(1 + exp(x))),
    # inf * 0 = NaN at x = 800).  Costs a division per use of a shared 1/v:
    # the stable form trades speed for accuracy.  u * (-1/v) -> -(u/v) alike.
    a, b = n.args
    for u, r in ((a, b), (b, a)):
        rec = reciprocal_of(r)
        if rec is not None and u.op != "const":
            q = S.div(u, rec[1])
            return q if rec[0] > 0 else S.neg(q)
    return None


def _mul_exp_sigmoid(n):
    # exp(u) * sigmoid(-u) -> sigmoid(u): e^u/(1 + e^u), without inf * 0 at
    # u > 709.8.
    a, b = n.args
    for e, s in ((a, b), (b, a)):
        if e.op == "exp" and s.op == "sigmoid":
            u, w = e.args[0], s.args[0]
            if (w.op == "neg" and w.args[0] is u) or (u.op == "neg" and u.args[0] is w):
                return S.sigmoid(u)
    return None


def _sub_cross_entropy(n):
    # logsumexp(a, b, ...) - a -> logsumexp(0, b - a, ...) (softplus(b - a)
    # for two): the cross-entropy with logits.  When a dominates, the loss
    # is tiny and the difference of two large, nearly equal numbers loses
    # it (logsumexp(40, 0) - 40 = 0, not 4.2e-18).
    lse, a = n.args
    if lse.op != "logsumexp" or lse.shape or a not in lse.args:
        return None
    others = list(lse.args)
    others.remove(a)
    diffs = [S.sub(b, a) for b in others]
    if len(diffs) == 1:
        return S.softplus(diffs[0])
    return S.apply("logsumexp", S.const(0.0), *diffs)


def _sub_softplus_self(n):
    # softplus(u) - u -> softplus(-u): the difference cancels for large u
    # (softplus(40) - 40 = 0, not 4.2e-18).
    a, b = n.args
    if a.op == "softplus" and a.args[0] is b:
        return S.softplus(S.neg(b))
    return None


def _sqrt_hypot(n):
    # sqrt(x^2 + y^2 [+ z^2 ...]) -> hypot(hypot(x, y), z): the squares
    # overflow from 1.3e154 and underflow below 1.5e-154 (sqrt(1e200^2 +
    # 1e200^2) = inf, and x/sqrt(x^2 + 1) = 0 instead of 1 from 1.3e154).
    return hypot_of_squares(n.args[0])


def _sqrt_square(n):
    # sqrt(u^2) -> |u|: u^2 overflows from 1.3e154, underflows below 1.5e-154.
    a = n.args[0]
    if a.op == "const":
        return None
    u = square_base(a)
    return None if u is None else S.abs(u)


def _sub_one_minus_cos(n):
    # 1 - cos(u) -> 2 sin(u/2)^2 (and cos(u) - 1 -> -2 sin(u/2)^2): cancels
    # for small u (1 - cos(1e-8) = 0, not 5e-17).
    a, b = n.args
    if is_const(a, 1.0) and b.op == "cos":
        u, sign = b.args[0], 1.0
    elif is_const(b, 1.0) and a.op == "cos":
        u, sign = a.args[0], -1.0
    else:
        return None
    s = S.sin(S.mul(S.const(0.5), u))
    return S.mul(S.const(2.0 * sign), S.pow(s, S.const(2.0)))


def _sub_squares(n):
    # a^2 - b^2 -> (a - b)(a + b): cancels when a ~ b, and the squares
    # overflow from 1.3e154 (also 1 - x^2 -> (1 - x)(1 + x)).
    a, b = (square_base(t) for t in n.args)
    if a is None or b is None or (a.op == "const" and b.op == "const"):
        return None
    return S.mul(S.sub(a, b), S.add(a, b))


def _cancel(n):
    # t + ... - t -> ... (and x + x - 2x -> 0): terms whose constant
    # coefficients sum to 0 cancel exactly in real arithmetic; in floating
    # point the other terms are lost to rounding against t
    # ((x + 1e-20) - x = 0) and inf - inf = NaN.
    keep, changed = drop_cancelling(sum_terms(n))
    if not changed:
        return None
    out = build_sum(keep)
    return out if out.shape == n.shape else S.fit(out, n.shape)


# ---------------------------------------------------------------------------
# Rules of the follow-up (accuracy targets): sigmoid complements, conjugate
# square roots, differences of reciprocals, common denominators, quotients
# of squares, exponentials of sums, the inverse hyperbolic functions.


def _one_minus_sigmoid(n):
    # 1 - sigmoid(u) -> sigmoid(-u): the difference is 0 for u > 37 where
    # sigmoid(-u) = e^-u is still representable down to u = 745.
    a, b = n.args
    if is_const(a, 1.0) and b.op == "sigmoid":
        return S.sigmoid(S.neg(b.args[0]))
    return None


def _log_sigmoid(n):
    # log(sigmoid(u)) -> -softplus(-u): sigmoid underflows to 0 below -745
    # (log gives -inf where the answer is u) and rounds to 1 above 37
    # (log gives 0 where the answer is -e^-u).
    a = n.args[0]
    return S.neg(S.softplus(S.neg(a.args[0]))) if a.op == "sigmoid" else None


def _log1p_neg_sigmoid(n):
    # log1p(-sigmoid(u)) -> -softplus(u): log(1 - sigmoid(u)) = log(sigmoid(-u)).
    a = n.args[0]
    if a.op == "neg" and a.args[0].op == "sigmoid":
        return S.neg(S.softplus(a.args[0].args[0]))
    return None


def _radicand_of(n: Node) -> Optional[Node]:
    """R with sqrt(R) = n for a conjugate rewrite: the radicand of a sqrt, the
    exact square of a positive constant, or n^2 for a provably nonnegative
    n; None otherwise (sqrt(A) + n could then cancel)."""
    if n.op == "sqrt":
        return n.args[0]
    if n.op == "const":
        if n.shape or not (n.payload > 0 and math.isfinite(n.payload)):
            return None
        sq = n.payload * n.payload
        return S.const(sq) if math.sqrt(sq) == n.payload and math.isfinite(sq) else None
    if nonnegative(n):
        return S.pow(n, S.const(2.0))
    return None


def _sub_sqrt_conjugate(n):
    # sqrt(A) - sqrt(B) -> (A - B)/(sqrt(A) + sqrt(B)), and sqrt(A) - c,
    # c - sqrt(A) alike (c >= 0 a constant or provably nonnegative, as
    # sqrt(c^2)), when A - B cancels symbolically: sqrt(x + 1) - sqrt(x)
    # -> 1/(sqrt(x + 1) + sqrt(x)), sqrt(1 + x) - 1 -> x/(sqrt(1 + x) + 1).
    # The difference of two close roots keeps only the bits they do not
    # share; the sum of two nonnegative roots never cancels.
    a, b = n.args
    if a.op != "sqrt" and b.op != "sqrt":
        return None
    ra, rb = _radicand_of(a), _radicand_of(b)
    if ra is None or rb is None:
        return None
    diff = difference(ra, rb)
    if diff is None:
        return None
    return S.div(diff, S.add(a, b))


def _sub_reciprocals(n):
    # 1/a - 1/b -> ((b - a)/a)/b when b - a cancels symbolically (also
    # -1/a + 1/b): 1/x - 1/(x + 1) -> (1/x)/(x + 1).  The two reciprocals
    # agree in their leading digits for large x and the difference keeps
    # only the rest; dividing twice (not by a*b) never overflows the
    # product.
    terms = sum_terms(n)
    if len(terms) != 2:
        return None
    recips = []
    for sign, t in terms:
        r = reciprocal_of(t)
        if r is None:
            return None
        recips.append((sign * r[0], r[1]))
    if recips[0][0] == recips[1][0]:
        return None
    (_, a), (_, b) = sorted(recips, key=lambda sd: -sd[0])      # 1/a - 1/b
    diff = difference(b, a)
    if diff is None:
        return None
    return S.div(S.div(diff, a), b)


def _common_factor(n):
    # a*c + b*c -> (a + b)*c and a*c - b*c -> (a - b)*c: one rounding
    # fewer, no overflow of a*c where (a - b)*c is moderate, and the sum
    # a - b is where the cancel rule can see that terms cancel (the
    # derivative of exp((x + y)(y - x)) is ((y - x) - (x + y)) exp(...) =
    # -2x exp(...), not a difference of two large products).
    a, b = n.args
    if a.op != "mul" or b.op != "mul" or a.shape or b.shape:
        return None
    for ca in a.args:
        for cb in b.args:
            if ca is cb and ca.op != "const":
                ra = a.args[1] if a.args[0] is ca else a.args[0]
                rb = b.args[1] if b.args[0] is cb else b.args[0]
                combine = S.add if n.op == "add" else S.sub
                return S.mul(combine(ra, rb), ca)
    return None


def _common_denominator(n):
    # a/c + b/c -> (a + b)/c and a/c - b/c -> (a - b)/c: one rounding fewer,
    # and no inf - inf when both quotients overflow while their difference
    # does not (cos(x)/x - sinc(x)/x at a subnormal x).
    a, b = n.args
    if a.op == "div" and b.op == "div" and a.args[1] is b.args[1]:
        combine = S.add if n.op == "add" else S.sub
        return S.div(combine(a.args[0], b.args[0]), a.args[1])
    return None


def _div_squares(n):
    # a^2/b^2 -> (a/b)^2 and (c a^2)/b^2 -> c (a/b)^2: the squares overflow
    # or underflow where the quotient does not (2 sin(x/2)^2/x^2 is 0/0 below
    # x = 1.5e-154, where it is 0.5).
    # Also a^2/(x^2 + y^2 + ...) -> (a/hypot(x, y, ...))^2 (x^2/(x^2 + 1)
    # is inf/inf from 1.3e154 on).
    a, b = n.args
    bb = square_base(b)
    if b.op == "const":
        return None
    if bb is None:
        bb = hypot_of_squares(b)
        if bb is None:
            return None
    c = None
    if a.op == "mul" and a.args[0].op == "const" and not a.args[0].shape:
        c, a = a.args
    ab = square_base(a)
    if ab is None or a.op == "const":
        return None
    q = S.pow(S.div(ab, bb), S.const(2.0))
    return q if c is None else S.mul(c, q)


def _mul_cancel(n):
    # In a product or quotient, a factor and its reciprocal cancel
    # (a (b (c/a)) -> b c, (a b)/a -> b, a/(a b) -> 1/b),
    # and exp(p) times 1/exp(q) becomes the ratio exp(p)/exp(q): the chain
    # rule builds such products (the derivative of (exp(x/2)/exp(y/2))^2
    # is exp(y/2) (r (2 r/exp(y/2))) with r the ratio), whose partial
    # products overflow where the whole does not (2 r/exp(y/2) at
    # y = -800).  Like t - t, a cancelled factor drops the NaN it would give
    # at 0 or inf.
    fs = product_factors(n)
    if fs is None or len(fs) < 2:
        return None
    keep = list(fs)
    changed = False
    i = 0
    while i < len(keep):
        t, e = keep[i]
        for j in range(i + 1, len(keep)):
            if keep[j][0] is t and keep[j][1] == -e:
                del keep[j]
                del keep[i]
                changed = True
                break
        else:
            i += 1
    # Pair exp(p) with 1/exp(q).
    ups = [k for k, (t, e) in enumerate(keep) if t.op == "exp" and e > 0]
    downs = [k for k, (t, e) in enumerate(keep) if t.op == "exp" and e < 0]
    pairs = list(zip(ups, downs))
    if pairs:
        changed = True
        merged = {u: (S.div(keep[u][0], keep[d][0]), 1) for u, d in pairs}
        gone = {d for _, d in pairs}
        keep = [merged.get(k, f) for k, f in enumerate(keep) if k not in gone]
    if not changed:
        return None
    num = [t for t, e in keep if e > 0]
    den = [t for t, e in keep if e < 0]
    acc = S.const(1.0) if not num else num[0]
    for t in num[1:]:
        acc = S.mul(acc, t)
    for t in den:
        acc = S.div(acc, t)
    return acc


def _div_exp(n):
    # exp(a)/exp(b) -> exp(a - b): inf/inf = NaN once both overflow (a, b >
    # 709.8), 0/0 once both underflow (below -745).  When a and b are both
    # input variables (or their negatives) and nothing cancels, exp of each
    # is within an ulp while a - b rounds, which exp turns into |a - b|/2
    # ulps (2.66 vs 0.47 bits at |a|, |b| in [0.01, 800]); then the halves
    # instead, (exp(a/2)/exp(b/2))^2: a/2 is exact, nothing overflows
    # before |a| = 1419, and the error stays near the original's (0.78
    # bits).  A computed argument carries the rounding of a - b already.
    a, b = n.args
    if a.op == "exp" and b.op == "exp":
        return _exp_of_sum(a.args[0], b.args[0], -1)
    return None


def _mul_exp(n):
    # exp(a) * exp(b) -> exp(a + b): inf * 0 = NaN when one overflows and
    # the other underflows (exp(x) exp(-x) at x = 800).
    # (Two input variables that do not cancel: the halves, as exp_quotient.)
    a, b = n.args
    if a.op == "exp" and b.op == "exp":
        return _exp_of_sum(a.args[0], b.args[0], 1)
    return None


def _exp_of_sum(a: Node, b: Node, sign: int) -> Optional[Node]:
    """exp(a + sign*b); for two inputs whose sum does not cancel
    symbolically (exp(a/2) op exp(b/2))^2, and None for their halves (the
    halving is done once)."""
    terms = sum_terms(a) + [(sign * s, t) for s, t in sum_terms(b)]
    kept, cancelled = drop_cancelling(terms)
    if cancelled:
        return S.exp(build_sum(kept))
    if halved_input(a) or halved_input(b):
        return None
    if is_input(a) and is_input(b):
        half = S.const(0.5)
        ea, eb = S.exp(S.mul(half, a)), S.exp(S.mul(half, b))
        return S.pow(S.mul(ea, eb) if sign > 0 else S.div(ea, eb), S.const(2.0))
    return S.exp(S.add(a, b) if sign > 0 else S.sub(a, b))


def _log_sum_of_squares(n):
    # log(x^2 + y^2 [+ ...]) -> 2 log(hypot(x, y, ...)): the squares overflow
    # from 1.3e154 and underflow below 1.5e-154 (log|z| of a complex number).
    h = hypot_of_squares(n.args[0])
    return None if h is None else S.mul(S.const(2.0), S.log(h))


def _log1p_square(n):
    # log1p(u^2) -> 2 log1p(u (u/(1 + hypot(1, u)))): log(1 + u^2) =
    # 2 log(hypot(1, u)) = 2 log1p(hypot(1, u) - 1), and hypot(1, u) - 1 =
    # u^2/(1 + hypot(1, u)) without the cancellation.  u^2 overflows from
    # 1.3e154 (log1p(inf) = inf where the answer is 2 log|u|); the ratio
    # u/(1 + hypot(1, u)) is below 1, so nothing overflows.
    u = square_base(n.args[0])
    if u is None or u.op == "const":
        return None
    return _two_log1p_square(u)


def _log_asinh(n):
    # log(u + hypot(1, u)) = asinh(u) -> sign(u) log1p(|u| + |u| (|u|/(1 +
    # hypot(1, u)))) (asinh is odd, and hypot(1, u) - 1 = u^2/(1 +
    # hypot(1, u))).  The original cancels for negative u (u + hypot(1, u)
    # = 0 from u = -1.3e8 on: log gives -inf) and rounds u away for tiny u;
    # here every term is >= 0 and the ratio is below 1.
    a = n.args[0]
    if a.op != "add":
        return None
    for u, h in (a.args, reversed(a.args)):
        if hypot_one_of(h, u):
            au = S.abs(u)
            hyp = S.apply("hypot", S.const(1.0), u)
            w = S.add(au, S.mul(au, S.div(au, S.add(S.const(1.0), hyp))))
            return S.mul(S.sign(u), S.log1p(w))
    return None


def _log_acosh(n):
    # log(u + sqrt(u^2 - 1)) = acosh(u) -> log(u) + log1p(sqrt(u - 1)
    # sqrt(u + 1)/u): u^2 overflows from 1.3e154 (log(inf)); the ratio is
    # in [0, 1) and u - 1 is exact near 1.  NaN for u < 1, as the original.
    a = n.args[0]
    if a.op != "add":
        return None
    for u, s in (a.args, reversed(a.args)):
        if s.op == "sqrt" and sqrt_u2_minus_1(s.args[0], u):
            root = S.mul(S.sqrt(S.sub(u, S.const(1.0))), S.sqrt(S.add(u, S.const(1.0))))
            return S.add(S.log(u), S.log1p(S.div(root, u)))
    return None


def _hypot_complement(n):
    # T - T (p/h)^2 -> T (q/h)^2 for h = hypot(p, q), whatever the product
    # T: 1 - (p/h)^2 = (q/h)^2.  This is how the derivative of p/hypot(p, q)
    # (normalizing a vector) arrives, 1/h - (p/h)((p/h)/h) = 1/h^3 for
    # q = 1: the difference cancels once |p| >> |q| (1/h - 1/h at p = 1e10,
    # where the answer is 1e-30).
    a, b = n.args
    fa, fb = factors(a), factors(b)
    if not fa or not fb:
        return None
    for h in fa:
        if h.op != "hypot" or fa[h] >= 0:
            continue
        for p, q in (h.args, tuple(reversed(h.args))):
            want = dict(fa)
            want[p] = want.get(p, 0) + 2
            want[h] = want[h] - 2
            if {k: v for k, v in want.items() if v} == fb:
                return S.mul(a, S.pow(S.div(q, h), S.const(2.0)))
    return None


def _log_cosh(n):
    # log(cosh(u)) -> 2 log1p(w (w/(1 + hypot(1, w)))), w = sqrt(2) sinh(u/2):
    # cosh(u) = 1 + w^2, and log1p_square's form of log(1 + w^2).  cosh
    # overflows from |u| = 710.5 (log gives inf where the answer is
    # |u| - log 2); log(cosh(u)) = log(1 + u^2/2 + ...) also rounds the
    # small u^2/2 against 1.  Every term here is >= 0: no cancellation.
    a = n.args[0]
    if a.op != "cosh":
        return None
    w = S.mul(S.const(math.sqrt(2.0)), S.sinh(S.mul(S.const(0.5), a.args[0])))
    return _two_log1p_square(w)


def _two_log1p_square(u: Node) -> Node:
    """2 log1p(u (u/(1 + hypot(1, u)))) = log(1 + u^2), without forming u^2."""
    h = S.apply("hypot", S.const(1.0), u)
    w = S.mul(u, S.div(u, S.add(S.const(1.0), h)))
    return S.mul(S.const(2.0), S.log1p(w))


def _log_sinh(n):
    # log(sinh(u)) -> log(2 sinh(u/2)) + log(cosh(u/2)): sinh overflows from
    # u = 710.5 (log gives inf where the answer is u - log 2); the halves
    # last to u = 1421.  Near the root (u = 0.88) the two logs are O(1) and
    # cancel to the same absolute error, a few 1e-16, that log of a
    # rounded sinh(u) near 1 has.  NaN for u < 0 and -inf at 0, as the
    # original.
    a = n.args[0]
    if a.op != "sinh":
        return None
    h = S.mul(S.const(0.5), a.args[0])
    return S.add(S.log(S.mul(S.const(2.0), S.sinh(h))), S.log(S.cosh(h)))


def _log_expm1(n):
    # log(expm1(u)) -> u/2 + log(2 sinh(u/2)) (e^u - 1 = 2 e^(u/2)
    # sinh(u/2)): expm1 overflows from u = 709.8 (log gives inf where the
    # answer is u); here nothing overflows before u = 1421.  Near the root
    # u = log 2 the two terms are O(1) and cancel to a few 1e-16, the
    # absolute error of log of a rounded expm1(u) near 1.
    a = n.args[0]
    if a.op != "expm1":
        return None
    h = S.mul(S.const(0.5), a.args[0])
    return S.add(h, S.log(S.mul(S.const(2.0), S.sinh(h))))


def _div_hyperbolic(n):
    # sinh(u)/cosh(u) -> tanh(u), cosh(u)/sinh(u) -> 1/tanh(u): inf/inf
    # once both overflow (|u| > 710.5, the derivative of log(cosh(u))).
    a, b = n.args
    if a.op in ("sinh", "cosh") and b.op in ("sinh", "cosh") and a.op != b.op \
            and a.args[0] is b.args[0]:
        t = S.tanh(a.args[0])
        return t if a.op == "sinh" else S.div(S.const(1.0), t)
    return None


def _sqrt_product(n):
    # sqrt(a*b) -> sqrt|a| sqrt|b| sqrt(sign(a) sign(b)): the product
    # overflows or underflows where the roots do not (sqrt(1e200 * 1e200)
    # = inf).  The last factor is 1, 0 or NaN: NaN exactly where a*b < 0,
    # as the original; a factor provably >= 0 needs no |.|.
    a = n.args[0]
    if a.op != "mul" or a.shape:
        return None
    p, q = a.args
    if p.op == "const" or q.op == "const" or p is q:
        return None
    # Not on a product of sums: sqrt((u - 1)(u + 1)) is how u^2 - 1 arrives
    # here (difference_of_squares) and belongs to the acosh rule; nor on
    # sign(a) sign(b), this rule's own last factor.
    if {p.op, q.op} & {"add", "sub", "sign"}:
        return None
    root_p = S.sqrt(p if nonnegative(p) else S.abs(p))
    root_q = S.sqrt(q if nonnegative(q) else S.abs(q))
    out = S.mul(root_p, root_q)
    if nonnegative(p) and nonnegative(q):
        return out
    return S.mul(out, S.sqrt(S.mul(S.sign(p), S.sign(q))))


def _log1p_logsumexp(n):
    # log1p(exp(a) + exp(b) + ...) -> logsumexp(0, a, b, ...): the
    # exponentials overflow from 709.8 (one term: softplus_log1p).
    terms = sum_terms(n.args[0])
    if len(terms) < 2 or any(s < 0 or t.op != "exp" for s, t in terms):
        return None
    return S.apply("logsumexp", S.const(0.0), *[t.args[0] for _, t in terms])


def _rule(name, op, fn):
    # The one-line summaries below are what `Rewrite.why` reports.
    return StableRule(name, op, fn, _WHY[name])


_WHY = {
    "log_exp": "log(exp(u)) = u; exp overflows from 709.8",
    "logsumexp": "log(exp(a) + exp(b) + ... [+ c]) = logsumexp(a, b, ... [, log c]), shifted "
                 "by the max: the exponentials overflow from 709.8",
    "softplus": "log(1 + exp(u)) = softplus(u): exp overflows from 709.8 and 1 + e^u "
                "rounds to 1 below -37",
    "softplus_log1p": "log1p(exp(u)) = softplus(u): exp overflows from 709.8",
    "log1p": "log(1 + u) = log1p(u): 1 + u rounds u away for |u| < 1.1e-16",
    "log1p_sub": "log(1 - u) = log1p(-u): 1 - u rounds u away for |u| < 1.1e-16",
    "log_power": "log(u^c) = c log|u| (even c) or c log(u): u^c overflows or underflows",
    "log_product": "log(a*b) = log(a) + log(b) for a provably positive factor, else "
                   "log|a| + log|b| + log(sign(a) sign(b)): the product overflows or "
                   "underflows",
    "log_ratio": "log1p(u) - log(u) = log1p(1/u) + log(sign(u)): two close logarithms "
                 "cancel",
    "sinh": "exp(u) - exp(-u) = 2 sinh(u): cancels for small u",
    "cosh": "exp(u) + exp(-u) = 2 cosh(u): tanh written out is inf/inf beyond 710",
    "atanh": "log((1 + u)/(1 - u)) = log1p(u) - log1p(-u): 1 +- u round a tiny u away",
    "hypot_minus": "hypot(p, u) - u = p (p/(hypot(p, u) + |u|)) + 2 relu(-u): cancels for "
                   "u >> p",
    "expm1": "exp(u) - 1 = expm1(u): cancels for small u",
    "expm1_add": "-1 + exp(u) = expm1(u): cancels for small u",
    "sigmoid": "1/(1 + exp(-u)) = sigmoid(u): exp(-u) overflows for u < -709.8",
    "sigmoid_ratio": "exp(a)/(exp(a) + exp(b)) = sigmoid(a - b): inf/inf once the "
                     "exponentials overflow",
    "softmax": "exp(a)/(exp(a) + exp(b) + ...) = exp(a - m)/(exp(a - m) + exp(b - m) "
               "+ ...), m = max(a, b, ...): inf/inf once the exponentials overflow",
    "reciprocal_product": "u * (1/v) = u/v: one rounding fewer, no overflow of 1/v, and the "
                          "sigmoid/softmax rules apply to the quotient",
    "exp_sigmoid": "exp(u) sigmoid(-u) = sigmoid(u): inf * 0 from u = 709.8",
    "cross_entropy": "logsumexp(a, b, ...) - a = logsumexp(0, b - a, ...): the difference "
                     "of two nearly equal large numbers loses the small loss",
    "softplus_minus_self": "softplus(u) - u = softplus(-u): cancels for large u",
    "hypot": "sqrt(x^2 + y^2) = hypot(x, y): the squares overflow from 1.3e154 and "
             "underflow below 1.5e-154",
    "sqrt_square": "sqrt(u^2) = |u|: u^2 overflows or underflows",
    "one_minus_cos": "1 - cos(u) = 2 sin(u/2)^2: cancels for small u",
    "difference_of_squares": "a^2 - b^2 = (a - b)(a + b): cancels when a ~ b, squares "
                             "overflow",
    "cancel": "t + ... - t = ... (x + x - 2x = 0): the other terms round away against t; "
              "inf - inf is NaN",
    "one_minus_sigmoid": "1 - sigmoid(u) = sigmoid(-u): 0 for u > 37",
    "log_sigmoid": "log(sigmoid(u)) = -softplus(-u): sigmoid underflows below -745, rounds "
                   "to 1 above 37",
    "log1p_neg_sigmoid": "log1p(-sigmoid(u)) = -softplus(u): as log(sigmoid(-u))",
    "sqrt_conjugate": "sqrt(A) - sqrt(B) = (A - B)/(sqrt(A) + sqrt(B)) when A - B cancels "
                      "symbolically: two close roots cancel",
    "reciprocal_difference": "1/a - 1/b = ((b - a)/a)/b when b - a cancels symbolically: "
                             "two close reciprocals cancel",
    "common_denominator": "a/c +- b/c = (a +- b)/c: one rounding fewer, no inf - inf",
    "common_factor": "a*c +- b*c = (a +- b)*c: one rounding fewer, and a +- b can cancel "
                     "symbolically",
    "quotient_of_squares": "a^2/b^2 = (a/b)^2, a^2/(x^2 + y^2) = (a/hypot(x, y))^2: the "
                           "squares overflow or underflow",
    "exp_quotient": "exp(a)/exp(b) = exp(a - b) ((exp(a/2)/exp(b/2))^2 for two inputs): "
                    "inf/inf and 0/0",
    "exp_product": "exp(a) exp(b) = exp(a + b) ((exp(a/2) exp(b/2))^2 for two inputs): "
                   "inf * 0",
    "log_sum_of_squares": "log(x^2 + y^2) = 2 log(hypot(x, y)): the squares overflow or "
                          "underflow",
    "log1p_square": "log1p(u^2) = 2 log1p(u (u/(1 + hypot(1, u)))): u^2 overflows",
    "asinh": "log(u + sqrt(u^2 + 1)) = asinh(u) = sign(u) log1p(|u| + u^2/(1 + hypot(1, u))): "
             "cancels for u < 0, u^2 overflows",
    "acosh": "log(u + sqrt(u^2 - 1)) = acosh(u) = log(u) + log1p(sqrt(u - 1) sqrt(u + 1)/u): "
             "u^2 overflows",
    "hypot_complement": "T - T (p/h)^2 = T (q/h)^2 for h = hypot(p, q): cancels for "
                         "|p| >> |q|",
    "log_cosh": "log(cosh(u)) = log(1 + w^2), w = sqrt(2) sinh(u/2): cosh overflows, "
                "u^2/2 rounds against 1",
    "log_sinh": "log(sinh(u)) = log(2 sinh(u/2)) + log(cosh(u/2)): sinh overflows from "
                "710.5",
    "log_expm1": "log(expm1(u)) = u/2 + log(2 sinh(u/2)): expm1 overflows from 709.8",
    "product_cancel": "a (b (c/a)) = b c, (a b)/a = b, exp(p) (c/exp(q)) = c (exp(p)/exp(q)): "
                      "partial products overflow",
    "hyperbolic_ratio": "sinh(u)/cosh(u) = tanh(u): inf/inf from 710.5",
    "sqrt_product": "sqrt(a*b) = sqrt|a| sqrt|b| sqrt(sign(a) sign(b)): the product "
                    "overflows or underflows",
    "logsumexp_log1p": "log1p(exp(a) + exp(b) + ...) = logsumexp(0, a, b, ...): the "
                       "exponentials overflow",
}

#: Every rule, in the order they are tried at a node of their op.
STABLE_RULES: tuple = (
    _rule("log_exp", "log", _log_exp),
    _rule("logsumexp", "log", _log_logsumexp),
    _rule("softplus", "log", _log_softplus),
    _rule("log_sigmoid", "log", _log_sigmoid),
    _rule("asinh", "log", _log_asinh),
    _rule("acosh", "log", _log_acosh),
    _rule("atanh", "log", _log_atanh),
    _rule("log1p", "log", _log_log1p),
    _rule("log1p_sub", "log", _log_log1p_sub),
    _rule("log_sum_of_squares", "log", _log_sum_of_squares),
    _rule("log_cosh", "log", _log_cosh),
    _rule("log_sinh", "log", _log_sinh),
    _rule("log_expm1", "log", _log_expm1),
    _rule("log_power", "log", _log_power),
    _rule("log_product", "log", _log_product),
    _rule("softplus_log1p", "log1p", _log1p_softplus),
    _rule("logsumexp_log1p", "log1p", _log1p_logsumexp),
    _rule("log1p_neg_sigmoid", "log1p", _log1p_neg_sigmoid),
    _rule("log1p_square", "log1p", _log1p_square),
    _rule("cross_entropy", "sub", _sub_cross_entropy),
    _rule("softplus_minus_self", "sub", _sub_softplus_self),
    _rule("expm1", "sub", _sub_expm1),
    _rule("sinh", "sub", _sub_sinh),
    _rule("one_minus_sigmoid", "sub", _one_minus_sigmoid),
    _rule("one_minus_cos", "sub", _sub_one_minus_cos),
    _rule("sqrt_conjugate", "sub", _sub_sqrt_conjugate),
    _rule("hypot_minus", "sub", _sub_hypot_minus),
    _rule("log_ratio", "sub", _sub_log1p_log),
    _rule("reciprocal_difference", "sub", _sub_reciprocals),
    _rule("hypot_complement", "sub", _hypot_complement),
    _rule("common_denominator", "sub", _common_denominator),
    _rule("common_factor", "sub", _common_factor),
    _rule("difference_of_squares", "sub", _sub_squares),
    _rule("cancel", "sub", _cancel),
    _rule("expm1_add", "add", _add_expm1),
    _rule("cosh", "add", _add_cosh),
    _rule("reciprocal_difference", "add", _sub_reciprocals),
    _rule("common_denominator", "add", _common_denominator),
    _rule("common_factor", "add", _common_factor),
    _rule("cancel", "add", _cancel),
    _rule("sigmoid", "div", _div_sigmoid),
    _rule("sigmoid_ratio", "div", _div_sigmoid_ratio),
    _rule("softmax", "div", _div_softmax),
    _rule("exp_quotient", "div", _div_exp),
    _rule("hyperbolic_ratio", "div", _div_hyperbolic),
    _rule("product_cancel", "div", _mul_cancel),
    _rule("quotient_of_squares", "div", _div_squares),
    _rule("reciprocal_product", "mul", _mul_reciprocal),
    _rule("exp_sigmoid", "mul", _mul_exp_sigmoid),
    _rule("exp_product", "mul", _mul_exp),
    _rule("product_cancel", "mul", _mul_cancel),
    _rule("hypot", "sqrt", _sqrt_hypot),
    _rule("sqrt_square", "sqrt", _sqrt_square),
    _rule("sqrt_product", "sqrt", _sqrt_product),
)


def _by_op(rules) -> dict:
    out: dict = {}
    for r in rules:
        out.setdefault(r.op, []).append(r)
    return {op: tuple(rs) for op, rs in out.items()}


#: op name -> the rules tried at a node of that op, in order.
RULES_BY_OP: dict = _by_op(STABLE_RULES)
