"""imanifold.dask.kneighbors over shards equals NearestNeighbors on the concatenated rows, bit for bit."""
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

import imanifold  # noqa: E402
from imanifold import dask as idask  # noqa: E402

from conftest import ball, split_files  # noqa: E402


def gaussian():
    return np.random.default_rng(0).normal(size=(1500, 32)).astype(np.float32)


def ties():
    """Small-integer lattice points: many exact duplicates and equal distances (the index tie rule decides)."""
    x = np.random.default_rng(1).integers(0, 3, size=(1200, 4)).astype(np.float32)
    x[600:640] = x[7]
    return x


def manifold():
    return ball(1300, 3, 40, 2)


DATA = {"gaussian": gaussian, "ties": ties, "manifold": manifold}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


def same(got, want):
    (d, i), (d0, i0) = got, want
    assert d.dtype == np.float32 and i.dtype == np.int64
    assert d.shape == d0.shape and i.shape == i0.shape
    np.testing.assert_array_equal(i, i0)
    np.testing.assert_array_equal(d.view(np.uint32), d0.view(np.uint32))




@pytest.mark.parametrize("name", sorted(DATA))
def test_self_mode_files_equal_one_process(client, tmp_path, name):
    x = DATA[name]()
    n = len(x)
    want = imanifold.NearestNeighbors(10).fit(x).kneighbors()
    for j, sizes in enumerate([[n], [1, 36, 400, n - 437], [n // 3, n // 3, n - 2 * (n // 3)]]):
        folder = split_files(x, sizes, tmp_path / f"shards{j}")
        same(idask.kneighbors(folder, folder, 10, client=client, query_block=257), want)


@pytest.mark.parametrize("name", sorted(DATA))
def test_query_mode_arrays_equal_one_process(client, name):
    x = DATA[name]()
    r, q = x[:1000], x[1000:]
    want = imanifold.NearestNeighbors(7).fit(r).kneighbors(q)
    same(idask.kneighbors(q, r, 7, client=client, query_block=64), want)
    same(idask.kneighbors(da.from_array(q, chunks=(90, -1)), da.from_array(r, chunks=(333, -1)), 7,
                          client=client, query_block=50), want)
    # self mode on a dask array with uneven chunks, k as large as a small shard
    xa = da.from_array(x, chunks=((5, 700, len(x) - 705), (x.shape[1],)))
    same(idask.kneighbors(xa, xa, 6, client=client, query_block=128), imanifold.NearestNeighbors(6).fit(x).kneighbors())


def test_merge_orders_by_exact_squared_distance_not_float32(client):
    """Two candidates whose float32 distances are equal but whose exact squared distances differ: the engine
    puts the nearer one first even when its index is larger, and so must the merge of shards that hold one each."""
    # |(1, 2^-13)|² = 1 + 2^-26 > 1 = |(1, 0)|², but both square roots round to 1.0 in float32
    near, far = np.array([1.0, 0.0], np.float32), np.array([1.0, 2.0**-13], np.float32)
    ref = np.stack([far, near, near + 5]).astype(np.float32)  # the farther candidate has the smaller index
    q = np.zeros((1, 2), np.float32)
    want = imanifold.NearestNeighbors(2).fit(ref).kneighbors(q)
    assert want[1][0, 0] == 1 and want[0][0, 0] == want[0][0, 1]
    same(idask.kneighbors(q, da.from_array(ref, chunks=(1, 2)), 2, client=client), want)


def test_bad_input_raises(client, tmp_path):
    x = gaussian()[:50]
    with pytest.raises(ValueError, match="needs more points"):
        idask.kneighbors(x, x, 50, client=client)
    with pytest.raises(ValueError, match="columns"):
        idask.kneighbors(x[:, :5], x, 3, client=client)
    with pytest.raises(ValueError, match="approx"):
        idask.kneighbors(x, x, 3, client=client, strategy="approx")
    with pytest.raises(ValueError, match="no .npy files"):
        idask.kneighbors(tmp_path, tmp_path, 3, client=client)
    bad = x.copy()
    bad[30, 2] = np.nan
    folder = split_files(bad, [20, 30], tmp_path / "nan")
    with pytest.raises(ValueError, match=r"part001\.npy rows 0:30.*row 10 column 2 is not finite"):
        idask.kneighbors(folder, folder, 3, client=client)


def test_merge_topk_keeps_k_best_by_distance_then_index():
    inf, big = np.inf, np.iinfo(np.int64).max
    a = (np.array([[1.0, 4.0]]), np.array([[9, 2]]), np.array([[1, 2]], np.float32))
    b = (np.array([[1.0, inf]]), np.array([[3, big]]), np.array([[1, inf]], np.float32))
    sq, ind, dist = idask.merge_topk([a, b], 3)
    np.testing.assert_array_equal(ind, [[3, 9, 2]])
    np.testing.assert_array_equal(sq, [[1.0, 1.0, 4.0]])




def test_worker_killed_mid_run_same_result(process_cluster, tmp_path):
    x = np.random.default_rng(3).normal(size=(6000, 48)).astype(np.float32)
    folder = split_files(x, [1500, 1500, 1000, 2000], tmp_path / "shards")
    want = imanifold.NearestNeighbors(5).fit(x).kneighbors()
    with distributed.Client(process_cluster) as c:
        pids = c.run(os.getpid)
        victim = sorted(pids)[0]
        box = {}

        def run():
            box["result"] = idask.kneighbors(folder, folder, 5, client=c, query_block=100, threads=1)

        t = threading.Thread(target=run)
        t.start()
        while not c.processing().get(victim):  # wait until the victim holds tasks
            assert t.is_alive(), "the run ended before a worker could be killed"
            time.sleep(0.02)
        assert t.is_alive()
        os.kill(pids[victim], signal.SIGKILL)
        t.join(120)
        assert not t.is_alive()
    same(box["result"], want)


def test_cli_writes_both_files_or_nothing(process_cluster, tmp_path):
    x = manifold()
    folder = split_files(x, [300, 1000], tmp_path / "shards")
    out = tmp_path / "out"
    base = [sys.executable, "-m", "imanifold.dask", "kneighbors", "--references", str(folder),
            "--scheduler", process_cluster.scheduler_address]
    r = subprocess.run(base + ["--k", "4", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d0, i0 = imanifold.NearestNeighbors(4).fit(x).kneighbors()
    same((np.load(out / "distances.npy"), np.load(out / "indices.npy")), (d0, i0))
    bad = tmp_path / "bad"
    r = subprocess.run(base + ["--k", "5000", "--out", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "needs more points" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "shards"]


def test_stub_matches_runtime():
    import inspect

    from test_stubs import stub_defaults

    runtime = {p.name: p.default for p in inspect.signature(idask.kneighbors).parameters.values()}
    assert stub_defaults("dask.pyi", "kneighbors") == runtime
