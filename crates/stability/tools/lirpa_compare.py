#!/usr/bin/env python3
"""Compare the bounds of `imanifold stability` with auto_LiRPA on the same network, images and budgets.

A side script, not a dependency of the toolkit. It needs PyTorch, auto_LiRPA, numpy, safetensors and Pillow
(see crates/stability/README.md, "Comparison with auto_LiRPA").

Given a model folder written by `imanifold classifier train` (model.safetensors + config.json), the labelled image
folder the stability command measured (manifest.csv with a `file` column) and the stability command's output folder
(results.json, per_image.csv, logits.npy, bounds_<eps>.npy), it

1. rebuilds the classifier in PyTorch (float64): per-channel normalisation (x - mean) / std (the division folded into
   the first convolution's kernel), then per convolution (kernel (c_out, c_in, k, k), stride s, zero padding k // 2) + ReLU, then global average pooling when the
   config says `pool: global`, flatten in (channel, y, x) order, fc0 + ReLU, fc1. The toolkit's rows are
   (y, x, channel) with values 8-bit / 255 in float32; they are reshaped to (channel, y, x) here;
2. checks its logits against `logits.npy` (the toolkit's float64 network) on every measured image;
3. per budget, bounds every margin logit_label - logit_j over the box [x - eps, x + eps] ∩ [0, 1] with auto_LiRPA's
   IBP and CROWN (specification matrix C = e_label - e_j, so the last layer is folded into the margins as the
   toolkit does) and compares them with columns 0 (IBP) and 1 (CROWN) of `bounds_<eps>.npy`;
4. runs auto_LiRPA's full α-CROWN (every layer's slopes optimised with Adam, intermediate bounds recomputed at
   every step; the toolkit's α-CROWN optimises the final back-substitution's slopes only) and counts the images it
   certifies next to the toolkit's counts.

Times are wall-clock seconds on one thread (torch.set_num_threads(1)); `--ours-times FILE` adds the toolkit's
times (the JSON printed by `cargo run --release -p stability --example bound_times`).

Usage:
  python lirpa_compare.py --model MODEL --data DATA --run STABILITY_OUT [--alpha-iterations 100]
                          [--ours-times times.json] [--json report.json]
"""

import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

# Imported after the default dtype is set: auto_LiRPA creates some tensors at import.
from auto_LiRPA import BoundedModule, BoundedTensor  # noqa: E402
from auto_LiRPA.perturbations import PerturbationLpNorm  # noqa: E402


