"""Immutable, hash-consed expression nodes.

Every expression is a :class:`Node` with three short fields: ``op`` (the name
of an entry in the op table, or ``"sym"`` / ``"const"`` for leaves), ``args``
(a tuple of child nodes) and ``payload`` (a symbol's name or a constant's
value).  Nodes are *interned*: asking for the same ``(op, args, payload)``
twice returns the very same object, so structural equality is identity,
hashing is O(1), and common subexpressions are shared by construction.

Each node also carries ``shash`` (a structural hash that is the same
in every process, independent of construction history) and ``order`` (the
key that puts the operands of commutative ops in canonical order: constants
first, then symbols in natural name order, then compound expressions by
height, kind and structural hash).  Canonical order therefore depends only on structure, so
``x*y``, ``y*x`` and a pickled-and-reloaded ``x*y`` are the same node and
print the same way in every process.

This module knows nothing about simplification or the op table; the
simplifying constructors live in :mod:`symdiff.core.symbolic`.
"""

from __future__ import annotations

import math
import re
import struct
import weakref
import zlib

from symdiff.core.ops import ALL_OPS, CONSTANTS, FLOAT_DTYPE, INT_DTYPE, OPS, TENSOR_FUNCTION_NAMES

__all__ = ["Node", "symbol", "const", "array_const", "dim", "eye", "make", "FLOAT", "INT",
           "stable_hash", "natural_key"]

# The intern table maps (op, args, payload) to a weak reference to the node:
# an expression nobody references any more is freed, and its entry goes with
# it.  (Two plain dicts with C-level weakrefs are about 1.5x faster than
# weakref.WeakValueDictionary on the hot path of differentiation.)  Keys hold
# the args strongly, which is harmless because the node itself does too.
_interned: dict = {}
_ref_keys: dict = {}
_ref = weakref.ref


def _forget(ref, _interned=_interned, _ref_keys=_ref_keys):
    key = _ref_keys.pop(ref, None)
    if key is not None and _interned.get(key) is ref:
        del _interned[key]


def _lookup(key):
    r = _interned.get(key)
    return None if r is None else r()


