#!/usr/bin/env python3
"""faiss-cpu beside `imanifold bench fashion-mnist`: exact (IndexFlatL2) and HNSW (M = 32) self-search, k nearest
other rows, on a .npy matrix or an MNIST/Fashion-MNIST IDX(.gz) file (pixels / 255, float32, as imanifold loads them).

    python faiss_knn.py X.npy|images-idx3-ubyte.gz --k 20 [--hnsw-m 32] [--ef 16,32,64,128] [--rows N]

The HNSW graph is built once (timed), then searched once per efSearch (each timed); recall@k of every search is
measured against the exact result over all rows (a row itself excluded from both). Prints one JSON object:
{"n", "d", "k", "threads", "flat_seconds", "hnsw_build_seconds", "hnsw": [{"ef", "search_seconds", "seconds",
"cpu_seconds", "recall"}]} where "seconds" = build + search (what a user pays for one self-search at that
efSearch); the *_cpu_seconds are the process's CPU time over the same spans (less sensitive to other load than
wall time).
"""
import argparse
import gzip
import json
import time

import faiss
import numpy as np


def load(path, rows):
    if path.endswith(".npy"):
        x = np.load(path, mmap_mode="r")
        x = x.reshape(len(x), -1)
    else:
        raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
        n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
        x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, h * w)
        x = x.astype(np.float32) / np.float32(255)
    if rows:
        x = x[:rows]
    return np.ascontiguousarray(x, dtype=np.float32)


def drop_self(idx, k):
    """k neighbours per row from k + 1 results, the row itself removed (or the last one when it is absent)."""
    out = np.empty((len(idx), k), dtype=np.int64)
    for i, row in enumerate(idx):
        row = row[row != i]
        out[i] = row[:k]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("x")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef", default="16,32,64,128")
    p.add_argument("--rows", type=int, default=0)
    a = p.parse_args()
    x = load(a.x, a.rows)
    n, d = x.shape
    t, c = time.perf_counter(), time.process_time()
    flat = faiss.IndexFlatL2(d)
    flat.add(x)
    _, i_flat = flat.search(x, a.k + 1)
    flat_seconds, flat_cpu = time.perf_counter() - t, time.process_time() - c
    exact = drop_self(i_flat, a.k)
    t, c = time.perf_counter(), time.process_time()
    hnsw = faiss.IndexHNSWFlat(d, a.hnsw_m)
    hnsw.add(x)
    build, build_cpu = time.perf_counter() - t, time.process_time() - c
    runs = []
    for ef in (int(v) for v in a.ef.split(",") if v):
        hnsw.hnsw.efSearch = ef
        t, c = time.perf_counter(), time.process_time()
        _, i_h = hnsw.search(x, a.k + 1)
        s, s_cpu = time.perf_counter() - t, time.process_time() - c
        got = drop_self(i_h, a.k)
        hits = sum(len(np.intersect1d(e, g, assume_unique=True)) for e, g in zip(exact, got))
        runs.append({"ef": ef, "search_seconds": s, "seconds": build + s,
                     "cpu_seconds": build_cpu + s_cpu, "recall": hits / (n * a.k)})
    print(json.dumps({"n": n, "d": d, "k": a.k, "hnsw_m": a.hnsw_m, "threads": faiss.omp_get_max_threads(),
                      "flat_seconds": flat_seconds, "flat_cpu_seconds": flat_cpu,
                      "hnsw_build_seconds": build, "hnsw_build_cpu_seconds": build_cpu, "hnsw": runs}))


if __name__ == "__main__":
    main()
