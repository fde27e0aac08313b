"""The CSE'd program text of a set of outputs (:func:`to_program`).

Shared subexpressions are bound to temporaries (``t1 = x*z``) and
single-use subexpressions are inlined, so the text shows exactly the work an
evaluator does.  The walk is the scheduled program, so 10^5-deep
expressions print at the default recursion limit.
"""

from __future__ import annotations

import itertools
import re

from symdiff.core.graph import as_outputs, toposort
from symdiff.core.node import Node, symbol
from symdiff.core.program import schedule
from symdiff.text.infix import to_string

__all__ = ["to_program", "output_names"]


def output_names(names, n: int, default: str) -> list[str]:
    """The labels of ``n`` outputs: ``names`` (a string or a list of ``n``),
    or ``default`` numbered from 0 (``out0``, ``out1`` ...)."""
    if names is None:
        return [f"{default}{k}" for k in range(n)]
    if isinstance(names, str):
        names = [names]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"got {len(names)} names for {n} outputs")
    return names


def _temp_prefix(taken) -> str:
    """The first of t, tmp, _t, _t0_, _t1_ ... such that no name in ``taken``
    looks like a temporary (prefix + digits): a user symbol or output called
    t1 would otherwise be confused with the temporary t1."""
    taken = list(taken)
    candidates = itertools.chain(("t", "tmp", "_t"), (f"_t{k}_" for k in itertools.count()))
    for prefix in candidates:
        rx = re.compile(re.escape(prefix) + r"\d+$")
        if not any(rx.match(name) for name in taken):
            return prefix
    raise AssertionError("unreachable")


def _scheduled_nodes(outs: list[Node], inputs):
    """The program for ``outs`` and the node defining each of its slots."""
    program = schedule(outs, inputs)
    # schedule() numbers the inputs first, then every other reachable node in
    # topological order; replaying that here maps slots back to nodes without
    # rebuilding anything (which could re-simplify nodes made by make()).
    nodes = [symbol(name) for name in program.inputs]
    nodes.extend(n for n in toposort(outs) if n.op != "sym")
    assert len(nodes) == len(program.instrs)
    return program, nodes


def to_program(outputs, names=None, inputs=None) -> str:
    """The CSE'd program computing ``outputs`` as text, one assignment a line.

    Every operation used more than once (including an output that is also
    used by another output) is bound once to a temporary ``t1``, ``t2``, ...
    numbered in evaluation order; operations used once are inlined into their
    only user, so no work is duplicated and no line is a trivial copy.  The
    outputs follow, named by ``names`` (a list such as
    ``["f", "df/dx", "df/dz"]``; default ``out0``, ``out1``, ...).
    ``inputs`` is passed to :func:`symdiff.schedule` (default: the free
    symbols in natural order).  The right-hand sides use the infix syntax of
    :func:`symdiff.to_string`, so they parse back.
    """
    outs = as_outputs(outputs)
    labels = output_names(names, len(outs), "out")
    program, nodes = _scheduled_nodes(outs, inputs)
    uses = [0] * len(program.instrs)
    for ins in program.instrs:
        for a in ins.args:
            uses[a] += 1
    for o in program.outputs:
        uses[o] += 1
    prefix = _temp_prefix([*program.inputs, *labels])
    temps: dict[Node, str] = {}
    lines: list[str] = []
    for k, ins in enumerate(program.instrs):
        # Leaves print as themselves; only shared operations get a name.
        if ins.args and uses[k] > 1:
            node = nodes[k]
            name = f"{prefix}{len(temps) + 1}"
            lines.append(f"{name} = {to_string(node, names=temps)}")
            temps[node] = name
    for label, o in zip(labels, program.outputs):
        node = nodes[o]
        text = temps.get(node)
        if text is None:
            text = to_string(node, names=temps)
        lines.append(f"{label} = {text}")
    return "\n".join(lines)