class Node:
    """An interned expression node.  Never construct directly: use :func:`make`."""

    __slots__ = ("op", "args", "payload", "shash", "order", "shape", "dtype", "__weakref__")

    op: str
    args: tuple
    payload: object
    shash: int
    order: tuple
    shape: tuple
    dtype: str

    def __setattr__(self, name, value):  # immutability: nodes are shared
        raise AttributeError("symdiff nodes are immutable")

    def __delattr__(self, name):
        raise AttributeError("symdiff nodes are immutable")

    # Identity equality and hashing are inherited from ``object``: interning
    # makes them structural.  ``__eq__`` is *not* overloaded to build
    # equations, so nodes work as dict keys and in sets at C speed.

    def __reduce__(self):
        # Pickling goes through flat instruction lists, so deep graphs never
        # recurse and lists of nodes pickle in linear size; see
        # symdiff.core.program.PickleState.  Unpickling re-interns the nodes.
        from symdiff.core.program import pickle_reduce

        return pickle_reduce(self)

    def __repr__(self) -> str:
        from symdiff.text.infix import to_string

        text = to_string(self)
        if len(text) > 200:
            text = text[:197] + "..."
        return f"<{text}>"

    def __str__(self) -> str:
        from symdiff.text.infix import to_string

        return to_string(self)

    # Arithmetic builds new nodes through the simplifying constructors of
    # symdiff.core.symbolic (imported at the end of this module).
    def __add__(self, other):
        return _symbolic.binary_operator("add", self, other)

    def __radd__(self, other):
        return _symbolic.binary_operator("add", other, self)

    def __sub__(self, other):
        return _symbolic.binary_operator("sub", self, other)

    def __rsub__(self, other):
        return _symbolic.binary_operator("sub", other, self)

    def __mul__(self, other):
        return _symbolic.binary_operator("mul", self, other)

    def __rmul__(self, other):
        return _symbolic.binary_operator("mul", other, self)

    def __truediv__(self, other):
        return _symbolic.binary_operator("div", self, other)

    def __rtruediv__(self, other):
        return _symbolic.binary_operator("div", other, self)

    def __pow__(self, other):
        return _symbolic.binary_operator("pow", self, other)

    def __rpow__(self, other):
        return _symbolic.binary_operator("pow", other, self)

    def __neg__(self):
        return _symbolic.neg(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return _symbolic.binary_operator("matmul", self, other)

    def __rmatmul__(self, other):
        return _symbolic.binary_operator("matmul", other, self)

    def __getitem__(self, key):
        from symdiff.core.tensor import index

        return index(self, key)

    def __iter__(self):
        # Without this, Python would iterate through __getitem__ forever on a
        # named dimension.
        raise TypeError("symdiff expressions are not iterable; index a tensor instead "
                        "(t[0], t[:, 1])")

    @property
    def T(self):  # noqa: N802 - numpy's name
        """The transpose (all axes reversed; a vector is its own transpose)."""
        from symdiff.core.tensor import transpose

        return transpose(self)

    @property
    def ndim(self) -> int:
        """Number of axes (0 for a scalar)."""
        return len(self.shape)

    def __abs__(self):
        return _symbolic.apply("abs", self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # numpy ufuncs build expressions (np.exp(x), np.float64(2) * x): see
        # symdiff.core.ufuncs.  Arrays mixed in behave as with the Python
        # operators (array * tensor builds a tensor expression; a numeric
        # array * scalar expression gives an object array of expressions).
        from symdiff.core.ufuncs import apply_ufunc

        return apply_ufunc(ufunc, method, inputs, kwargs)

    # No _sympy_ hook: SymPy calls it from ==, where any error would make
    # Symbol('y') == x raise instead of returning False.  A SymPy object in
    # a symdiff expression (x + Symbol('y'), Symbol('y') * x, sd.sin(Symbol('y')))
    # is refused with the hint by the node's own operators
    # (symbolic.as_node / binary_operator); sympy.sin(x) is SymPy's
    # SympifyError.

    # Jupyter: LaTeX, and the computation graph as SVG when Graphviz is
    # installed (the printers are imported lazily; see symdiff.core.display).
    def _repr_latex_(self) -> str:
        from symdiff.core.display import latex_of

        return latex_of(self)

    def _repr_svg_(self) -> str | None:
        from symdiff.core.display import svg_of

        return svg_of(self)

    @property
    def name(self) -> str:
        """The name of a symbol (``ValueError`` for other nodes)."""
        if self.op != "sym":
            raise ValueError("only symbols have a name")
        return self.payload  # type: ignore[return-value]

    @property
    def value(self) -> float:
        """The value of a constant (``ValueError`` for other nodes)."""
        if self.op != "const":
            raise ValueError("only constants have a value")
        return self.payload  # type: ignore[return-value]

    @property
    def is_leaf(self) -> bool:
        """True for symbols and constants."""
        return not self.args


def _const_key(value: float) -> bytes:
    # Bit pattern, not value: 0.0 and -0.0 must stay distinct nodes, and every
    # NaN must intern to one node (NaN != NaN would defeat a value key).
    if math.isnan(value):
        value = math.nan
    return struct.pack("<d", value)


FLOAT = FLOAT_DTYPE
INT = INT_DTYPE


def make(op: str, args: tuple = (), payload: object = None, shape: tuple = (),
         dtype: str = FLOAT) -> Node:
    """Return the unique node ``(op, args, payload)``, creating it if needed.

    ``shape`` and ``dtype`` describe its value; for an op node they follow
    from ``(op, args, payload)`` (the constructors in
    :mod:`symdiff.core.symbolic` compute them), so they are not part of the
    interning key.  No simplification happens here.
    """
    key = (op, args, payload)
    r = _interned.get(key)
    if r is not None:
        node = r()
        if node is not None:
            return node
    node = _new(Node)
    _set_op(node, op)
    _set_args(node, args)
    _set_payload(node, payload)
    _set_shape(node, shape)
    _set_dtype(node, dtype)
    # Tuples of ints hash the same in every process (only str/bytes hashing
    # is salted), so shash is a stable structural hash.  order[1] is the
    # height (0 for leaves): shallower expressions sort first
    # (x*y + sin(x*y)), then products and powers before function calls
    # (2*x*sin(x), x^2*cos(x)), then by hash.
    code = _op_code(op) if payload is None else hash((_op_code(op), stable_hash(payload)))
    n = len(args)
    if n == 2:
        a, b = args
        h = hash((code, a.shash, b.shash))
        ha, hb = a.order[1], b.order[1]
        _set_shash(node, h)
        _set_order(node, (2, 1 + (ha if ha > hb else hb), _OP_RANK.get(op, 9), h))
    elif n == 1:
        a = args[0]
        h = hash((code, a.shash))
        _set_shash(node, h)
        _set_order(node, (2, 1 + a.order[1], _OP_RANK.get(op, 9), h))
    else:
        h = hash((code, *[a.shash for a in args]))
        _set_shash(node, h)
        _set_order(node, (2, 1 + max([a.order[1] for a in args]), _OP_RANK.get(op, 9), h))
    _remember(key, node)
    return node


def _remember(key, node) -> None:
    r = _ref(node, _forget)
    _interned[key] = r
    _ref_keys[r] = key


def _leaf(key, op: str, payload, shape: tuple, dtype: str, shash: int, order: tuple) -> Node:
    """The unique leaf for ``key`` (symbols, constants, arrays, dims, eyes)."""
    node = _lookup(key)
    if node is not None:
        return node
    node = _new(Node)
    _set_op(node, op)
    _set_args(node, ())
    _set_payload(node, payload)
    _set_shape(node, shape)
    _set_dtype(node, dtype)
    _set_shash(node, shash)
    _set_order(node, order)
    _remember(key, node)
    return node


_new = object.__new__
# The slots' own descriptors: about twice as fast as object.__setattr__,
# which matters on the hot path of differentiation (millions of nodes).
_set_op, _set_args, _set_payload, _set_shash, _set_order, _set_shape, _set_dtype = (
    getattr(Node, f).__set__
    for f in ("op", "args", "payload", "shash", "order", "shape", "dtype"))
_op_codes: dict = {}
_OP_RANK = {name: op.rank for name, op in ALL_OPS.items()}


def _stable_str_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def stable_hash(obj) -> int:
    """A hash of ``obj`` (nested tuples of ints, floats, bools, None and
    strings) that is the same in every process (``hash(str)`` is salted)."""
    if isinstance(obj, str):
        return _stable_str_hash(obj)
    if isinstance(obj, tuple):
        return hash(tuple(stable_hash(x) for x in obj))
    if obj is None or isinstance(obj, (bool, int, float)):
        return hash(obj)
    raise TypeError(f"no stable hash for {type(obj).__name__}")


def _op_code(op: str) -> int:
    code = _op_codes.get(op)
    if code is None:
        code = _op_codes[op] = _stable_str_hash(op)
    return code


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key putting ``x2`` before ``x10`` (natural name order)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in _DIGITS.split(name) if p != "")


def interned_count() -> int:
    """How many live nodes the intern table holds (for tests and diagnostics)."""
    return len(_interned)


_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


def _check_name(name) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid symbol name {name!r}: use an ASCII identifier "
                         "such as x, x1 or W0_3")
    if name in OPS or name in TENSOR_FUNCTION_NAMES or name in CONSTANTS \
            or name in ("inf", "nan"):
        kind = "constant" if name in CONSTANTS or name in ("inf", "nan") else "function"
        raise ValueError(f"{name!r} cannot be a symbol name: it is reserved for the "
                         f"{kind} {name}")


