"""The rewrite rules of the simplifying constructors, as data.

``RULES[op](S, *args)`` returns a simpler node equal to ``op(*args)``, or
``None`` when no rule applies; ``S`` is :mod:`symdiff.core.symbolic` (the
rules build their results through it, so results are simplified and
interned too).  Operands of commutative ops arrive in canonical order, so a
constant operand is always ``args[0]``; constants have already been folded.

Exact IEEE by default.  Every scalar rule applied by default gives the
bit-identical IEEE result for every input: NaN, infinities and the sign of
a zero included (each rule's comment says why).  The rules that would not
are *fast rules*, applied only inside :func:`fast_rules` (the user's
request, as ``-ffast-math``'s ``-fno-signed-zeros`` is in C):

* ``0 * b -> 0``: wrong for b = inf or NaN (NaN) and for b < 0 (-0.0):
  ``1/((x - 5)*0)`` is -inf at x = 1, not inf;
* ``+0 + b -> b``: +0.0 + -0.0 = +0.0, not -0.0 (``-0.0 + b -> b`` is exact);
* ``a - (-0) -> a``: -0.0 - -0.0 = +0.0 (``a - (+0) -> a`` is exact);
* ``+0 - b -> -b``: 0.0 - 0.0 = +0.0, not -0.0 (``-0.0 - b -> -b`` is exact);
* ``-(a - b) -> b - a``: at a = b, -(a - b) = -0.0 but b - a = +0.0.

Rules that change a finite result (``x/x -> 1`` at x = 0, ``x - x -> 0``
at inf) are not here at all.  Differentiation needs none of the fast rules
to keep derivatives small: a missing adjoint is absent (a symbolic zero),
never a ``0 * g`` node.
"""

from __future__ import annotations

import contextlib
import contextvars
import math

__all__ = ["RULES", "fast_rules", "fast_rules_enabled"]

# Whether the fast rules apply (see the module docstring); a context
# variable, so that threads and asyncio tasks each keep their own setting.
_FAST = contextvars.ContextVar("symdiff_fast_rules", default=False)


@contextlib.contextmanager
def fast_rules(enabled: bool = True):
    """Within the ``with`` block, also apply the fast rules (``0 * b -> 0``,
    ``0 + b -> b``, ``-(a - b) -> b - a`` ...), which may turn an inf or
    NaN result into a number or change the sign of a zero result.  Only
    nodes built inside the block are affected (nodes are interned)."""
    token = _FAST.set(bool(enabled))
    try:
        yield
    finally:
        _FAST.reset(token)


def fast_rules_enabled() -> bool:
    """True inside a :func:`fast_rules` block."""
    return _FAST.get()


def _zero_sign(x):
    """+1 for the constant +0.0, -1 for -0.0, 0 for anything else."""
    if x.op == "const" and x.payload == 0.0:
        return -1 if math.copysign(1.0, x.payload) < 0 else 1
    return 0


def _add(S, a, b):
    z = _zero_sign(a)
    if z < 0 or (z > 0 and _FAST.get()):       # -0 + b -> b (exact); +0 + b: fast
        return b
    if a.shape or b.shape:
        out = _tensor_sum_rules(S, "add", a, b)
        if out is not None:
            return out
    if b.op == "neg":                           # a + -c -> a - c (exact)
        return S.apply("sub", a, b.args[0])
    if a.op == "neg":                           # -c + b -> b - c (exact)
        return S.apply("sub", b, a.args[0])
    return None


def _sub(S, a, b):
    z = _zero_sign(b)
    if z > 0 or (z < 0 and _FAST.get()):       # a - (+0) -> a (exact); a - (-0): fast
        return a
    z = _zero_sign(a)
    if z < 0 or (z > 0 and _FAST.get()):       # -0 - b -> -b (exact); +0 - b: fast
        return S.apply("neg", b)
    if b.op == "neg":                           # a - -c -> a + c (exact)
        return S.apply("add", a, b.args[0])
    if a.shape or b.shape:
        return _tensor_sum_rules(S, "sub", a, b)
    return None


def _mul(S, a, b):
    if a.op == "const":
        c = a.payload
        if c == 0.0 and _FAST.get():            # 0 * b -> 0: fast (b = inf, NaN, < 0)
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
    if a.shape or b.shape:
        return _tensor_mul_rules(S, a, b)
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
    if a.op == "sub" and _FAST.get():           # -(a - b) -> b - a: fast (-0 at a = b)
        return S.apply("sub", a.args[1], a.args[0])
    return None


