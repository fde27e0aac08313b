"""symdiff: exact derivatives of closed-form models, printed readably and
compiled to native code.

Expressions are immutable, hash-consed DAG nodes; derivatives are built by
reverse accumulation into the same graph; programs are flattened into an SSA
instruction list that the interpreter, printers and the LLVM compiler
(:mod:`compiler`) all consume.
"""

from __future__ import annotations

from symdiff.core.builders import (  # mirror numpy
    dot,
    function,
    logsumexp,
    matrix,
    max,
    prod,
    sum,
    symbols,
    vector,
)
from symdiff.core.differentiate import adjoints, diff, grad, hessian, hvp, jacobian
from symdiff.core.expand import scalar_symbols, to_scalars
from symdiff.core.graph import count_ops, free_symbols, substitute, toposort
from symdiff.core.node import Node, const, symbol
from symdiff.core.ops import CONSTANTS, OPS, OpDef
from symdiff.core.program import Instr, Program, program_to_nodes, schedule
from symdiff.core.rules import fast_rules
from symdiff.core.shapes import ShapeError
from symdiff.core.tensor import (
    broadcast_to,
    constant,
    matmul,
    mean,
    onehot,
    reshape,
    softmax,
    stop_gradient,
    tensor,
    transpose,
)
from symdiff.numeric.interpreter import Interpreter, evaluate
from symdiff.text.infix import to_string

__version__ = "0.1.0"

# Elementwise functions for every callable primitive: symdiff.exp, .tanh, ...
# (they apply to scalars, tensors and object arrays of expressions).
# max is builders.max: the reduction of one tensor, or the elementwise max.
for _name, _op in OPS.items():
    if _op.function and _name not in globals():
        globals()[_name] = function(_name)
del _name, _op

pi = const(CONSTANTS["pi"])
e = const(CONSTANTS["e"])

# Optional pieces: imported lazily so that a missing optional module never
# breaks the core.
_LAZY = {
    "parse": ("symdiff.text.parser", "parse"),
    "parse_program": ("symdiff.text.parser", "parse_program"),
    "ParseError": ("symdiff.text.parser", "ParseError"),
    "to_program": ("symdiff.text.program", "to_program"),
    "to_latex": ("symdiff.text.latex", "to_latex"),
    "to_dot": ("symdiff.text.dot", "to_dot"),
    "to_sympy": ("symdiff.text.sympy_interop", "to_sympy"),
    "from_sympy": ("symdiff.text.sympy_interop", "from_sympy"),
    "compile": ("compiler", "compile"),
    "Scalar": ("symdiff.numeric.reverse", "Scalar"),
    "Value": ("symdiff.numeric.reverse", "Scalar"),
    "stabilize": ("symdiff.core.stabilize", "stabilize"),
    "Rewrite": ("symdiff.core.stabilize", "Rewrite"),
    "value_and_grad": ("symdiff.optimize", "value_and_grad"),
    "Objective": ("symdiff.optimize", "Objective"),
    "LeastSquares": ("symdiff.optimize", "LeastSquares"),
}


def __dir__():
    # The lazily loaded names too, for dir(sd) and tab completion.
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'symdiff' has no attribute {name!r}")
    import importlib

    mod_name, attr = spec
    mod = importlib.import_module(mod_name)
    value = getattr(mod, attr)
    globals()[name] = value
    return value


__all__ = [
    "Node", "symbol", "const", "symbols", "vector", "matrix", "sum", "prod", "dot",
    "function", "grad", "jacobian", "hessian", "hvp", "diff", "adjoints", "evaluate",
    "tensor", "constant", "matmul", "transpose", "mean", "max", "logsumexp", "softmax",
    "onehot", "reshape", "broadcast_to", "stop_gradient", "to_scalars", "scalar_symbols",
    "ShapeError", "fast_rules",
    "Interpreter", "schedule", "Program", "Instr", "count_ops", "free_symbols",
    "toposort", "substitute", "program_to_nodes", "to_string", "OPS", "OpDef", "pi", "e",
    *_LAZY,
]