def symbol(name: str, shape: tuple = (), dtype: str = FLOAT) -> Node:
    """The symbol called ``name`` (the same object every time).

    Names are ASCII identifiers that are neither a function of the op table
    nor a named constant (pi, e, inf, nan), so that every printed expression
    parses back to the same node.  ``shape`` (a checked tuple of ints and
    dimension names, see :mod:`symdiff.core.shapes`) makes it a tensor;
    ``dtype`` is ``"float64"`` or, for integer labels, ``"int64"``.  A scalar
    float symbol is the same node whether or not its shape is spelled out.
    """
    if not shape and dtype == FLOAT:
        node = _lookup(("sym", (), name))
        if node is not None:
            return node
        _check_name(name)
        return _leaf(("sym", (), name), "sym", name, (), FLOAT,
                     hash((_op_code("sym"), _stable_str_hash(name))),
                     (1, 0, natural_key(name)))
    key = ("sym", (), (name, shape, dtype))
    node = _lookup(key)
    if node is not None:
        return node
    _check_name(name)
    if dtype not in (FLOAT, INT):
        raise ValueError(f"dtype must be {FLOAT!r} or {INT!r}, got {dtype!r}")
    dtype = FLOAT if dtype == FLOAT else INT   # the canonical objects (compared with 'is')
    h = hash((_op_code("sym"), _stable_str_hash(name), stable_hash(shape), dtype == INT))
    return _leaf(key, "sym", name, shape, dtype, h, (1, 0, natural_key(name), h))


