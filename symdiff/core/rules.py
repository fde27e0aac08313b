"""The rewrite rules of the simplifying constructors, as data.

``RULES[op](S, *args)`` returns a simpler node equal to ``op(*args)``, or
``None`` when no rule applies; ``S`` is :mod:`symdiff.core.symbolic` (the
rules build their results through it, so results are simplified and
interned too).  Operands of commutative ops arrive in canonical order, so a
constant operand is always ``args[0]``; constants have already been folded.

Every rule keeps the IEEE result for every finite input (the value, up to
the sign of a zero result), as its comment says.  Rules that would change a
finite result (``x/x -> 1`` at x = 0, ``x - x -> 0`` at inf) are not here.
``0 * b -> 0`` differs from IEEE only for b = inf or NaN (documented in
README's Conventions).
"""

from __future__ import annotations

__all__ = ["RULES"]


def _add(S, a, b):
    if a.op == "const" and a.payload == 0.0:   # 0 + b -> b
        return b
    if b.op == "neg":                           # a + -c -> a - c (exact)
        return S.apply("sub", a, b.args[0])
    if a.op == "neg":                           # -c + b -> b - c (exact)
        return S.apply("sub", b, a.args[0])
    return None


def _sub(S, a, b):
    if b.op == "const" and b.payload == 0.0:   # a - 0 -> a
        return a
    if a.op == "const" and a.payload == 0.0:   # 0 - b -> -b
        return S.apply("neg", b)
    if b.op == "neg":                           # a - -c -> a + c (exact)
        return S.apply("add", a, b.args[0])
    return None


def _mul(S, a, b):
    if a.op == "const":
        c = a.payload
        if c == 0.0:                            # 0 * b -> 0 (finite b)
            return S.ZERO
        if c == 1.0:                            # 1 * b -> b
            return b
        if c == -1.0:                           # -1 * b -> -b
            return S.apply("neg", b)
        if b.op == "neg":                       # c * -d -> (-c) * d (exact)
            return S.apply("mul", S.const(-c), b.args[0])
    if a.op == "neg":
        if b.op == "neg":                       # -a * -b -> a * b (exact)
            return S.apply("mul", a.args[0], b.args[0])
        return S.apply("neg", S.apply("mul", a.args[0], b))   # -a * b -> -(a*b) (exact)
    if b.op == "neg":                           # a * -b -> -(a*b) (exact)
        return S.apply("neg", S.apply("mul", a, b.args[0]))
    return None


def _div(S, a, b):
    if b.op == "const":
        if b.payload == 1.0:                    # a / 1 -> a
            return a
        if b.payload == -1.0:                   # a / -1 -> -a
            return S.apply("neg", a)
    if a.op == "neg":
        if b.op == "neg":                       # -a / -b -> a / b (exact)
            return S.apply("div", a.args[0], b.args[0])
        return S.apply("neg", S.apply("div", a.args[0], b))   # -a / b -> -(a/b) (exact)
    if b.op == "neg":                           # a / -b -> -(a/b) (exact)
        return S.apply("neg", S.apply("div", a, b.args[0]))
    return None


def _neg(S, a):
    if a.op == "neg":                           # --a -> a
        return a.args[0]
    if a.op == "sub":                           # -(a - b) -> b - a (exact)
        return S.apply("sub", a.args[1], a.args[0])
    return None


def _pow(S, a, b):
    if b.op == "const":
        if b.payload == 1.0:                    # a ^ 1 -> a
            return a
        if b.payload == 0.0:                    # a ^ 0 -> 1 (IEEE: even NaN^0 = 1)
            return S.ONE
    if a.op == "const" and a.payload == 1.0:    # 1 ^ b -> 1 (IEEE: even 1^NaN = 1)
        return S.ONE
    return None


def _maxmin(name):
    def rules(S, *args):
        flat = []
        for x in args:                          # max(max(a, b), c) -> max(a, b, c)
            flat.extend(x.args if x.op == name else (x,))
        uniq = list(dict.fromkeys(flat))        # max(a, a) -> a
        if len(uniq) == 1:
            return uniq[0]
        if len(uniq) != len(args) or len(flat) != len(args):
            return S.apply(name, *uniq)
        return None

    return rules


#: op name -> rule(S, *args): a simplified node, or None when no rule applies.
RULES = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "neg": _neg,
    "pow": _pow,
    "max": _maxmin("max"),
    "min": _maxmin("min"),
}
