"""SciPy's optimizers fed by symdiff's compiled derivatives.

* :func:`value_and_grad` -- ``x -> (f, grad f)`` for ``minimize(fun, x0, jac=True)``;
* :class:`Objective` -- ``fun``, ``jac``, ``hess``, ``hessp`` for ``minimize``;
* :class:`LeastSquares` -- ``fun``, ``jac`` for ``least_squares``.

Variables are scalar symbols in a list or a tensor symbol (x is their
values, flattened); the other symbols get fixed values through ``data=``.
Kernels compile on first use and the last point's results are reused, so
SciPy's usual ``fun(x)`` then ``jac(x)`` costs one kernel call.  This
package sits on :mod:`compiler` (layer 3, beside :mod:`symdiff.lab`).
"""

from symdiff.optimize.least_squares import LeastSquares
from symdiff.optimize.objective import Objective, value_and_grad

__all__ = ["Objective", "LeastSquares", "value_and_grad"]
