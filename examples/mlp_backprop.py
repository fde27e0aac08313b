"""The lectures' two-layer network on scikit-learn's 8x8 digits, with the
backprop program that symdiff derives in matrix form.

The network, over a batch X of m rows (m bound per call),

    A = tanh(X W1 + b1)   (or relu),   Z = A W2 + b2,
    loss = mean_i ( logsumexp(Z)_i - Z_{i, y_i} ),

is one tensor expression; ``sd.grad(loss, [W1, b1, W2, b2])`` is reverse
accumulation on that expression, and the script prints the program it
derived: the lectures' backward pass, G2 = softmax(Z) - I_y and
G1 = (1 - A*A) * (G2 W2^T), then dW2 = A^T G2 / m, dW1 = X^T G1 / m and
the biases' column sums.  One compiled kernel returns the loss and the four
gradients for a minibatch of any size; Adam (in numpy) takes the steps.

Before training, the compiled gradient is checked on a few samples four
ways.  Two are independent of symdiff's derivative rules: the lectures'
backprop written by hand in numpy, and central differences of the compiled
loss over all 2,410 parameters.  Two check the tensor machinery against
symdiff's scalar rules (they share the op table's derivative rules with the
tensor gradient, so they catch errors in the tensor rules, the matrix-form
program or the compiler, not in a scalar rule): the reverse-mode tape
(:class:`symdiff.Scalar`, the lectures' ``ag.Scalar``: the network written
out scalar by scalar, then ``backward()``) and the scalar expansion of the
tensor expression (``sd.to_scalars``, then ``sd.grad`` on thousands of
scalar nodes).

Run: ``python examples/mlp_backprop.py [--epochs N] [--activation relu] [--quick]``.
The last line printed is ``test accuracy: 0.NNN``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402 - after the sys.path setup above
    Adam,
    digits_split,
    ensure_symdiff,
    init_params,
    max_rel_diff,
    minibatches,
    mlp,
    mlp_predict,
    one_hot,
    progress,
    report_wall_time,
    softmax,
    table,
)

ensure_symdiff()

import symdiff as sd  # noqa: E402 - importable once ensure_symdiff() ran
from symdiff.numeric.finite_diff import central_difference  # noqa: E402 - as above

SIZES = (64, 32, 10)
NAMES = ["W1", "b1", "W2", "b2"]


def build(activation: str = "tanh"):
    """The network and its gradients: ``(net, grads)`` with ``grads`` in
    the order of :data:`NAMES`."""
    net = mlp(SIZES, activation)
    return net, sd.grad(net.loss, [net.params[n] for n in NAMES])


class Gradient:
    """Loss and gradients of a minibatch from the compiled kernel, written
    into buffers allocated once (the outputs' shapes do not depend on m)."""

    def __init__(self, fn, shapes: dict):
        self.fn = fn
        self.out = (np.empty(()),) + tuple(np.empty(shapes[n]) for n in NAMES)

    def __call__(self, params: dict, X, y):
        """``(loss, {name: gradient})``; the arrays are reused by the next call."""
        L, *G = self.fn(X, y, *(params[n] for n in NAMES), out=self.out)
        return float(L), dict(zip(NAMES, G))


# ---------------------------------------------------------------------------
# the same gradient, other ways


def numpy_gradient(params: dict, X, y, activation: str = "tanh"):
    """Mean loss and gradients by the lectures' backprop written by hand in
    numpy (no symdiff): G2 = (softmax(Z) - I_y) / m, G1 = act'(X W1 + b1) *
    (G2 W2^T) with tanh' = 1 - A*A and relu' = [X W1 + b1 > 0]; dW2 = A^T G2,
    dW1 = X^T G1, the biases' gradients the column sums of G2 and G1."""
    H = X @ params["W1"] + params["b1"]
    A = np.tanh(H) if activation == "tanh" else np.maximum(H, 0.0)
    Z = A @ params["W2"] + params["b2"]
    zmax = Z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(Z - zmax).sum(axis=1))
    loss = float(np.mean(lse - Z[np.arange(len(y)), y]))
    G2 = (softmax(Z) - one_hot(y, Z.shape[1])) / len(X)
    dA = G2 @ params["W2"].T
    G1 = dA * (1.0 - A * A) if activation == "tanh" else dA * (H > 0.0)
    return loss, {"W1": X.T @ G1, "b1": G1.sum(axis=0), "W2": A.T @ G2, "b2": G2.sum(axis=0)}


