"""imanifold.score against `imanifold score --reference R.npy --query Q.npy --out DIR` on the same data."""
import subprocess

import numpy as np
import pytest

import imanifold


def test_score_equals_cli(cli, datasets, tmp_path):
    X = datasets["ball5_in_12"]
    ref, query = X[:400], np.concatenate([X[400:], X[400:450] + 0.5]).astype(np.float32)
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "query.npy", query)
    out = tmp_path / "out"
    subprocess.run([str(cli), "score", "--reference", str(tmp_path / "ref.npy"), "--query", str(tmp_path / "query.npy"),
                    "--methods", "knn,tangent,lid", "--k", "10", "--quiet", "--out", str(out)], check=True)
    got = imanifold.score(ref, query, methods=["knn", "tangent", "lid"], k=10, threads=1)
    names = ["knn_kth", "knn_mean", "tangent", "lid"]
    assert sorted(k for k in got if k not in ("nearest", "nearest_distance")) == sorted(
        names + [f"{n}_pct" for n in names])
    for name in names:
        np.testing.assert_array_equal(got[name], np.load(out / f"{name}.npy"))
        np.testing.assert_array_equal(got[f"{name}_pct"], np.load(out / f"{name}_pct.npy"))
    assert got["nearest"].shape == (len(query),)


def test_score_knn_strategy_equals_cli(cli, tmp_path):
    # --knn-strategy approx: the same columns as the CLI's on the same data and seed.
    rng = np.random.default_rng(5)
    ref = np.ascontiguousarray(rng.uniform(size=(2000, 4)) @ rng.normal(size=(4, 16)), dtype=np.float32)
    query = np.ascontiguousarray(ref[:100] + rng.normal(scale=0.3, size=(100, 16)), dtype=np.float32)
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "query.npy", query)
    out = tmp_path / "out"
    subprocess.run([str(cli), "score", "--reference", str(tmp_path / "ref.npy"), "--query", str(tmp_path / "query.npy"),
                    "--methods", "knn,lid", "--k", "10", "--seed", "3", "--knn-strategy", "approx", "--quiet",
                    "--out", str(out)], check=True)
    got = imanifold.score(ref, query, methods="knn,lid", k=10, seed=3, knn_strategy="approx")
    for name in ["knn_kth", "knn_mean", "lid"]:
        np.testing.assert_array_equal(got[name], np.load(out / f"{name}.npy"))
        np.testing.assert_array_equal(got[f"{name}_pct"], np.load(out / f"{name}_pct.npy"))
    with pytest.raises(ValueError, match="psychic"):
        imanifold.score(ref, query, knn_strategy="psychic")


def test_score_bad_inputs_raise(datasets):
    X = datasets["ball5_in_12"]
    with pytest.raises(ValueError):
        imanifold.score(X, X[:, :5])
    with pytest.raises(ValueError):
        imanifold.score(X, X, methods="nope")
    with pytest.raises(ValueError):
        imanifold.score(X, X, dim="x")


def test_score_reads_float32_in_place(datasets):
    # C-contiguous float32 inputs reach the compiled code without a copy (the address it read is the array's own);
    # reference and query are read in that order, so the last address is the query's.
    X = np.ascontiguousarray(datasets["ball5_in_12"][:300], dtype=np.float32)
    Q = X[:40].copy()
    imanifold.score(X, Q, methods="knn", k=5)
    assert imanifold._imanifold.last_input_pointer() == Q.__array_interface__["data"][0]
    imanifold.score(X, np.asfortranarray(Q), methods="knn", k=5)
    assert imanifold._imanifold.last_input_pointer() != Q.__array_interface__["data"][0]


