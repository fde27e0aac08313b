"""The CSE'd program text of a set of outputs (:func:`to_program`).

Shared subexpressions are bound to temporaries (``t1 = x*z``) and
single-use subexpressions are inlined, so the text shows exactly the work an
evaluator does.  Composites (``softmax(t1, axis=1)``) count as one
operation: their internal nodes get no temporaries unless something else
uses them.  A program with tensors carries each line's shape as a comment
(``t1 = X @ Theta   # m x 10``).  The walks are iterative, so 10^5-deep
expressions print at the default recursion limit.
"""

from __future__ import annotations

import itertools

from symdiff.core.graph import as_outputs
from symdiff.core.node import Node
from symdiff.core.ops import ALL_OPS, TENSOR_OPS
from symdiff.core.program import schedule
from symdiff.core.shapes import format_shape
from symdiff.text.composites import View
from symdiff.text.infix import ConstantNames, is_small_array, to_string, unused_prefix

__all__ = ["to_program", "output_names", "temporary_names"]

# Shape comments start this far after the longest line (up to _COMMENT_MAX).
_COMMENT_GAP = 3
_COMMENT_MAX = 60


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
    return unused_prefix(itertools.chain(("t", "tmp", "_t"),
                                         (f"_t{k}_" for k in itertools.count())), taken)


_TENSOR_LEAVES = frozenset({"array", "eye", "dim"})


def _inputs_and_kind(nodes: list, inputs) -> tuple:
    """The input names :func:`symdiff.schedule` would give ``inputs`` for
    the graph whose view is ``nodes``, with the same errors, and whether
    that program is a tensor program (:attr:`Program.is_tensor`), without
    scheduling the whole graph: only its symbols are scheduled.  (A
    composite's hidden nodes use no symbol besides its argument's, and a
    composite has a tensor argument, so the view decides both.)"""
    symbols = schedule([n for n in nodes if n.op == "sym"], inputs)
    is_tensor = symbols.is_tensor or any(
        n.shape or n.op in TENSOR_OPS or n.op in _TENSOR_LEAVES for n in nodes)
    return symbols.inputs, is_tensor


def _is_view_of_leaf(node: Node) -> bool:
    """``A.T``, ``X[0]``: a postfix or subscript form of a leaf.  Printed in
    place even when shared: a view costs no work and reads as briefly as a
    temporary's name."""
    if len(node.args) != 1 or node.args[0].args:
        return False
    spell = ALL_OPS[node.op].spell
    return spell is not None and spell(node.payload, [node.args[0].shape])[0] in (
        "postfix", "subscript")


class _TemporaryPlan:
    """What :func:`to_program` binds: ``temporaries`` (node, name) in
    evaluation order, ``bound`` (every named node, large constant arrays
    included, to its name), the ``header`` comment lines naming constant
    arrays, and whether the program is a tensor program."""

    __slots__ = ("temporaries", "bound", "header", "is_tensor")

    def __init__(self, temporaries, bound, header, is_tensor):
        self.temporaries = temporaries
        self.bound = bound
        self.header = header
        self.is_tensor = is_tensor


def _plan_temporaries(nodes: list, outs: list, labels: list, view: View, inputs,
                      temps) -> _TemporaryPlan:
    """Name the shared operations of the view ``nodes`` (postorder of
    ``outs``) as :func:`to_program` prints them."""
    input_names, is_tensor = _inputs_and_kind(nodes, inputs)     # checks ``inputs``
    uses: dict[Node, int] = {}
    for n in nodes:
        for a in view.args(n):
            uses[a] = uses.get(a, 0) + 1
    for o in outs:
        uses[o] = uses.get(o, 0) + 1
    taken = [*input_names, *labels, *(temps or {}).values()]
    prefix = _temp_prefix(taken)
    bound: dict[Node, str] = {}
    header: list[str] = []
    constants = ConstantNames(lambda: taken)
    for n in nodes:
        if n.op == "array" and not is_small_array(n.payload):
            # Their values are not text: a name, and the shape in a comment.
            bound[n] = name = constants.name(n)
            header.append(f"# {name}: constant array, {format_shape(n.shape)}")
    temporaries: list[tuple[Node, str]] = []
    user = temps or {}
    n_temps = 0
    for node in nodes:
        # Leaves print as themselves; only shared operations get a name.
        if node.args and uses[node] > 1 and not _is_view_of_leaf(node):
            name = user.get(node)
            if name is None:
                n_temps += 1
                name = f"{prefix}{n_temps}"
            temporaries.append((node, name))
            bound[node] = name
    return _TemporaryPlan(temporaries, bound, header, is_tensor)


def temporary_names(outputs, names=None, inputs=None, temps: dict | None = None) -> dict:
    """The temporaries :func:`to_program` would print for the same
    arguments, as a dict from node to name (``t1``, ``t2`` ...): shared
    operations only, numbered in evaluation order.  Drawings use it so that
    a box is called what the program text calls it."""
    outs = as_outputs(outputs)
    labels = output_names(names, len(outs), "out")
    view = View()
    plan = _plan_temporaries(view.postorder(outs), outs, labels, view, inputs, temps)
    return dict(plan.temporaries)


def to_program(outputs, names=None, inputs=None, temps: dict | None = None) -> str:
    """The CSE'd program computing ``outputs`` as text, one assignment a line.

    Every operation used more than once (including an output that is also
    used by another output) is bound once to a temporary ``t1``, ``t2``, ...
    numbered in evaluation order; operations used once are inlined into their
    only user, so no work is duplicated and no line is a trivial copy.  The
    outputs follow, named by ``names`` (a list such as
    ``["f", "df/dx", "df/dz"]``; default ``out0``, ``out1``, ...).
    ``inputs`` is passed to :func:`symdiff.schedule` (default: the free
    symbols in natural order).  ``temps`` optionally maps nodes to names to
    use instead of numbered temporaries when they are shared (the names a
    parsed program assigned, so that ``Z = X @ Theta`` stays ``Z``).  The
    right-hand sides use the infix syntax of :func:`symdiff.to_string`, so
    they parse back.

    Composites count as one operation (``softmax(t1, axis=1)``).  If any
    value is a tensor, every line ends with its shape as a comment
    (``# m x 10``, ``# scalar``); large constant arrays are named ``C1``
    ... and listed in comments at the top.
    """
    outs = as_outputs(outputs)
    labels = output_names(names, len(outs), "out")
    view = View()
    nodes = view.postorder(outs)
    plan = _plan_temporaries(nodes, outs, labels, view, inputs, temps)
    bound, header, is_tensor = plan.bound, plan.header, plan.is_tensor
    lines: list[tuple[str, Node]] = []
    for node, name in plan.temporaries:
        lines.append((f"{name} = {to_string(node, names=bound, view=view)}", node))
    for label, node in zip(labels, outs):
        text = bound.get(node)
        if text is None:
            text = to_string(node, names=bound, view=view)
        lines.append((f"{label} = {text}", node))
    if not is_tensor:
        return "\n".join(header + [line for line, _ in lines])
    width = max((len(line) for line, _ in lines if len(line) <= _COMMENT_MAX), default=0)
    width += _COMMENT_GAP
    return "\n".join(header + [
        f"{line.ljust(width) if len(line) < width else line + ' ' * _COMMENT_GAP}"
        f"# {format_shape(node.shape)}" for line, node in lines])
