"""Batch evaluation over dask arrays: ``fn.batch(X)`` with ``X`` a dask array.

A dask array of rows (shape ``(N, n)``, chunked along the rows) is mapped
block by block through the compiled function's ordinary :meth:`batch`, lazily,
with :func:`dask.array.map_blocks`; the result is a dask array of shape
``(N, m)`` with the same row chunks.  Nothing is computed until the caller
asks (``.compute()``, ``.persist()``, ``dask.compute``), and the scheduler --
threads, processes or a ``distributed`` cluster -- decides where.

The compiled function travels to worker processes by pickle, which carries
its object code (see :meth:`compiler.function.CompiledFunction.__reduce__`):
a worker on the same kind of machine loads the code instead of compiling it
again, and one process keeps one loaded copy however many tasks use it.

Each block runs single-threaded unless ``threads`` says otherwise: dask
already runs one block per worker thread, so letting every block spread over
all cores as well would oversubscribe them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_dask_collection", "is_dask_array", "batch_dask"]


def is_dask_collection(x) -> bool:
    """True if ``x`` is a dask object (an array, a DataFrame, a Delayed ...),
    checked without importing dask, so that numpy inputs never pay for it."""
    return type(x).__module__.startswith("dask.")


def is_dask_array(x) -> bool:
    """True if ``x`` is a dask array (what :func:`batch_dask` maps)."""
    return is_dask_collection(x) and hasattr(x, "map_blocks")


def _block(block, fn, fixed, threads):
    # Runs on the worker: one numpy block of rows -> its rows of outputs.
    return fn.batch(np.asarray(block), fixed=fixed, threads=threads)


def batch_dask(fn, X, *, fixed=None, threads=None):
    """The lazy dask array ``fn.batch(X)`` for a dask array ``X`` of rows.

    ``X``: shape ``(N, k)`` where ``k`` is the number of inputs of ``fn``
    (minus those given in ``fixed``, inputs that are the same for every row,
    which are shipped once with the task graph).  Row chunks are kept; the
    columns are gathered into one chunk (a row must be whole to be
    evaluated).  ``threads``: threads per block (default 1: the scheduler
    already runs blocks in parallel).  Returns a float64 dask array of shape
    ``(N, fn.n_outputs)`` chunked like ``X``'s rows."""
    import dask.array as da

    if not is_dask_array(X):
        raise ValueError(f"batch takes a dask array of rows, not a {type(X).__name__} "
                         "(for a dask DataFrame: df.to_dask_array(lengths=True))")
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D dask array of rows, got shape {X.shape}")
    # The columns X must have: every input, or those fixed= leaves free
    # (checked here, as the numpy path checks them, not at compute time).
    free = range(fn.n_inputs) if not fixed else fn._names.fixed_vector(fixed)[1]
    names = [fn.inputs[j] for j in free]
    if not np.isnan(X.shape[1]) and X.shape[1] != len(names):
        raise ValueError(f"X must have {len(names)} columns (inputs {', '.join(names)}), "
                         f"got shape {X.shape}")
    if len(X.chunks[1]) != 1:
        X = X.rechunk({1: -1})
    if threads is None:
        threads = 1
    m = fn.n_outputs
    # Dask infers the output block shape from chunks=, so no trial call on a
    # dummy block is made (meta= avoids one too).
    return da.map_blocks(_block, X, fn, fixed, threads, dtype=np.float64,
                         chunks=(X.chunks[0], (m,)), meta=np.empty((0, m), np.float64))