def _pow(S, a, b):
    if b.op == "const":
        if b.payload == 1.0:                    # a ^ 1 -> a (IEEE: exact, also -0, NaN)
            return a
        if b.payload == 0.0:                    # a ^ 0 -> 1 (IEEE: even NaN^0 = 1)
            return S.ONE
    if a.op == "const" and a.payload == 1.0:    # 1 ^ b -> 1 (IEEE: even 1^NaN = 1)
        return S.ONE
    return None


def _maxmin(name):
    def rules(S, *args):
        # Exact: maximumNumber/minimumNumber (-0 < +0, NaN ignored) is
        # associative and commutative, and max(a, a) = a also for NaN.
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


# ---------------------------------------------------------------------------
# Tensor rules.  "Scalar" below means a node of shape (); the rules float
# scalar factors outward through products, sums and structural ops, so
# that derivatives read as matrix algebra (X.T @ (P - Iy) / m rather than
# X.T @ ((1/m)/s * E - (1/m) * Iy)).  Moving a scalar factor across another
# operation reassociates floating-point products: exact up to rounding
# (each result differs from the unrewritten one by a few ulps at most, and
# A c + B c -> (A + B) c may change the sign of a zero entry), as README's
# Conventions say.  They never fire on scalar expressions, whose rules
# above are exact.


def _scalar_factor(x):
    """For ``A * c`` or ``A / c`` with a scalar c and a tensor A: (A, c, op)."""
    if x.op in ("mul", "div") and x.shape:
        a, b = x.args
        if not b.shape and a.shape:
            return a, b, x.op
        if x.op == "mul" and not a.shape and b.shape:
            return b, a, "mul"
    return None


def _tensor_mul_rules(S, a, b):
    for x, y in ((a, b), (b, a)):
        if not y.shape and x.shape:
            if y.op == "div" and y.args[0].op == "const" and y.args[0].payload == 1.0:
                return S.apply("div", x, y.args[1])        # X * (1/d) -> X / d
            f = _scalar_factor(x)
            if f is not None and f[2] == "mul":            # (A c) d -> A (c d)
                return S.apply("mul", f[0], S.apply("mul", f[1], y))
        if x.op == "div" and y.shape and not x.args[0].shape and x.args[1].shape:
            c, s = x.args                                  # (c / S) * E -> (E / S) * c
            return S.apply("mul", S.apply("div", y, s), c)
        f = _scalar_factor(x)
        if f is not None and y.shape:
            A, c, op = f                                   # (A c) * B -> (A * B) c
            return S.apply(op, S.apply("mul", A, y), c)
    return None


def _tensor_sum_rules(S, name, a, b):
    if name == "add" and a is b:                           # A + A -> 2 A (exact)
        return S.apply("mul", S.const(2.0), a)
    fa, fb = _scalar_factor(a), _scalar_factor(b)
    if fa is not None and fb is not None and fa[1] is fb[1] and fa[2] == fb[2]:
        # A c + B c -> (A + B) c;  A / d - B / d -> (A - B) / d
        return S.apply(fa[2], S.apply(name, fa[0], fb[0]), fa[1])
    if name == "add" and a.op == b.op == "matmul":
        (A, x), (B, z) = a.args, b.args
        if x is z and A.shape == B.shape:                  # A x + B x -> (A + B) x
            return S.apply("matmul", S.apply("add", A, B), x, params=())
        if A is B and x.shape == z.shape:                  # A x + A z -> A (x + z)
            return S.apply("matmul", A, S.apply("add", x, z), params=())
    return None


def _pull_scalar(S, name, x, params):
    """op(A c) -> op(A) c for a linear structural op and a scalar c."""
    f = _scalar_factor(x)
    if f is not None:
        A, c, op = f
        return S.apply(op, S.apply(name, A, params=params), c)
    if x.op == "neg" and x.shape:                          # op(-A) -> -op(A)
        return S.apply("neg", S.apply(name, x.args[0], params=params))
    return None


