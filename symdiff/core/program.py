"""The flat SSA program: the hinge between expressions and every evaluator,
printer and code generator.

:func:`schedule` flattens a DAG into a :class:`Program` once (CSE is
implicit: each distinct node is one instruction).  :func:`run` is the one
loop over a program's instructions: every evaluator of symdiff (the numpy
interpreter, dual numbers, the reverse tape, mpmath, complex step, sympy
conversion, rebuilding nodes) is a *namespace* handed to it, not a loop of
its own.  :func:`bind_point` orders a user's point as a program's inputs,
and :func:`depends_on_inputs` marks the instructions on a path from an
input.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from symdiff.core.graph import as_outputs, paused_gc, sort_symbols, toposort
from symdiff.core.node import Node, array_const, const, dim, eye, symbol
from symdiff.core.ops import TENSOR_OPS
from symdiff.core.shapes import ShapeError

__all__ = ["Instr", "Program", "schedule", "Steps", "prepare", "run", "bind_point",
           "schedule_at", "depends_on_inputs", "program_to_nodes", "pickle_reduce"]


class Instr(NamedTuple):
    """One SSA instruction.  ``op`` is ``"input"`` (payload: input index),
    a leaf (``"const"``: a float; ``"array"``: a constant ndarray;
    ``"dim"``: a dimension's name, its value being that dimension's size;
    ``"eye"``: the identity's size) or an op-table name, whose operands are
    the slot numbers in ``args`` (earlier instructions) and whose payload is
    the structural op's parameters (None for elementwise ops).  ``shape``
    and ``dtype`` describe the value (shape entries are ints or dimension
    names)."""

    op: str
    args: tuple
    payload: object = None
    shape: tuple = ()
    dtype: str = "float64"


#: Instruction kinds that are neither inputs nor ops.
LEAVES = frozenset({"const", "array", "dim", "eye"})


@dataclass(frozen=True)
class Program:
    """A scheduled graph: instruction ``k`` defines slot ``k``.

    ``inputs`` are the input symbols' names in calling order, ``outputs`` the
    slots holding the results.  Every input gets an ``input`` instruction
    (even if unused) so that slot numbering is independent of usage.
    """

    inputs: tuple
    instrs: tuple
    outputs: tuple

    @property
    def n_ops(self) -> int:
        """Operations: instructions that are neither inputs nor leaves
        (counted once, then remembered)."""
        n = self.__dict__.get("_n_ops")
        if n is None:
            n = sum(1 for i in self.instrs if i.args)
            object.__setattr__(self, "_n_ops", n)   # frozen: memo only
        return n

    @property
    def input_shapes(self) -> tuple:
        """Declared shape of each input (``()`` for scalars)."""
        return tuple(self.instrs[k].shape for k in range(len(self.inputs)))

    @property
    def input_dtypes(self) -> tuple:
        """Declared dtype of each input (``"float64"`` or ``"int64"``)."""
        return tuple(self.instrs[k].dtype for k in range(len(self.inputs)))

    @property
    def is_tensor(self) -> bool:
        """True if any value has a shape, any op is structural or a value
        is a dimension's size: the program needs the tensor evaluator and
        compiler (which bind dimensions)."""
        return any(i.shape or i.op in TENSOR_OPS or i.op in ("array", "eye", "dim")
                   for i in self.instrs)

    @property
    def output_shapes(self) -> tuple:
        """Shape of each output."""
        return tuple(self.instrs[o].shape for o in self.outputs)

    def structural_hash(self) -> str:
        """A stable SHA-256 over the program's structure (inputs, ops,
        argument slots, exact constant bits, outputs)."""
        cached = self.__dict__.get("_structural_hash")
        if cached is not None:
            return cached
        # One repr of plain tuples (C-level) instead of a hash update per
        # instruction: ~10x faster on 10^4-instruction programs, which the
        # compile cache hashes on every lookup.  repr(float) round-trips
        # exactly and keeps -0.0 apart from 0.0.
        text = repr((self.inputs, [_hashable(i) for i in self.instrs], self.outputs))
        digest = hashlib.sha256(text.encode()).hexdigest()
        object.__setattr__(self, "_structural_hash", digest)  # frozen: memo only
        return digest


def _hashable(ins: Instr) -> tuple:
    # repr() of a large ndarray elides entries; hash constant arrays' bits.
    if ins.op == "array":
        a = ins.payload
        return ins._replace(payload=(a.shape, hashlib.sha256(a.tobytes()).hexdigest()))
    return tuple(ins)


def schedule(outputs, inputs: Sequence | None = None) -> Program:
    """Flatten ``outputs`` into a :class:`Program` (CSE is implicit: each
    distinct node is one instruction).

    ``inputs`` are symbols or names; by default all free symbols in natural
    order.  A free symbol missing from ``inputs`` is an error.
    """
    with paused_gc():
        return _schedule(as_outputs(outputs), inputs)


def _schedule(outs: list, inputs) -> Program:
    nodes = toposort(outs)
    if inputs is None:
        in_syms = sort_symbols(n for n in nodes if n.op == "sym")
    else:
        by_name = None
        in_syms = []
        for s in inputs:
            if isinstance(s, str):
                if by_name is None:   # names denote the expression's own symbols
                    by_name = {n.payload: n for n in nodes if n.op == "sym"}
                s = by_name.get(s) or symbol(s)
            in_syms.append(s)
        for s in in_syms:
            if not isinstance(s, Node) or s.op != "sym":
                raise TypeError(f"inputs must be symbols, got {s!r}")
        if len(set(in_syms)) != len(in_syms):
            raise ValueError("inputs contain a repeated symbol")
    names = [s.payload for s in in_syms]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"two different inputs are called {dup!r} (shapes "
                         f"{[s.shape for s in in_syms if s.payload == dup]})")
    slot: dict[Node, int] = {}
    instrs: list[Instr] = []
    for k, s in enumerate(in_syms):
        slot[s] = len(instrs)
        instrs.append(Instr("input", (), k, s.shape, s.dtype))
    for n in nodes:
        if n in slot:
            continue
        if n.op == "sym":
            if n.payload in names:
                raise ValueError(f"two different symbols are called {n.payload!r} (shapes "
                                 f"{n.shape} and {in_syms[names.index(n.payload)].shape})")
            raise ValueError(f"expression depends on {n.payload!r}, which is not among "
                             f"the inputs {names}")
        slot[n] = len(instrs)
        if not n.args:
            instrs.append(Instr(n.op, (), n.payload, n.shape, n.dtype))
        else:
            instrs.append(Instr(n.op, tuple(map(slot.__getitem__, n.args)), n.payload,
                                n.shape, n.dtype))
    return Program(tuple(names), tuple(instrs), tuple(slot[o] for o in outs))


# ---------------------------------------------------------------------------
# The one instruction loop.


class Steps(NamedTuple):
    """A program resolved against one namespace, ready for :func:`run`:
    input slots with their input index, constant slots with their value in
    the namespace, and op slots with the namespace's function, argument
    slots and the slots whose last use this op is (freed after it when
    :func:`run` is asked to release memory)."""

    inputs: tuple
    consts: tuple
    ops: tuple


def _bind_params(params, dims):
    """Structural parameters with dimension names replaced by their sizes."""
    if isinstance(params, str):
        v = dims.get(params)
        if v is None:
            raise ShapeError(f"unknown dimension {params!r}: no input has it in its shape")
        return v
    if isinstance(params, tuple):
        return tuple(_bind_params(p, dims) for p in params)
    return params


def _with_params(fn, params):
    def call(*args):
        return fn(*args, *params)

    return call


def _leaf_value(F, ins: Instr, dims):
    op = ins.op
    if op == "const":
        return F.const(ins.payload)
    if op == "array":
        return F.array(ins.payload)
    if op == "dim":
        if dims is None:
            return F.dim(ins.payload)
        return F.const(float(_bind_params(ins.payload, dims)))
    if op == "eye":
        return F.eye(ins.payload if dims is None else _bind_params(ins.payload, dims))
    raise ValueError(f"unknown leaf instruction {op!r}")


def prepare(program: Program, F, dims: Mapping | None = None) -> Steps:
    """Resolve ``program`` against namespace ``F`` once, for repeated
    :func:`run` calls (``F.fn`` and ``F.const`` are looked up here, not per
    evaluation).  ``dims`` binds dimension names in structural parameters
    and ``dim`` leaves (None keeps them symbolic, for the symbolic
    namespace)."""
    instrs = program.instrs
    last_use = [-1] * len(instrs)
    for k, ins in enumerate(instrs):
        for a in ins.args:
            last_use[a] = k
    for o in program.outputs:
        last_use[o] = len(instrs)
    frees: list[list[int]] = [[] for _ in instrs]
    for slot, k in enumerate(last_use):
        if 0 <= k < len(instrs):
            frees[k].append(slot)
    inputs, consts, ops = [], [], []
    fns: dict = {}
    for k, ins in enumerate(instrs):
        op = ins.op
        if op == "input":
            inputs.append((k, ins.payload))
        elif not ins.args:
            consts.append((k, _leaf_value(F, ins, dims)))
        else:
            fn = fns.get(op)
            if fn is None:
                fn = fns[op] = F.fn(op)
            if ins.payload is not None:
                params = ins.payload if dims is None else _bind_params(ins.payload, dims)
                fn = _with_params(fn, params)
            ops.append((k, fn, ins.args, tuple(frees[k])))
    return Steps(tuple(inputs), tuple(consts), tuple(ops))


def run(program: Program, F, inputs: Sequence, *, all_slots: bool = False,
        release: bool = False, steps: Steps | None = None, dims: Mapping | None = None) -> list:
    """Evaluate ``program`` in namespace ``F``: the one loop over a program's
    instructions that every evaluator shares.

    ``inputs``: one value per program input, already of ``F``'s kind
    (floats, arrays, dual numbers, tape Scalars, symbols ...).  Each op
    instruction calls ``F.fn(op)`` on its arguments' values (structural ops
    also on their parameters); leaves are ``F.const(value)``,
    ``F.array(ndarray)``, ``F.eye(n)`` and, for a dimension, its bound size
    as a constant (``F.dim(name)`` when ``dims`` is None).  Returns the
    outputs' values, or with ``all_slots`` the value of every slot (what a
    reverse sweep needs).  ``release`` drops each value after its last use,
    so memory follows the program's width rather than its length.
    ``steps`` is a :func:`prepare` result to reuse across calls.
    """
    if len(inputs) != len(program.inputs):
        raise ValueError(f"expected {len(program.inputs)} input values "
                         f"({', '.join(program.inputs)}), got {len(inputs)}")
    if steps is None:
        steps = prepare(program, F, dims)
    vals: list = [None] * len(program.instrs)
    for k, j in steps.inputs:
        vals[k] = inputs[j]
    for k, v in steps.consts:
        vals[k] = v
    if release and not all_slots:
        for k, fn, args, free in steps.ops:
            vals[k] = fn(*[vals[a] for a in args])
            for s in free:
                vals[s] = None
    else:
        for k, fn, args, _ in steps.ops:
            vals[k] = fn(*[vals[a] for a in args])
    if all_slots:
        return vals
    return [vals[o] for o in program.outputs]


def depends_on_inputs(program: Program) -> list[bool]:
    """For each slot, whether its value depends on a program input (the
    slots a derivative can flow through)."""
    dep = [False] * len(program.instrs)
    for k, ins in enumerate(program.instrs):
        if ins.op == "input":
            dep[k] = True
        elif ins.args:
            for a in ins.args:
                if dep[a]:
                    dep[k] = True
                    break
    return dep


# ---------------------------------------------------------------------------
# Points: a user's values, in a program's input order.


def _to_float(v):
    return np.asarray(v, dtype=np.float64) if not np.isscalar(v) else float(v)


def bind_point(inputs: Sequence[str], point, convert: Callable = _to_float) -> list:
    """Order the values of ``point`` as the input names ``inputs`` and
    convert each with ``convert`` (default: float, or a float64 array).

    ``point``: a mapping from symbols or names to values, or a sequence of
    values in input order.  Missing names and wrong lengths are errors
    naming the inputs.
    """
    if isinstance(point, Mapping):
        by_name = {}
        for k, v in point.items():
            name = k.payload if isinstance(k, Node) else str(k)
            by_name[name] = v
        missing = [n for n in inputs if n not in by_name]
        if missing:
            raise ValueError(f"no value given for {', '.join(missing)}")
        vals = [by_name[n] for n in inputs]
    else:
        vals = list(point)
        if len(vals) != len(inputs):
            raise ValueError(f"expected {len(inputs)} values ({', '.join(inputs)}), "
                             f"got {len(vals)}")
    return [convert(v) for v in vals]


def schedule_at(outputs, point, inputs=None, convert: Callable = _to_float):
    """Schedule ``outputs`` for evaluation at ``point``: returns the program
    and the point's values in its input order.  With ``inputs`` None and a
    mapping ``point``, the inputs are the mapping's keys in order;
    otherwise as :func:`schedule`."""
    if inputs is None and isinstance(point, Mapping):
        inputs = [k if isinstance(k, Node) else str(k) for k in point]
    program = schedule(outputs, inputs)
    return program, bind_point(program.inputs, point, convert)


# ---------------------------------------------------------------------------
# Back from a program to nodes, and pickling.


def program_to_nodes(program: Program) -> list[Node]:
    """Rebuild the output nodes of a program (inverse of :func:`schedule`):
    :func:`run` with the symbolic namespace, so every node is re-interned
    through the simplifying constructors and operand order is canonical
    for this process."""
    from symdiff.core import symbolic

    # Input k is instruction k: its shape and dtype make tensor inputs
    # tensors again (symbol(name) alone would be a scalar).
    return run(program, symbolic, [symbol(name, program.instrs[k].shape, program.instrs[k].dtype)
                                   for k, name in enumerate(program.inputs)])


class PickleState:
    """Part of a pickled graph: the nodes a pickling session had not yet
    written, as instructions over the slots of ``parent`` (the state
    written before this one in the same session, or None) and its own.

    Why: pickle calls each node's ``__reduce__`` separately, so a node
    carrying its own whole program made ``pickle.dumps([f, *grad(f)])``
    quadratic in size.  Instead, nodes pickled in one session share a
    chain of states, each adding only the nodes the earlier ones lacked, so
    the total is linear.  The states of a chain share one slot table (node
    -> slot while pickling, slot -> node after unpickling), grown in place,
    so the time is linear too.  The module keeps just a *weak* reference to
    the newest state (per thread): the pickler's memo holds it for the rest
    of the session, and once the session ends nothing does, so the next
    session starts a new chain.
    """

    __slots__ = ("parent", "instrs", "end", "slots", "nodes", "__weakref__")

    def __init__(self, parent, instrs: tuple, slots: dict | None, nodes: list | None):
        self.parent = parent
        # ("sym", name, shape, dtype) | (leaf op, payload) | (op, args, payload)
        self.instrs = instrs
        # Slots 0 .. end-1 are the chain's up to this state.
        self.end = len(instrs) if parent is None else parent.end + len(instrs)
        self.slots = slots            # node -> slot, shared by the chain, while pickling
        self.nodes = nodes            # slot -> node, shared by the chain, after unpickling

    def __reduce__(self):
        return (_unpickle_state, (self.parent, self.instrs))


def _unpickle_state(parent, instrs) -> PickleState:
    from symdiff.core import symbolic

    if parent is None:
        nodes = []
    else:
        nodes = parent.nodes
        if len(nodes) != parent.end:
            # Another state already grew the parent's table (two states made
            # from one parent, possible in streams written by older
            # versions): continue from a copy of the parent's part.
            nodes = nodes[:parent.end]
    append = nodes.append
    for ins in instrs:
        kind = ins[0]
        if kind == "sym":
            append(symbol(ins[1], ins[2], ins[3]))
        elif len(ins) == 2:
            append(_LEAF_BUILDERS[kind](ins[1]))
        else:
            append(symbolic.apply(kind, *[nodes[a] for a in ins[1]], params=ins[2]))
    return PickleState(parent, instrs, None, nodes)


_LEAF_BUILDERS = {"const": const, "array": array_const, "dim": dim, "eye": eye}


# .newest: a weakref.ref to the newest PickleState of this thread's session.
_session = threading.local()


def pickle_reduce(node: Node):
    """``node.__reduce__``: rebuild from the slot of a shared
    :class:`PickleState` chain (see there)."""
    ref = getattr(_session, "newest", None)
    st = None if ref is None else ref()
    if st is not None:
        slots = st.slots
        if len(slots) == st.end:
            slot = slots.get(node)
            if slot is not None:
                return (_rebuild_node, (st, slot))
        else:
            st = None   # the table grew past this state: never branch a chain
    if st is None:
        slots, base = {}, 0
    else:
        base = st.end
    instrs = []
    with paused_gc():
        for n in toposort([node], done=slots):
            slots[n] = base + len(instrs)
            if n.op == "sym":
                instrs.append(("sym", n.payload, n.shape, n.dtype))
            elif not n.args:
                instrs.append((n.op, n.payload))
            else:
                instrs.append((n.op, tuple(slots[a] for a in n.args), n.payload))
    new = PickleState(st, tuple(instrs), slots, None)
    _session.newest = weakref.ref(new)
    return (_rebuild_node, (new, slots[node]))


def _rebuild_node(state: PickleState, slot: int) -> Node:
    return state.nodes[slot]
