"""Shapes of tensor expressions: numpy's rules, with named dimensions.

A shape is a tuple of dimensions; a dimension is a non-negative ``int`` or
a name (a ``str`` such as ``"m"``) bound to an int when the expression is
evaluated or called.  ``()`` is the shape of a scalar.

Broadcasting follows numpy (shapes aligned on the right; a dimension of 1
stretches), with one more rule for names: a name matches only itself or 1.
``m`` against ``64`` is an error even though m might be 64 at run time,
because nothing may be broadcast that numpy could refuse.

Errors are :class:`ShapeError` (a ``ValueError``) naming the operation and
every shape involved, e.g. ``matmul: shapes (m, 64) and (10, 64) do not
match: 64 (axis 1 of the left) != 10 (axis 0 of the right)``.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

__all__ = ["ShapeError", "check_shape", "format_shape", "format_tuple", "broadcast_shapes",
           "normalize_axes", "reduce_shape", "matmul_shape", "bind_dims", "resolve_shape",
           "shape_size", "is_concrete", "dims_of"]

_DIM_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


class ShapeError(ValueError):
    """Shapes that do not fit an operation, or values that do not fit
    declared shapes."""


def check_shape(shape, what: str = "shape") -> tuple:
    """``shape`` as a tuple of dimensions (ints >= 0 or identifier names);
    ``ShapeError`` for anything else."""
    if isinstance(shape, (int, str)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ShapeError(f"{what} must be a tuple of ints and dimension names, "
                         f"got {shape!r}") from None
    out = []
    for d in dims:
        if isinstance(d, bool):
            raise ShapeError(f"{what}: {d!r} is not a dimension")
        if isinstance(d, str):
            if not _DIM_NAME.match(d):
                raise ShapeError(f"{what}: dimension name {d!r} is not an identifier")
            out.append(d)
        else:
            try:
                n = int(d)
            except (TypeError, ValueError):
                raise ShapeError(f"{what}: {d!r} is not a dimension (an int or a name)") \
                    from None
            if n != d or n < 0:
                raise ShapeError(f"{what}: {d!r} is not a dimension (a non-negative int "
                                 "or a name)")
            out.append(n)
    return tuple(out)


def format_shape(shape: tuple) -> str:
    """``(m, 64)`` -> ``"m x 64"``; ``()`` -> ``"scalar"``."""
    if not shape:
        return "scalar"
    return " x ".join(str(d) for d in shape)


def format_tuple(shape: tuple) -> str:
    """``(m, 64)`` as numpy prints a shape, with bare dimension names."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def broadcast_shapes(shapes: Sequence[tuple], op: str = "broadcast") -> tuple:
    """The numpy broadcast of ``shapes`` (aligned on the right; 1 stretches;
    a name matches only itself or 1)."""
    shapes = list(shapes)
    if len(shapes) == 1:
        return shapes[0]
    ndim = max(len(s) for s in shapes)
    out = []
    for k in range(-ndim, 0):
        dim = 1
        for s in shapes:
            if len(s) < -k:
                continue
            d = s[k]
            if d == 1 or d == dim:
                continue
            if dim == 1:
                dim = d
                continue
            shown = " and ".join(format_tuple(s) for s in shapes)
            why = (f"{dim} != {d}" if isinstance(dim, int) and isinstance(d, int)
                   else f"{dim} vs {d}: a named dimension matches only itself or 1")
            raise ShapeError(f"{op}: shapes {shown} do not broadcast ({why}, "
                             f"axis {k} from the end)")
        out.append(dim)
    return tuple(out)


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """``axis`` (None, an int or a sequence of ints, negative counting from
    the end) as a sorted tuple of non-negative axes of an ``ndim``-array."""
    if axis is None:
        return tuple(range(ndim))
    try:
        items = tuple(axis)
    except TypeError:
        items = (axis,)                     # an int, or a bad axis refused below
    out = set()
    for a in items:
        if isinstance(a, bool) or not isinstance(a, int):
            raise ShapeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{op}: axis {a} is out of range for a {ndim}-dimensional "
                             "tensor")
        b = a % ndim
        if b in out:
            raise ShapeError(f"{op}: axis {a} is repeated")
        out.add(b)
    return tuple(sorted(out))


