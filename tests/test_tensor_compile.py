"""Compiled tensor programs (compiler/tensor): equal to the numpy
interpreter and to the scalar expansion, one kernel for every batch size,
threads bit-identical, inputs checked, pickling in a fresh process."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symdiff as sd
from compiler.tensor.function import compile_tensor


def softmax_regression(n=6, k=4):
    X = sd.tensor("X", ("m", n))
    Theta = sd.tensor("Theta", (n, k))
    y = sd.tensor("y", ("m",), dtype=int)
    Z = X @ Theta
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, k) * Z, axis=1))
    return loss, [Theta], [X, Theta, y]


def mlp(sizes=(5, 4, 3), act=sd.tanh):
    X = sd.tensor("X", ("m", sizes[0]))
    y = sd.tensor("y", ("m",), dtype=int)
    Ws = [sd.tensor(f"W{i}", (a, b)) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    bs = [sd.tensor(f"b{i}", (b,)) for i, b in enumerate(sizes[1:])]
    Z = X
    for i, (W, b) in enumerate(zip(Ws, bs)):
        Z = Z @ W + b
        if i < len(Ws) - 1:
            Z = act(Z)
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, sizes[-1]) * Z, axis=1))
    return loss, Ws + bs, [X, y, *Ws, *bs]


def values(inputs, m, *, classes, seed=0):
    """Random values of ``inputs`` for batch size ``m``: normal floats, and
    labels in 0..classes-1 for the integer input (the model's onehot k)."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in inputs:
        shape = tuple(m if d == "m" else d for d in s.shape)
        if s.dtype == "int64":
            out[s.payload] = rng.integers(0, classes, size=shape)
        else:
            out[s.payload] = rng.normal(size=shape)
    return out


# name: (builder, number of classes of its labels)
MODELS = {"softmax": (softmax_regression, 4), "mlp_tanh": (mlp, 3),
          "mlp_relu": (lambda: mlp(act=sd.relu), 3), "mlp_deep": (lambda: mlp((5, 6, 4, 3)), 3)}


def _compiled_and_reference(model, m, **opts):
    build, classes = MODELS[model]
    loss, wrt, inputs = build()
    outs = [loss, *sd.grad(loss, wrt)]
    fn = compile_tensor(sd.schedule(outs, inputs), **opts)
    v = values(inputs, m, classes=classes)
    got = fn(*[v[s.payload] for s in inputs])
    ref = sd.evaluate(outs, v)
    return got, ref


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("m", [1, 7, 300])
def test_compiled_equals_interpreter(model, m):
    got, ref = _compiled_and_reference(model, m)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert np.shape(g) == np.shape(r)
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-15)


def test_compiled_equals_scalar_expansion():
    loss, wrt, inputs = mlp((3, 2, 2))
    outs = [loss, *sd.grad(loss, wrt)]
    fn = compile_tensor(sd.schedule(outs, inputs))
    m = 3
    v = values(inputs, m, classes=2, seed=4)
    got = fn(*[v[s.payload] for s in inputs])
    dims = {"m": m}
    point = {}
    for s in inputs:
        syms = sd.scalar_symbols(s, dims)
        for idx in np.ndindex(np.shape(syms)):
            point[syms[idx].payload] = float(v[s.payload][idx])
    flat = [sd.to_scalars(o, dims) for o in outs]
    for g, e in zip(got, flat):
        ev = sd.evaluate(list(np.ravel(e)) if isinstance(e, np.ndarray) else e, point)
        np.testing.assert_allclose(np.ravel(g), np.ravel(ev), rtol=1e-12, atol=1e-15)


def test_one_kernel_serves_every_batch_size():
    loss, wrt, inputs = softmax_regression(64, 10)
    outs = [loss, *sd.grad(loss, wrt)]
    fn = compile_tensor(sd.schedule(outs, inputs))
    for m in (1, 7, 10_000):
        v = values(inputs, m, classes=10, seed=m)
        got = fn(v["X"], v["Theta"], v["y"])
        ref = sd.evaluate(outs, v)
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-15)