def const(value: float) -> Node:
    """The constant node for the float ``value`` (IEEE double)."""
    value = float(value)
    key = ("const", (), _const_key(value))
    node = _lookup(key)
    if node is None:
        h = hash((_op_code("const"), int.from_bytes(key[2], "little")))
        node = _leaf(key, "const", value, (), FLOAT, h, (0, 0, h))
    return node


def array_const(values) -> Node:
    """The constant tensor holding ``values`` (converted to a read-only
    float64 numpy array; interned by shape and bits)."""
    import numpy as np

    arr = np.array(values, dtype=np.float64, copy=True, order="C")
    if arr.ndim == 0:
        return const(float(arr))
    data = arr.tobytes()
    key = ("array", (), (arr.shape, data))
    node = _lookup(key)
    if node is None:
        arr.flags.writeable = False
        h = hash((_op_code("array"), zlib.crc32(data), arr.shape))
        node = _leaf(key, "array", arr, tuple(arr.shape), FLOAT, h, (0, 0, h))
    return node


def dim(name: str) -> Node:
    """The scalar value of the dimension called ``name`` (bound from the
    inputs' shapes when evaluated; ``mean`` divides by it)."""
    key = ("dim", (), name)
    node = _lookup(key)
    if node is None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"invalid dimension name {name!r}")
        h = hash((_op_code("dim"), _stable_str_hash(name)))
        node = _leaf(key, "dim", name, (), FLOAT, h, (1, 0, natural_key(name), h))
    return node


def eye(n) -> Node:
    """The n x n identity matrix (``n`` an int or a dimension name)."""
    key = ("eye", (), n)
    node = _lookup(key)
    if node is None:
        h = hash((_op_code("eye"), stable_hash(n)))
        node = _leaf(key, "eye", n, (n, n), FLOAT, h, (0, 0, h))
    return node


# The simplifying constructors build on this module, so they are imported
# last; the Node operators above look them up at call time.
from symdiff.core import symbolic as _symbolic  # noqa: E402 - mutual import, see above


def _add_object_loop_methods() -> None:
    # np.exp(object array of nodes) calls node.exp() on each entry.
    from symdiff.core.ufuncs import OBJECT_LOOP_METHODS, object_loop_method

    for name, op in OBJECT_LOOP_METHODS.items():
        type.__setattr__(Node, name, object_loop_method(name, op))


_add_object_loop_methods()
