"""Benchmark (not a test): the Dask kNN's overhead on one machine, the per-task costs it is made of, and the
"scale on paper" table those costs give.

n × d float32 rows written as ``--shards`` .npy files into a temporary folder (``--tmp``; deleted at the end):
``--data gaussian`` (synthetic, d = ``--d``) or ``--data fashion``: the 70 000 Fashion-MNIST images (train then
test, read by ``imanifold.load`` from ``--fashion``), then copies shifted one pixel right, one pixel down, one
pixel right and down, ... (``np.roll`` of the 28 × 28 images, deterministic) up to n rows, d = 784. Self-mode k-NN
of every row, ``--pairs`` times (in-process then Dask, alternately: on a shared machine a pair sees the same load),
ratios per pair and of the medians printed:
  * in-process: ``imanifold.NearestNeighbors(k).fit(X).kneighbors()`` with all cores;
  * Dask: ``imanifold.dask.kneighbors(dir, dir, k, query_block=...)`` on a ``LocalCluster`` of ``--workers``
    processes × 1 thread, every task single-threaded (``threads=1``): the same cores. Cluster start-up is not
    timed. Besides wall
    seconds, the CPU seconds of this process and of the workers (all their threads) during each run: on a shared
    machine the wall ratio follows the other users' load, the CPU ratio much less.
The results are compared bit for bit. Then, single-threaded in this process: one (query block × reference shard)
task (``shard_topk``), one merge of ``split_every`` partial lists (``merge_topk``), and one block of off-manifold
scores from a gathered neighbour table (``score_block``, tangent included). The scale table (markdown) follows from
those costs with the model printed under it.

Run: python crates/imanifold-py/bench/dask_overhead.py [--n 200000] [--d 784] [--k 10] [--workers 2]
         [--data fashion] [--pairs 2] [--shards 2] [--query-block 25000] [--tmp /tmp] [--no-tasks]
     python crates/imanifold-py/bench/dask_overhead.py --data fashion --n 50000 --granularity
Memory: X (n·d·4 bytes: 627 MB at 200 000 × 784), its shards on disk, and the in-process result.
"""
import argparse
import json
import pathlib
import tempfile
import time

import numpy as np

import imanifold
from imanifold import dask as idask
from imanifold import _imanifold


