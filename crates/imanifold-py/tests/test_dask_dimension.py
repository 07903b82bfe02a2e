"""imanifold.dask.dimension over shards equals imanifold.id.estimate on the concatenated rows, bit for bit."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from imanifold import dask as idask  # noqa: E402
from imanifold import id as iid  # noqa: E402

from conftest import cube_in_20, sphere_in_9, split_files  # noqa: E402

# Global estimators without an analytic interval: the one-process run bootstraps it by half-sampling the rows,
# which a neighbour table or partial sums do not hold.
NO_INTERVAL = ("pca", "lpca", "mind-ml")






def helix_in_12(n, seed=2):
    """A noisy helix (a curve) in R^3 padded with small independent noise to R^12: many PCA blocks."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 6 * np.pi, size=n)
    x = np.column_stack([np.cos(t), np.sin(t), 0.2 * t, 0.01 * rng.normal(size=(n, 9))])
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


def canonical(entry):
    """The entry as text with exact float reprs (so equal text means equal bits), timing left out."""
    e = {k: v for k, v in entry.items() if k != "seconds"}
    if isinstance(e.get("scale"), dict):
        e["scale"] = {k: [repr(float(x)) for x in v] for k, v in e["scale"].items()}
    return json.dumps(e, sort_keys=True, default=repr)


def same(got, want):
    assert list(got) == list(want)
    for label, w in want.items():
        g = dict(got[label])
        if g["estimator"] in NO_INTERVAL and w["ci95"] is not None:
            assert g["ci95"] is None and g["ci_method"].startswith("none: the half-sampling interval"), label
            assert w["ci_method"].startswith("half-sampling")
            g["ci95"], g["ci_method"] = w["ci95"], w["ci_method"]
        assert canonical(g) == canonical(w), label




def test_cube_dask_array_equals_one_process(client):
    x = cube_in_20()
    specs = ["mle", "twonn", "twonn:method=mle", "gride", "mom", "mada:comb=median", "mind-ml",
             "imanifold:graph_test=false", "pca", "lpca:ver=participation_ratio", "mle:comb=mean,unbiased=true"]
    xa = da.from_array(x, chunks=((7, 1200, len(x) - 1207), (x.shape[1],)))
    got = idask.dimension(xa, specs, n_neighbors=12, client=client, query_block=600)
    want = iid.estimate(x, specs, n_neighbors=12)
    same(got, want)
    assert 4.0 < got["mle"]["dimension"] < 6.0 and got["pca"]["dimension"] == 5.0
    # Without a bootstrap every entry is identical, intervals included.
    specs = ["mind-ml", "pca", "twonn"]
    assert ({k: canonical(v) for k, v in idask.dimension(xa, specs, bootstrap=0, seed=3, client=client).items()}
            == {k: canonical(v) for k, v in iid.estimate(x, specs, bootstrap=0, seed=3).items()})


def test_sphere_npy_files_with_scale_curves_equal_one_process(client, tmp_path):
    x = sphere_in_9()
    folder = split_files(x, [1, 700, len(x) - 701], tmp_path / "shards")
    specs = ["mle", "mom", "gride", "pca:ver=Kaiser", "twonn"]
    got = idask.dimension(folder, specs, k_range=(5, 9), seed=7, client=client, query_block=333)
    want = iid.estimate(x, specs, k_range=(5, 9), seed=7)
    same(got, want)
    assert got["mle"]["scale"]["k"].tolist() == [5, 6, 7, 8, 9] and got["pca"]["scale"] is None
    assert 1.7 < got["twonn"]["dimension"] < 2.3


def test_many_pca_blocks_across_uneven_files_equal_one_process(client, tmp_path):
    """More canonical blocks than one tree level (MOMENT_FANIN), files whose edges cut blocks (a block spanning
    three files, a one-row file), centred and uncentred PCA."""
    n = (idask.MOMENT_FANIN + 2) * idask.MOMENT_BLOCK + 300
    x = helix_in_12(n)
    b = idask.MOMENT_BLOCK
    sizes = [b - 5, 1, 9, 3 * b + 17, 1, n - (4 * b + 23)]
    files = sorted(split_files(x, sizes, tmp_path / "shards").glob("*.npy"))
    specs = ["pca", "pca:center=false,ver=ratio", "lpca:ver=Fan", "pca:ver=participation_ratio", "mle"]
    got = idask.dimension([str(f) for f in files], specs, n_neighbors=8, client=client, query_block=4096)
    want = iid.estimate(x, specs, n_neighbors=8)
    same(got, want)
    assert list(got) == ["pca", "pca_2", "lpca", "pca_3", "mle"] and 2.0 < got["pca_3"]["dimension"] < 3.0


