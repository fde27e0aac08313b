"""Graph algorithms over the expression DAG.  All iterative.

This module owns every walk over the DAG: collecting reachable nodes,
topological order, free symbols and substitution (scheduling into a flat
program is :mod:`symdiff.core.program`).  Nothing else in symdiff recurses
over expressions, so graphs of 10^6 nodes and depth 10^5 never meet
Python's recursion limit.

Topological order is a post-order walk from the outputs (see
:func:`toposort`), so it depends only on the graph's structure, never on
the order in which nodes were created.
"""

from __future__ import annotations

import contextlib
import gc
from operator import attrgetter
from typing import Iterable

from symdiff.core.node import Node, natural_key

__all__ = ["reachable", "toposort", "free_symbols", "natural_key", "sort_symbols",
           "substitute", "count_ops", "as_outputs", "paused_gc"]


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector.  Graph passes allocate millions
    of small acyclic objects; the collector's repeated full scans would
    otherwise make them superlinear on large graphs."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def as_outputs(outputs) -> list[Node]:
    """Normalize one node, a number, or any (nested) sequence/array of them to
    a flat list of nodes."""
    import numpy as np

    from symdiff.core.symbolic import as_node

    if isinstance(outputs, Node):
        return [outputs]
    if isinstance(outputs, np.ndarray):
        return [as_node(o) for o in outputs.ravel().tolist()]
    if isinstance(outputs, (list, tuple)):
        flat: list[Node] = []
        stack = [iter(outputs)]
        while stack:
            for item in stack[-1]:
                if isinstance(item, (list, tuple)):
                    stack.append(iter(item))
                    break
                if isinstance(item, np.ndarray):
                    flat.extend(as_node(o) for o in item.ravel().tolist())
                else:
                    flat.append(as_node(item))
            else:
                stack.pop()
        return flat
    return [as_node(outputs)]


def reachable(outputs: Iterable[Node]) -> set[Node]:
    """Every node reachable from ``outputs`` (including them)."""
    seen: set[Node] = set()
    stack = list(outputs)
    add = seen.add
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        add(n)
        for a in n.args:
            if a not in seen:
                stack.append(a)
    return seen


def toposort(outputs: Iterable, done=(), args=None) -> list:
    """Reachable nodes, arguments before users: an iterative post-order walk
    from the outputs, visiting arguments in order.  The order depends only
    on the graph's structure, so programs (and their cache keys) are the
    same in every process.  Nodes in ``done`` (a set or dict) are treated
    as already emitted: the walk neither lists nor enters them (``done`` is
    only read, never copied, so a caller growing one dict across many walks
    pays for each walk's new nodes only).  ``args`` (default: a node's
    ``.args``) gives the arguments of a vertex, so the same walk serves
    graphs seen through another lens (the printers' composite views)."""
    children = _ARGS if args is None else args
    order: list = []
    seen: set = set()
    add, emit = seen.add, order.append
    for root in outputs:
        if root in seen or root in done:
            continue
        add(root)
        stack = [(root, iter(children(root)))]
        while stack:
            node, it = stack[-1]
            for a in it:
                if a not in seen and a not in done:
                    add(a)
                    kids = children(a)
                    if kids:
                        stack.append((a, iter(kids)))
                        break
                    emit(a)
            else:
                stack.pop()
                emit(node)
    return order


_ARGS = attrgetter("args")


def sort_symbols(symbols: Iterable[Node]) -> list[Node]:
    """Symbols in natural name order."""
    return sorted(symbols, key=lambda s: natural_key(s.payload))


def free_symbols(outputs) -> list[Node]:
    """The symbols the outputs depend on, in natural name order."""
    return sort_symbols(n for n in reachable(as_outputs(outputs)) if n.op == "sym")


def substitute(outputs, mapping: dict) -> list[Node]:
    """Replace nodes (typically symbols) by other expressions, rebuilding the
    graph bottom-up through the simplifying constructors."""
    from symdiff.core.symbolic import apply, as_node

    outs = as_outputs(outputs)
    new: dict[Node, Node] = {k: as_node(v) for k, v in mapping.items()}
    for n in toposort(outs):
        if n in new or not n.args:
            continue
        args = tuple(new.get(a, a) for a in n.args)
        if any(x is not y for x, y in zip(args, n.args)):
            new[n] = apply(n.op, *args, params=n.payload)
    return [new.get(o, o) for o in outs]


def count_ops(outputs) -> int:
    """Operations in the CSE'd program evaluating all ``outputs`` together:
    one per distinct non-leaf node."""
    return sum(1 for n in reachable(as_outputs(outputs)) if n.args)