def reduce_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    """The shape after reducing the non-negative ``axes`` of ``shape``."""
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def matmul_shape(a: tuple, b: tuple) -> tuple:
    """Shape of ``A @ B`` for 1-D and 2-D operands (matrix-matrix,
    matrix-vector, vector-matrix, vector-vector)."""
    if not a or not b or len(a) > 2 or len(b) > 2:
        raise ShapeError(f"matmul: shapes {format_tuple(a)} and {format_tuple(b)}: "
                         "operands must be vectors or matrices")
    ka = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if ka != kb:
        side_b = "axis 0" if len(b) == 1 else f"axis {len(b) - 2}"
        raise ShapeError(f"matmul: shapes {format_tuple(a)} and {format_tuple(b)} do not "
                         f"match: {ka} (axis {len(a) - 1} of the left) != {kb} "
                         f"({side_b} of the right)")
    return a[:-1] + b[1:] if len(b) == 2 else a[:-1]


def is_concrete(shape: tuple) -> bool:
    """True if every dimension is an int."""
    return all(isinstance(d, int) for d in shape)


def dims_of(shapes: Iterable[tuple]) -> list:
    """The dimension names used in ``shapes``, in order of first use."""
    seen: dict = {}
    for s in shapes:
        for d in s:
            if isinstance(d, str):
                seen.setdefault(d, None)
    return list(seen)


def shape_size(shape: tuple):
    """Number of elements: an int, or None if a dimension is a name."""
    n = 1
    for d in shape:
        if not isinstance(d, int):
            return None
        n *= d
    return n


def bind_dims(declared: Sequence[tuple], actual: Sequence[tuple], names: Sequence[str],
              dims: Mapping | None = None) -> dict:
    """Bind the dimension names of ``declared`` shapes from the ``actual``
    shapes of the values given for inputs ``names``.

    Returns ``{name: int}``.  Every mismatch is a :class:`ShapeError` that
    names the input, its declared and actual shapes and, for a dimension
    bound by an earlier input, which one.
    """
    bound: dict = dict(dims or {})
    source: dict = {k: "the given dims" for k in bound}
    for name, decl, got in zip(names, declared, actual):
        got = tuple(int(d) for d in got)
        if len(got) != len(decl):
            raise ShapeError(f"input {name}: expected shape {format_tuple(decl)} "
                             f"({len(decl)}-dimensional), got {format_tuple(got)}")
        for k, (d, g) in enumerate(zip(decl, got)):
            if isinstance(d, int):
                if d != g:
                    raise ShapeError(f"input {name}: expected shape {format_tuple(decl)}, "
                                     f"got {format_tuple(got)} (axis {k}: {g} != {d})")
            elif d in bound:
                if bound[d] != g:
                    raise ShapeError(f"input {name}: expected shape {format_tuple(decl)}, "
                                     f"got {format_tuple(got)}: {d} = {g} on axis {k}, but "
                                     f"{d} = {bound[d]} from {source[d]}")
            else:
                bound[d] = g
                source[d] = f"input {name}"
    return bound


def resolve_shape(shape: tuple, dims: Mapping) -> tuple:
    """``shape`` with its dimension names replaced by their bound ints
    (``ShapeError`` for a name that nothing bound)."""
    out = []
    for d in shape:
        if isinstance(d, str):
            v = dims.get(d)
            if v is None:
                raise ShapeError(f"unknown dimension {d!r}: no input has it in its shape "
                                 f"(bound: {', '.join(sorted(dims)) or 'none'})")
            out.append(v)
        else:
            out.append(d)
    return tuple(out)
