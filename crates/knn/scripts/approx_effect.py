"""MLE and TwoNN from two `imanifold neighbors` folders (exact and approximate), and the relative differences.

    python approx_effect.py EXACT_DIR APPROX_DIR

Formulas as `imanifold dim` (and scikit-dimension) define them: MLE with MacKay-Ghahramani combination over the k
neighbours of the folder; TwoNN linear fit without intercept after discarding the largest 10 % of the ratios.
"""
import json
import sys

import numpy as np


def mle(dist):
    k = dist.shape[1]
    logs = np.log(dist[:, -1:] / dist[:, :-1]).sum(axis=1)
    inv = logs / (k - 1)
    return 1.0 / inv.mean()


def twonn(dist, discard=0.1):
    mu = np.sort(dist[:, 1] / dist[:, 0])
    n = len(mu)
    keep = int(n * (1 - discard))
    x = np.log(mu[:keep])
    y = -np.log(1 - np.arange(1, keep + 1) / n)
    return float((x * y).sum() / (x * x).sum())


out = {}
for name, folder in zip(["exact", "approx"], sys.argv[1:3]):
    d = np.load(f"{folder}/distances.npy").astype(np.float64)
    out[name] = {"mle": mle(d), "twonn": twonn(d)}
for est in ["mle", "twonn"]:
    out[f"{est}_relative_difference"] = out["approx"][est] / out["exact"][est] - 1
print(json.dumps(out))