def test_threads_give_the_same_bits():
    loss, wrt, inputs = mlp((64, 128, 10))
    outs = [loss, *sd.grad(loss, wrt)]
    prog = sd.schedule(outs, inputs)
    v = values(inputs, 2000, classes=10, seed=3)
    args = [v[s.payload] for s in inputs]
    one = compile_tensor(prog, threads=1)(*args)
    two = compile_tensor(prog, threads=2)(*args)
    three = compile_tensor(prog, threads=3)(*args)
    for a, b, c in zip(one, two, three):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_keyword_calls_and_out():
    loss, wrt, inputs = softmax_regression()
    outs = [loss, *sd.grad(loss, wrt)]
    fn = compile_tensor(sd.schedule(outs, inputs))
    v = values(inputs, 5, classes=4)
    a = fn(**v)
    b = fn(v["X"], Theta=v["Theta"], y=v["y"])
    buf = (np.empty(()), np.empty((6, 4)))
    c = fn(v["X"], v["Theta"], v["y"], out=buf)
    assert c[0] is buf[0] and c[1] is buf[1]
    for x, y_, z in zip(a, b, c):
        assert np.array_equal(x, y_) and np.array_equal(x, z)


def test_non_contiguous_inputs_are_copied_not_misread():
    loss, wrt, inputs = softmax_regression()
    outs = [loss, *sd.grad(loss, wrt)]
    fn = compile_tensor(sd.schedule(outs, inputs))
    v = values(inputs, 8, classes=4)
    ref = fn(**v)
    big = np.zeros((16, 12))
    big[::2, ::2] = v["X"]
    xt = np.asfortranarray(v["X"])
    for X in (big[::2, ::2], xt):
        got = fn(X, v["Theta"], v["y"])
        assert np.array_equal(got[1], ref[1])
    x32 = v["X"].astype(np.float32)          # converted (exactly) to float64
    assert np.array_equal(fn(x32, v["Theta"], v["y"])[1],
                          fn(x32.astype(np.float64), v["Theta"], v["y"])[1])


@pytest.mark.parametrize("bad, message", [
    (dict(X=np.zeros((5, 7))), r"input X: expected shape \(m, 6\), got \(5, 7\)"),
    (dict(y=np.zeros(4, dtype=int)), r"input y: expected shape \(m,\), got \(4,\): m = 4 on "
                                      r"axis 0, but m = 5 from input X"),
    (dict(y=np.zeros(5)), r"input y: expected an int64 array of shape \(m,\) \(integer "
                          r"labels\), got dtype float64"),
    (dict(Theta=np.zeros((6, 4), dtype=complex)), r"input Theta: expected a float64 array"),
    (dict(X=np.zeros(6)), r"input X: expected shape \(m, 6\) \(2-dimensional\), got \(6,\)"),
])
def test_bad_inputs_name_the_input_and_the_shape(bad, message):
    loss, wrt, inputs = softmax_regression()
    fn = compile_tensor(sd.schedule([loss, *sd.grad(loss, wrt)], inputs))
    v = values(inputs, 5, classes=4)
    v.update(bad)
    with pytest.raises(ValueError, match=message):
        fn(**v)


def test_bad_calls():
    loss, wrt, inputs = softmax_regression()
    fn = compile_tensor(sd.schedule([loss, *sd.grad(loss, wrt)], inputs))
    v = values(inputs, 5, classes=4)
    with pytest.raises(ValueError, match="no value given for y"):
        fn(v["X"], v["Theta"])
    with pytest.raises(ValueError, match="has no input 'Z'"):
        fn(**v, Z=1.0)
    with pytest.raises(ValueError, match=r"out\[1\] must be a writeable C-contiguous float64 "
                                         r"array of shape \(6, 4\)"):
        fn(**v, out=(np.empty(()), np.empty((4, 6))))
    with pytest.raises(ValueError, match=r"input y: label 7 is outside 0\.\.3 \(onehot with "
                                         r"k = 4\)"):
        fn(v["X"], v["Theta"], np.array([0, 1, 2, 3, 7]))
    with pytest.raises(ValueError, match="onehot: label -1 is outside 0..3"):
        sd.evaluate(loss, {**v, "y": np.array([0, 1, 2, 3, -1])})


def test_structural_ops_compile():
    A = sd.tensor("A", ("n", 3))
    x = sd.tensor("x", (3,))
    B = sd.tensor("B", (3, 4))
    exprs = [
        sd.sum(A, axis=0),
        sd.max(A, axis=1, keepdims=True),
        A[:, ::2],
        B[1:, ::-2],
        A[-1],
        sd.reshape(A @ B, ("n", 2, 2)),
        sd.transpose(A) @ A,
        A @ x,
        x @ x,
        sd.softmax(A @ B, axis=0),
        sd.broadcast_to(x, ("n", 3)) * A,
        sd.sum(sd.exp(A) * 2.0) / sd.mean(A),
    ]
    fn = compile_tensor(sd.schedule(exprs, [A, x, B]))
    rng = np.random.default_rng(7)
    v = {"A": rng.normal(size=(5, 3)), "x": rng.normal(size=3), "B": rng.normal(size=(3, 4))}
    got = fn(v["A"], v["x"], v["B"])
    ref = sd.evaluate(exprs, v)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-14)