def tape_gradient(params: dict, X, y, activation: str = "tanh"):
    """Mean loss and gradients with the reverse-mode tape: every parameter
    a :class:`symdiff.Scalar` leaf, the network evaluated scalar by scalar
    (micrograd style), one ``backward()``.  Slow (tens of thousands of
    Python objects) but independent of the symbolic graph."""
    leaves = {n: np.vectorize(sd.Scalar, otypes=[object])(params[n]) for n in NAMES}
    W1, b1, W2, b2 = (leaves[n] for n in NAMES)
    (D, H), K = W1.shape, len(b2)
    total = None
    for x, label in zip(X, y):
        a = []
        for j in range(H):
            s = b1[j]
            for i in range(D):
                if x[i] != 0.0:   # blank pixels add nothing: skip them
                    s = s + W1[i, j] * float(x[i])
            a.append(s.tanh() if activation == "tanh" else s.relu())
        z = []
        for k in range(K):
            s = b2[k]
            for j in range(H):
                s = s + a[j] * W2[j, k]
            z.append(s)
        se = z[0].exp()
        for zk in z[1:]:
            se = se + zk.exp()
        loss = se.log() - z[int(label)]
        total = loss if total is None else total + loss
    mean = total / len(X)
    mean.backward()
    return mean.value, {n: np.vectorize(lambda s: s.grad)(leaves[n]) for n in NAMES}


def expansion_gradient(net, params: dict, X, y):
    """Mean loss and gradients from the scalar expansion of the tensor loss
    for m = len(X): ``sd.to_scalars`` turns the matrix expression into
    scalar nodes (entry (i, j) of W1 is the symbol ``W1{i}_{j}``), whose
    gradient symdiff's scalar reverse accumulation builds and the numpy
    interpreter evaluates.  Checks the tensor derivative rules against the
    scalar ones."""
    dims = {"m": len(X)}
    scalar_loss = sd.to_scalars(net.loss, dims)
    syms = {n: sd.scalar_symbols(net.params[n], dims) for n in NAMES}
    flat = [s for n in NAMES for s in syms[n].ravel()]
    grads = sd.grad(scalar_loss, flat)
    values = {}
    for sym, arr in [(net.X, X), (net.y, y)] + [(net.params[n], params[n]) for n in NAMES]:
        for idx, s in np.ndenumerate(sd.scalar_symbols(sym, dims)):
            values[s.payload] = float(arr[idx])
    loss, *g = sd.evaluate([scalar_loss, *grads], values)
    out, k = {}, 0
    for n in NAMES:
        size = params[n].size
        out[n] = np.array(g[k:k + size], dtype=float).reshape(params[n].shape)
        k += size
    return float(loss), out


def fd_gradient(grad_fn, params: dict, X, y):
    """Central differences of the compiled mean loss over every parameter
    (2 x 2,410 kernel calls)."""
    sizes = [params[n].size for n in NAMES]

    def unflatten(theta):
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return {n: p.reshape(params[n].shape) for n, p in zip(NAMES, parts)}

    theta = np.concatenate([params[n].ravel() for n in NAMES])
    res = central_difference(lambda t: grad_fn(unflatten(t), X, y)[0], theta)
    return grad_fn(params, X, y)[0], unflatten(res.gradient)


def agreement(net, grad_fn, params: dict, X, y) -> dict:
    """Compare the compiled gradient with the hand-written numpy backprop,
    the tape, the scalar expansion and central differences on one
    minibatch; prints a table and returns the max relative differences
    (max |g - g_compiled| / max |g_compiled| over all four gradients) by
    method."""
    loss_c, g_c = grad_fn(params, X, y)
    g_c = {n: g.copy() for n, g in g_c.items()}     # the kernel's buffers get reused
    flat_c = np.concatenate([g_c[n].ravel() for n in NAMES])
    methods = [("hand-written numpy backprop", "numpy_backprop",
                lambda: numpy_gradient(params, X, y, net.activation)),
               ("symdiff.Scalar tape", "tape",
                lambda: tape_gradient(params, X, y, net.activation)),
               ("scalar expansion + sd.grad", "expansion",
                lambda: expansion_gradient(net, params, X, y)),
               ("central differences", "central_difference",
                lambda: fd_gradient(grad_fn, params, X, y))]
    rows, diffs = [], {}
    for label, key, run in methods:
        t0 = time.perf_counter()
        loss, g = run()
        secs = time.perf_counter() - t0
        diffs[key] = max_rel_diff(np.concatenate([g[n].ravel() for n in NAMES]), flat_c)
        rows.append([label, f"{loss:.15f}", f"{diffs[key]:.1e}", f"{secs * 1e3:.0f} ms"])
    print(f"gradient of the mean loss over {len(X)} samples ({flat_c.size} entries, largest "
          f"|g| = {np.max(np.abs(flat_c)):.3f}); compiled loss {loss_c:.15f}:")
    print(table(["method", "loss", "max |g - g_compiled| / max |g|", "time"], rows))
    return diffs


