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
