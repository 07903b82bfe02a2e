"""``python -m imanifold.dask``: the command line of :mod:`imanifold.dask` (starts a LocalCluster when no scheduler
address is given, connects to one when it is)."""
from __future__ import annotations

import argparse
import inspect
import json
import os
import pathlib
import shutil
import sys
import tempfile
from typing import Optional, Sequence

import numpy as np

from . import _imanifold
from .dask import (DEFAULT_QUERY_BLOCK, DEFAULT_RENDER_RANGE, DEFAULT_SCORE_BLOCK, QUERY_BLOCK_BYTES,
                   SCORE_DEFAULT_CALIBRATION, SCORE_DEFAULT_K, _require_dask, dimension, kneighbors, render, score)
from .dask import __doc__ as _doc



def _write_atomically(out: pathlib.Path, arrays: dict) -> None:
    """Writes ``name.npy`` files (``name.json`` for a value that is not an array) into a hidden sibling of ``out``,
    then renames it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private
        for name, a in arrays.items():
            if isinstance(a, np.ndarray):
                np.save(tmp / f"{name}.npy", a)
            else:
                (tmp / f"{name}.json").write_text(json.dumps(a, indent=1, default=_jsonable) + "\n")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _default(name: str):
    """The default of :func:`imanifold.dask.render`'s parameter ``name``."""
    return inspect.signature(render).parameters[name].default


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m imanifold.dask", description=_doc.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    kn = sub.add_parser("kneighbors", help="exact kNN over .npy shards; writes indices.npy and distances.npy")
    kn.add_argument("--references", nargs="+", required=True, help="a directory of .npy files or an image folder, "
                    "or .npy files")
    kn.add_argument("--queries", nargs="+", help="as --references (default: the references, each row excluded "
                    "from its own list)")
    kn.add_argument("--k", type=int, required=True)
    kn.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a LocalCluster)")
    kn.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: Dask's)")
    kn.add_argument("--query-block", type=int, default=None,
                    help=f"queries per task (default: {QUERY_BLOCK_BYTES >> 20} MiB of rows, at least "
                    f"{DEFAULT_QUERY_BLOCK})")
    kn.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    dm = sub.add_parser("dimension", help="intrinsic dimension over .npy shards; writes results.json (the entries "
                        "of imanifold.id.estimate)")
    dm.add_argument("--shards", nargs="+", required=True, help="a directory of .npy files or an image folder, "
                    "or .npy files")
    dm.add_argument("--estimators", nargs="+", default=["mle", "twonn"], help="estimator specs (default: mle twonn)")
    dm.add_argument("--n-neighbors", type=int, default=None)
    dm.add_argument("--bootstrap", type=int, default=_imanifold.DEFAULT_BOOTSTRAP)
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--scheduler", help="as for kneighbors")
    dm.add_argument("--workers", type=int, default=None, help="as for kneighbors")
    dm.add_argument("--query-block", type=int, default=None, help="as for kneighbors")
    dm.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    sc = sub.add_parser("score", help="off-manifold scores of queries against a reference over .npy shards; writes "
                        "one .npy per column (as imanifold.score returns)")
    sc.add_argument("--reference", nargs="+", required=True, help="a directory of .npy files or an image folder, "
                    "or .npy files")
    sc.add_argument("--queries", nargs="+", required=True, help="as --reference")
    sc.add_argument("--methods", default="knn,tangent,lid", help="comma-separated: knn, tangent, lid")
    sc.add_argument("--k", type=int, default=SCORE_DEFAULT_K)
    sc.add_argument("--dim", default="auto")
    sc.add_argument("--calibration", type=int, default=SCORE_DEFAULT_CALIBRATION)
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--scheduler", help="as for kneighbors")
    sc.add_argument("--workers", type=int, default=None, help="as for kneighbors")
    sc.add_argument("--query-block", type=int, default=DEFAULT_SCORE_BLOCK)
    sc.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    rd = sub.add_parser("render", help="an image set of a scene rendered by index ranges: the folder imanifold "
                        "render writes (images/, depth/, manifest.csv, render.json)")
    rd.add_argument("--scene", required=True, help="built-in scene (object, room, turntable, shapes10) or a .toml")
    rd.add_argument("--vary", default="", help="parameters to vary, comma-separated")
    rd.add_argument("--n", type=int, required=True, help="images (random, trajectory) or points per parameter (grid)")
    rd.add_argument("--size", type=int, default=_default("size"), help="image side in pixels (square)")
    rd.add_argument("--sampling", default=_default("sampling"), help="random, grid or trajectory")
    rd.add_argument("--seed", type=int, default=0)
    rd.add_argument("--ssaa", type=int, default=_default("ssaa"))
    rd.add_argument("--blur", type=float, default=_default("blur"))
    rd.add_argument("--gray", action="store_true")
    rd.add_argument("--depth", action="store_true")
    rd.add_argument("--set", default="", help="parameter defaults NAME=VALUE, comma-separated")
    rd.add_argument("--range-size", type=int, default=DEFAULT_RENDER_RANGE, help="images per task")
    rd.add_argument("--scheduler", help="as for kneighbors")
    rd.add_argument("--workers", type=int, default=None, help="as for kneighbors")
    rd.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    a = p.parse_args(argv)
    _require_dask()
    from distributed import Client, LocalCluster

    out = pathlib.Path(a.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"error: --out {out}: exists and is not an empty folder", file=sys.stderr)
        return 2
    one = lambda v: v[0] if v is not None and len(v) == 1 else v  # noqa: E731
    cluster = None
    try:
        if a.scheduler:
            client = Client(a.scheduler)
        else:
            cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True)
            client = Client(cluster)
        with client:
            if a.command == "render":
                split = lambda s: [v for v in s.split(",") if v.strip()]  # noqa: E731
                res = render(a.scene, out, vary=split(a.vary), n=a.n, size=a.size, sampling=a.sampling, seed=a.seed,
                             ssaa=a.ssaa, blur=a.blur, gray=a.gray, depth=a.depth, set=split(a.set), client=client,
                             range_size=a.range_size)
                print(f"{out}: {res['n_images']} images")
                return 0
            if a.command == "score":
                files = score(one(a.reference), one(a.queries), a.methods, k=a.k, dim=a.dim,
                              calibration=a.calibration, seed=a.seed, client=client, query_block=a.query_block)
            elif a.command == "dimension":
                files = {"results": dimension(one(a.shards), a.estimators, n_neighbors=a.n_neighbors,
                                              bootstrap=a.bootstrap, seed=a.seed, client=client,
                                              query_block=a.query_block)}
            else:
                refs, queries = one(a.references), one(a.queries)
                dist, ind = kneighbors(refs if queries is None else queries, refs, a.k, client=client,
                                       query_block=a.query_block)
                files = {"indices": ind, "distances": dist}
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if cluster is not None:
            cluster.close()
    if out.exists():
        out.rmdir()
    _write_atomically(out, files)
    if a.command == "score":
        print(f"{out}: {len(files['nearest'])} queries, columns " + ", ".join(f for f in files if f[-4:] != "_pct"))
    elif a.command == "dimension":
        print(f"{out}: " + ", ".join(f"{k} {v['dimension']:.3f}" for k, v in files["results"].items()))
    else:
        print(f"{out}: {ind.shape[0]} × {ind.shape[1]} neighbours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
