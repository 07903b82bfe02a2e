"""NearestNeighbors' approximate-search parameters: the neighbours of `imanifold neighbors --strategy approx`."""
import json
import subprocess

import numpy as np
import pytest

import imanifold
from imanifold import _imanifold


def spectrum(n, D, seed):
    """n float32 rows in R^D with a decaying spectrum (what the approximate search's projection is made for)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, D)) / (1.0 + np.arange(D)) ** 1.5
    basis = np.linalg.qr(rng.normal(size=(D, D)))[0]
    return np.ascontiguousarray(z @ basis.T, dtype=np.float32)


def cli_neighbors(cli, out, x_path, *args):
    run = subprocess.run([str(cli), "--quiet", "neighbors", str(x_path), "--strategy", "approx", "--out", str(out),
                          *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return (np.load(out / "distances.npy"), np.load(out / "indices.npy"),
            json.loads((out / "results.json").read_text()))


@pytest.mark.parametrize("query", [False, True])
def test_approx_equals_cli(cli, tmp_path, query):
    x = spectrum(1500, 40, 0)
    q = spectrum(300, 40, 1)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    extra = ["--query", str(tmp_path / "q.npy")] if query else []
    # Defaults, then every approx parameter set away from its default.
    for params, flags in [({}, []),
                          ({"ef_search": 24, "ef_construction": 12, "approx_dims": 6, "seed": 5},
                           ["--ef-search", "24", "--ef-construction", "12", "--approx-dims", "6", "--seed", "5"])]:
        out = tmp_path / f"out{len(flags)}{query}"
        want_d, want_i, results = cli_neighbors(cli, out, tmp_path / "x.npy", "--k", "8", *extra, *flags)
        nn = imanifold.NearestNeighbors(8, strategy="approx", **params).fit(x)
        got_d, got_i = nn.kneighbors(q if query else None)
        assert got_i.dtype == want_i.dtype == np.int64 and got_d.dtype == want_d.dtype == np.float32
        np.testing.assert_array_equal(got_i, want_i)
        np.testing.assert_array_equal(got_d.view(np.uint32), want_d.view(np.uint32))
        assert results["strategy"] == "approx" and results["recall"]["ef_search"] == params.get(
            "ef_search", _imanifold.KNN_DEFAULT_EF_SEARCH)
    # The parameters matter: a tiny candidate list on a tiny graph basis gives other neighbours somewhere.
    rough = imanifold.NearestNeighbors(8, strategy="approx", ef_search=1, ef_construction=1, approx_dims=1).fit(x)
    assert not np.array_equal(rough.kneighbors(q if query else None)[1], want_i)


def test_approx_defaults_come_from_the_library():
    nn = imanifold.NearestNeighbors()
    assert (nn.ef_search, nn.ef_construction, nn.approx_dims, nn.seed) == (
        _imanifold.KNN_DEFAULT_EF_SEARCH, _imanifold.KNN_DEFAULT_EF_CONSTRUCTION,
        _imanifold.KNN_DEFAULT_APPROX_DIMS, 0)
    x = spectrum(200, 10, 2)
    with pytest.raises(ValueError, match="ef_search"):
        imanifold.NearestNeighbors(3, strategy="approx", ef_search=0).fit(x).kneighbors()
    with pytest.raises(ValueError, match="ef_construction"):
        imanifold.NearestNeighbors(3, strategy="approx", ef_construction=-1).fit(x).kneighbors()
    assert "ef_search=7" in repr(imanifold.NearestNeighbors(strategy="approx", ef_search=7))
