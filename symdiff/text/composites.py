"""Composite recognition: the printers show ``softmax(Z, axis=1)``,
``logsumexp(Z, axis=1)`` and ``mean(...)`` where the graph holds the
max-shifted exponentials, sums and divisions those builders expand into.

:data:`COMPOSITES` is the recognizer table, one row per composite: the
public builder (its Python name is the printed name) and the keyword
variants to try besides the axis.  Nothing else is written per composite.
A row's *probe* is read off a template the builder makes on a placeholder
tensor: the chain of ops from the template's root down to the placeholder.
A node is a candidate when the same chain leads from it to some ``x``;
it *is* the composite when calling the builder on ``x`` (for some axes and
variant) returns the node itself.  Nodes are interned, so that check is
exact, and printing ``softmax(x, axis=1)`` parses back to the same node.

A recognized node's only argument, for printing, is ``x``: its internal
nodes (the max shift, the exponentials, the sums) are hidden unless
something else uses them.  :class:`View` is that collapsed graph for one
print, with the memo of what was recognized; :meth:`View.postorder` walks
it iteratively.
"""

from __future__ import annotations

import inspect
from itertools import combinations
from typing import Callable, NamedTuple

from symdiff.core import tensor
from symdiff.core.graph import paused_gc, toposort
from symdiff.core.node import Node, symbol

__all__ = ["Composite", "COMPOSITES", "Match", "View", "keyword_text"]


class Composite(NamedTuple):
    """One recognizable composite: its public ``build(x, axis=..., **kw)``
    and the ``variants`` (keyword arguments besides ``axis``) to try."""

    build: Callable
    variants: tuple = ({},)


#: The recognizer table.
COMPOSITES = (
    Composite(tensor.softmax),
    Composite(tensor.logsumexp, ({}, {"keepdims": True})),
    Composite(tensor.mean, ({}, {"keepdims": True})),
)


class Match(NamedTuple):
    """A recognized composite: the function ``name``, its argument ``x``,
    the keyword arguments to print (``axis`` as non-negative axes, ``None``
    when every axis of a function whose default is every axis) and the
    builder's ``defaults`` (the LaTeX printer leaves those out)."""

    name: str
    x: Node
    keywords: dict
    defaults: dict


class _Probe(NamedTuple):
    composite: Composite
    variant: dict
    chain: tuple          # ((op, argument index), ...) from the root down to x


def _chain_to(template: Node, leaf: Node) -> tuple:
    """The ops and argument indices on the first path from ``template`` to
    ``leaf`` (depth first, arguments in order; iterative)."""
    stack = [(template, ())]
    seen = set()
    while stack:
        node, path = stack.pop()
        if node is leaf:
            return path
        if node in seen:
            continue
        seen.add(node)
        for i in range(len(node.args) - 1, -1, -1):
            stack.append((node.args[i], path + ((node.op, i),)))
    raise AssertionError("the template does not use its placeholder")


def _probes() -> dict:
    """Root op -> probes, from templates built on a placeholder matrix."""
    placeholder = symbol("_composite_probe", ("_composite_m", "_composite_n"))
    out: dict = {}
    for comp in COMPOSITES:
        for variant in comp.variants:
            template = comp.build(placeholder, axis=1, **variant)
            chain = _chain_to(template, placeholder)
            out.setdefault(template.op, []).append(_Probe(comp, variant, chain))
    return out


_PROBES: list = []


def _probes_by_root() -> dict:
    if not _PROBES:
        _PROBES.append(_probes())
    return _PROBES[0]


def _axis_sets(ndim: int):
    """Candidate axes, most common first: each single axis, every axis,
    then the other subsets (for up to 4 axes)."""
    yield from ((a,) for a in range(ndim))
    if ndim > 1:
        yield tuple(range(ndim))
    if ndim <= 4:
        for k in range(2, ndim):
            yield from combinations(range(ndim), k)


def _defaults(build: Callable) -> dict:
    return {p.name: p.default for p in inspect.signature(build).parameters.values()
            if p.default is not inspect.Parameter.empty}


def recognize(node: Node) -> Match | None:
    """The composite ``node`` is, or None."""
    probes = _probes_by_root().get(node.op)
    if not probes:
        return None
    for probe in probes:
        x = node
        for op, i in probe.chain:
            if x.op != op or len(x.args) <= i:
                break
            x = x.args[i]
        else:
            if not x.shape:
                continue
            build = probe.composite.build
            for axes in _axis_sets(len(x.shape)):
                try:
                    built = build(x, axis=axes, **probe.variant)
                except (ValueError, TypeError):
                    continue
                if built is node:
                    defaults = _defaults(build)
                    keywords = {}
                    if not (defaults.get("axis", 0) is None and len(axes) == len(x.shape)):
                        keywords["axis"] = axes[0] if len(axes) == 1 else axes
                    keywords.update(probe.variant)
                    return Match(build.__name__, x, keywords, defaults)
    return None


def keyword_text(value) -> str:
    """A literal parameter as text: ``1``, ``True``, ``None``, ``(0, 1)``,
    ``(m, 1)``, ``(m,)``."""
    if isinstance(value, tuple):
        items = [keyword_text(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return str(value)


class View:
    """The graph as the printers show it: recognized composites collapsed
    into one node whose only argument is the composite's ``x``.  Recognition
    is memoized, so one View serves a whole program."""

    def __init__(self):
        self._memo: dict[Node, Match | None] = {}
        self._roots = _probes_by_root()         # root op -> probes

    def match(self, node: Node) -> Match | None:
        """The composite ``node`` prints as, or None."""
        if node.op not in self._roots:
            return None                         # the common case, without a memo entry
        memo = self._memo
        if node in memo:
            return memo[node]
        m = memo[node] = recognize(node)
        return m

    def args(self, node: Node) -> tuple:
        """The arguments ``node`` prints (``(x,)`` for a composite)."""
        if node.op not in self._roots:
            return node.args                    # the common case, as in match
        m = self.match(node)
        return node.args if m is None else (m.x,)

    def postorder(self, outputs, done=()) -> list[Node]:
        """Nodes reachable in the view, arguments before users: depth first
        from each output, arguments in order
        (:func:`symdiff.core.graph.toposort` on the collapsed graph; nodes
        in ``done`` are neither listed nor entered)."""
        with paused_gc():       # the walk's 10^5 stack entries on deep graphs
            return toposort(outputs, done, args=self.args)