def test_moment_functions_folded_without_dask_give_the_same_pca():
    """The engine-agnostic functions, mapped and folded by hand (as another engine would), give the same bits."""
    x = helix_in_12(3 * idask.MOMENT_BLOCK + 11, seed=5)
    sources = [(0, 1000, x[:1000]), (1000, len(x) - 1000, x[1000:])]
    blocks = idask.moment_blocks(sources)
    assert [sum(len(p) for p in b) for b in blocks] == [idask.MOMENT_BLOCK] * 3 + [11]
    rows, sums = idask.combine_column_sums([idask.block_column_sums(b) for b in blocks])
    from imanifold import _imanifold

    mean = _imanifold.column_means(rows, sums)
    rows, lower = idask.combine_scatter([idask.block_scatter(b, mean) for b in blocks])
    entry = json.loads(_imanifold.pca_from_scatter("pca:ver=participation_ratio", rows, lower, 0))
    want = iid.estimate(x, ["pca:ver=participation_ratio"], bootstrap=0)["pca"]
    assert repr(entry["dimension"]) == repr(want["dimension"]) and entry["extra"] == want["extra"]


def test_refuses_what_needs_the_rows(client):
    x = cube_in_20(400)
    with pytest.raises(ValueError, match="imanifold .graph_test = true. needs the data rows"):
        idask.dimension(x, ["imanifold"], client=client)
    with pytest.raises(ValueError, match="tle needs the data rows"):
        idask.dimension(x, ["tle"], client=client)
    dup = x.copy()
    dup[300] = dup[12]
    with pytest.raises(ValueError, match="1 rows exactly duplicate earlier rows .first: row 300"):
        idask.dimension(dup, ["mle"], client=client)
    with pytest.raises(ValueError, match="unknown estimator"):
        idask.dimension(x, ["nope"], client=client)
    with pytest.raises(ValueError, match="as many rows as columns"):
        idask.dimension(x[:15], ["pca"], client=client)




def test_worker_killed_during_pca_moments_same_result(process_cluster, tmp_path):
    """A worker process killed while it holds moment tasks: Dask reruns them, the spectrum is the same bits."""
    b = idask.MOMENT_BLOCK
    x = np.random.default_rng(4).normal(size=(48 * b + 5, 192)).astype(np.float32)
    x[:, :3] *= 10.0
    folder = split_files(x, [20 * b + 3, 28 * b + 2], tmp_path / "shards")
    want = iid.estimate(x, ["pca"], bootstrap=0)
    with distributed.Client(process_cluster) as c:
        pids = c.run(os.getpid)
        victim = sorted(pids)[0]
        box = {}

        def run():
            box["result"] = idask.dimension(folder, ["pca"], bootstrap=0, client=c)

        t = threading.Thread(target=run)
        t.start()
        while not c.processing().get(victim):  # wait until the victim holds tasks
            assert t.is_alive(), "the run ended before a worker could be killed"
            time.sleep(0.01)
        os.kill(pids[victim], signal.SIGKILL)
        t.join(120)
        assert not t.is_alive()
    assert canonical(box["result"]["pca"]) == canonical(want["pca"])
    assert box["result"]["pca"]["dimension"] == 3.0


def test_cli_writes_results_or_nothing(process_cluster, tmp_path):
    x = sphere_in_9(900)
    folder = split_files(x, [400, 500], tmp_path / "shards")
    base = [sys.executable, "-m", "imanifold.dask", "dimension", "--shards", str(folder),
            "--scheduler", process_cluster.scheduler_address]
    out = tmp_path / "out"
    r = subprocess.run(base + ["--estimators", "mle", "pca", "--n-neighbors", "10", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads((out / "results.json").read_text())
    want = iid.estimate(x, ["mle", "pca"], n_neighbors=10)
    assert repr(got["mle"]["dimension"]) == repr(want["mle"]["dimension"])
    assert got["pca"]["extra"] == want["pca"]["extra"]
    r = subprocess.run(base + ["--estimators", "tle", "--out", str(tmp_path / "bad")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "tle needs the data rows" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "shards"]


def test_stub_matches_runtime():
    import inspect

    from test_stubs import stub_defaults

    runtime = {p.name: p.default for p in inspect.signature(idask.dimension).parameters.values()}
    stubbed = stub_defaults("dask.pyi", "dimension")
    assert list(stubbed) == list(runtime)
    assert all(v is ... or v == runtime[k] for k, v in stubbed.items())
