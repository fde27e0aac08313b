"""The batch runtime: fork safety, the growing worker pool, wide rows,
batch inputs (dtypes, ``fixed=``, inputs by name), Python ints, the dask
hook and pickles that carry their object code.

Hangs and crashes are tested in subprocesses with timeouts; every other
expectation is a value computed independently (numpy on the same rows)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
from test_compiler_helpers import run_py

import compiler
import symdiff as sd
from compiler import kernels
from compiler.inputs import describe_int
from compiler.threads import _WorkerPool, run_parallel


@pytest.fixture(scope="module")
def fxyz():
    """f(x, y, z) = [x*y + z, exp(x) - y] and a numpy oracle for it."""
    x, y, z = sd.symbols("x y z")
    fn = compiler.compile([x * y + z, sd.exp(x) - y], [x, y, z])

    def ref(X):
        return np.stack([X[:, 0] * X[:, 1] + X[:, 2], np.exp(X[:, 0]) - X[:, 1]], axis=1)
    return fn, ref


def _rows(n_rows, seed=0):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, (n_rows, 3))


# ---------------------------------------------------------------------------
# 1. fork


def _run(code: str, timeout: float) -> str:
    """run_py with a timeout that turns a hang into a clear failure."""
    try:
        return run_py(code, {"SYMDIFF_CACHE": "0"}, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"subprocess hung (no answer within {timeout} s)")


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_threaded_batch_works_in_a_forked_child():
    # Before: the child's batch waited forever for the parent's workers,
    # which do not exist after fork().
    out = _run("""
        import os, numpy as np, symdiff as sd
        x, y = sd.symbols("x y")
        fn = sd.compile([x * y], [x, y])
        X = np.full((20_000, 2), 3.0)
        fn.batch(X, threads=2)                      # the parent's pool exists
        pid = os.fork()
        if pid == 0:
            ok = fn.batch(X, threads=2)[-1, 0] == 9.0 and fn.batch(X)[0, 0] == 9.0
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert out.split() == ["0"]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_locks_held_by_another_thread_at_fork_are_fresh_in_the_child():
    # A thread of the parent holds the function's batch-module lock and the
    # runtime objects' lock while the main thread forks (as when one thread
    # compiles while another forks); the child builds its batch module.
    out = _run("""
        import os, threading, numpy as np, symdiff as sd
        from compiler import runtime
        x, y = sd.symbols("x y")
        fn = sd.compile([x * y], [x, y])       # small: batch module built on first use
        held, release = threading.Event(), threading.Event()

        def hold():
            with fn._batch_lock, runtime._LOCK:
                held.set()
                release.wait()

        t = threading.Thread(target=hold)
        t.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            ok = fn.batch(np.full((4, 2), 2.0))[0, 0] == 4.0
            ok = ok and sd.compile([sd.exp(x) + y], [x, y])([0.0, 1.0])[0] == 2.0
            os._exit(0 if ok else 3)
        release.set()
        t.join()
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert out.split() == ["0"]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_fork_during_another_threads_compile_leaves_llvm_usable_in_the_child():
    # A thread holds the LLVM lock (compiler.backend.LOCK, as during a
    # compile) when the main thread forks: fork waits for it, and the
    # child compiles.  Before, the child inherited a held lock with no
    # owner thread and its first compile hung.
    out = _run("""
        import os, threading, time, symdiff as sd
        from compiler import backend
        x, y = sd.symbols("x y")
        held = threading.Event()

        def compile_slowly():
            with backend.LOCK:
                held.set()
                time.sleep(0.5)

        t = threading.Thread(target=compile_slowly)
        t.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            ok = sd.compile([sd.sin(x) * y], [x, y], cache=False)([0.0, 1.0])[0] == 0.0
            os._exit(0 if ok else 3)
        t.join()
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert out.split() == ["0"]


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method")
def test_multiprocessing_pool_with_fork_maps_compiled_batches():
    out = _run("""
        import multiprocessing as mp, numpy as np, symdiff as sd
        x, y = sd.symbols("x y")
        fn = sd.compile([x * y + 1.0], [x, y])
        fn.batch(np.ones((20_000, 2)), threads=2)

        def job(k):
            return float(fn.batch(np.full((20_000, 2), float(k)), threads=2).sum())

        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(job, [1, 2, 3]))
    """, timeout=90)
    assert out.strip() == str([20_000 * 2.0, 20_000 * 5.0, 20_000 * 10.0])


# ---------------------------------------------------------------------------
# 2. the pool


def test_concurrent_batches_growing_the_pool(fxyz):
    # Before: a call asking for more threads replaced the pool and shut the
    # old one down while other calls were submitting to it ("cannot
    # schedule new futures after shutdown").  A fresh process, so the pool
    # starts small and every call grows it.
    out = _run("""
        import threading, numpy as np, symdiff as sd
        x, y = sd.symbols("x y")
        fn = sd.compile([x * y], [x, y])
        X = np.arange(2 * 6_400.0).reshape(-1, 2)
        want = (X[:, 0] * X[:, 1])[:, None]
        errors, wrong = [], []

        def work(i):
            try:
                for j in range(3):
                    if not np.array_equal(fn.batch(X, threads=2 + i + 8 * j), want):
                        wrong.append((i, j))
            except Exception as e:
                errors.append(repr(e))

        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print(len(errors), len(wrong), errors[:1])
    """, timeout=120)
    assert out.split()[:2] == ["0", "0"], out


def test_pool_grows_without_replacing_itself():
    pool = _WorkerPool()
    pool.ensure(2)
    futs = [pool.submit(pow, 2, k) for k in range(5)]
    pool.ensure(4)                   # growing keeps the queue and the threads
    futs += [pool.submit(pow, 3, k) for k in range(5)]
    assert [f.result(timeout=10) for f in futs] == [1, 2, 4, 8, 16, 1, 3, 9, 27, 81]
    assert pool.workers == 4
    pool.ensure(3)
    assert pool.workers == 4         # never shrinks


def test_run_parallel_reraises_a_block_error_after_all_blocks_finish():
    done = []
    lock = threading.Lock()

    def block(k):
        with lock:
            done.append(k)
        if k == 2:
            raise ArithmeticError(f"block {k}")

    with pytest.raises(ArithmeticError, match="block 2"):
        run_parallel(block, [(k,) for k in range(4)])
    assert sorted(done) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------
# 3. wide rows


def test_gather_buffer_moves_to_the_heap_above_64_kib():
    assert not kernels.gather_on_heap(8192)          # 8,192 doubles = 64 KiB
    assert kernels.gather_on_heap(8193)
    wide = kernels.batch_kernel("f", 8193, 1)
    narrow = kernels.batch_kernel("f", 100, 1)
    assert "call ptr @malloc(i64 65544)" in wide and "alloca" not in wide
    assert "@malloc" not in narrow and "alloca double, i64 4000" in narrow


def test_wide_strided_batch_on_a_small_thread_stack():
    # 20,000 inputs: one gathered row is 160 KB.  Before, it was an alloca,
    # and a Fortran-ordered X segfaulted on a 128 KiB thread stack (as the
    # 1.1-million-input function did on the main thread's 8 MiB).
    out = _run("""
        import json, threading, numpy as np, symdiff as sd
        n = 20_000
        xs = [sd.symbol(f"x{i}") for i in range(n)]
        fn = sd.compile([xs[0] + 2.0 * xs[-1], xs[n // 2]], xs)
        X = np.asfortranarray(np.arange(3.0 * n).reshape(3, n))
        res = {}
        threading.stack_size(128 * 1024)
        t = threading.Thread(target=lambda: res.update(
            strided=fn.batch(X, threads=1),
            fixed=fn.batch(X[:, 1:], fixed={"x0": -1.0}, threads=1)))
        t.start()
        t.join()
        print(json.dumps(res["strided"].tolist()))
        print(json.dumps(res["fixed"].tolist()))
    """, timeout=180)
    strided, fixed = out.splitlines()
    n = 20_000
    X = np.arange(3.0 * n).reshape(3, n)
    assert json.loads(strided) == np.stack([X[:, 0] + 2 * X[:, -1], X[:, n // 2]], 1).tolist()
    assert json.loads(fixed) == np.stack([-1.0 + 2 * X[:, -1], X[:, n // 2]], 1).tolist()


# ---------------------------------------------------------------------------
# 5. batch inputs


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float32, np.bool_])
def test_batch_converts_safe_dtypes_like_a_call(fxyz, dtype):
    fn, ref = fxyz
    X = (_rows(50) * 3).astype(dtype)
    got = fn.batch(X)
    assert np.array_equal(got, fn.batch(X.astype(np.float64)))
    np.testing.assert_allclose(got, ref(X.astype(np.float64)), rtol=1e-15, atol=0)
    assert np.array_equal(got[7], fn(X[7]))


def test_batch_rejects_complex_naming_the_shape(fxyz):
    fn, _ = fxyz
    with pytest.raises(ValueError) as err:
        fn.batch(np.zeros((4, 3), dtype=complex))
    assert str(err.value) == ("X must be a float64 array of shape (N, 3) (inputs x, y, z), "
                              "got dtype complex128")


@pytest.mark.parametrize("threads", [1, 3])
def test_fixed_inputs_equal_full_rows(fxyz, threads):
    fn, ref = fxyz
    X = _rows(5_000, seed=1)
    X[:, 1] = 0.75
    want = fn.batch(X)
    # (exp within an ulp of numpy's; exp(x) - y cancels, hence atol)
    np.testing.assert_allclose(want, ref(X), rtol=1e-15, atol=2e-15)
    for rows in (X[:, [0, 2]], np.asfortranarray(X[:, [0, 2]]), X[::-1, [0, 2]][::-1]):
        got = fn.batch(rows, fixed={"y": 0.75}, threads=threads)
        assert np.array_equal(got, want)
    # Two fixed, by name, one column left; all three fixed.
    assert np.array_equal(fn.batch(X[:, 2:], fixed={"x": X[0, 0], "y": 0.75}),
                          fn.batch(np.column_stack([np.full(5000, X[0, 0]), X[:, 1:]])))
    assert np.array_equal(fn.batch(np.empty((2, 0)), fixed={"x": 1.0, "y": 2.0, "z": 3.0}),
                          [[5.0, np.e - 2.0]] * 2)


def test_fixed_vector_and_matrix_stems():
    W, b, v = sd.matrix("W", 2, 3), sd.vector("b", 2), sd.vector("v", 3)
    h = [sum(W[i, j] * v[j] for j in range(3)) + b[i] for i in range(2)]
    fn = compiler.compile(h, [*W.ravel(), *b, *v])
    Wv = np.arange(6.0).reshape(2, 3)
    bv = np.array([0.5, -1.0])
    V = np.random.default_rng(3).normal(size=(10, 3))
    got = fn.batch(V, fixed={"W": Wv, "b": bv})
    np.testing.assert_allclose(got, V @ Wv.T + bv, rtol=1e-15)
    full = np.column_stack([np.tile(np.concatenate([Wv.ravel(), bv]), (10, 1)), V])
    assert np.array_equal(got, fn.batch(full))
    with pytest.raises(ValueError) as err:
        fn.batch(V, fixed={"W": np.zeros((3, 3)), "b": bv})
    assert str(err.value) == ("fixed W: shape (3, 3) names inputs W2_0, W2_1, W2_2 that "
                              "symdiff_fn does not have")
    with pytest.raises(ValueError) as err:
        fn.batch(V, fixed={"W": Wv, "W0_1": 1.0, "b": bv})
    assert str(err.value) == "input W0_1 is given twice in fixed (as W[2, 3] and as W0_1)"


def test_fixed_reads_one_vector_not_every_row():
    # The fixed kernel fills its row buffer from the base vector once per
    # call and gathers only X's columns.
    text = kernels.batch_fixed_kernel("f", 714, 650)
    assert "define void @f_batch_fixed(" in text
    assert text.count("%base") == 2        # the parameter and one read, in the fill loop
    assert "%fend = icmp eq i64 %fi.next, 3570" in text    # 5 rows x 714, once


def test_inputs_by_name(fxyz):
    fn, ref = fxyz
    assert fn(x=1.0, y=2.0, z=3.0).tolist() == [5.0, np.e - 2.0]
    assert fn(z=3, y=np.float32(2), x=True).tolist() == [5.0, np.e - 2.0]
    X = _rows(300, seed=2)
    got = fn.batch(z=X[:, 2], x=X[:, 0], y=X[:, 1])
    assert np.array_equal(got, fn.batch(X))
    assert np.array_equal(fn.batch(x=X[:, 0], z=list(X[:, 2]), fixed={"y": 0.5}),
                          fn.batch(np.column_stack([X[:, 0], np.full(300, 0.5), X[:, 2]])))
    out = np.empty(2)
    assert fn(out=out, x=1.0, y=2.0, z=3.0) is out and out.tolist() == [5.0, np.e - 2.0]


@pytest.mark.parametrize("call, message", [
    (lambda fn: fn(x=1.0, y=2.0), "no value given for input z"),
    (lambda fn: fn(x=1.0), "no value given for inputs y, z"),
    (lambda fn: fn(x=1.0, y=2.0, z=3.0, w=4.0),
     "symdiff_fn has no input 'w' (inputs: x, y, z)"),
    (lambda fn: fn([1.0, 2.0, 3.0], x=1.0),
     "give the inputs either as one vector or by name, not both"),
    (lambda fn: fn(x=[1.0, 2.0], y=1.0, z=1.0), "input x: expected a number, got shape (2,)"),
    (lambda fn: fn(), "no input given: expected a float64 array of length 3 (inputs x, y, z), "
                      "or the inputs by name"),
    (lambda fn: fn.batch(x=np.ones(4), y=np.ones(3), z=np.ones(4)),
     "input y: expected 4 values (one per row, as x has), got shape (3,)"),
    (lambda fn: fn.batch(x=np.ones(4), y=1.0, z=np.ones(4)),
     "input y: expected a 1-D array of one value per row, got shape () "
     "(use fixed={'y': ...} for an input that is the same in every row)"),
    (lambda fn: fn.batch(x=np.ones((4, 1)), y=np.ones(4), z=np.ones(4)),
     "input x: expected a 1-D array of one value per row, got shape (4, 1)"),
    (lambda fn: fn.batch(x=np.ones(4), z=np.ones(4)), "no column given for input y"),
    (lambda fn: fn.batch(x=np.ones(4), y=np.ones(4), z=np.ones(4), fixed={"y": 1.0}),
     "input y is given both in fixed and as a column"),
    (lambda fn: fn.batch(np.ones((4, 3)), x=np.ones(4)),
     "give the rows either as X or the inputs by name, not both"),
    (lambda fn: fn.batch(np.ones((4, 3)), fixed={"y": 1.0}),
     "X must be a float64 array of shape (N, 2) (inputs x, z), got shape (4, 3)"),
    (lambda fn: fn.batch(np.ones((4, 2)), fixed={"q": 1.0}),
     "symdiff_fn has no input 'q' (inputs: x, y, z)"),
    (lambda fn: fn.batch(np.ones((4, 2)), fixed={"y": [1.0, 2.0]}),
     "input y: expected a number, got shape (2,)"),
    (lambda fn: fn.batch(np.ones((4, 2)), fixed=[("y", 1.0)]),
     "fixed must be a dict {input name: value}, got list"),
    (lambda fn: fn.batch(), "no rows given: X must be a float64 array of shape (N, 3) "
                            "(inputs x, y, z), or the inputs by name as columns"),
    (lambda fn: fn.batch(np.ones((4, 3)), threads=2.5),
     "threads must be a positive int, got 2.5"),
])
def test_bad_batch_and_keyword_inputs(fxyz, call, message):
    fn, _ = fxyz
    with pytest.raises(ValueError) as err:
        call(fn)
    assert str(err.value) == message


# ---------------------------------------------------------------------------
# 6. Python ints


def test_describe_int():
    assert describe_int(123) == "123"
    assert describe_int(-10 ** 11) == "-100000000000"
    assert describe_int(10 ** 400) == "1000…000 (401 digits)"


def test_python_ints_too_large_name_the_input(fxyz):
    fn, _ = fxyz
    msg = "input {}: integer 1000…000 (401 digits) does not fit in a float64"
    with pytest.raises(ValueError) as err:
        fn([1, 10 ** 400, 1])
    assert str(err.value) == msg.format("y")
    with pytest.raises(ValueError) as err:
        fn.batch([[1, 2, 3], [4, 5, -10 ** 400]])
    assert str(err.value) == msg.format("z").replace("1000", "-1000")
    with pytest.raises(ValueError) as err:
        fn(x=1, y=2, z=10 ** 400)
    assert str(err.value) == msg.format("z")
    with pytest.raises(ValueError) as err:
        fn.batch([[1, 2]], fixed={"x": 10 ** 400})
    assert str(err.value) == msg.format("x")
    # Large ints that do fit convert as numpy converts them.
    assert fn([10 ** 300, 0, 1]).tolist()[0] == 1.0
    assert fn([2 ** 70, 1, 0])[0] == float(2 ** 70)


def test_tensor_function_python_ints():
    s = sd.tensor("s", ())
    v = sd.tensor("v", ("n",))
    y = sd.tensor("y", ("n",), dtype=int)
    kernel = compiler.compile([sd.sum(v * s) + sd.sum(sd.onehot(y, 3) @ sd.tensor(
        "c", (3,)))], [s, v, y, sd.tensor("c", (3,))])
    c = np.array([1.0, 10.0, 100.0])
    (val,) = kernel(2, [1, 2], [0, 2], c)
    assert float(val) == 2 * 3 + 1 + 100
    with pytest.raises(ValueError) as err:
        kernel(10 ** 400, [1, 2], [0, 2], c)
    assert str(err.value) == "input s: integer 1000…000 (401 digits) does not fit in a float64"
    with pytest.raises(ValueError) as err:
        kernel(2, [1, 2], [0, 2 ** 70], c)
    assert str(err.value) == ("input y: integer 1180…424 (22 digits) does not fit in an "
                              "int64")


# ---------------------------------------------------------------------------
# 7. dask hook and pickles


class _FakeDaskArray:
    """Stands in for a dask array: only its module name matters to batch()."""


_FakeDaskArray.__module__ = "dask.array.core"


def test_batch_hands_dask_arrays_to_dask_batch(fxyz, monkeypatch):
    import compiler.dask_batch as dask_batch

    fn, _ = fxyz
    calls = []
    monkeypatch.setattr(dask_batch, "batch_dask",
                        lambda f, X, *, fixed=None, threads=None: calls.append(
                            (f, X, fixed, threads)) or "lazy")
    X = _FakeDaskArray()
    assert fn.batch(X, fixed={"y": 1.0}, threads=2) == "lazy"
    assert calls == [(fn, X, {"y": 1.0}, 2)]
    with pytest.raises(ValueError, match="neither out= nor inputs by name"):
        fn.batch(X, out=np.empty((1, 2)))


def test_pickle_carries_object_code_to_a_fresh_process(tmp_path):
    # With the cache off in the child (as on a worker with an empty cache),
    # nothing is compiled: both modules come from the pickle.
    x, z = sd.symbols("x z")
    fn = compiler.compile([sd.exp(x * z) + x, sd.sin(z)], [x, z])
    X = np.array([[0.5, 1.0], [1.5, -2.0]])
    want = fn.batch(X)                     # builds the separate batch module
    assert fn.compile_info["split"]
    path = tmp_path / "fn.pickle"
    path.write_bytes(pickle.dumps(fn))
    out = _run(f"""
        import json, pickle, numpy as np
        fn = pickle.loads(open({str(path)!r}, "rb").read())
        Y = fn.batch(np.array([[0.5, 1.0], [1.5, -2.0]]))
        info = fn.compile_info
        print(info["cache"], info["batch"]["cache"],
              "codegen_s" in info, "codegen_s" in info["batch"])
        print(json.dumps(Y.tolist()))
    """, timeout=120)
    head, values = out.splitlines()
    assert head.split() == ["shipped", "shipped", "False", "False"]
    assert json.loads(values) == want.tolist()


def test_tensor_pickle_carries_object_code(tmp_path):
    X, w = sd.tensor("X", ("m", 3)), sd.tensor("w", (3,))
    fn = compiler.compile([sd.sum(sd.tanh(X @ w))], [X, w])
    Xv = np.arange(6.0).reshape(2, 3) / 10
    wv = np.array([1.0, -2.0, 0.5])
    (want,) = fn(Xv, wv)
    path = tmp_path / "tensor.pickle"
    path.write_bytes(pickle.dumps(fn))
    out = _run(f"""
        import pickle, numpy as np
        fn = pickle.loads(open({str(path)!r}, "rb").read())
        (got,) = fn(np.arange(6.0).reshape(2, 3) / 10, np.array([1.0, -2.0, 0.5]))
        print(fn.compile_info["cache"], "codegen_s" in fn.compile_info, repr(float(got)))
    """, timeout=120)
    where, compiled, value = out.split()
    assert (where, compiled) == ("shipped", "False")
    assert float(value) == float(want) == float(np.sum(np.tanh(Xv @ wv)))
