"""Forward-mode automatic differentiation over the scheduled program.

Dual numbers (value, tangent) are pushed through the flat SSA program of
:func:`symdiff.core.program.schedule` by the one instruction loop,
:func:`symdiff.core.program.run`, with :class:`DualNamespace`.  No tangent
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

import numpy as np

from symdiff.core.graph import as_outputs
from symdiff.core.namespace import Namespace
from symdiff.core.ops import OPS
from symdiff.core.program import Program, bind_point, prepare, run, schedule_at
from symdiff.numeric.namespaces import FLOAT, NUMPY, CountingNamespace, count_setup

__all__ = ["jvp", "program_gradient", "forward_gradient", "forward_gradient_vectorized",
           "forward_jacobian", "forward_op_count", "forward_sweep", "DualNamespace",
           "dual_namespace"]


def _is_zero_tangent(t) -> bool:
    # Exact zeros are treated as absent (symbolic zero); see module docstring.
    if t is None:
        return True
    if isinstance(t, np.ndarray):
        return not t.any()
    return t == 0.0


class DualNamespace(Namespace):
    """The dual-number namespace over a base namespace ``F``: values are
    ``(value, tangent)`` pairs (tangent ``None`` for zero).  Each op
    evaluates ``F``'s function on the values and sums the op table's
    ``vjp(F, i, values, out, tangent_i)`` over the arguments that carry a
    tangent: no tangent rule is written here."""

    def __init__(self, base: Namespace):
        self.base = base
        super().__init__(f"dual({base.name})", {name: self._dual(name) for name in OPS},
                         const=lambda v: (base.const(v), None))

    def _dual(self, name: str):
        base = self.base
        fn = base.fn(name)
        vjp = OPS[name].vjp
        add = base.add

        def dual(*args):
            vals = [a[0] for a in args]
            out = fn(*vals)
            t = None
            for i, a in enumerate(args):
                ti = a[1]
                if ti is None:
                    continue
                c = vjp(base, i, vals, out, ti)
                if c is not None:
                    t = c if t is None else add(t, c)
            return (out, t)

        dual.__name__ = f"dual_{name}"
        return dual


def dual_namespace(F: Namespace) -> DualNamespace:
    """The dual-number namespace over ``F``, made once per ``F`` and kept
    on ``F`` itself, so that it lives exactly as long as its base (a
    module-level cache would keep every short-lived base alive, such as
    the :class:`CountingNamespace` of each op count)."""
    D = getattr(F, "_dual_namespace", None)
    if D is None:
        D = DualNamespace(F)
        try:
            F._dual_namespace = D
        except AttributeError:      # a base without instance attributes: not cached
            pass
    return D


def forward_sweep(program: Program, values, tangents, F: Namespace = FLOAT, _steps=None):
    """One forward pass over ``program`` carrying (value, tangent) pairs:
    :func:`~symdiff.core.program.run` with the dual namespace over ``F``.

    ``values``/``tangents``: one entry per program input (a tangent may be
    ``None`` for zero, a float, or a numpy array for several directions at
    once).  Returns the lists of values and tangents of every slot (absent
    tangents are ``None``).
    """
    D = dual_namespace(F)
    duals = [(v, None if _is_zero_tangent(t) else t) for v, t in zip(values, tangents)]
    with np.errstate(all="ignore"):  # IEEE results, once per sweep
        slots = run(program, D, duals, all_slots=True, steps=_steps)
    return [s[0] for s in slots], [s[1] for s in slots]


def _tangent_value(t):
    """A tangent entry: None (zero) stays None, numbers become floats or
    float64 arrays."""
    if t is None:
        return None
    return np.asarray(t, dtype=np.float64) if not np.isscalar(t) else float(t)


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
    program, x = schedule_at(as_outputs(outputs), point, inputs)
    t = bind_point(program.inputs, tangent, _tangent_value)
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
    steps = prepare(program, dual_namespace(F))
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
    program, x = schedule_at(outs, point, inputs)
    return _gradient(program, x, NUMPY if vectorized else FLOAT, vectorized)


def forward_gradient_vectorized(f, point, inputs=None):
    """``forward_gradient(f, point, inputs, vectorized=True)``: all n tangents
    pushed in one pass as numpy arrays."""
    return forward_gradient(f, point, inputs, vectorized=True)


def forward_jacobian(outputs, point, inputs=None):
    """Jacobian of several expressions by one vectorized forward pass:
    returns ``(values, J)`` with ``J[i, j] = d outputs[i] / d inputs[j]``."""
    program, x = schedule_at(as_outputs(outputs), point, inputs)
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
    every op in the table); counts do not depend on it.  ``f`` may be an
    already scheduled :class:`~symdiff.core.program.Program` (then
    ``inputs`` is None and ``point`` lists values in its input order).

    For n-pass forward mode the count is about n * |f| (each pass
    re-evaluates f); compare :func:`symdiff.numeric.reverse.reverse_op_count`.
    """
    program, x = count_setup(f, point, inputs, "forward_op_count")
    n = len(program.inputs)
    if n_inputs is None:
        n_inputs = n
    if not 0 <= n_inputs <= n:
        raise ValueError(f"n_inputs must be between 0 and {n}, got {n_inputs}")
    F = CountingNamespace(NUMPY if vectorized else FLOAT)
    _gradient(program, x, F, vectorized, passes=n_inputs)
    return F.count
