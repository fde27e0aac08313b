"""Reverse-mode automatic differentiation: a tape of :class:`Scalar` values
and an adjoint sweep over the scheduled program.

:class:`Scalar` is the lectures' ``ag.Scalar`` (and micrograd's ``Value``):
a number that remembers how it was computed.  Its fields are

* ``value`` (alias ``data``): the number;
* ``grad``: d(output)/d(this), filled in by :meth:`Scalar.backward`;
* ``inputs`` (micrograd: ``_prev``, as a set): the Scalars it was computed from;
* ``op`` (micrograd: ``_op``): the op-table name of the operation (``""`` for a
  leaf, ``"const"`` for a number that entered an expression);
* ``_backward``: the function pushing ``grad`` to the inputs;
* ``label``: a name for drawing (:meth:`Scalar.to_dot`).

Each operation's ``_backward`` applies the op table's ``vjp`` rule with the
float namespace :data:`symdiff.numeric.namespaces.FLOAT`, so no derivative formula is
written twice.  ``backward()`` sorts the tape with an explicit stack (no
recursion: a chain of 10^5 operations works at the default recursion limit).

The program-level functions (:func:`vjp`, :func:`reverse_gradient`,
:func:`reverse_op_count`) run the same rules over the flat SSA program of
:func:`symdiff.core.graph.schedule`: one forward loop for values, one backward
loop for adjoints, so a gradient costs a small constant times |f| whatever
the number of inputs.
"""

from __future__ import annotations

import itertools
import numbers
from typing import Mapping

import numpy as np

from symdiff.core.graph import as_outputs
from symdiff.core.namespace import Namespace
from symdiff.core.ops import OPS
from symdiff.core.program import Program, depends_on_inputs, run, schedule_at
from symdiff.numeric.namespaces import FLOAT, QUIET_OPS, CountingNamespace, count_setup

__all__ = ["Scalar", "Value", "TAPE", "zero_grad", "build_tape", "tape_gradient",
           "reverse_gradient", "vjp",
           "reverse_sweep", "reverse_op_count"]


def _noop():
    """The ``_backward`` of leaves and constants: nothing to propagate."""


# Creation counter: a Scalar is always created after its inputs, so sorting
# a graph's Scalars by it is a topological order (as for symdiff nodes).
_ids = itertools.count()


