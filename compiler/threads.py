"""How many threads compiled code may use: one rule for ``batch()`` and
tensor kernels alike."""

from __future__ import annotations

import os

__all__ = ["default_threads"]


def default_threads() -> int:
    """Threads for compiled loops when the caller does not say:
    ``SYMDIFF_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the number of
    cores.  A value that is not a positive integer is an error naming the
    variable (a typo must not silently mean "all cores")."""
    for var in ("SYMDIFF_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v:
            try:
                n = int(v)
            except ValueError:
                raise ValueError(f"{var}={v!r} is not a thread count") from None
            if n < 1:
                raise ValueError(f"{var}={v!r}: the thread count must be >= 1")
            return n
    return os.cpu_count() or 1