def timed(f, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def task_costs(X, k, qb, shard_rows, split_every, score_k):
    """Seconds of single-threaded tasks and sizes of what they return."""
    q, r = X[:qb], X[-shard_rows:]
    t_task, part = timed(lambda: idask.shard_topk(q, r, k, len(X) - shard_rows, threads=1), repeat=2)
    parts = [(p[0], p[1] + i, p[2]) for i, p in enumerate([part] * split_every)]
    t_merge, _ = timed(lambda: idask.merge_topk(parts, k), repeat=3)
    # One block of scores from a gathered neighbour table (what a score task does after the kNN).
    dist, ind = _imanifold.kneighbors(r, q, score_k, threads=1)
    uniq, local = np.unique(ind, return_inverse=True)
    rows = np.ascontiguousarray(r[uniq])
    t_score, _ = timed(lambda: _imanifold.score_rows(q, dist, local.reshape(ind.shape).astype(np.int64), rows,
                                                     "knn,tangent,lid", score_k, "auto", 10.0, threads=1))
    return {
        "query_block": qb, "shard_rows": shard_rows, "d": X.shape[1], "k": k,
        "topk_task_s": t_task, "pair_s": t_task / (qb * shard_rows),
        "part_bytes_per_query": sum(a.nbytes for a in part) / qb,
        "merge_s_per_query_part": t_merge / (qb * split_every),
        "score_k": score_k, "score_s_per_query": t_score / qb,
        "gathered_row_bytes_per_query": score_k * X.shape[1] * 4,
    }


def scale_table(c, k=20, d=784, shard_rows=250_000, qb=8192, bandwidth=1e9):
    """Markdown table of the model (see the printed notes)."""
    lines = ["| images | workers | kNN compute | merge volume | shard reads | score rows gathered | score compute | "
             "memory / worker | client kNN table |", "|---|---|---|---|---|---|---|---|---|"]

    def t(s):
        return f"{s / 86400:.1f} d" if s >= 86400 else f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min" \
            if s >= 60 else f"{s:.0f} s"

    def b(x):
        return next(f"{x / u:.1f} {n}" for u, n in [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1, "B")] if x >= u)

    for n in (10**6, 10**7, 10**8):
        shards = max(1, n // shard_rows)
        blocks = n // qb
        merge = n * shards * c["part_bytes_per_query"] * k / c["k"]
        reads = blocks * n * d * 4
        gathered = n * k * d * 4
        for w in (1, 10, 100):
            compute = c["pair_s"] * n * n / w
            mem = shard_rows * d * 4 + qb * d * 4 + qb * k * 20 * 2
            lines.append(f"| 10^{int(np.log10(n))} | {w} | {t(compute)} | {b(merge)} ({t(merge / w / bandwidth)}) | "
                         f"{b(reads)} ({t(reads / w / bandwidth)}) | {b(gathered)} ({t(gathered / w / bandwidth)}) | "
                         f"{t(c['score_s_per_query'] * n / w)} | "
                         f"{b(mem)} | {b(n * k * 12)} |")
    return "\n".join(lines)


def fashion_rows(n, folder):
    """n rows: the 70 000 Fashion-MNIST images, then shifted copies of them (see the module doc)."""
    base = np.concatenate([imanifold.load(pathlib.Path(folder) / f).data for f in
                           ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")])
    img = base.reshape(-1, 28, 28)
    out, shifts = [], [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (2, 0)]
    have = 0
    for dy, dx in shifts:
        if have >= n:
            break
        part = np.roll(img, (dy, dx), axis=(1, 2)).reshape(len(img), -1)[: n - have]
        out.append(part)
        have += len(part)
    if have < n:
        raise ValueError(f"--n {n}: at most {len(img) * len(shifts)} Fashion-MNIST rows")
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def granularity(X, k, grid):
    """CPU seconds of the task function alone (``shard_topk``, single-threaded, no Dask) summed over the task grid
    of each (shards, query block) in ``grid``, against one single-threaded in-process search: the engine's share of
    the overhead (each task prepares its shard again; a shard's own k-th distance prunes less than the global)."""
    n = len(X)
    t = time.process_time()
    _imanifold.kneighbors(X, None, k, threads=1)
    whole = time.process_time() - t
    out = {"in_process_cpu_s": whole}
    for shards, qb in grid:
        bounds = np.linspace(0, n, shards + 1).astype(int)
        t = time.process_time()
        for a in range(0, n, qb):
            for s in range(shards):
                idask.shard_topk(X[a:a + qb], X[bounds[s]:bounds[s + 1]], k, int(bounds[s]), a, threads=1)
        tasks = time.process_time() - t
        out[f"{shards} shards x query block {qb}"] = {"tasks_cpu_s": tasks, "ratio": tasks / whole}
        print(json.dumps(out), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=784)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shards", type=int, default=2, help=".npy files (reference shards)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--query-block", type=int, default=None, help="default: the library's (64 MiB of rows)")
    ap.add_argument("--split-every", type=int, default=idask.DEFAULT_SPLIT_EVERY)
    ap.add_argument("--data", choices=("gaussian", "fashion"), default="gaussian")
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--pairs", type=int, default=1, help="in-process + Dask runs, alternately")
    ap.add_argument("--tmp", default=None, help="folder for the temporary shards (default: the system's)")
    ap.add_argument("--no-tasks", action="store_true", help="skip the per-task costs and the scale table")
    ap.add_argument("--granularity", action="store_true", help="only the engine's share of the overhead for a few "
                    "(shards, query block) grids, no Dask (see granularity())")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    if args.data == "fashion":
        X = fashion_rows(args.n, args.fashion)
    else:
        X = np.random.default_rng(0).standard_normal((args.n, args.d), dtype=np.float32)
    if args.granularity:
        qb = args.query_block or 8192
        granularity(X, args.k, [(4, qb), (2, qb), (2, 3 * qb), (4, 3 * qb), (1, qb)])
        return
    out = {"data": args.data, "n": args.n, "d": X.shape[1], "k": args.k, "shards": args.shards,
           "workers": args.workers, "query_block": args.query_block, "pairs": []}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        shards = pathlib.Path(tmp) / "shards"
        shards.mkdir()
        for i, part in enumerate(np.array_split(X, args.shards)):
            np.save(shards / f"{i:04d}.npy", part)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            def cpu():  # CPU seconds of this process and of every worker process (all their threads)
                return time.process_time() + sum(client.run(time.process_time).values())

            for _ in range(args.pairs):
                c0 = cpu()
                t_in, (dist, ind) = timed(lambda: imanifold.NearestNeighbors(n_neighbors=args.k).fit(X).kneighbors())
                c1 = cpu()
                t_dask, (d2, i2) = timed(lambda: idask.kneighbors(str(shards), str(shards), args.k, client=client,
                                                                   query_block=args.query_block, threads=1))
                c2 = cpu()
                same = bool(np.array_equal(ind, i2) and np.array_equal(dist.view(np.uint32), d2.view(np.uint32)))
                out["pairs"].append(dict(in_process_s=t_in, local_cluster_s=t_dask, ratio=t_dask / t_in,
                                         in_process_cpu_s=c1 - c0, local_cluster_cpu_s=c2 - c1,
                                         cpu_ratio=(c2 - c1) / (c1 - c0), identical=same))
                print(json.dumps(out["pairs"][-1]), flush=True)
                del dist, ind, d2, i2
        t_in = float(np.median([p["in_process_s"] for p in out["pairs"]]))
        t_dask = float(np.median([p["local_cluster_s"] for p in out["pairs"]]))
        out.update(in_process_s=t_in, local_cluster_s=t_dask, ratio=t_dask / t_in,
                   identical=all(p["identical"] for p in out["pairs"]))
    if args.no_tasks:
        print(json.dumps(out, indent=1))
        return
    costs = task_costs(X, args.k, min(2048, args.n // 4), args.n // args.shards, args.split_every, 20)
    out["tasks"] = costs
    print(json.dumps(out, indent=1))
    print()
    print(scale_table(costs, d=args.d))


if __name__ == "__main__":
    main()