class Scalar:
    """A scalar on the reverse-mode tape (the lectures' ``ag.Scalar``,
    micrograd's ``Value``).

    ``Scalar(value, inputs=(), op="", label="")``; the micrograd spelling
    ``Value(data, _children=(), _op="", label="")`` works too.  Arithmetic
    with Python numbers on either side builds new Scalars; every op of the
    table is a method (``x.tanh()``, ``x.max(y, z)``) or reachable through
    :meth:`apply`.
    """

    __slots__ = ("value", "grad", "inputs", "op", "label", "_bw", "_id", "__weakref__")

    def __init__(self, value, inputs=(), op: str = "", label: str = "",
                 _children=None, _op=None):
        if isinstance(value, Scalar):
            raise TypeError("Scalar(value) takes a number, not a Scalar")
        self.value = float(value)
        self.grad = 0.0
        self.inputs = tuple(inputs if _children is None else _children)
        self.op = op if _op is None else _op
        self.label = label
        self._bw = None
        self._id = next(_ids)

    # -- micrograd / lecture aliases ----------------------------------------

    @property
    def data(self) -> float:
        """Alias of ``value`` (micrograd's name)."""
        return self.value

    @data.setter
    def data(self, v) -> None:
        self.value = float(v)

    @property
    def _prev(self) -> set:
        """The inputs as a set (micrograd's ``_prev``)."""
        return set(self.inputs)

    @property
    def _op(self) -> str:
        """Alias of ``op`` (micrograd's ``_op``)."""
        return self.op

    @property
    def _backward(self):
        """The function that adds this node's contribution to its inputs'
        ``grad``.  By default the op table's rule (built on access, so the
        tape holds no closure cycles); assignable for custom operations."""
        if self._bw is not None:
            return self._bw
        if self.op in OPS:
            return self._propagate
        return _noop

    @_backward.setter
    def _backward(self, fn) -> None:
        self._bw = fn

    # -- construction -------------------------------------------------------

    @staticmethod
    def constant(v, label: str = "") -> "Scalar":
        """A constant on the tape (drawn grey, titled by its value unless
        labelled; never receives a gradient)."""
        return Scalar(v, (), "const", label)

    @staticmethod
    def apply(op_name: str, *args, label: str = "") -> "Scalar":
        """The Scalar ``op_name(*args)`` for any op of the table; numbers
        among ``args`` become constants."""
        op = OPS.get(op_name)
        if op is None:
            raise ValueError(f"unknown operation {op_name!r}")
        if not op.check_arity(len(args)):
            raise TypeError(f"{op_name} takes {op.arity if op.arity > 0 else '2 or more'} "
                            f"arguments, got {len(args)}")
        nodes = []
        for a in args:
            s = _as_scalar(a)
            if s is None:
                raise TypeError(f"cannot use {type(a).__name__} {a!r} in a Scalar expression")
            nodes.append(s)
        return _make(op_name, nodes, label)

    def _propagate(self) -> None:
        """Default ``_backward``: chain rule through the op table's vjp rule,
        accumulating (+=) into the inputs.  Constants are skipped: their
        gradient is never wanted and pow's exponent partial would be NaN for
        a negative base.  (:meth:`backward` sets ``np.errstate`` around the
        whole sweep; a direct call may let numpy warn on domain errors.)"""
        vjp = OPS[self.op].vjp
        inputs = self.inputs
        args = [a.value for a in inputs]
        g, out = self.grad, self.value
        for i, a in enumerate(inputs):
            if a.op == "const":
                continue
            c = vjp(FLOAT, i, args, out, g)
            if c is not None:
                a.grad += c if c.__class__ is float else float(c)

    # -- graph walks (explicit stack) -----------------------------------------

    def topo(self) -> list:
        """Every Scalar this one depends on (itself included), inputs before
        users: the reachable set (explicit stack) sorted by creation order,
        which is topological because inputs exist before their users."""
        seen = {self}
        stack = [self]
        add = seen.add
        while stack:
            for a in stack.pop().inputs:
                if a not in seen:
                    add(a)
                    stack.append(a)
        return sorted(seen, key=_creation)

    def backward(self, grad: float = 1.0) -> None:
        """Reverse sweep: add d(self)/d(leaf) * ``grad`` to every leaf's
        ``grad``.

        Leaf gradients accumulate (+=) across calls, like micrograd and
        PyTorch: calling ``backward`` twice doubles them; use
        :meth:`zero_grad` between steps.  Interior nodes are reset first so
        that they show this sweep's adjoints (micrograd would accumulate
        twice through them and get neither 1x nor 2x).
        """
        order = self.topo()
        for n in order:
            if n.inputs:
                n.grad = 0.0
        self.grad += float(grad)
        with np.errstate(all="ignore"):  # once for the sweep: IEEE, no warnings
            for n in reversed(order):
                if n.inputs:
                    if n._bw is None and n.op in OPS:
                        n._propagate()          # the common case, without the property
                    else:
                        n._backward()

    def zero_grad(self) -> None:
        """Set ``grad`` to 0 on every Scalar of this one's graph."""
        for n in self.topo():
            n.grad = 0.0

    def leaves(self) -> list:
        """The leaves (op ``""``) this Scalar depends on, in tape order."""
        return [n for n in self.topo() if not n.inputs and n.op != "const"]

    # -- drawing -----------------------------------------------------------------

    def to_dot(self, precision: int = 4, rankdir: str = "BT") -> str:
        """Graphviz DOT of the tape as the lectures draw it: one record per
        Scalar with its label, op, value and grad stacked; leaves white,
        constants grey plates, intermediate Scalars blue.  Values flow
        upwards (``rankdir``; the default keeps the picture about as wide as
        tall, where left-to-right drew a 10-Scalar tape 2,879 x 200 pixels),
        operands in order, and the operands of ``-``, ``/`` and other
        operations that do not commute are labelled ``#1`` and ``#2`` on
        their edges."""
        order = self.topo()
        index = {n: k for k, n in enumerate(order)}
        # A record's fields run across the rank direction, so in a
        # left-to-right picture { } stacks them; top-down needs no braces.
        stack = rankdir in ("LR", "RL")
        lines = ["digraph tape {", f"  rankdir={rankdir};", "  ordering=in;",
                 '  node [shape=record, fontname="Helvetica", style=filled];',
                 '  edge [fontname="Helvetica", fontsize=10, fontcolor="#707070"];']
        for k, n in enumerate(order):
            if n.op == "const":
                title = _dot_escape(n.label or f"{n.value:g}")
                lines.append(f'  n{k} [label="{title}", shape=box, fillcolor=lightgrey];')
                continue
            parts = []
            if n.label:
                parts.append(_dot_escape(n.label))
            if n.op:
                opdef = OPS.get(n.op)
                parts.append(_dot_escape(opdef.infix if opdef and opdef.infix else n.op))
            parts.append(f"value {n.value:.{precision}f}")
            parts.append(f"grad {n.grad:.{precision}f}")
            color = "lightblue" if n.inputs else "white"
            fields = " | ".join(parts)
            label = f"{{ {fields} }}" if stack else fields
            lines.append(f'  n{k} [label="{label}", fillcolor={color}];')
        for k, n in enumerate(order):
            opdef = OPS.get(n.op)
            ordered = len(n.inputs) >= 2 and not (opdef and opdef.commutative)
            for j, a in enumerate(n.inputs):
                attr = f' [label="#{j + 1}"]' if ordered else ""
                lines.append(f"  n{index[a]} -> n{k}{attr};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- Python protocol -------------------------------------------------------

    def __repr__(self) -> str:
        lab = f", label={self.label!r}" if self.label else ""
        return f"Scalar(value={self.value!r}, grad={self.grad!r}{lab})"

    def __float__(self) -> float:
        return self.value

    def __neg__(self):
        return _make("neg", (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return Scalar.apply("abs", self)


def _creation(s: Scalar) -> int:
    return s._id


def _make(op_name: str, nodes, label: str = "") -> Scalar:
    """Evaluate op ``op_name`` on Scalars ``nodes`` (already validated)."""
    fn = FLOAT.fn(op_name)
    vals = [n.value for n in nodes]
    if op_name in QUIET_OPS:
        value = fn(*vals)
    else:
        with np.errstate(all="ignore"):  # IEEE: log(-1) is NaN, silently
            value = fn(*vals)
    return Scalar(value, nodes, op_name, label)


def _as_scalar(x):
    """A Scalar for ``x`` (numbers become constants), or None if unsupported."""
    cls = x.__class__
    if cls is Scalar:
        return x
    if cls is float or cls is int:                   # fast path before the ABC check
        return Scalar.constant(x)
    if isinstance(x, Scalar):
        return x
    if isinstance(x, (numbers.Real, np.floating, np.integer)):
        return Scalar.constant(x)
    return None


def _binary(op_name: str, reflected: bool = False):
    def method(self, other):
        o = _as_scalar(other)
        if o is None:
            return NotImplemented
        return _make(op_name, (o, self) if reflected else (self, o))

    method.__name__ = f"__{'r' if reflected else ''}{op_name}__"
    sym = {"pow": "**"}.get(op_name, OPS[op_name].infix)
    method.__doc__ = f"other {sym} self" if reflected else f"self {sym} other"
    return method


for _dunder, _op_name in [("add", "add"), ("sub", "sub"), ("mul", "mul"),
                          ("truediv", "div"), ("pow", "pow")]:
    setattr(Scalar, f"__{_dunder}__", _binary(_op_name))
    setattr(Scalar, f"__r{_dunder}__", _binary(_op_name, reflected=True))


def _method(op_name: str):
    op = OPS[op_name]
    if op.arity == 1:
        def method(self):
            return _make(op_name, (self,))
    else:
        def method(self, *others):
            return Scalar.apply(op_name, self, *others)
    method.__name__ = op_name
    method.__doc__ = f"{op_name}: {op.doc or op_name} (op-table primitive)"
    return method


# One method per op of the table (x.exp(), x.relu(), x.max(y) ...): adding an
# op to the table adds it here.
for _op_name in OPS:
    if _op_name not in Scalar.__dict__:
        setattr(Scalar, _op_name, _method(_op_name))
del _dunder, _op_name

#: micrograd's name for the same class.
Value = Scalar


def zero_grad(*roots: Scalar) -> None:
    """Zero ``grad`` on every Scalar reachable from ``roots``."""
    for r in roots:
        r.zero_grad()


def _dot_escape(s: str) -> str:
    out = str(s)
    for ch in "\\\"{}|<>":
        out = out.replace(ch, "\\" + ch)
    return out


# ---------------------------------------------------------------------------
# Program-driven reverse mode


#: The tape as a namespace: running a program with it records the Scalars.
def _tape_op(name: str):
    def record(*args):
        return _make(name, args)

    return record


TAPE = Namespace("tape", {name: _tape_op(name) for name in OPS}, const=Scalar.constant)


def build_tape(outputs, point, inputs=None):
    """Replay the scheduled program of ``outputs`` on the tape at ``point``.

    Returns ``(outs, leaves)``: a Scalar per output and a leaf Scalar per
    input (labelled with the input's name), ready for ``outs[0].backward()``
    and ``to_dot()``.
    """
    program, x = schedule_at(as_outputs(outputs), point, inputs)
    leaves = [Scalar(v, label=name) for v, name in zip(x, program.inputs)]
    return run(program, TAPE, leaves), leaves


def tape_gradient(program: Program, x):
    """``(value, gradient)`` of ``program``'s first output at ``x`` (values in
    input order): replay the program on the :class:`Scalar` tape, then
    ``backward``.  The gradient is a list in input order."""
    leaves = [Scalar(v) for v in x]
    out = run(program, TAPE, leaves)[0]
    out.backward()
    return out.value, [leaf.grad for leaf in leaves]


def reverse_gradient(f, point, inputs=None):
    """Gradient of the scalar expression ``f`` with the :class:`Scalar` tape:
    loop over the schedule creating Scalars, then ``backward``.  Returns
    ``(value, gradient)`` (gradient as a float64 array in ``inputs`` order,
    default the free symbols in natural order)."""
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"reverse_gradient needs one scalar expression, got {len(outs)}")
    (out,), leaves = build_tape(outs, point, inputs)
    out.backward()
    return out.value, np.array([leaf.grad for leaf in leaves], dtype=float)


def _primal(program: Program, x, F: Namespace):
    """Values of every slot and whether each slot depends on an input."""
    with np.errstate(all="ignore"):
        vals = run(program, F, x, all_slots=True)
    return vals, depends_on_inputs(program)


def reverse_sweep(program: Program, vals: list, dep: list, seeds: Mapping[int, object],
                  F: Namespace = FLOAT) -> list:
    """The adjoint loop: walk ``program`` backwards from ``seeds`` (slot ->
    cotangent), applying each op's vjp rule to arguments that depend on an
    input.  Returns the adjoint of every slot (``None`` where absent)."""
    with np.errstate(all="ignore"):
        return _reverse_loop(program.instrs, vals, dep, seeds, F)


def _reverse_loop(instrs, vals, dep, seeds, F) -> list:
    adj: list = [None] * len(instrs)
    add = F.add
    for s, c in seeds.items():
        adj[s] = c
    for k in range(len(instrs) - 1, -1, -1):
        g = adj[k]
        ins = instrs[k]
        if g is None or not ins.args:
            continue
        vjp_rule = OPS[ins.op].vjp
        args = [vals[j] for j in ins.args]
        out = vals[k]
        for i, j in enumerate(ins.args):
            if not dep[j]:
                continue
            c = vjp_rule(F, i, args, out, g)
            if c is None:
                continue
            prev = adj[j]
            adj[j] = c if prev is None else add(prev, c)
    return adj


def _input_adjoints(program: Program, adj: list) -> np.ndarray:
    res = np.zeros(len(program.inputs))
    for k, ins in enumerate(program.instrs):
        if ins.op == "input" and adj[k] is not None:
            res[ins.payload] = adj[k]
    return res


def vjp(outputs, point, cotangent, inputs=None):
    """Vector-Jacobian product u^T J(point) by one forward and one reverse
    sweep over the program.

    ``cotangent``: one number per output (a bare number for a single
    output).  Returns ``(values, input_cotangents)``: the outputs' values
    (list of floats) and u^T J as a float64 array in ``inputs`` order.
    """
    program, x = schedule_at(as_outputs(outputs), point, inputs)
    u = np.atleast_1d(np.asarray(cotangent, dtype=float)).ravel()
    if len(u) != len(program.outputs):
        raise ValueError(f"expected {len(program.outputs)} cotangent entries, got {len(u)}")
    vals, dep = _primal(program, x, FLOAT)
    seeds: dict = {}
    for o, c in zip(program.outputs, u):
        if dep[o] and c != 0.0:
            seeds[o] = seeds.get(o, 0.0) + float(c)  # repeated outputs add up
    adj = reverse_sweep(program, vals, dep, seeds, FLOAT)
    return [float(vals[o]) for o in program.outputs], _input_adjoints(program, adj)


def reverse_op_count(f, point=None, inputs=None) -> int:
    """Scalar arithmetic operations in a reverse-mode gradient of ``f``: the
    forward evaluation plus every operation of the adjoint sweep (each rule's
    arithmetic and the additions accumulating adjoints).  Stays within a
    constant times |f| whatever the number of inputs.  ``point`` defaults to
    0.5 for every input; counts do not depend on it.  ``f`` may be an
    already scheduled :class:`~symdiff.core.program.Program`, as for
    :func:`symdiff.numeric.forward.forward_op_count`."""
    program, x = count_setup(f, point, inputs, "reverse_op_count")
    F = CountingNamespace(FLOAT)
    vals, dep = _primal(program, x, F)
    o = program.outputs[0]
    reverse_sweep(program, vals, dep, {o: 1.0} if dep[o] else {}, F)
    return F.count