def _transpose(S, x, *, params, shape):
    (perm,) = params
    if x.op == "transpose" and len(x.payload[0]) == len(perm):
        p = x.payload[0]                                   # (A^P)^Q -> A^(P Q)
        composed = tuple(p[q] for q in perm)
        if composed == tuple(range(len(perm))):
            return x.args[0]                               # (A^T)^T -> A
        return S.apply("transpose", x.args[0], params=(composed,))
    if x.op == "matmul" and perm == (1, 0) and len(x.args[0].shape) == 2 \
            and len(x.args[1].shape) == 2:
        A, B = x.args                                      # (A B)^T -> B^T A^T
        return S.apply("matmul", S.apply("transpose", B, params=((1, 0),)),
                       S.apply("transpose", A, params=((1, 0),)), params=())
    if x.op == "eye":                                      # I^T -> I
        return x
    if x.op == "broadcast_to" and not x.args[0].shape:    # (c 1)^T -> c 1
        return S.apply("broadcast_to", x.args[0], params=(shape,))
    return _pull_scalar(S, "transpose", x, params)


def _reshape(S, x, *, params, shape):
    if shape == x.shape:                                   # reshape to its own shape
        return x
    if x.op == "reshape":                                  # reshape(reshape(A)) -> reshape(A)
        return S.apply("reshape", x.args[0], params=params)
    if x.op == "broadcast_to" and not x.args[0].shape:    # reshape(c 1) -> c 1
        return S.apply("broadcast_to", x.args[0], params=(shape,))
    return _pull_scalar(S, "reshape", x, params)


def _broadcast_to(S, x, *, params, shape):
    if shape == x.shape:                                   # to its own shape
        return x
    if x.op == "broadcast_to":                             # bcast(bcast(a)) -> bcast(a)
        return S.apply("broadcast_to", x.args[0], params=params)
    return None


def _count(S, shape, axes):
    """Number of entries over ``axes`` (negative) of ``shape``, as a node."""
    from symdiff.core.node import const, dim

    n, out = 1, None
    for a in axes:
        d = shape[a]
        if isinstance(d, int):
            n *= d
        else:
            out = dim(d) if out is None else S.apply("mul", out, dim(d))
    if out is None:
        return const(float(n))
    return out if n == 1 else S.apply("mul", const(float(n)), out)


def _sum(S, x, *, params, shape):
    axes, keepdims = params
    if not axes:
        return x
    if x.op == "broadcast_to" and not x.args[0].shape:
        # sum(c 1) over k entries -> c k (a running sum of k copies of c
        # rounds differently from c*k: up to rounding)
        return S.apply("mul", x.args[0], _count(S, x.shape, axes))
    if x.op == "mul" and not keepdims and len(shape) == 0 and len(x.shape) == 1:
        u, v = x.args                                      # sum(u * v) -> u @ v (vectors)
        if u.shape == v.shape:
            return S.apply("matmul", u, v, params=())
    return _pull_scalar(S, "sum", x, params)


def _matmul(S, a, b, *, params, shape):
    if a.op == "eye" and len(b.shape) >= 1:               # I B -> B (exact)
        return b
    if b.op == "eye" and len(a.shape) >= 1:               # A I -> A (exact)
        return a
    if len(a.shape) == 1 and len(b.shape) == 2:
        # v A -> A^T v: the same dot products, one canonical form, so that
        # A x + x A factors into (A + A^T) x
        return S.apply("matmul", S.apply("transpose", b, params=((1, 0),)), a, params=())
    for x, other, left in ((a, b, True), (b, a, False)):
        f = _scalar_factor(x)                              # (A c) @ B -> (A @ B) c
        if f is not None:
            A, c, op = f
            prod = S.apply("matmul", A, other, params=()) if left else \
                S.apply("matmul", other, A, params=())
            return S.apply(op, prod, c)
        if x.op == "neg" and x.shape:                      # (-A) @ B -> -(A @ B) (exact)
            prod = S.apply("matmul", x.args[0], other, params=()) if left else \
                S.apply("matmul", other, x.args[0], params=())
            return S.apply("neg", prod)
    return None


def _stop_gradient(S, x, *, params, shape):
    if x.op == "stop_gradient":                            # sg(sg(a)) -> sg(a)
        return x
    return None


def _index(S, x, *, params, shape):
    return _pull_scalar(S, "index", x, params)


#: op name -> rule(S, *args): a simplified node, or None when no rule applies
#: (structural ops' rules also get ``params=`` and the result ``shape=``).
RULES = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "neg": _neg,
    "pow": _pow,
    "max": _maxmin("max"),
    "min": _maxmin("min"),
    "transpose": _transpose,
    "reshape": _reshape,
    "broadcast_to": _broadcast_to,
    "sum": _sum,
    "matmul": _matmul,
    "stop_gradient": _stop_gradient,
    "index": _index,
}
