"""Writes an n × 784 float32 .npy of Fashion-MNIST images and deterministic augmentations of them.

A collection for scale runs (up to millions of real-looking 28 × 28 images) without a download: Debian's
``dataset-fashion-mnist`` package holds 70 000 images (train and test); each further copy of them is shifted by
one or two pixels (``np.roll``), mirrored left-right, or both, with its brightness scaled by a seeded factor in
[0.9, 1.1] (clipped to [0, 1]). Rows are written in blocks straight into the output file (memory: one block plus
the 70 000 source images), so a million rows (3.1 GB) need about 300 MB of RAM.

    python datasets/tools/augment_fashion.py --n 1000000 --out /tmp/fm1m.npy [--seed 0]
"""
import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

SRC = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[o:o + 4], "big") for o in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w)


def variants():
    """Augmentations in a fixed order: the originals first, then shifts, mirrors and mirrored shifts."""
    yield (0, 0, False)
    shifts = [(dx, dy) for r in (1, 2) for dx in range(-r, r + 1) for dy in range(-r, r + 1)
              if max(abs(dx), abs(dy)) == r]
    yield (0, 0, True)
    for dx, dy in shifts:
        yield (dx, dy, False)
        yield (dx, dy, True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, required=True, help="rows to write")
    ap.add_argument("--out", type=Path, required=True, help="output .npy (must not exist)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--src", type=Path, default=SRC, help="folder with the Fashion-MNIST IDX .gz files")
    a = ap.parse_args()
    if a.n < 1:
        sys.exit("augment_fashion.py: --n must be at least 1")
    if a.out.exists():
        sys.exit(f"augment_fashion.py: {a.out} exists; not overwritten")
    parts = [a.src / "train-images-idx3-ubyte.gz", a.src / "t10k-images-idx3-ubyte.gz"]
    for p in parts:
        if not p.is_file():
            sys.exit(f"augment_fashion.py: {p} not found (Debian package dataset-fashion-mnist)")
    base = np.concatenate([read_idx(p) for p in parts]).astype(np.float32) / 255.0
    m = len(base)
    kinds = list(variants())
    if a.n > m * len(kinds):
        sys.exit(f"augment_fashion.py: --n {a.n} exceeds {m * len(kinds)} (the {len(kinds)} variants of {m} images)")
    rng = np.random.default_rng(a.seed)
    tmp = a.out.with_name(a.out.name + ".partial")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(a.n, 28 * 28))
    row = 0
    for dx, dy, flip in kinds:
        if row >= a.n:
            break
        take = min(m, a.n - row)
        img = base[:take]
        if flip:
            img = img[:, :, ::-1]
        img = np.roll(img, (dy, dx), axis=(1, 2))
        if (dx, dy, flip) != (0, 0, False):
            img = np.clip(img * rng.uniform(0.9, 1.1, size=(take, 1, 1)).astype(np.float32), 0.0, 1.0)
        out[row:row + take] = img.reshape(take, -1)
        row += take
    out.flush()
    del out
    tmp.rename(a.out)
    print(f"wrote {a.out}: {a.n} × 784 float32")


if __name__ == "__main__":
    main()