class Classifier(torch.nn.Module):
    """The network of crates/classifier (see the module docstring), channel-first."""

    def __init__(self, config, weights):
        super().__init__()
        s = config["input"]
        mean = torch.tensor(config["normalization"]["mean"], dtype=torch.float32).double().view(1, -1, 1, 1)
        std = torch.tensor(config["normalization"]["std"], dtype=torch.float32).double().view(1, -1, 1, 1)
        arch = config["architecture"]
        c_in = s["channels"]
        convs = []
        for i, spec in enumerate(arch["conv"]):
            k = spec["kernel"]
            conv = torch.nn.Conv2d(c_in, spec["channels"], k, stride=spec["stride"], padding=k // 2)
            conv.weight.data = torch.from_numpy(weights[f"conv{i}.weight"].astype(np.float64))
            conv.bias.data = torch.from_numpy(weights[f"conv{i}.bias"].astype(np.float64))
            convs.append(conv)
            c_in = spec["channels"]
        # (x - mean) / std then zero padding = zero padding of (x - mean), with the first kernel divided by std.
        # auto_LiRPA 0.3's patches mode cannot bound a per-channel product before a padded convolution, and its
        # Pad operator fails on torch 1.13's export, so the padding is a 1×1 identity convolution with padding.
        first = convs[0]
        first.weight.data = first.weight.data / std.view(1, -1, 1, 1)
        p = first.padding[0]
        first.padding = (0, 0)
        c = s["channels"]
        self.pad = torch.nn.Conv2d(c, c, 1, padding=p, bias=False)
        self.pad.weight.data = torch.eye(c).view(c, c, 1, 1)
        self.register_buffer("mean", mean)
        self.convs = torch.nn.ModuleList(convs)
        self.global_pool = arch.get("pool", "flatten") == "global"
        w0, w1 = weights["fc0.weight"], weights["fc1.weight"]
        self.fc0 = torch.nn.Linear(w0.shape[1], w0.shape[0])
        self.fc0.weight.data = torch.from_numpy(w0.astype(np.float64))
        self.fc0.bias.data = torch.from_numpy(weights["fc0.bias"].astype(np.float64))
        self.fc1 = torch.nn.Linear(w1.shape[1], w1.shape[0])
        self.fc1.weight.data = torch.from_numpy(w1.astype(np.float64))
        self.fc1.bias.data = torch.from_numpy(weights["fc1.bias"].astype(np.float64))

    def forward(self, x):
        h = torch.relu(self.convs[0](self.pad(x - self.mean)))
        for conv in self.convs[1:]:
            h = torch.relu(conv(h))
        if self.global_pool:
            # A sum times a constant (auto_LiRPA 0.3 bounds ReduceSum, not ReduceMean).
            h = h.sum(dim=(2, 3), keepdim=True) * (1.0 / (h.shape[2] * h.shape[3]))
        h = torch.flatten(h, 1)
        return self.fc1(torch.relu(self.fc0(h)))


def load_model(model_dir):
    from safetensors.numpy import load_file

    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if config.get("format") != "imanifold-classifier/v1":
        sys.exit(f"{model_dir}/config.json: format {config.get('format')!r}, expected imanifold-classifier/v1")
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    return config, Classifier(config, weights).eval()


def load_rows(data_dir, config):
    """Every image of the manifest as a (y, x, channel) float32 row / 255, as the toolkit loads PNGs."""
    with open(os.path.join(data_dir, "manifest.csv")) as f:
        files = [r["file"] for r in csv.DictReader(f)]
    s = config["input"]
    mode = "RGB" if s["channels"] == 3 else "L"
    rows = []
    for name in files:
        a = np.asarray(Image.open(os.path.join(data_dir, name)).convert(mode), dtype=np.uint8)
        if a.shape[:2] != (s["height"], s["width"]):
            sys.exit(f"{name}: {a.shape[:2]} pixels, the model takes {s['height']}×{s['width']}")
        rows.append((a.astype(np.float32) / np.float32(255.0)).reshape(-1))
    return np.stack(rows)


def to_chw(rows, config):
    s = config["input"]
    x = rows.reshape(-1, s["height"], s["width"], s["channels"]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


CONV_MODE = "patches"
# Rows of bounds_<eps>.npy.
METHODS = ["ibp", "crown", "alpha"]


def spec_matrix(labels, k):
    """C[i, r] = e_label - e_j for the j ≠ label in order: margins logit_label - logit_j."""
    c = torch.zeros(len(labels), k - 1, k)
    for i, lab in enumerate(labels):
        others = [j for j in range(k) if j != lab]
        for r, j in enumerate(others):
            c[i, r, lab] = 1.0
            c[i, r, j] = -1.0
    return c


def spread(lb, labels, k):
    """(n, k-1) margin bounds to the toolkit's (n, k) layout with +inf at the label."""
    out = np.full((len(labels), k), np.inf)
    for i, lab in enumerate(labels):
        out[i, [j for j in range(k) if j != lab]] = lb[i]
    return out


def bounded(model, x, opts=None):
    return BoundedModule(model, x, bound_opts={"conv_mode": CONV_MODE, **(opts or {})}, device="cpu")


def lirpa_bounds(model, x, lo, hi, c, method, opts=None, chunk=None, limit=None):
    """Lower bounds of C·logits over the boxes, `chunk` images at a time (memory), and the seconds spent in
    compute_bounds (building the bounded module, a graph trace, is not counted)."""
    n = len(x) if limit is None else min(limit, len(x))
    chunk = chunk or n
    out, secs = [], 0.0
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        bm = bounded(model, x[sl], opts)
        ptb = PerturbationLpNorm(norm=math.inf, x_L=lo[sl], x_U=hi[sl])
        bx = BoundedTensor(x[sl], ptb)
        t = time.perf_counter()
        lb, _ = bm.compute_bounds(x=(bx,), C=c[sl], method=method, bound_upper=False)
        secs += time.perf_counter() - t
        out.append(lb.detach().numpy())
    return np.concatenate(out), secs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--run", required=True, help="output folder of `imanifold stability`")
    p.add_argument("--alpha-iterations", type=int, default=100)
    p.add_argument("--alpha-lr", type=float, default=0.1)
    p.add_argument("--alpha-chunk", type=int, default=4, help="images per α-CROWN batch")
    p.add_argument("--no-alpha", action="store_true")
    p.add_argument("--alpha-limit", type=int, help="α-CROWN on the first N images only")
    p.add_argument("--chunk", type=int, default=8, help="images per IBP/CROWN batch")
    p.add_argument("--conv-mode", choices=["patches", "matrix"], default="patches")
    p.add_argument("--ours-times", help="JSON from the bound_times example")
    p.add_argument("--json", help="write the report here")
    a = p.parse_args()
    global CONV_MODE
    CONV_MODE = a.conv_mode

    config, model = load_model(a.model)
    with open(os.path.join(a.run, "results.json")) as f:
        results = json.load(f)
    classes = config["classes"]
    k = len(classes)
    if results["classes"] != classes:
        sys.exit("the stability run used another model (classes differ)")
    with open(os.path.join(a.run, "per_image.csv")) as f:
        per_image = list(csv.DictReader(f))
    rows_all = load_rows(a.data, config)
    ours_logits = np.load(os.path.join(a.run, "logits.npy"))
    ours_times = json.load(open(a.ours_times)) if a.ours_times else {}

    report = {"model": a.model, "data": a.data, "run": a.run, "torch": torch.__version__, "eps": []}
    # Logits: every row of the run (the toolkit's f64 network vs this float64 rebuild).
    with torch.no_grad():
        logits = model(to_chw(rows_all[: len(ours_logits)], config)).numpy()
    report["logits_max_abs_diff"] = float(np.abs(logits - ours_logits).max())
    print(f"logits: {len(logits)} rows, max |torch - ours| = {report['logits_max_abs_diff']:.3g}")

    for e, files in enumerate(results["files"]):
        eps = results["options"]["eps"][e]
        name = files["bounds"]
        recs = [r for r in per_image if float(r["eps"]) == float(files["eps"])]
        idx = [int(r["row"]) for r in recs]
        labels = [classes.index(r["class"]) for r in recs]
        ours = np.load(os.path.join(a.run, name))
        x = to_chw(rows_all[idx], config)
        lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
        c = spec_matrix(labels, k)
        entry = {"eps": eps, "images": len(idx)}
        for m, method in [(0, "IBP"), (1, "CROWN")]:
            lb, secs = lirpa_bounds(model, x, lo, hi, c, method, chunk=a.chunk)
            theirs = spread(lb, labels, k)
            mask = np.isfinite(ours[:, m, :])
            diff = np.abs(theirs[mask] - ours[:, m, :][mask])
            cert_theirs = int((theirs.min(axis=1) > 0).sum())
            cert_ours = int((ours[:, m, :].min(axis=1) > 0).sum())
            entry[method.lower()] = {
                "max_abs_diff": float(diff.max()),
                "margins": int(mask.sum()),
                "over_1e-5": int((diff > 1e-5).sum()),
                "certified_lirpa": cert_theirs,
                "certified_ours": cert_ours,
                "seconds_lirpa": secs,
                "seconds_ours": ours_times.get(str(files["eps"]), {}).get(method.lower()),
            }
            print(f"eps {eps:.6g} {method}: max |diff| {diff.max():.3g} over {mask.sum()} margins "
                  f"({(diff > 1e-5).sum()} > 1e-5); certified {cert_theirs} (auto_LiRPA) / {cert_ours} (ours); "
                  f"{secs:.3f} s")
        ours_min = ours.min(axis=2)  # (images, method): smallest margin bound
        entry["certified_ours_any"] = int((ours_min > 0).any(axis=1).sum())
        entry["certified_ours_alpha"] = int((ours_min[:, 2] > 0).sum())
        if not a.no_alpha:
            # auto_LiRPA 0.3's CROWN-Optimized without given intermediate bounds recomputes every layer's bounds
            # at every step with slopes of their own (full α-CROWN). Its sparse slopes fail on this network
            # (a shape mismatch), so the slopes are dense.
            for tag in ["alpha_full"]:
                opts = {"sparse_features_alpha": False, "sparse_spec_alpha": False, "optimize_bound_args": {
                    "iteration": a.alpha_iterations, "lr_alpha": a.alpha_lr}}
                lb, secs = lirpa_bounds(model, x, lo, hi, c, "CROWN-Optimized", opts, a.alpha_chunk, a.alpha_limit)
                mins = lb.min(axis=1)
                n = len(mins)
                entry[tag] = {
                    "images": n,
                    "certified": int((mins > 0).sum()),
                    "min_margin": [float(v) for v in mins],
                    "seconds": secs,
                    "ours_on_same_images": {
                        "certified_crown": int((ours_min[:n, 1] > 0).sum()),
                        "certified_alpha": int((ours_min[:n, 2] > 0).sum()),
                        "certified_any": int((ours_min[:n] > 0).any(axis=1).sum()),
                    },
                }
                gain = mins - ours_min[:n, 1]
                print(f"eps {eps:.6g} {tag}: certified {entry[tag]['certified']} of {n} "
                      f"(ours on the same images: {entry[tag]['ours_on_same_images']}); smallest margin bound "
                      f"median {np.median(mins):.3g} (ours CROWN {np.median(ours_min[:n, 1]):.3g}, α "
                      f"{np.median(ours_min[:n, 2]):.3g}), raised by {np.median(gain):.3g} median; {secs:.1f} s")
        entry["min_margin_ours"] = {m: [float(v) for v in ours_min[:, i]] for i, m in enumerate(METHODS)}
        report["eps"].append(entry)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
