"""imanifold.dask.score over shards equals imanifold.score on the concatenated rows, bit for bit."""
import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import imanifold  # noqa: E402
from imanifold import dask as idask  # noqa: E402

from conftest import cube_in_20, sphere_in_9, split_files  # noqa: E402






def with_outliers(x, seed):
    """Rows of ``x`` with the second half pushed off the manifold by isotropic noise."""
    rng = np.random.default_rng(seed)
    y = x.copy()
    h = len(y) // 2
    y[h:] += rng.normal(scale=0.5, size=y[h:].shape).astype(np.float32)
    return y




@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


def assert_identical(got, want):
    assert list(got) == list(want)
    for name, w in want.items():
        g = got[name]
        assert g.dtype == w.dtype and g.shape == w.shape, name
        if w.dtype.kind == "f":
            assert np.array_equal(g.view(np.int64), w.view(np.int64)), name  # same bits, NaN included
        else:
            assert np.array_equal(g, w), name


def test_sampled_calibration_npy_shards(client, tmp_path):
    """A calibration sample smaller than the reference, reference and queries as uneven .npy files."""
    x = cube_in_20(1730, 0)
    ref, qry = x[:1500], with_outliers(x[1500:], 2)
    refs = split_files(ref, [700, 1, 412, 387], tmp_path / "ref")
    qs = split_files(qry, [100, 130], tmp_path / "qry")
    want = imanifold.score(ref, qry, methods="knn,tangent,lid", k=8, calibration=300, seed=5)
    got = idask.score(refs, qs, methods=("knn", "tangent", "lid"), k=8, calibration=300, seed=5, client=client,
                      query_block=64)
    assert_identical(got, want)
    # The scores mean something: the displaced half lies further from the manifold than the clean half.
    for c in ("knn_kth_pct", "tangent_pct"):
        assert np.median(want[c][115:]) > 0.9 > np.median(want[c][:115]), c


def test_full_calibration_dask_arrays_local_dim(client):
    """Every reference row a calibration image (self-kNN), inputs as dask arrays, local tangent dimension."""
    x = sphere_in_9(1050, 3)
    ref, qry = x[:900], with_outliers(x[900:], 5)
    want = imanifold.score(ref, qry, k=10, dim="local", calibration=5000, seed=1)
    got = idask.score(da.from_array(ref, chunks=(250, 9)), da.from_array(qry, chunks=(40, 9)), k=10, dim="local",
                      calibration=5000, seed=1, client=client, query_block=50)
    assert_identical(got, want)


def test_table_only_methods_and_fixed_dim(client):
    """Without tangent no rows are gathered; numpy inputs; methods in another order."""
    x = cube_in_20(890, 6)
    ref, qry = x[:800], x[800:]
    want = imanifold.score(ref, qry, methods="lid,knn", k=6, dim=3, calibration=200, seed=2)
    got = idask.score(ref, qry, methods="lid,knn", k=6, dim=3, calibration=200, seed=2, client=client,
                      query_block=32)
    assert_identical(got, want)
    assert list(got)[:2] == ["lid_pct", "lid"]


def test_refusals(client):
    x = cube_in_20(320, 8)
    ref, qry = x[:300], x[300:]
    with pytest.raises(ValueError, match="flow score is not available on Dask"):
        idask.score(ref, qry, methods="knn,flow", client=client)
    dup = ref.copy()
    dup[17, 0], dup[250] = 0.0, dup[17]
    dup[250, 0] = -0.0  # -0.0 equals 0.0, as in the library's duplicate test
    with pytest.raises(ValueError, match="reference rows 17 and 250 are identical"):
        idask.score(dup, qry, k=5, client=client)
    for kw, msg in [(dict(k=300), "k = 300 is too large"), (dict(methods="mahalanobis"), "class-labelled"),
                    (dict(k=5, dim=5), "dim = 5"), (dict(calibration=1), "calibration = 1")]:
        with pytest.raises(ValueError, match=msg):
            imanifold.score(ref, qry, **kw)
        with pytest.raises(ValueError, match=msg):
            idask.score(ref, qry, client=client, **kw)
    with pytest.raises(ValueError, match="columns"):
        idask.score(ref, qry[:, :5], client=client)


def test_cli_writes_columns_or_nothing(client, tmp_path):
    x = cube_in_20(700, 10)
    ref, qry = x[:600], with_outliers(x[600:], 11)
    refs = split_files(ref, [250, 350], tmp_path / "ref")
    qs = split_files(qry, [100], tmp_path / "qry")
    base = ["score", "--reference", str(refs), "--queries", str(qs), "--k", "7", "--calibration", "150",
            "--scheduler", client.scheduler.address]
    out = tmp_path / "out"
    assert idask.main(base + ["--out", str(out)]) == 0
    want = imanifold.score(ref, qry, k=7, calibration=150)
    assert_identical({name: np.load(out / f"{name}.npy") for name in want}, want)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.npy" for name in want)
    assert idask.main(base + ["--methods", "knn,flow", "--out", str(tmp_path / "bad")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "qry", "ref"]


def test_stub_matches_runtime():
    import inspect

    from test_stubs import stub_defaults

    runtime = {p.name: p.default for p in inspect.signature(idask.score).parameters.values()}
    assert stub_defaults("dask.pyi", "score") == runtime


def test_worker_killed_during_scoring_same_result(process_cluster, tmp_path):
    """A worker process killed while it holds score tasks: Dask reruns them, the scores are the same bits."""
    import os
    import signal
    import threading
    import time

    x = cube_in_20(4200, 7)
    ref, qry = x[:3000], with_outliers(x[3000:], 8)
    refs = split_files(ref, [1000, 1000, 1000], tmp_path / "ref")
    qs = split_files(qry, [600, 600], tmp_path / "qry")
    want = imanifold.score(ref, qry, methods="knn,tangent,lid", k=10, calibration=500, seed=3)
    with distributed.Client(process_cluster) as c:
        pids = c.run(os.getpid)
        victim = sorted(pids)[0]
        box = {}

        def run():
            box["result"] = idask.score(refs, qs, methods=("knn", "tangent", "lid"), k=10, calibration=500, seed=3,
                                        client=c, query_block=100)

        t = threading.Thread(target=run)
        t.start()
        while not c.processing().get(victim):  # wait until the victim holds tasks
            assert t.is_alive(), "the run ended before a worker could be killed"
            time.sleep(0.01)
        os.kill(pids[victim], signal.SIGKILL)
        t.join(180)
        assert not t.is_alive()
    assert_identical(box["result"], want)
