"""Batch evaluation over dask arrays and across processes.

``fn.batch`` on a dask array is lazy (``map_blocks``) and gives the same bits
as the in-process numpy call; the compiled function reaches other processes
by pickle with its object code, so they load it instead of compiling it
(``compile_info["cache"] == "shipped"``).  The cluster test starts a
``distributed.LocalCluster`` of two worker processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle

import numpy as np
import pytest

import symdiff as sd

da = pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]')")

EXPR = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"


@pytest.fixture(scope="module")
def fn():
    f = sd.parse(EXPR)
    x, z = sd.symbols("x z")
    return sd.compile([f, *sd.grad(f, [x, z])], [x, z])


def _rows(n, chunk):
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.uniform(1.5, 3.0, n), rng.uniform(0.5, 2.0, n)])
    return X, da.from_array(X, chunks=(chunk, 2))


def _same_bits(a, b) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def _source_of_code(blob: bytes) -> str:
    return pickle.loads(blob).compile_info["cache"]


def _batch_in_child(blob: bytes, X: np.ndarray):
    fn = pickle.loads(blob)
    return fn.compile_info["cache"], fn.batch(X)


def test_is_dask_array():
    from compiler.dask_batch import is_dask_array

    assert is_dask_array(da.zeros((3, 2), chunks=(1, 2)))
    assert not is_dask_array(np.zeros((3, 2)))
    assert not is_dask_array([[1.0, 2.0]])


def test_batch_of_a_dask_array_is_lazy_and_bit_identical(fn):
    X, dX = _rows(10_000, 3_000)
    Y = fn.batch(dX)
    assert isinstance(Y, da.Array)
    assert Y.shape == (10_000, 3)
    assert Y.chunks == ((3_000, 3_000, 3_000, 1_000), (3,))
    assert _same_bits(Y.compute(scheduler="threads"), fn.batch(X))
    # The lectures' point (2, 3): f = exp(6) + 6/log(2) + sin(log 2)/6.
    one = fn.batch(da.from_array(np.array([[2.0, 3.0]]), chunks=(1, 2))).compute()
    assert one[0, 0] == pytest.approx(412.19145728412118, rel=1e-14)


def test_batch_of_a_dask_array_gathers_column_chunks(fn):
    X, _ = _rows(1_000, 1_000)
    dX = da.from_array(X, chunks=(250, 1))     # columns split: rechunked
    assert _same_bits(fn.batch(dX).compute(scheduler="threads"), fn.batch(X))


def test_batch_of_a_dask_array_checks_columns(fn):
    with pytest.raises(ValueError, match=r"2 columns \(inputs x, z\).*\(10, 3\)"):
        fn.batch(da.zeros((10, 3), chunks=(5, 3)))


def test_pickle_ships_object_code_to_a_process_pool(fn, tmp_path, monkeypatch):
    # An empty disk cache for the children: code they did not compile
    # themselves can only have come with the pickle.
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    X, _ = _rows(2_000, 2_000)
    blob = pickle.dumps(fn)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        results = list(pool.map(_batch_in_child, [blob, blob], [X[:1000], X[1000:]]))
    assert [src for src, _ in results] == ["shipped", "shipped"]
    assert _same_bits(np.vstack([Y for _, Y in results]), fn.batch(X))


@pytest.mark.slow
def test_local_cluster_of_two_processes(fn, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    X, dX = _rows(40_000, 5_000)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        sources = client.run(_source_of_code, pickle.dumps(fn))
        Y = client.compute(fn.batch(dX)).result()
        n_workers = len(client.scheduler_info()["workers"])
    assert n_workers == 2
    assert sorted(sources.values()) == ["shipped", "shipped"]
    assert _same_bits(Y, fn.batch(X))


def test_dask_batch_with_fixed_stem_counts_its_inputs():
    # fixed={"W": 2x2 array} fixes four inputs (W0_0 ... W1_1): X has one
    # column, x; an unknown name is the numpy path's error, at once.
    W, x = sd.matrix("W", 2, 2), sd.symbol("x")
    fn = sd.compile([sd.sum(list(W @ np.array([x, x])))])
    assert fn.inputs == ("W0_0", "W0_1", "W1_0", "W1_1", "x")
    X = np.array([[1.0], [2.0], [3.0]])
    got = fn.batch(da.from_array(X, chunks=(2, 1)), fixed={"W": np.eye(2)}).compute()
    assert got.ravel().tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(ValueError, match="has no input 'q'"):
        fn.batch(da.zeros((4, 2), chunks=(2, 2)), fixed={"q": 1.0})