def main(argv=None) -> dict:
    """Check, train and evaluate; returns the measurements (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, help="passes over the data (default 30; 8 with --quick)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam step size (default 3e-3)")
    p.add_argument("--activation", choices=["tanh", "relu"], default="tanh",
                   help="hidden-layer activation (default tanh)")
    p.add_argument("--check-samples", type=int,
                   help="samples in the gradient checks "
                        "(default 4; 2 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="initialisation/shuffling seed")
    p.add_argument("--quick", action="store_true",
                   help="8 epochs and 2 check samples unless given")
    args = p.parse_args(argv)
    epochs = args.epochs or (8 if args.quick else 30)
    check_samples = args.check_samples or (2 if args.quick else 4)

    Xtr, Xte, ytr, yte = digits_split()
    net, grads = build(args.activation)
    n_params = sum(int(np.prod(s)) for s in net.shapes.values())
    print(f"digits: {len(Xtr)} training and {len(Xte)} test images; MLP "
          f"{'-'.join(map(str, SIZES))}, {args.activation} hidden layer, {n_params} parameters")
    program = sd.to_program([net.loss, *grads], names=["loss"] + ["d" + n for n in NAMES])
    print("backprop program derived by symdiff:")
    print("    " + program.replace("\n", "\n    "))

    t0 = time.perf_counter()
    fn = sd.compile([net.loss, *grads], net.inputs, name=f"mlp_backprop_{args.activation}")
    compile_s = time.perf_counter() - t0
    print(f"compiled {fn!r} in {compile_s:.2f} s ({fn.compile_info.get('cache')} cache)")
    grad_fn = Gradient(fn, net.shapes)

    rng = np.random.default_rng(args.seed)
    params = init_params(net.shapes, rng)
    # Checked at the initial weights plus small random biases, so that every
    # gradient entry is exercised (zero biases are a special point).
    check_params = {n: v + (rng.normal(0.0, 0.1, v.shape) if v.ndim == 1 else 0.0)
                    for n, v in params.items()}
    diffs = agreement(net, grad_fn, check_params, Xtr[:check_samples], ytr[:check_samples])

    opt = Adam(params, lr=args.lr)
    n_batches = -(-len(Xtr) // args.batch_size)
    epoch_s, losses = [], []
    for epoch in range(1, epochs + 1):
        bar = progress(n_batches, f"epoch {epoch}/{epochs}")
        total = 0.0
        t0 = time.perf_counter()
        for idx in minibatches(len(Xtr), args.batch_size, rng):
            loss, g = grad_fn(params, Xtr[idx], ytr[idx])
            opt.step(params, g)
            total += loss * len(idx)
            bar.update(1)
        epoch_s.append(time.perf_counter() - t0)
        bar.close()
        losses.append(total / len(Xtr))
        train_acc = np.mean(mlp_predict(params, Xtr, args.activation) == ytr)
        print(f"epoch {epoch:3d}/{epochs}  loss {losses[-1]:.4f}  train accuracy "
              f"{train_acc:.3f}  {epoch_s[-1] * 1e3:.1f} ms")
    print(f"time per epoch: median {np.median(epoch_s) * 1e3:.1f} ms "
          f"({n_batches} compiled gradient calls of up to {args.batch_size} rows, Adam in numpy)")
    acc = float(np.mean(mlp_predict(params, Xte, args.activation) == yte))
    print(f"test accuracy: {acc:.3f}")
    return {"test_accuracy": acc, "diffs": diffs, "program": program, "losses": losses,
            "epoch_seconds": epoch_s, "compile_seconds": compile_s}


if __name__ == "__main__":
    main()
    report_wall_time()
