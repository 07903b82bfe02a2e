#!/usr/bin/env python3
"""OpenCV's DIS optical flow on the pairs of make_photo_pairs.py: mean endpoint error against the true flow and the
time per pair, the reference the crate's `eval_pairs` example is compared with.

  opencv_dis_epe.py PAIRS_DIR [--preset medium|fast|ultrafast]

Reads PAIRS_DIR/pairs.csv (columns a, b, truth; truth is float32 (h, w, 2) with b(x + f(x)) = a(x)), estimates the
flow from a to b with cv2.DISOpticalFlow at the preset, and prints one line per pair (EPE, seconds) and the means.
Needs numpy and opencv-python (a benchmark dependency, never one of the product).
"""
import argparse
import csv
import os
import time

import cv2
import numpy as np

PRESETS = {"medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs_dir")
    p.add_argument("--preset", choices=sorted(PRESETS), default="medium")
    o = p.parse_args()
    cv2.setNumThreads(1)
    dis = cv2.DISOpticalFlow_create(PRESETS[o.preset])
    epes, secs = [], []
    with open(os.path.join(o.pairs_dir, "pairs.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            a = cv2.imread(os.path.join(o.pairs_dir, row["a"]), cv2.IMREAD_GRAYSCALE)
            b = cv2.imread(os.path.join(o.pairs_dir, row["b"]), cv2.IMREAD_GRAYSCALE)
            truth = np.load(os.path.join(o.pairs_dir, row["truth"]))
            t = time.process_time()
            flow = dis.calc(a, b, None)
            secs.append(time.process_time() - t)
            epes.append(float(np.sqrt(((flow - truth) ** 2).sum(axis=2)).mean()))
            print(f"{row['a']},{row['b']},epe={epes[-1]:.4f},seconds={secs[-1]:.4f}")
    print(f"mean epe {np.mean(epes):.4f}, mean seconds {np.mean(secs):.4f} over {len(epes)} pairs (dis-{o.preset})")


if __name__ == "__main__":
    main()
