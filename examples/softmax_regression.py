"""Softmax regression on scikit-learn's 8x8 digits in matrix form: symdiff
derives the lectures' gradient X^T (Z - I_y) / m and compiles it into one
kernel that serves every batch size.

The model is the lectures' hypothesis h = X Theta (Theta: 64 pixels x 10
classes) with the mean softmax loss

    f(Theta) = mean_i ( logsumexp(X Theta)_i - (I_y * X Theta)_i. ),

written once as a tensor expression over a batch of m rows (m is a named
dimension, bound per call).  ``sd.grad(f, Theta)`` gives a tensor
expression, which the script prints: it reads ``X^T (softmax(X Theta) -
I_y) / m``, the closed form the lectures derive by hand.  The script then
checks the compiled gradient against that closed form computed in numpy,
and trains Theta with minibatch SGD, each step one call of the compiled
kernel ``fn(X_batch, Theta, y_batch)`` (the last batch of an epoch is
shorter; the same kernel serves it).

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
from _common import (  # noqa: E402 - after the sys.path setup above
    cross_entropy,
    digits_split,
    ensure_symdiff,
    max_rel_diff,
    minibatches,
    one_hot,
    progress,
    report_wall_time,
    softmax,
)

ensure_symdiff()

import symdiff as sd  # noqa: E402 - importable once ensure_symdiff() ran

N_FEATURES, N_CLASSES = 64, 10


def build():
    """The symbolic model: ``(X, Theta, y, loss, dTheta)``."""
    X = sd.tensor("X", ("m", N_FEATURES))
    Theta = sd.tensor("Theta", (N_FEATURES, N_CLASSES))
    y = sd.tensor("y", ("m",), dtype=int)
    loss = cross_entropy(X @ Theta, y, N_CLASSES)
    return X, Theta, y, loss, sd.grad(loss, Theta)


def closed_form_gradient(X, Theta, y):
    """The lectures' gradient of the mean loss, in numpy:
    X^T (Z - I_y) / m with Z = normalize(exp(X Theta))."""
    return X.T @ (softmax(X @ Theta) - one_hot(y, N_CLASSES)) / len(X)


def predict(Theta, X):
    """Predicted labels: the argmax of the logits X Theta."""
    return np.argmax(X @ Theta, axis=1)


def main(argv=None) -> dict:
    """Check, train and evaluate; returns the measurements (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, help="passes over the data (default 20; 8 with --quick)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, default=1.0,
                   help="initial SGD step size, decayed as 1/sqrt(epoch) (default 1.0)")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed (default 0)")
    p.add_argument("--quick", action="store_true", help="8 epochs unless --epochs is given")
    args = p.parse_args(argv)
    epochs = args.epochs or (8 if args.quick else 20)

    Xtr, Xte, ytr, yte = digits_split()
    print(f"digits: {len(Xtr)} training and {len(Xte)} test images, {N_FEATURES} pixels, "
          f"{N_CLASSES} classes; Theta is {N_FEATURES} x {N_CLASSES}")

    X, Theta, y, loss, grad = build()
    program = sd.to_program([loss, grad], names=["loss", "dTheta"])
    print("symdiff's loss and gradient (the lectures' X^T (softmax(X Theta) - I_y) / m):")
    print("    " + program.replace("\n", "\n    "))

    t0 = time.perf_counter()
    fn = sd.compile([loss, grad], [X, Theta, y], name="softmax_regression")
    compile_s = time.perf_counter() - t0
    print(f"compiled {fn!r} in {compile_s:.2f} s ({fn.compile_info.get('cache')} cache)")

    # Check at a random Theta (at zero softmax is flat and Z - I_y trivial),
    # on the whole training set and on an odd-sized batch: one kernel, two m.
    rng = np.random.default_rng(args.seed)
    Theta_check = rng.normal(0.0, 0.5, (N_FEATURES, N_CLASSES))
    checks = {}
    for m in (len(Xtr), 37):
        _, G = fn(Xtr[:m], Theta_check, ytr[:m])
        checks[m] = max_rel_diff(G, closed_form_gradient(Xtr[:m], Theta_check, ytr[:m]))
    closed_diff = max(checks.values())
    print("compiled gradient vs closed form X^T (Z - I_y) / m: max relative difference "
          + ", ".join(f"{d:.1e} (m = {m})" for m, d in checks.items()))

    Theta_v = np.zeros((N_FEATURES, N_CLASSES))   # the loss is convex: zero is a fine start
    n_batches = -(-len(Xtr) // args.batch_size)
    out = (np.empty(()), np.empty_like(Theta_v))  # reused by every step
    epoch_s, losses = [], []
    for epoch in range(1, epochs + 1):
        bar = progress(n_batches, f"epoch {epoch}/{epochs}")
        # Step size decaying as 1/sqrt(epoch): large early steps, then
        # smaller ones so the last epochs settle instead of bouncing.
        lr = args.lr / np.sqrt(epoch)
        total = 0.0
        t0 = time.perf_counter()
        for idx in minibatches(len(Xtr), args.batch_size, rng):
            L, G = fn(Xtr[idx], Theta_v, ytr[idx], out=out)
            Theta_v -= lr * G
            total += float(L) * len(idx)
            bar.update(1)
        epoch_s.append(time.perf_counter() - t0)
        bar.close()
        losses.append(total / len(Xtr))
        print(f"epoch {epoch:3d}/{epochs}  loss {losses[-1]:.4f}  train accuracy "
              f"{np.mean(predict(Theta_v, Xtr) == ytr):.3f}  {epoch_s[-1] * 1e3:.1f} ms")
    print(f"time per epoch: median {np.median(epoch_s) * 1e3:.1f} ms "
          f"({n_batches} compiled gradient calls of up to {args.batch_size} rows)")
    acc = float(np.mean(predict(Theta_v, Xte) == yte))
    print(f"test accuracy: {acc:.3f}")
    return {"test_accuracy": acc, "closed_form_diff": closed_diff, "program": program,
            "losses": losses, "epoch_seconds": epoch_s, "compile_seconds": compile_s,
            "Theta": Theta_v}


if __name__ == "__main__":
    main()
    report_wall_time()