def test_hessian_of_least_squares_compiles():
    A = sd.tensor("A", ("m", 4))
    x = sd.tensor("x", (4,))
    b = sd.tensor("b", ("m",))
    f = 0.5 * sd.sum((A @ x - b) ** 2)
    outs = [f, sd.grad(f, x), sd.hessian(f, x)]
    fn = compile_tensor(sd.schedule(outs, [A, x, b]))
    rng = np.random.default_rng(2)
    Av, xv, bv = rng.normal(size=(9, 4)), rng.normal(size=4), rng.normal(size=9)
    val, g, H = fn(Av, xv, bv)
    np.testing.assert_allclose(g, Av.T @ (Av @ xv - bv), rtol=1e-13)
    np.testing.assert_allclose(H, Av.T @ Av, rtol=1e-13)


def test_pickle_round_trip_in_a_fresh_process(tmp_path):
    loss, wrt, inputs = softmax_regression()
    fn = compile_tensor(sd.schedule([loss, *sd.grad(loss, wrt)], inputs))
    v = values(inputs, 5, classes=4)
    expect = fn(**v)
    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps(fn))
    np.savez(tmp_path / "v.npz", **v)
    code = textwrap.dedent(f"""
        import pickle, numpy as np
        fn = pickle.loads(open({str(path)!r}, "rb").read())
        v = dict(np.load({str(tmp_path / "v.npz")!r}))
        out = fn(**v)
        np.save({str(tmp_path / "out.npy")!r}, out[1])
        print(repr(float(out[0])))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == float(expect[0])
    assert np.array_equal(np.load(tmp_path / "out.npy"), expect[1])


def test_shared_library_and_header_run_from_c(tmp_path):
    import shutil

    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on this machine")
    from compiler.tensor.aot import tensor_c_header, tensor_shared

    loss, wrt, inputs = softmax_regression(3, 2)
    outs = [loss, *sd.grad(loss, wrt)]
    prog = sd.schedule(outs, inputs)
    lib = tensor_shared(prog, tmp_path / "libsr.so", "sr")
    (tmp_path / "sr.h").write_text(tensor_c_header(prog, "sr"))
    (tmp_path / "main.c").write_text(textwrap.dedent("""
        #include <stdio.h>
        #include "sr.h"
        int main(void) {
            double X[4 * 3] = {0.5, -1, 2, 1, 0.25, -0.5, -2, 1.5, 0, 0.75, 1, -1};
            double Theta[3 * 2] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
            int64_t y[4] = {0, 1, 1, 0};
            double loss, grad[3 * 2];
            int rc = sr(X, Theta, y, &loss, grad, 4);
            printf("%d %.17g", rc, loss);
            for (int i = 0; i < 6; i++) printf(" %.17g", grad[i]);
            printf("\\n");
            return rc;
        }
    """))
    exe = tmp_path / "main"
    r = subprocess.run(["cc", "-o", str(exe), str(tmp_path / "main.c"), f"-I{tmp_path}",
                        str(lib), f"-Wl,-rpath,{tmp_path}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = [float(t) for t in r.stdout.split()]
    v = {"X": np.array([0.5, -1, 2, 1, 0.25, -0.5, -2, 1.5, 0, 0.75, 1, -1]).reshape(4, 3),
         "Theta": np.array([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]).reshape(3, 2),
         "y": np.array([0, 1, 1, 0])}
    ref = sd.evaluate(outs, v)
    assert got[0] == 0
    np.testing.assert_allclose(got[1], ref[0], rtol=1e-14)
    np.testing.assert_allclose(got[2:], np.ravel(ref[1]), rtol=1e-13)


def test_products_scaled_by_a_scalar_are_scaled_in_place():
    from compiler.tensor.plan import plan_tensor_program

    loss, wrt, inputs = softmax_regression()
    outs = [loss, *sd.grad(loss, wrt)]
    prog = sd.schedule(outs, inputs)
    plan = plan_tensor_program(prog)
    # X.T @ (P - Iy) / m: the product is written into the gradient's
    # buffer and divided by m there, with no step of its own for the
    # division; the same for the loss's mean (a sum over the rows / m).
    ops = sorted((prog.instrs[k].op, prog.instrs[p].op) for k, p in plan.epilogue.items())
    assert ops == [("div", "matmul"), ("div", "sum")]
    assert [s.kind for s in plan.steps].count("matmul") == 2
    assert not any(s.kind == "loop" and prog.instrs[s.slot].op == "div" for s in plan.steps)
    # A scalar computed only after the product: a separate loop, same values.
    A, B, C = (sd.tensor("A", ("n", 3)), sd.tensor("B", (3, 4)), sd.tensor("C", ("n", 4)))
    exprs = [(A @ B) / sd.sum(C), 2.0 * (A @ B), (A @ B) * sd.sum(A)]
    fn = compile_tensor(sd.schedule(exprs, [A, B, C]))
    rng = np.random.default_rng(11)
    v = {"A": rng.normal(size=(5, 3)), "B": rng.normal(size=(3, 4)),
         "C": rng.normal(size=(5, 4))}
    for g, r in zip(fn(v["A"], v["B"], v["C"]), sd.evaluate(exprs, v)):
        np.testing.assert_allclose(g, r, rtol=1e-14)


def test_label_input_as_an_output_is_written_as_float64():
    # An output that is an integer label input unchanged is copied into its
    # float64 output array (the copy used to store the i64 as a double:
    # invalid IR).
    y = sd.tensor("y", ("m",), dtype=int)
    X = sd.tensor("X", ("m", 3))
    exprs = [y, sd.sum(sd.onehot(y, 3) * X, axis=1)]
    fn = compile_tensor(sd.schedule(exprs, [y, X]))
    v = {"y": np.array([2, 0, 1, 1]), "X": np.arange(12.0).reshape(4, 3)}
    got = fn(v["y"], v["X"])
    ref = sd.evaluate(exprs, v)
    assert got[0].dtype == np.float64 and np.array_equal(got[0], ref[0])
    assert np.array_equal(got[1], ref[1])


def test_bad_options_are_errors_before_llvm():
    # opt and name are checked as for scalar programs (opt=7 used to be a
    # bare KeyError, 2.9 silently 2, a bad name an error inside LLVM).
    v = sd.tensor("v", ("m",))
    prog = sd.schedule([sd.sum(v * v)], [v])
    for compile_ in (sd.compile, compile_tensor):
        with pytest.raises(ValueError, match=r"opt must be 0, 1, 2 or 3, got 7"):
            compile_(prog, opt=7)
        with pytest.raises(ValueError, match=r"opt must be 0, 1, 2 or 3, got 2\.9"):
            compile_(prog, opt=2.9)
        with pytest.raises(ValueError, match=r"name must be a C identifier \(letters, "
                                             r"digits and _, .*\), got 'bad name'"):
            compile_(prog, name="bad name")
    with pytest.raises(TypeError, match="unknown option"):
        sd.compile(prog, chunk=3)


def test_default_threads_follow_the_environment_per_call(monkeypatch):
    # Without threads=, a kernel reads SYMDIFF_NUM_THREADS when it splits a
    # step (as batch() does), not once at compile time.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("SYMDIFF_NUM_THREADS", "1")
    V = sd.tensor("V", ("m", 8))
    fn = compile_tensor(sd.schedule([sd.tanh(V) * V], [V]))
    A = np.random.default_rng(5).normal(size=(1 << 16, 8))
    one = fn(A)[0]
    monkeypatch.setenv("SYMDIFF_NUM_THREADS", "2")
    assert np.array_equal(fn(A)[0], one)
    monkeypatch.setenv("SYMDIFF_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="SYMDIFF_NUM_THREADS='many'"):
        fn(A)
    monkeypatch.setenv("SYMDIFF_NUM_THREADS", "2")
    assert np.array_equal(fn(A)[0], one)
    assert np.array_equal(fn(A[:4])[0], one[:4])   # too small to split: no callback


def test_tensor_library_exports_the_name_its_header_declares(tmp_path):
    import ctypes
    import re

    from compiler.aot import _find_cc
    from compiler.tensor.aot import tensor_c_header, tensor_shared

    try:
        _find_cc()
    except RuntimeError:
        pytest.skip("needs a C compiler")
    v = sd.tensor("v", ("m",))
    fn = compile_tensor(sd.schedule([sd.sum(v * v)], [v]), name="sumsq")
    lib = ctypes.CDLL(str(tensor_shared(fn, tmp_path / "libsumsq.so")))
    assert re.findall(r"^int (\w+)\(", tensor_c_header(fn), re.M) == ["sumsq"]
    assert hasattr(lib, "sumsq") and not hasattr(lib, "symdiff_fn")
    lib2 = ctypes.CDLL(str(tensor_shared(fn, tmp_path / "libother.so", "other")))
    assert re.findall(r"^int (\w+)\(", tensor_c_header(fn, "other"), re.M) == ["other"]
    assert hasattr(lib2, "other")
