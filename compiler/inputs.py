"""Converting user values to the float64 (or int64) arrays compiled kernels
read, with errors that name the input.

One rule for ``fn(x)``, ``fn.batch(X)``, keyword and ``fixed=`` inputs and
tensor functions: booleans, integers and floats convert as numpy's safe
casting to float64 does (``numpy.can_cast(dtype, float64, "safe")``);
complex values, strings and other objects are a ValueError; a Python int
too large for a float64 (``10**400``: numpy raises a bare OverflowError) is
a ValueError naming the input and the integer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["describe_int", "to_float64", "to_int64", "big_int_error"]

_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)


def describe_int(v: int) -> str:
    """A Python int for a message: in full up to 12 digits, else its first
    four and last three digits and the digit count ("1000…000 (401
    digits)")."""
    s = str(abs(int(v)))
    sign = "-" if v < 0 else ""
    if len(s) <= 12:
        return sign + s
    return f"{sign}{s[:4]}…{s[-3:]} ({len(s)} digits)"


def _first_big_int(value, fits) -> tuple[tuple, int] | None:
    """(index, int) of the first Python int in ``value`` (a number or a
    nested sequence) for which ``fits`` is false, else None.  Iterative."""
    stack = [((), value)]
    while stack:
        idx, v = stack.pop()
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not fits(int(v)):
                return idx, int(v)
        elif isinstance(v, (list, tuple)):
            # Reversed so that the first element is examined first.
            stack.extend(((*idx, k), e) for k, e in reversed(list(enumerate(v))))
        elif isinstance(v, np.ndarray) and v.dtype == object:
            stack.extend(((*idx, *k), v[k]) for k in reversed(list(np.ndindex(v.shape))))
    return None


def _fits_float64(v: int) -> bool:
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _fits_int64(v: int) -> bool:
    return -2 ** 63 <= v < 2 ** 63


def big_int_error(value, name_of, kind: str = "float64") -> ValueError | None:
    """The ValueError for the first int in ``value`` that does not fit in a
    ``kind`` ("float64" or "int64"), or None.  ``name_of(index)`` names the
    input holding the element at ``index`` (an index tuple into
    ``value``)."""
    fits = _fits_float64 if kind == "float64" else _fits_int64
    hit = _first_big_int(value, fits)
    if hit is None:
        return None
    idx, v = hit
    return ValueError(f"input {name_of(idx)}: integer {describe_int(v)} does not fit "
                      f"in a{'n' if kind == 'int64' else ''} {kind}")


def to_float64(value, name_of, expect: str) -> np.ndarray:
    """``value`` as a float64 array (no copy when it already is one).

    ``name_of(index)``: the input name for an element index (for
    messages); ``expect``: the start of the message when the value does not
    convert ("X must be a float64 array of shape (N, 2)"), which goes on
    with what was given instead."""
    if isinstance(value, np.ndarray):
        dt = value.dtype
        if dt == _F64:
            return value
        if dt.kind in "biuf" and np.can_cast(dt, _F64, "safe"):
            return value.astype(_F64)
        if dt.kind != "O":
            raise ValueError(f"{expect}, got dtype {dt}")
    try:
        return np.asarray(value, dtype=_F64)
    except OverflowError:
        err = big_int_error(value, name_of)
        if err is not None:
            raise err from None
        raise ValueError(f"{expect}: a value does not fit in a float64") from None
    except (TypeError, ValueError) as e:
        raise ValueError(f"{expect}, got {_what(value)} that does not convert "
                         f"to float64 ({e})") from None


def to_int64(value, name: str, expect: str) -> np.ndarray:
    """``value`` as an int64 array (integer labels); ValueError naming the
    input ``name`` for non-integer dtypes and ints outside int64."""
    if not isinstance(value, np.ndarray):
        err = big_int_error(value, lambda idx: name, "int64")
        if err is not None:
            raise err
        value = np.asarray(value)
    if value.dtype.kind not in "iu":
        raise ValueError(f"input {name}: expected {expect} (integer labels), "
                         f"got dtype {value.dtype}")
    if value.dtype.kind == "u" and value.size and value.max() > np.iinfo(np.int64).max:
        raise ValueError(f"input {name}: label {int(value.max())} does not fit in an int64")
    return value.astype(_I64, copy=False)


def _what(value) -> str:
    if isinstance(value, np.ndarray):
        return f"dtype {value.dtype}"
    return type(value).__name__
