"""Benchmark (not a test): the Dask kNN's overhead against the in-process engine on the same cores.

n × d Gaussian float32 rows written as ``--shards`` .npy files; self-mode k-NN of every row:
  * in-process: ``imanifold.NearestNeighbors(k).fit(X).kneighbors()`` with all cores;
  * Dask: ``imanifold.dask.kneighbors(dir, dir, k)`` on a ``LocalCluster`` of ``--workers`` processes × 1 thread,
    each task single-threaded (``threads=1``), so both use the same cores. Cluster start-up is not timed.
Both results are compared bit for bit; the ratio Dask / in-process is printed.

Run: notebooks/.venv/bin/python crates/imanifold-py/bench/bench_dask.py [--n 200000] [--d 784] [--k 10]
"""
import argparse
import pathlib
import tempfile
import time

import numpy as np

import imanifold
from imanifold import dask as idask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=784)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--query-block", type=int, default=8192)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        shards = pathlib.Path(tmp) / "shards"
        shards.mkdir()
        for i, part in enumerate(np.array_split(X, args.shards)):
            np.save(shards / f"{i:04d}.npy", part)
        print(f"data: {args.n} x {args.d} float32 in {args.shards} shards, k = {args.k}")

        t = time.perf_counter()
        dist, ind = imanifold.NearestNeighbors(n_neighbors=args.k).fit(X).kneighbors()
        t_in = time.perf_counter() - t
        print(f"in-process: {t_in:.2f} s")

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster, \
                Client(cluster) as client:
            t = time.perf_counter()
            d2, i2 = idask.kneighbors(str(shards), str(shards), args.k, client=client,
                                      query_block=args.query_block, threads=1)
            t_dask = time.perf_counter() - t
        same = np.array_equal(ind, i2) and np.array_equal(dist.view(np.uint32), d2.view(np.uint32))
        print(f"dask ({args.workers} worker processes): {t_dask:.2f} s   ratio {t_dask / t_in:.2f}x   "
              f"identical: {same}")


if __name__ == "__main__":
    main()
