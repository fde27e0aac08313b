"""Softmax regression on scikit-learn's 8x8 digits, trained with a gradient
that symdiff derives and compiles.

The per-sample cross-entropy loss

    l(W, b; x, y) = log sum_j exp(h_j) - y . h,   h = W x + b

is built symbolically with inputs [W (10x64), b (10), x (64 pixels),
y (10, one-hot)], so ONE compiled kernel serves every sample and label; it
returns [l, dl/dW (640), dl/db (10)].  A minibatch is one ``fn.batch``
call: row i holds the current parameters followed by sample i's pixels and
one-hot label, and the mean of the gradient rows is the SGD step.

Before training the script checks the compiled gradient against central
differences on a few parameters and against the lecture's closed form
X^T (Z - I_y) / B on a minibatch.  It then trains with minibatch SGD,
printing the loss, the time per epoch and the split of that time between
assembling the batch inputs and running the kernel, and ends with the
accuracy on a stratified held-out quarter of the data.

``--formulation logits`` is the alternative to use if copying the 650
parameters into every row dominated: compile only dl/dh = z - e_y (inputs
h and y, 20 numbers a row) and apply the chain rule through h = W x + b in
numpy, as the lecture's X^T (Z - I_y).  The default is the full
formulation: measured here (the printed split), assembling the rows takes
about 10-25% of the gradient time and the kernel the rest, an epoch takes
~10 ms either way, and the whole derivative stays in symdiff.

Run: ``python examples/softmax_regression.py [--epochs N] [--quick]``.
The last line printed is ``test accuracy: 0.NNN``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (digits_split, ensure_symdiff, one_hot, per_sample_rows,  # noqa: E402
                     progress)

ensure_symdiff()

import symdiff as sd  # noqa: E402

N_CLASSES, N_FEATURES = 10, 64
N_PARAMS = N_CLASSES * N_FEATURES + N_CLASSES


def build_loss():
    """The symbolic per-sample loss and its symbols.

    Returns ``(loss, params, pixels, onehot)``: the expression and the
    symbol lists W (row-major) + b, x, y.
    """
    W = sd.matrix("W", N_CLASSES, N_FEATURES)
    b = sd.vector("b", N_CLASSES)
    x = sd.vector("x", N_FEATURES)
    y = sd.vector("y", N_CLASSES)
    h = sd.dot(W, x) + b
    # -log softmax(h)_label written with the one-hot y, so the label is an
    # input of the kernel instead of a constant baked into it.
    loss = sd.log(sd.sum(sd.exp(h))) - sd.dot(y, h)
    return loss, list(W.ravel()) + list(b), list(x), list(y)


def compile_full():
    """Compile [loss, dloss/dW, dloss/db] with inputs [W, b, x, y]."""
    loss, params, pixels, onehot = build_loss()
    grad = sd.grad(loss, params)
    return sd.compile([loss, *grad], params + pixels + onehot, name="softmax_full")


def compile_logits():
    """Compile [loss, dloss/dh] (= z - e_y) with inputs [h, y] (10 + 10)."""
    h = sd.vector("h", N_CLASSES)
    y = sd.vector("y", N_CLASSES)
    loss = sd.log(sd.sum(sd.exp(h))) - sd.dot(y, h)
    grad = sd.grad(loss, list(h))
    return sd.compile([loss, *grad], list(h) + list(y), name="softmax_logits")


class FullGradient:
    """Loss and gradient of a minibatch through the full kernel.

    Keeps one input buffer per batch size: the data columns are written
    per batch, the parameter columns broadcast from theta (the per-row
    copy the design trades for a single compiled kernel).
    """

    def __init__(self, fn):
        self.fn = fn
        self.assemble_s = 0.0
        self.kernel_s = 0.0
        self._buf = {}

    def __call__(self, theta, Xb, Yb):
        """Mean loss and mean gradient (length 650) over the rows of Xb."""
        t0 = time.perf_counter()
        buf = per_sample_rows(self._buf, self.fn.n_inputs, theta, Xb, Yb)
        t1 = time.perf_counter()
        out = self.fn.batch(buf)
        t2 = time.perf_counter()
        self.assemble_s += t1 - t0
        self.kernel_s += t2 - t1
        return out[:, 0].mean(), out[:, 1:].mean(axis=0)


class LogitsGradient:
    """Loss and gradient of a minibatch through the dl/dh kernel: h by
    numpy, dl/dh by symdiff, then dW = G^T X / B and db = mean G."""

    def __init__(self, fn):
        self.fn = fn
        self.assemble_s = 0.0
        self.kernel_s = 0.0

    def __call__(self, theta, Xb, Yb):
        """Mean loss and mean gradient (length 650) over the rows of Xb."""
        t0 = time.perf_counter()
        W, b = unpack(theta)
        buf = np.hstack([Xb @ W.T + b, Yb])
        t1 = time.perf_counter()
        out = self.fn.batch(buf)
        t2 = time.perf_counter()
        G = out[:, 1:]
        grad = np.concatenate([(G.T @ Xb).ravel(), G.sum(axis=0)]) / len(Xb)
        self.assemble_s += (t1 - t0) + (time.perf_counter() - t2)
        self.kernel_s += t2 - t1
        return out[:, 0].mean(), grad


def unpack(theta):
    """Views (W, b) of the flat parameter vector [W row-major, b]."""
    return theta[:N_CLASSES * N_FEATURES].reshape(N_CLASSES, N_FEATURES), \
        theta[N_CLASSES * N_FEATURES:]


def predict(theta, X):
    """Predicted labels: argmax of the logits X W^T + b."""
    W, b = unpack(theta)
    return np.argmax(X @ W.T + b, axis=1)


def softmax(H):
    """Row-wise softmax, shifted by the row max for safety."""
    E = np.exp(H - H.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def closed_form_gradient(theta, Xb, yb):
    """The lecture's gradient of the mean minibatch loss: with
    Theta = W^T (features x classes), grad_Theta = X^T (Z - I_y) / B and
    grad_b = mean(Z - I_y).  Returned as (grad_Theta, grad_b)."""
    W, b = unpack(theta)
    Z = softmax(Xb @ W.T + b)
    Iy = one_hot(yb, N_CLASSES)
    return Xb.T @ (Z - Iy) / len(Xb), (Z - Iy).mean(axis=0)


def gradient_check(grad_fn, theta, Xb, Yb, n_coords: int = 12, seed: int = 1,
                   h: float = 1e-5) -> float:
    """Max relative error between the compiled gradient and central
    differences of the (compiled) mean loss on ``n_coords`` random
    parameters (half of them biases, which see every sample)."""
    rng = np.random.default_rng(seed)
    coords = np.concatenate([
        rng.choice(N_CLASSES * N_FEATURES, n_coords - n_coords // 2, replace=False),
        N_CLASSES * N_FEATURES + rng.choice(N_CLASSES, n_coords // 2, replace=False)])
    _, g = grad_fn(theta, Xb, Yb)
    worst = 0.0
    for k in coords:
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd = (grad_fn(tp, Xb, Yb)[0] - grad_fn(tm, Xb, Yb)[0]) / (2 * h)
        # Pixels that are 0 in every sample give a zero gradient: measure
        # those absolutely (the scale floor), the others relatively.
        worst = max(worst, abs(fd - g[k]) / max(abs(fd), abs(g[k]), 1e-6))
    return worst


def main(argv=None) -> dict:
    """Train and evaluate; returns the measurements (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=20, help="passes over the data (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, default=1.0,
                   help="initial SGD step size, decayed as 1/sqrt(epoch) (default 1.0)")
    p.add_argument("--formulation", choices=["full", "logits"], default="full",
                   help="compiled kernel: full loss gradient wrt W, b (default) or dl/dh only")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed (default 0)")
    p.add_argument("--quick", action="store_true", help="5 epochs")
    args = p.parse_args(argv)
    epochs = 5 if args.quick else args.epochs

    Xtr, Xte, ytr, yte = digits_split()
    Ytr = one_hot(ytr, N_CLASSES)
    print(f"digits: {len(Xtr)} training and {len(Xte)} test images, {N_FEATURES} pixels, "
          f"{N_CLASSES} classes; {N_PARAMS} parameters")

    t0 = time.perf_counter()
    fn = compile_full() if args.formulation == "full" else compile_logits()
    compile_s = time.perf_counter() - t0
    grad_fn = FullGradient(fn) if args.formulation == "full" else LogitsGradient(fn)
    print(f"compiled {fn!r} in {compile_s:.2f} s ({fn.compile_info.get('cache')} cache)")

    # Checks at a random (not zero) parameter vector, where softmax is not flat.
    rng = np.random.default_rng(args.seed)
    theta_check = rng.normal(0.0, 0.1, N_PARAMS)
    Xb, yb = Xtr[:args.batch_size], ytr[:args.batch_size]
    rel = gradient_check(grad_fn, theta_check, Xb, one_hot(yb, N_CLASSES))
    print(f"gradient check vs central differences: max relative error {rel:.2e}")
    # The closed-form comparison always uses the full kernel: the logits
    # formulation computes X^T G itself, so comparing it would only test G.
    full_fn = grad_fn if args.formulation == "full" else FullGradient(compile_full())
    _, g = full_fn(theta_check, Xb, one_hot(yb, N_CLASSES))
    gT, gb = closed_form_gradient(theta_check, Xb, yb)
    W_grad, b_grad = unpack(g)
    closed_diff = max(np.max(np.abs(W_grad.T - gT)), np.max(np.abs(b_grad - gb)))
    print(f"symdiff gradient vs closed form X^T(Z - I_y)/B: max abs difference "
          f"{closed_diff:.2e} (gradient entries up to {np.max(np.abs(gT)):.2f})")

    theta = np.zeros(N_PARAMS)   # the loss is convex: zero is a fine start
    n_batches = -(-len(Xtr) // args.batch_size)
    epoch_s = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(Xtr))
        bar = progress(n_batches, f"epoch {epoch}/{epochs}")
        t0 = time.perf_counter()
        total = 0.0
        # Step size decaying as 1/sqrt(epoch): large early steps, then
        # smaller ones so the last epochs settle instead of bouncing.
        lr = args.lr / np.sqrt(epoch)
        for k in range(n_batches):
            idx = order[k * args.batch_size:(k + 1) * args.batch_size]
            loss, grad = grad_fn(theta, Xtr[idx], Ytr[idx])
            theta -= lr * grad
            total += loss * len(idx)
            bar.update(1)
        bar.close()
        epoch_s.append(time.perf_counter() - t0)
        train_acc = np.mean(predict(theta, Xtr) == ytr)
        print(f"epoch {epoch:3d}/{epochs}  loss {total / len(Xtr):.4f}  "
              f"train accuracy {train_acc:.3f}  {epoch_s[-1] * 1e3:.1f} ms")
    work = grad_fn.assemble_s + grad_fn.kernel_s
    print(f"time per epoch: median {np.median(epoch_s) * 1e3:.1f} ms; of the gradient time, "
          f"{100 * grad_fn.assemble_s / work:.0f}% assembling inputs"
          f"{' (parameter rows)' if args.formulation == 'full' else ' and X^T G'}, "
          f"{100 * grad_fn.kernel_s / work:.0f}% in the compiled kernel")
    acc = float(np.mean(predict(theta, Xte) == yte))
    print(f"test accuracy: {acc:.3f}")
    return {"test_accuracy": acc, "grad_check_rel_error": rel, "closed_form_diff": closed_diff,
            "epoch_seconds": epoch_s, "compile_seconds": compile_s,
            "assemble_seconds": grad_fn.assemble_s, "kernel_seconds": grad_fn.kernel_s}


if __name__ == "__main__":
    main()
