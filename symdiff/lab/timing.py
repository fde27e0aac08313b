"""Timing one call: the median of repeated, self-sized loops (as timeit)."""

from __future__ import annotations

import gc
import math
import statistics
import time
from typing import Callable

__all__ = ["time_call"]


def time_call(call: Callable[[], object], repeat: int = 5, min_run: float = 2e-3,
              budget: float = 2.0) -> float:
    """Median wall time of one ``call()`` in seconds.

    Like :mod:`timeit`: calls are timed with ``time.perf_counter`` in loops
    long enough (``min_run`` seconds) that the clock's resolution and the
    loop overhead do not matter, ``repeat`` such runs are made and the
    median per-call time is returned.  The first call is a warm-up (it also
    sizes the loop).  ``budget`` caps the total time of the runs (at least
    one run is always made), so a slow method is timed fewer times instead
    of making the report wait.  The cyclic garbage collector is paused
    during the runs, as in :mod:`timeit`, so that a collection triggered by
    one method's garbage is not charged to another.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Size the loop: grow it tenfold until a loop takes a fifth of min_run.
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            elapsed = time.perf_counter() - t0
            if elapsed >= 0.2 * min_run or number >= 10 ** 6:
                break
            number *= 10
        per_call = elapsed / number
        if elapsed >= budget:
            # One call is already over budget: that measurement is the answer.
            return per_call
        number = max(1, min(10 ** 7, math.ceil(min_run / max(per_call, 1e-9))))
        runs = max(1, min(repeat, int(budget / max(per_call * number, 1e-12))))
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            times.append((time.perf_counter() - t0) / number)
        return statistics.median(times)
    finally:
        if gc_was_enabled:
            gc.enable()
