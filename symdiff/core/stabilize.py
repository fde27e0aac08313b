"""The stability pass: rewrite expressions with the rules of
:mod:`symdiff.core.stable_rules` until none applies.

``stabilize(f)`` walks the hash-consed DAG bottom-up with an explicit
stack (no recursion: graphs of millions of nodes, chains 10^5 deep), so a
shared subexpression is rewritten once.  At each node the arguments are
replaced by their rewritten forms, then the node's rules are tried in table
order; when one fires, its result is itself walked (its new subterms may
match further rules: ``log(1 + exp(x))`` becomes ``log1p(exp(x))`` and then
``softplus(x)``), until a fixed point.  A budget of rewrites stops rule
sets that would cycle.

Differentiate after stabilizing f (the op table's derivative rules for
softplus, logsumexp, hypot, log1p are themselves stable), then stabilize
the derivatives too if they came from an unstable form:
``stabilize([f, *grad(f)])``.
"""

from __future__ import annotations

from dataclasses import dataclass

from symdiff.core import symbolic as S
from symdiff.core.node import Node
from symdiff.core.ops import ALL_OPS
from symdiff.core.stable_rules import RULES_BY_OP

__all__ = ["Rewrite", "stabilize", "StabilizeError"]


class StabilizeError(RuntimeError):
    """The rules did not reach a fixed point within the rewrite budget."""


@dataclass(frozen=True)
class Rewrite:
    """One applied rule: ``before`` (with its arguments already rewritten)
    became ``after``; ``why`` says what that fixes."""

    rule: str
    before: Node
    after: Node
    why: str

    def __str__(self) -> str:
        def short(n):
            text = str(n)
            return text if len(text) <= 80 else text[:77] + "..."

        return f"{self.rule}: {short(self.before)} -> {short(self.after)}  ({self.why})"


def _rebuild(node: Node, args: list) -> Node:
    """``node`` with its arguments replaced (through the simplifying
    constructors); ``node`` itself when nothing changed."""
    if all(a is b for a, b in zip(args, node.args)):
        return node
    if ALL_OPS[node.op].kind == "structural":
        return S.apply(node.op, *args, params=node.payload)
    return S.apply(node.op, *args)


def _try_rules(node: Node):
    """(rule, replacement) for the first rule that rewrites ``node``, or None."""
    for rule in RULES_BY_OP.get(node.op, ()):
        out = rule.rewrite(node)
        if out is not None and out is not node:
            return rule, out
    return None


def _rewrite_roots(roots: list, max_rewrites, rewrites: list) -> dict:
    """node -> its stable form, for every node reachable from ``roots``."""
    done: dict = {}        # node -> fixed point (fixed points map to themselves)
    redirect: dict = {}    # node -> what a rule (or rebuilding) turned it into
    resolving: set = set()  # nodes whose redirect chain is being followed
    for root in roots:
        stack = [root]
        while stack:
            n = stack[-1]
            if n in done:
                stack.pop()
                continue
            target = redirect.get(n)
            if target is not None:
                if target in done:
                    done[n] = done[target]
                    resolving.discard(n)
                    stack.pop()
                elif target in resolving:
                    # Rules that rewrite A to B and B back to A: following
                    # the redirects costs no rewrite, so the budget would
                    # never run out; this would loop forever.
                    raise StabilizeError(f"stabilize: the rules cycle at {target}")
                else:
                    resolving.add(n)
                    stack.append(target)
                continue
            pending = [a for a in n.args if a not in done]
            if pending:
                stack.extend(reversed(pending))
                continue
            m = _rebuild(n, [done[a] for a in n.args]) if n.args else n
            if m is not n and m not in done:
                redirect[n] = m          # walk the rebuilt node as its own
                continue
            if m is not n:
                done[n] = done[m]
                stack.pop()
                continue
            hit = _try_rules(n) if n.op in RULES_BY_OP else None
            if hit is None:
                done[n] = n
                stack.pop()
                continue
            rule, out = hit
            rewrites.append(Rewrite(rule.name, n, out, rule.why))
            # The default budget grows with the graph as the walk meets it
            # (10 rewrites per node reached, plus 1000), so no separate
            # traversal is needed to size it up front.
            limit = 10 * len(done) + 1000 if max_rewrites is None else max_rewrites
            if len(rewrites) > limit:
                raise StabilizeError(
                    f"stabilize: more than {limit} rewrites without reaching a "
                    f"fixed point (last rule: {rule.name}); the rules cycle or the "
                    "expression is huge: raise max_rewrites")
            redirect[n] = out
    return done


def stabilize(expr_or_list, *, max_rewrites: int | None = None):
    """Rewrite expressions into numerically stable forms.

    ``expr_or_list``: a node, or a list (or tuple) of nodes.  Returns
    ``(rewritten, rewrites)``: ``rewritten`` has the structure of the input
    (a node, or a list of nodes), equal in real arithmetic to the input and
    better behaved in floating point (``log(1 + exp(x))`` ->
    ``softplus(x)``, ``sqrt(x^2 + y^2)`` -> ``hypot(x, y)`` ...; the rules
    are :data:`symdiff.core.stable_rules.STABLE_RULES`); ``rewrites`` lists
    every :class:`Rewrite` applied, in order.  ``max_rewrites`` bounds the
    number of rewrites (default: 10 per node reached plus 1000);
    :class:`StabilizeError` if the rules have not reached a fixed point by
    then.
    """
    single = isinstance(expr_or_list, Node)
    if single:
        roots = [expr_or_list]
    elif isinstance(expr_or_list, (list, tuple)):
        roots = list(expr_or_list)
        for k, r in enumerate(roots):
            if not isinstance(r, Node):
                raise TypeError(f"stabilize: item {k} is a {type(r).__name__}, not a "
                                "symdiff expression")
    else:
        raise TypeError(f"stabilize takes an expression or a list of expressions, got "
                        f"{type(expr_or_list).__name__}")
    rewrites: list = []
    done = _rewrite_roots(roots, max_rewrites, rewrites)
    out = [done[r] for r in roots]
    return (out[0] if single else out), rewrites
