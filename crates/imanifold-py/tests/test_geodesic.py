"""imanifold.geodesic against `imanifold geodesic --json --out DIR` on the same rendered set."""
import json
import subprocess

import numpy as np
import pytest

import imanifold


@pytest.fixture(scope="module")
def turntable(cli, tmp_path_factory):
    """24 views of the object scene, 15° apart in yaw (a circle)."""
    out = tmp_path_factory.mktemp("geo") / "set"
    subprocess.run([str(cli), "render", "--scene", "object", "--vary", "yaw", "--n", "24", "--size", "24",
                    "--sampling", "grid", "--quiet", "--out", str(out)], check=True)
    return out


def cli_geodesic(cli, path, out, *args):
    run = subprocess.run([str(cli), "geodesic", str(path), "--json", "--quiet", "--out", str(out), *args],
                         check=True, capture_output=True, text=True)
    return json.loads(run.stdout), np.load(out / "geodesic.npy")


SUMMARY = ["n", "k", "metric", "edges", "components", "sources", "photometric_weight", "flow_method", "embedding",
           "truth_columns", "correlation", "seed"]


@pytest.mark.parametrize("metric", ["flow", "euclidean"])
def test_geodesic_path_equals_cli(cli, turntable, tmp_path, metric):
    want, dist = cli_geodesic(cli, turntable, tmp_path / "g", "--k", "4", "--metric", metric, "--truth", "yaw",
                              "--periodic", "yaw=360")
    got = imanifold.geodesic(turntable, k=4, metric=metric, truth="yaw", periodic={"yaw": 360}, threads=1)
    np.testing.assert_array_equal(got["distances"], dist)
    for key in SUMMARY:
        assert got["report"].get(key) == want.get(key), key
    assert got["correlation"] == want["correlation"]
    assert set(got["correlation"]) == ({"flow", "euclidean_graph", "pixel"} if metric == "flow"
                                       else {"euclidean", "pixel"})
    # The embedding: the rows of embedding.csv, in the same order.
    rows = np.loadtxt(tmp_path / "g" / "embedding.csv", delimiter=",", skiprows=1, usecols=(0, 2, 3))
    np.testing.assert_array_equal(got["embedding_nodes"], rows[:, 0].astype(np.int64))
    np.testing.assert_allclose(got["embedding"], rows[:, 1:], rtol=1e-9, atol=1e-12)
    assert got["edges"]["pairs"].shape == (want["edges"], 2)


def test_geodesic_arrays_equal_path(cli, turntable):
    """Images and a dict of truth values in memory give the numbers of the folder (whatever the thread count)."""
    ds = imanifold.load(turntable)
    by_path = imanifold.geodesic(turntable, k=4, truth=["yaw"], periodic={"yaw": 360}, sources=[0, 5], threads=1)
    in_memory = imanifold.geodesic(ds.images(), k=4, truth={"yaw": ds.columns["yaw"]}, periodic={"yaw": 360},
                                   sources=[0, 5], threads=2)
    assert in_memory["distances"].shape == (2, 24)
    np.testing.assert_array_equal(in_memory["distances"], by_path["distances"])
    assert in_memory["correlation"] == by_path["correlation"]
    assert in_memory["embedding"] is None  # no embedding from a subset of sources
    # A plain matrix works with the euclidean metric and matches the pixel-distance graph of the images.
    flat = imanifold.geodesic(ds.data, k=4, metric="euclidean")
    images = imanifold.geodesic(ds.images(), k=4, metric="euclidean")
    np.testing.assert_array_equal(flat["distances"], images["distances"])
    np.testing.assert_array_equal(np.diag(flat["distances"]), 0)


def test_geodesic_path_equals_cli(cli, turntable, tmp_path):
    """The path between two views (by file name and by row) as the CLI's --path writes it."""
    ds = imanifold.load(turntable)
    ends = (ds.ids[0], 6)
    want, _ = cli_geodesic(cli, turntable, tmp_path / "p", "--k", "4", "--truth", "yaw", "--periodic", "yaw=360",
                           "--path", f"{ends[0]},{ends[1]}", "--path-frames", "2", "--dims", "0")
    got = imanifold.geodesic(turntable, k=4, truth="yaw", periodic={"yaw": 360}, path=ends, path_frames=2, dims=0)
    assert got["report"]["path"] == want["path"]
    p = got["path"]
    assert p["nodes"][0] == 0 and p["nodes"][-1] == 6
    assert p["frames"].shape == (3 * len(p["nodes"]) - 2, 24, 24, 3)
    assert (p["frame_rows"] >= 0).sum() == len(p["nodes"])
    # The graph's own images are the collection's images.
    np.testing.assert_array_equal(p["frames"][0], ds.images()[0])
    with pytest.raises(ValueError, match="nope.png"):
        imanifold.geodesic(turntable, k=4, path=(0, "nope.png"))


def test_geodesic_bad_inputs_raise(turntable, tmp_path):
    ds = imanifold.load(turntable)
    with pytest.raises(ValueError, match="metric"):
        imanifold.geodesic(turntable, metric="pixels")
    with pytest.raises(ValueError, match="nope"):
        imanifold.geodesic(turntable, truth="nope")
    with pytest.raises(ValueError, match="needs images"):
        imanifold.geodesic(ds.data, metric="flow")
    with pytest.raises(ValueError, match="k = 24"):
        imanifold.geodesic(ds.images(), k=24, metric="euclidean")
    with pytest.raises(ValueError, match="period"):
        imanifold.geodesic(turntable, truth="yaw", periodic={"yaw": -1})
    with pytest.raises(ValueError, match="has 3 values"):
        imanifold.geodesic(ds.images(), metric="euclidean", truth={"yaw": [1.0, 2.0, 3.0]})
    with pytest.raises(FileNotFoundError):
        imanifold.geodesic(tmp_path / "missing")