def test_score_features_equals_cli(cli, tmp_path):
    """features= gives the CLI's `score --features` columns (same model, same rows, same seed); groups= adds the
    AUROCs and the combination."""
    subprocess.run([str(cli), "render", "--scene", "shapes10", "--vary", "yaw,pitch,light_azimuth", "--n", "120",
                    "--size", "16", "--seed", "1", "--npy", "--quiet", "--out", str(tmp_path / "train")], check=True)
    subprocess.run([str(cli), "classifier", "train", "--data", str(tmp_path / "train"), "--epochs", "2", "--quiet",
                    "--out", str(tmp_path / "model")], check=True)
    ref = imanifold.load(tmp_path / "train").data
    rng = np.random.default_rng(0)
    noise = (np.round(rng.uniform(size=(20, ref.shape[1])) * 255) / 255).astype(np.float32)
    query = np.concatenate([ref[:20], noise]).astype(np.float32)
    np.save(tmp_path / "ref.npy", ref.reshape(-1, 16, 16, 3))
    np.save(tmp_path / "query.npy", query.reshape(-1, 16, 16, 3))
    out = tmp_path / "out"
    spec = f"{tmp_path / 'model'}:conv3,hidden"
    subprocess.run([str(cli), "score", "--reference", str(tmp_path / "ref.npy"), "--query",
                    str(tmp_path / "query.npy"), "--features", spec, "--k", "8", "--quiet", "--out", str(out)],
                   check=True)
    got = imanifold.score(ref, query, features=spec, k=8, groups=["natural"] * 20 + ["noise"] * 20, threads=1)
    names = [f"{layer}.{s}" for layer in ("conv3", "hidden")
             for s in ("knn_kth", "knn_mean", "tangent", "lid", "mahalanobis")] + ["logits.softmax"]
    assert sorted(k for k in got if k != "report") == sorted(names + [f"{n}_pct" for n in names])
    for name in names:
        np.testing.assert_allclose(got[name], np.load(out / f"{name}.npy"), rtol=1e-6)
    report = got["report"]
    assert [layer["name"] for layer in report["layers"]] == ["conv3", "hidden"]
    noise_group = report["groups"]["groups"][1]
    assert noise_group["name"] == "noise" and noise_group["auroc"]["hidden.knn_kth"] > 0.9
    assert report["combination"]["groups"][0]["n_train"] == [10, 10]
    with pytest.raises(ValueError, match="conv9"):
        imanifold.score(ref, query, features=f"{tmp_path / 'model'}:conv9")
    # Lee et al.'s pre-processing: the CLI's --mahalanobis-noise numbers; only the mahalanobis columns change.
    pre = tmp_path / "pre"
    subprocess.run([str(cli), "score", "--reference", str(tmp_path / "ref.npy"), "--query",
                    str(tmp_path / "query.npy"), "--features", spec, "--k", "8", "--mahalanobis-noise", "0.004",
                    "--quiet", "--out", str(pre)], check=True)
    moved = imanifold.score(ref, query, features=spec, k=8, threads=1, mahalanobis_noise=0.004)
    assert moved["report"]["mahalanobis_noise"] == 0.004
    for name in names:
        np.testing.assert_allclose(moved[name], np.load(pre / f"{name}.npy"), rtol=1e-6)
        if name.endswith("mahalanobis"):
            assert not np.allclose(moved[name], got[name])
        else:
            np.testing.assert_array_equal(moved[name], got[name])
    with pytest.raises(ValueError, match="mahalanobis"):
        imanifold.score(ref, query, features=spec, methods="knn", mahalanobis_noise=0.004)
    with pytest.raises(ValueError, match="features"):
        imanifold.score(ref, query, mahalanobis_noise=0.004)
    with pytest.raises(ValueError):
        imanifold.score(ref[:, :100], query[:, :100], features=str(tmp_path / "model"))


def test_score_flow_options_equal_cli(cli, tmp_path):
    """flow_neighbors= and flow_calibration= are the CLI's --flow-neighbors and --flow-calibration (same numbers),
    and they change the flow score."""
    subprocess.run([str(cli), "render", "--scene", "turntable", "--vary", "spin", "--n", "60", "--size", "24", "--gray",
                    "--seed", "3", "--npy", "--quiet", "--out", str(tmp_path / "r")], check=True)
    X = imanifold.load(tmp_path / "r").data
    ref, query = X[:45], X[45:]
    np.save(tmp_path / "ref.npy", ref.reshape(-1, 24, 24, 1))
    np.save(tmp_path / "query.npy", query.reshape(-1, 24, 24, 1))
    out = tmp_path / "out"
    subprocess.run([str(cli), "score", "--reference", str(tmp_path / "ref.npy"), "--query", str(tmp_path / "query.npy"),
                    "--methods", "flow", "--k", "5", "--flow-neighbors", "2", "--flow-calibration", "12", "--quiet",
                    "--out", str(out)], check=True)
    got = imanifold.score(ref, query, methods="flow", k=5, image_shape=(24, 24, 1), flow_neighbors=2,
                          flow_calibration=12, threads=1)
    np.testing.assert_array_equal(got["flow"], np.load(out / "flow.npy"))
    np.testing.assert_array_equal(got["flow_pct"], np.load(out / "flow_pct.npy"))
    assert len(np.load(out / "calibration_flow.npy")) == 12
    default = imanifold.score(ref, query, methods="flow", k=5, image_shape=(24, 24, 1), threads=1)
    assert not np.array_equal(default["flow_pct"], got["flow_pct"])
