#!/usr/bin/env python3
"""Smooth synthetic warps of real photographs, with exact ground-truth flow, for evaluating `imanifold flow`.

  make_photo_pairs.py OUT_DIR [--size 256] [--seed 0]

Uses scikit-image's sample photographs (public domain / CC0, shipped with scikit-image) converted to grey
(BT.601 luma) and resized to SIZE x SIZE (area averaging). For each photo P and each maximum displacement D in
{2, 4, 8} px it draws a smooth random flow f (random translation plus four plane waves of wavelength 96-256 px,
scaled so max |f| = D) and writes

  OUT_DIR/NAME_dD_1.png  frame1(x) = P(x + f(x))   (bicubic, replicated border)
  OUT_DIR/NAME_dD_2.png  frame2    = P
  OUT_DIR/NAME_dD_flow.npy  f, float32 (h, w, 2), u then v: frame2(x + f(x)) = frame1(x)
  OUT_DIR/pairs.csv      columns a,b,truth (paths relative to OUT_DIR)

Needs numpy, scipy, scikit-image and opencv-python (benchmark dependencies, never ones of the product).
"""
import argparse, csv, os
import numpy as np
import cv2
import skimage.data
from scipy.ndimage import map_coordinates

PHOTOS = ["camera", "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "brick", "moon"]


def gray_square(img, size):
    if img.ndim == 3:
        img = img[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    img = img.astype(np.float64)
    h, w = img.shape
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = img[y0:y0 + s, x0:x0 + s]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def smooth_flow(rng, size, max_disp):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u = np.full_like(x, rng.uniform(-1, 1))
    v = np.full_like(x, rng.uniform(-1, 1))
    for _ in range(4):
        lam = rng.uniform(96, 256)
        th = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / lam
        s = np.sin(k * np.cos(th) * x + k * np.sin(th) * y + rng.uniform(0, 2 * np.pi))
        u += rng.uniform(-1, 1) * s
        v += rng.uniform(-1, 1) * s
    m = np.sqrt(u * u + v * v).max()
    return u * max_disp / m, v * max_disp / m


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    o = p.parse_args()
    os.makedirs(o.out, exist_ok=True)
    rng = np.random.default_rng(o.seed)
    rows = []
    for name in PHOTOS:
        photo = gray_square(getattr(skimage.data, name)(), o.size)
        for d in (2, 4, 8):
            u, v = smooth_flow(rng, o.size, d)
            yy, xx = np.mgrid[0:o.size, 0:o.size].astype(np.float64)
            f1 = map_coordinates(photo, [yy + v, xx + u], order=3, mode="nearest")
            stem = f"{name}_d{d}"
            cv2.imwrite(os.path.join(o.out, stem + "_1.png"), np.clip(np.round(f1), 0, 255).astype(np.uint8))
            cv2.imwrite(os.path.join(o.out, stem + "_2.png"), np.clip(np.round(photo), 0, 255).astype(np.uint8))
            np.save(os.path.join(o.out, stem + "_flow.npy"), np.stack([u, v], axis=2).astype(np.float32))
            rows.append([stem + "_1.png", stem + "_2.png", stem + "_flow.npy"])
    with open(os.path.join(o.out, "pairs.csv"), "w", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["a", "b", "truth"])
        wr.writerows(rows)
    print(f"{len(rows)} pairs in {o.out}")


if __name__ == "__main__":
    main()
