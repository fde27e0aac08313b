"""Forward-mode automatic differentiation over the scheduled program.

Dual numbers (value, tangent) are pushed through the flat SSA program of
:func:`symdiff.core.graph.schedule`, one loop over its instructions.  No tangent
rule is written here: every primitive is scalar, so the op table's
``vjp(F, i, args, out, g)`` with ``g`` set to argument ``i``'s tangent is
``t_i * d out / d a_i``, and the tangent of the output is the sum of those
terms over the arguments (the jvp).  A tangent that is identically zero is
*absent* (``None``) rather than ``0.0``, as in JAX's symbolic zeros: it costs
nothing and never turns an infinite partial into ``0 * inf = NaN``.

Cost model (the point of this module in the comparisons): one forward pass
gives one directional derivative, so the full gradient of f: R^n -> R needs
n passes and about n * |f| operations, against c * |f| for reverse mode
(:mod:`symdiff.numeric.reverse`).  :func:`forward_gradient` does the n passes, or,
with ``vectorized=True``, a single pass carrying all n tangents as numpy
arrays (same arithmetic, n-wide; far fewer Python-level steps).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from symdiff.numeric.interpreter import bind_point
from symdiff.core.graph import as_outputs
from symdiff.core.program import Program, schedule
from symdiff.numeric.namespaces import FLOAT, NUMPY, CountingNamespace, Namespace
from symdiff.core.ops import OPS

__all__ = ["jvp", "program_gradient", "forward_gradient", "forward_gradient_vectorized", "forward_jacobian",
           "forward_op_count", "forward_sweep"]


def _is_zero_tangent(t) -> bool:
    # Exact zeros are treated as absent (symbolic zero); see module docstring.
    if t is None:
        return True
    if isinstance(t, np.ndarray):
        return not t.any()
    return t == 0.0


def _compile(program: Program, F: Namespace) -> list:
    """Resolve each instruction's evaluation and rule once, so that repeated
    passes (one per input) pay no lookups."""
    steps = []
    for ins in program.instrs:
        if ins.op == "input":
            steps.append((0, ins.payload, None, None))
        elif ins.op == "const":
            steps.append((1, ins.payload, None, None))
        else:
            steps.append((2, F.fn(ins.op), OPS[ins.op].vjp, ins.args))
    return steps


def forward_sweep(program: Program, values, tangents, F: Namespace = FLOAT, _steps=None):
    """One loop over ``program`` carrying (value, tangent) pairs.

    ``values``/``tangents``: one entry per program input (a tangent may be
    ``None`` for zero, a float, or a numpy array for several directions at
    once).  Returns the lists of values and tangents of every slot (absent
    tangents are ``None``).
    """
    steps = _compile(program, F) if _steps is None else _steps
    with np.errstate(all="ignore"):  # IEEE results, once per sweep
        return _sweep(steps, values, tangents, F)


def _sweep(steps, values, tangents, F):
    vals: list = [None] * len(steps)
    tans: list = [None] * len(steps)
    add = F.add
    for k, (kind, fn, vjp, args) in enumerate(steps):
        if kind == 2:
            a = [vals[j] for j in args]
            out = fn(*a)
            vals[k] = out
            t = None
            for i, j in enumerate(args):
                tj = tans[j]
                if tj is None:
                    continue
                c = vjp(F, i, a, out, tj)
                if c is None:
                    continue
                t = c if t is None else add(t, c)
            tans[k] = t
        elif kind == 0:
            vals[k] = values[fn]
            t = tangents[fn]
            tans[k] = None if _is_zero_tangent(t) else t
        else:
            vals[k] = fn
    return vals, tans


def _counting_setup(f, point, inputs, who: str):
    """Program and point for the op-count functions: one scalar expression,
    evaluated at ``point`` or at 0.5 for every input (counts do not depend
    on the point)."""
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"{who} needs one scalar expression")
    if point is None:
        program = schedule(outs, inputs)
        return program, [0.5] * len(program.inputs)
    return _program_and_point(outs, point, inputs)


def _program_and_point(outputs, point, inputs):
    outs = as_outputs(outputs)
    if inputs is None and isinstance(point, Mapping):
        inputs = list(point)
    program = schedule(outs, inputs)
    return program, bind_point(program.inputs, point)


def _bind_tangent(program: Program, tangent):
    if isinstance(tangent, Mapping):
        return bind_point(program.inputs, tangent)
    tangent = list(tangent)
    if len(tangent) != len(program.inputs):
        raise ValueError(f"expected {len(program.inputs)} tangent entries "
                         f"({', '.join(program.inputs)}), got {len(tangent)}")
    return tangent


def jvp(outputs, point, tangent, inputs=None):
    """Jacobian-vector product J(point) @ tangent by one forward pass.

    ``outputs``: an expression or a sequence of them.  ``point``: mapping
    from symbols/names to values, or a sequence in ``inputs`` order
    (default: the free symbols in natural order).  ``tangent``: one entry
    per input, as a sequence or mapping; an entry may be a numpy array to
    push several directions at once.  Returns ``(values, tangents)``, two
    lists with one entry per output (a tangent is 0.0 if the output does not
    depend on the inputs).
    """
    program, x = _program_and_point(outputs, point, inputs)
    t = _bind_tangent(program, tangent)
    vectorized = any(isinstance(v, np.ndarray) and v.ndim > 0 for v in t)
    F = NUMPY if vectorized else FLOAT
    vals, tans = forward_sweep(program, x, t, F)
    zero = 0.0
    if vectorized:
        shape = np.broadcast_shapes(*(np.shape(v) for v in t))
        zero = np.zeros(shape)
    out_v = [_to_float(vals[o]) for o in program.outputs]
    out_t = [zero if tans[o] is None else _to_float(tans[o]) for o in program.outputs]
    return out_v, out_t


def _to_float(v):
    if isinstance(v, np.ndarray):
        return float(v) if v.ndim == 0 else v
    return float(v)


def _gradient(program: Program, x: list, F: Namespace, vectorized: bool, passes=None):
    """(value, gradient) of the program's first output by forward passes."""
    n = len(program.inputs)
    passes = n if passes is None else passes
    o = program.outputs[0]
    if vectorized:
        # All directions at once: input j carries row j of the identity.
        eye = np.eye(n)[:, :passes]
        vals, tans = forward_sweep(program, x, [eye[j] for j in range(n)], F)
        g = np.zeros(passes) if tans[o] is None else np.asarray(tans[o], dtype=float)
        return float(vals[o]), g
    g = np.zeros(passes)
    value = None
    seed: list = [None] * n
    steps = _compile(program, F)
    for j in range(passes):
        # One honest dual-number pass per input: values are recomputed too.
        seed[j] = 1.0
        vals, tans = forward_sweep(program, x, seed, F, steps)
        seed[j] = None
        value = vals[o]
        g[j] = 0.0 if tans[o] is None else tans[o]
    if value is None:  # no inputs: still evaluate once
        vals, _ = forward_sweep(program, x, seed, F)
        value = vals[o]
    return float(value), g


