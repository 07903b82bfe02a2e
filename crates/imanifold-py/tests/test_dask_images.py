"""Image folders split into file ranges, and renders by index ranges, on Dask: the rows equal imanifold.load's, the
kNN, dimension and scores on them equal the one-process results, and the rendered folder equals imanifold
render's byte for byte."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import imanifold  # noqa: E402
from imanifold import _imanifold  # noqa: E402
from imanifold import dask as idask  # noqa: E402
from imanifold import id as iid  # noqa: E402

# Three image folders: RGB renders with a manifest (labels), grey renders read as a plain folder of PNGs (no
# manifest: files sorted by name), and a colour scene read grey and resized.
FOLDERS = {
    "shapes10_rgb": (dict(scene="shapes10", vary="yaw,pitch,distance", n=150, size=12, seed=3), {}, False),
    "object_gray_plain": (dict(scene="object", vary="yaw,distance", n=130, size=10, seed=4, gray=True), {}, True),
    "room_resized": (dict(scene="room", vary="yaw,pitch", n=120, size=(14, 10), seed=5),
                     dict(gray=True, resize=(7, 6)), False),
}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def folders(client, tmp_path_factory):
    """name → (folder, load options), rendered by index ranges."""
    out = {}
    for name, (req, opts, plain) in FOLDERS.items():
        d = tmp_path_factory.mktemp("img") / name
        idask.render(out=d, ssaa=1, client=client, range_size=37, **req)
        if plain:  # a plain image folder: the manifest goes, the PNGs stay
            (d / "manifest.csv").unlink()
            (d / "render.json").unlink()
            d = d / "images"
        out[name] = (d, opts)
    return out


def same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_file_ranges_decode_to_the_loaders_rows(folders, client, name):
    d, opts = folders[name]
    want = imanifold.load(d, **opts)
    arr = idask.image_folder(d, shard_rows=23, **opts)
    assert arr.chunks[0] == (23,) * (len(want) // 23) + ((len(want) % 23,) if len(want) % 23 else ())
    same_bits(client.compute(arr).result(), want.data)
    # limit and sample select the same rows as the loader's.
    o = dict(opts, sample=40, seed=9, limit=100)
    same_bits(client.compute(idask.image_folder(d, shard_rows=16, **o)).result(), imanifold.load(d, **o).data)


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_kneighbors_on_file_ranges_equals_one_process(folders, client, name):
    d, opts = folders[name]
    x = imanifold.load(d, **opts).data
    want = imanifold.NearestNeighbors(n_neighbors=6).fit(x).kneighbors()
    for src in (idask.image_folder(d, shard_rows=29, **opts), None if opts else str(d)):
        if src is None:
            continue
        dist, ind = idask.kneighbors(src, src, 6, client=client, query_block=40)
        np.testing.assert_array_equal(ind, want[1])
        same_bits(dist, want[0])


def test_dimension_and_score_on_file_ranges_equal_one_process(folders, client):
    d, opts = folders["room_resized"]  # 42 columns: global PCA from partial sums needs n ≥ d
    x = imanifold.load(d, **opts).data
    specs = ["mle", "twonn", "pca"]
    got = idask.dimension(idask.image_folder(d, shard_rows=31, **opts), specs, n_neighbors=8, bootstrap=0,
                          client=client, query_block=50)
    want = iid.estimate(x, specs, n_neighbors=8, bootstrap=0)
    for label in want:
        g = {k: v for k, v in got[label].items() if k != "seconds"}
        w = {k: v for k, v in want[label].items() if k != "seconds"}
        assert json.dumps(g, sort_keys=True, default=repr) == json.dumps(w, sort_keys=True, default=repr), label
    # Reference: the first 100 images; queries: the rest.
    d, opts = folders["shapes10_rgb"]
    x = imanifold.load(d, **opts).data
    ref = idask.image_folder(d, shard_rows=30)[:100]
    want = imanifold.score(x[:100], x[100:], methods="knn,tangent,lid", k=6, calibration=50, seed=2)
    got = idask.score(ref, idask.image_folder(d, shard_rows=30)[100:], k=6, calibration=50, seed=2, client=client,
                      query_block=20)
    assert list(got) == list(want)
    for c in want:
        same_bits(got[c], want[c])


def test_image_folder_refusals(folders, tmp_path):
    d, _ = folders["shapes10_rgb"]
    with pytest.raises(ValueError, match="shard_rows"):
        idask.image_folder(d, shard_rows=0)
    with pytest.raises(FileNotFoundError):
        idask.image_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OSError, match="no images"):
        idask.image_folder(empty)


# ------------------------------------------------------------------------------------------------------- render

RENDERS = [
    dict(scene="shapes10", vary="yaw,pitch", n=45, size=16, sampling="random", seed=7, depth=True),
    dict(scene="object", vary="yaw,pitch", n=5, size=(12, 9), sampling="grid", seed=1, gray=True, blur=0.8),
    dict(scene="turntable", vary="spin,pitch", n=30, size=10, sampling="trajectory", seed=2, set=["distance=4"]),
]


def cli_args(r):
    w, h = (r["size"], r["size"]) if isinstance(r["size"], int) else r["size"]
    a = ["--scene", r["scene"], "--vary", r["vary"], "--n", str(r["n"]), "--size", f"{w}x{h}", "--sampling",
         r["sampling"], "--seed", str(r["seed"]), "--ssaa", "2"]
    a += ["--gray"] * bool(r.get("gray")) + ["--depth"] * bool(r.get("depth"))
    a += ["--blur", str(r["blur"])] if "blur" in r else []
    a += ["--set", ",".join(r["set"])] if "set" in r else []
    return a


def tree(d):
    return sorted(str(p.relative_to(d)) for p in pathlib.Path(d).rglob("*") if p.is_file())


def same_folder(got, want):
    """Every file byte for byte, render.json without its timings and command line."""
    assert tree(got) == tree(want)
    for f in tree(want):
        if f != "render.json":
            assert (got / f).read_bytes() == (want / f).read_bytes(), f
    strip = lambda d: {k: v for k, v in json.loads((d / "render.json").read_text()).items()  # noqa: E731
                       if k not in ("timings_seconds", "command_line")}
    assert strip(got) == strip(want)


@pytest.mark.parametrize("i", range(len(RENDERS)))
def test_render_by_ranges_equals_imanifold_render(cli, client, tmp_path, i):
    r = RENDERS[i]
    want = tmp_path / "cli"
    subprocess.run([str(cli), "render", *cli_args(r), "--out", str(want)], check=True, capture_output=True)
    got = tmp_path / "dask"
    res = idask.render(out=got, ssaa=2, client=client, range_size=8, **r)
    assert res["n_images"] == len(list((want / "images").iterdir())) == (25 if r["sampling"] == "grid" else r["n"])
    same_folder(got, want)
    assert sorted(os.listdir(tmp_path)) == ["cli", "dask"]


def test_failed_render_leaves_nothing(client, tmp_path, monkeypatch):
    real = _imanifold.render_range

    def fail_late(folder, request, start, end, threads=None):
        if start >= 20:
            raise OSError("disk full (simulated)")
        return real(folder, request, start, end, threads=threads)

    monkeypatch.setattr(_imanifold, "render_range", fail_late)
    with pytest.raises(OSError, match="simulated"):
        idask.render("shapes10", tmp_path / "out", vary="yaw", n=40, size=8, ssaa=1, client=client, range_size=10)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    with pytest.raises(ValueError, match="range_size"):
        idask.render("shapes10", tmp_path / "out", n=4, size=8, client=client, range_size=0)
    with pytest.raises(ValueError, match="zoom"):
        idask.render("shapes10", tmp_path / "out", vary="yaw,zoom", n=4, size=8, client=client)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not an imanifold output folder"):
        idask.render("shapes10", tmp_path / "user", n=4, size=8, client=client)
    assert os.listdir(tmp_path / "user") == ["notes.txt"]
    assert os.listdir(tmp_path) == ["user"]


def test_render_survives_a_killed_worker(cli, process_cluster, tmp_path):
    """A worker process killed while it renders: its ranges run again elsewhere; the folder is the same."""
    r = dict(scene="shapes10", vary="yaw,pitch,distance", n=400, size=24, sampling="random", seed=11)
    want = tmp_path / "cli"
    subprocess.run([str(cli), "render", *cli_args(r), "--out", str(want)], check=True, capture_output=True)
    got = tmp_path / "dask"
    with distributed.Client(process_cluster) as c:
        pids = c.run(os.getpid)
        victim = sorted(pids)[0]
        box = {}

        def run():
            box["result"] = idask.render(out=got, ssaa=2, client=c, range_size=20, threads=1, **r)

        t = threading.Thread(target=run)
        t.start()
        while not c.processing().get(victim):  # wait until the victim holds tasks
            assert t.is_alive(), "the run ended before a worker could be killed"
            time.sleep(0.02)
        assert t.is_alive()
        os.kill(pids[victim], signal.SIGKILL)
        t.join(120)
        assert not t.is_alive()
    assert box["result"]["n_images"] == 400
    same_folder(got, want)
    assert sorted(os.listdir(tmp_path)) == ["cli", "dask"]


def test_cli_render_equals_imanifold_render(cli, process_cluster, tmp_path):
    r = dict(scene="shapes10", vary="yaw,distance", n=12, size=8, sampling="random", seed=2)
    want = tmp_path / "cli"
    subprocess.run([str(cli), "render", *cli_args(r), "--out", str(want)], check=True, capture_output=True)
    base = [sys.executable, "-m", "imanifold.dask", "render", "--scheduler", process_cluster.scheduler_address]
    args = ["--scene", "shapes10", "--vary", "yaw,distance", "--n", "12", "--size", "8", "--seed", "2", "--ssaa", "2",
            "--range-size", "5"]
    p = subprocess.run(base + args + ["--out", str(tmp_path / "dask")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    same_folder(tmp_path / "dask", want)
    p = subprocess.run(base + args + ["--vary", "zoom", "--out", str(tmp_path / "bad")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "zoom" in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["cli", "dask"]
