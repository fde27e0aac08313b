"""The numeric namespaces: floats, numpy arrays and complex numbers.

Every derivative rule in :mod:`symdiff.core.ops` is written once, against a
namespace ``F`` (``F.add``, ``F.mul``, ``F.exp``, ``F.const``,
``F.constant_value`` ...), and every evaluator is a namespace handed to the
one instruction loop, :func:`symdiff.core.program.run`.  With ``F`` =
:mod:`symdiff.core.symbolic` a rule builds expression nodes; with a
namespace from this module the *same* rule computes numbers.  That is how
the interpreter, the forward-mode and reverse-mode evaluators
(:mod:`symdiff.numeric.forward`, :mod:`symdiff.numeric.reverse`) and the
complex step avoid writing any loop or derivative formula a second time.

The namespaces are generated from :data:`symdiff.core.ops.OPS`: ``F.<name>``
is ``OPS[name].numpy`` for every primitive, so adding an op to the table
needs no change here:

* :data:`NUMPY`: exactly the op table's numpy evaluations (IEEE results,
  broadcasting).  Used for arrays.
* :data:`FLOAT`: the same, except for the ops that are one IEEE operation
  on Python floats (``OpDef.python``: add, sub, mul, div, neg): a numpy
  ufunc called on two Python floats inside ``np.errstate`` costs about
  5 us, the operator about 50 ns, and both are the correctly rounded IEEE
  operation, so results are bit-identical.  These never warn
  (:data:`QUIET_OPS`).
* :data:`COMPLEX`: complex128 values for the complex step.
* :class:`CountingNamespace`: wraps another namespace and counts the scalar
  operations performed (an array result of size n counts n), for the
  operation-count comparisons of forward and reverse mode.

Like the op table's numpy functions, the namespaces do not set
``np.errstate`` per call (it costs about 3 us): callers wrap a whole sweep
in ``np.errstate(all="ignore")`` once, as the interpreter does.

``F.constant_value`` always returns ``None`` for numbers: a float does not
remember whether it came from a constant.  The only rule that asks is
``pow``'s, which special-cases constant exponents *symbolically* (to avoid
building ``x^(2-1)``); numerically the generic formula ``b * a^(b-1)`` gives
the same bits.  The exponent partial ``log(a) * out`` (NaN for a < 0) is
never requested for constant exponents, because the evaluators skip
arguments that carry no tangent or adjoint (a symbolic zero, as in JAX).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from symdiff.core.graph import as_outputs
from symdiff.core.namespace import Namespace, numpy_namespace
from symdiff.core.ops import OPS
from symdiff.core.program import Program, bind_point, schedule, schedule_at

__all__ = ["Namespace", "CountingNamespace", "FLOAT", "NUMPY", "COMPLEX", "QUIET_OPS",
           "count_setup", "partials"]


#: The op table's numpy evaluations, unchanged: use for numpy arrays.
NUMPY = numpy_namespace("numpy")

#: Fast scalar namespace: the ops that are one IEEE operation on Python
#: floats (``OpDef.python``: bit-identical to numpy, 100x cheaper on Python
#: floats), the rest from the op table's numpy evaluation.
_FAST = {name: op.python for name, op in OPS.items() if op.python is not None}
FLOAT = numpy_namespace("float", _FAST)

#: complex128 evaluation for the complex step: the op table's numpy
#: functions, which accept complex arrays (only ``complex_ok`` ops are
#: analytic and give the right derivative; see finite_diff.complex_function).
COMPLEX = numpy_namespace("complex", const=complex)

#: Ops whose FLOAT implementation never emits a numpy warning, so a caller
#: evaluating just one of them can skip ``np.errstate``.
QUIET_OPS = frozenset(_FAST)


class CountingNamespace(Namespace):
    """Wraps ``base`` and counts the scalar operations it performs.

    Every call adds the number of elements of its result to :attr:`count`
    (1 for a scalar, n for an array of n tangents), so a vectorized sweep
    is charged for all the arithmetic it does.
    """

    def __init__(self, base: Namespace):
        self.count = 0
        self.base = base
        wrapped = {op_name: self._wrap(fn) for op_name, fn in base.impls.items()}
        super().__init__(f"counting({base.name})", wrapped, const=base.const,
                         constant_value=base.constant_value)

    def _wrap(self, fn: Callable) -> Callable:
        size = np.size
        scalar_types = (float, int, np.float64)

        def counted(*args):
            r = fn(*args)
            # np.size costs a microsecond; scalars are the common case.
            self.count += 1 if r.__class__ in scalar_types else size(r)
            return r

        counted.__name__ = getattr(fn, "__name__", "op")
        return counted


def count_setup(f, point, inputs, who: str):
    """Program and point for the op-count functions: one scalar expression
    (or an already scheduled :class:`~symdiff.core.program.Program` of one,
    whose input order is fixed: ``inputs`` must then be None), evaluated at
    ``point`` or at 0.5 for every input (inside the domain of every op of
    the table; counts do not depend on the point)."""
    if isinstance(f, Program):
        if len(f.outputs) != 1:
            raise ValueError(f"{who} needs one scalar expression")
        if inputs is not None:
            raise ValueError(f"{who}: inputs must be None for a Program (it fixes the "
                             "input order)")
        if point is None:
            return f, [0.5] * len(f.inputs)
        return f, bind_point(f.inputs, point)
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"{who} needs one scalar expression")
    if point is None:
        program = schedule(outs, inputs)
        return program, [0.5] * len(program.inputs)
    return schedule_at(outs, point, inputs)


def partials(op_name: str, args, F: Namespace = FLOAT) -> list:
    """Numeric partial derivatives of ``op_name`` at ``args``, from the op
    table's vjp rule with ``g = 1`` (0.0 where the rule says the partial is
    identically zero)."""
    op = OPS[op_name]
    args = list(args)
    res = []
    with np.errstate(all="ignore"):
        out = F.fn(op_name)(*args)
        for i in range(len(args)):
            c = op.vjp(F, i, args, out, F.const(1.0))
            res.append(0.0 if c is None else c)
    return res