def program_gradient(program: Program, x, *, passes: int | None = None,
                     vectorized: bool = False):
    """``(value, gradient)`` of ``program``'s first output at ``x`` (values in
    input order) by forward mode on an already scheduled program: ``passes``
    dual-number passes seeding inputs 0, 1, ... (default all inputs), or one
    vectorized pass.  For callers that time repeated gradients without
    rescheduling."""
    return _gradient(program, list(x), NUMPY if vectorized else FLOAT, vectorized, passes)


def forward_gradient(f, point, inputs=None, vectorized: bool = False):
    """Gradient of the scalar expression ``f`` by forward mode.

    Default: n forward passes, pass j seeding tangent 1 on input j (the
    classical cost n * |f|).  ``vectorized=True``: one pass whose tangents
    are length-n numpy arrays (all directions at once).  Returns
    ``(value, gradient)`` with the gradient as a float64 array in ``inputs``
    order (default: free symbols in natural order).
    """
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"forward_gradient needs one scalar expression, got {len(outs)}")
    program, x = _program_and_point(outs, point, inputs)
    return _gradient(program, x, NUMPY if vectorized else FLOAT, vectorized)


def forward_gradient_vectorized(f, point, inputs=None):
    """``forward_gradient(f, point, inputs, vectorized=True)``: all n tangents
    pushed in one pass as numpy arrays."""
    return forward_gradient(f, point, inputs, vectorized=True)


def forward_jacobian(outputs, point, inputs=None):
    """Jacobian of several expressions by one vectorized forward pass:
    returns ``(values, J)`` with ``J[i, j] = d outputs[i] / d inputs[j]``."""
    program, x = _program_and_point(outputs, point, inputs)
    n = len(program.inputs)
    eye = np.eye(n)
    vals, tans = forward_sweep(program, x, [eye[j] for j in range(n)], NUMPY)
    J = np.zeros((len(program.outputs), n))
    for r, o in enumerate(program.outputs):
        if tans[o] is not None:
            J[r] = tans[o]
    return np.array([float(vals[o]) for o in program.outputs]), J


def forward_op_count(f, n_inputs=None, point=None, inputs=None,
                     vectorized: bool = False) -> int:
    """Scalar arithmetic operations performed by a forward-mode gradient.

    Runs the gradient with a :class:`~symdiff.numeric.namespaces.CountingNamespace`
    and counts every primitive evaluation and every tangent operation (each
    rule's multiplications and the additions that sum the per-argument
    terms); a vectorized operation on n tangents counts n.  ``n_inputs`` is
    the number of directions (passes), default all inputs; pass j seeds
    input j.  ``point`` defaults to 0.5 for every input (inside the domain of
    every op in the table); counts do not depend on it.

    For n-pass forward mode the count is about n * |f| (each pass
    re-evaluates f); compare :func:`symdiff.numeric.reverse.reverse_op_count`.
    """
    program, x = _counting_setup(f, point, inputs, "forward_op_count")
    n = len(program.inputs)
    if n_inputs is None:
        n_inputs = n
    if not 0 <= n_inputs <= n:
        raise ValueError(f"n_inputs must be between 0 and {n}, got {n_inputs}")
    F = CountingNamespace(NUMPY if vectorized else FLOAT)
    _gradient(program, x, F, vectorized, passes=n_inputs)
    return F.count
