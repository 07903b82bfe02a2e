"""imanifold.id: same numbers as the CLI and as scikit-dimension; interface and errors."""
import json
import subprocess
import warnings

import numpy as np
import pytest

import imanifold
import imanifold.id as iid
from conftest import cube_in_20

# skdim's ESS is pure Python (C(k, 2) simplices per point): compare at k = 20 to keep the test short.
FIT_KW = {"ESS": {"n_neighbors": 20}}

# Deterministic estimators that agree with scikit-dimension 0.5 at its defaults (same as the Rust peers test, which
# allows 1 %; on these data the agreement is within 1e-7).
SKDIM_DETERMINISTIC = ["lPCA", "MLE", "TwoNN", "CorrInt", "MOM", "TLE", "MADA", "MiND_ML", "FisherS", "ESS"]


def skdim_or_skip():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import skdim  # noqa: F401
    except Exception as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"scikit-dimension not importable ({e}); pip install -r crates/imanifold-py/tests/requirements.txt")
    return skdim


@pytest.mark.parametrize("cls", SKDIM_DETERMINISTIC)
def test_agrees_with_skdim(cls, datasets):
    skdim = skdim_or_skip()
    for label, X in datasets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = getattr(skdim.id, cls)().fit(X.astype(np.float64), **FIT_KW.get(cls, {})).dimension_
        ours = getattr(iid, cls)().fit(X, bootstrap=0, **FIT_KW.get(cls, {})).dimension_
        if cls == "MiND_ML" and float(theirs).is_integer() and abs(ours - theirs) < 0.5:
            continue  # skdim's L-BFGS-B can stop at its integer start (documented deviation)
        assert ours == pytest.approx(theirs, rel=1e-6), f"{label} {cls}: imanifold {ours} skdim {theirs}"


def run_cli(cli, npy, out, names, extra=()):
    cmd = [str(cli), "dim", str(npy), "--out", str(out), "--json"]
    for n in names:
        cmd += ["--estimator", n]
    p = subprocess.run(cmd + list(extra), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return {e["label"]: e for e in json.loads(p.stdout)["estimates"]}


def test_estimate_equals_cli(cli, datasets, tmp_path):
    X = datasets["ball5_in_12"]
    npy = tmp_path / "x.npy"
    np.save(npy, X)
    names = ["mle", "twonn", "lpca", "corrint", "imanifold", "mle:comb=median"]
    theirs = run_cli(cli, npy, tmp_path / "out", names, ["--k", "15", "--k-range", "5:8", "--seed", "3"])
    ours = iid.estimate(X, names, n_neighbors=15, k_range=(5, 8), seed=3)
    assert list(ours) == list(theirs)
    for label, t in theirs.items():
        o = ours[label]
        assert o["dimension"] == pytest.approx(t["dimension"], rel=1e-12, abs=0), label
        if t["ci95"] is None:
            assert o["ci95"] is None
        else:
            assert o["ci95"] == pytest.approx(tuple(t["ci95"]), rel=1e-12), label
        assert o["params"] == t["params"]
    # Scale curves as scale_<label>.csv.
    csv = np.genfromtxt(tmp_path / "out" / "scale_mle.csv", delimiter=",", names=True)
    assert np.array_equal(ours["mle"]["scale"]["k"], csv["k"].astype(int))
    np.testing.assert_allclose(ours["mle"]["scale"]["dimension"], csv["dimension"], rtol=1e-9)


@pytest.mark.parametrize("cls,name", [("MLE", "mle"), ("TwoNN", "twonn"), ("lPCA", "lpca"), ("TLE", "tle"),
                                      ("Imanifold", "imanifold"), ("DANCo", "danco")])
def test_classes_equal_cli(cls, name, cli, datasets, tmp_path):
    X = datasets["paraboloid6"]
    npy = tmp_path / "x.npy"
    np.save(npy, X)
    t = run_cli(cli, npy, tmp_path / "out", [name])[name]
    est = getattr(iid, cls)().fit(X)
    assert est.dimension_ == pytest.approx(t["dimension"], rel=1e-12)
    assert (est.ci95_ is None) == (t["ci95"] is None)
    if est.ci95_ is not None:
        assert est.ci95_ == pytest.approx(tuple(t["ci95"]), rel=1e-12)


def test_fit_pw_equals_cli(cli, datasets, tmp_path):
    X = datasets["ball5_in_12"][:200]
    npy = tmp_path / "x.npy"
    np.save(npy, X)
    run_cli(cli, npy, tmp_path / "out", ["lpca", "mle"], ["--pointwise", "--k", "30"])
    pw = iid.lPCA().fit_pw(X, n_neighbors=30, smooth=True)
    np.testing.assert_array_equal(pw.dimension_pw_, np.load(tmp_path / "out" / "pointwise_lpca.npy"))
    np.testing.assert_array_equal(pw.dimension_pw_smooth_, np.load(tmp_path / "out" / "pointwise_smooth_lpca.npy"))
    mle = iid.MLE(n_neighbors=30).fit(X)
    np.testing.assert_allclose(mle.dimension_pw_, np.load(tmp_path / "out" / "pointwise_mle.npy"), rtol=1e-12)


def test_interface(datasets):
    X = datasets["ball5_in_12"]
    est = iid.MLE(comb="median")
    assert est.get_params()["comb"] == "median" and est.get_params()["n_neighbors"] == 20
    assert est.fit(X) is est and 3 < est.dimension_ < 7
    assert est.dimension_pw_.shape == (len(X),) and est.dimension_pw_.dtype == np.float64
    lo, hi = est.ci95_
    assert lo < est.dimension_ < hi
    # skdim's fit-time arguments of local estimators.
    assert iid.MLE().fit(X, n_neighbors=10).params_["n_neighbors"] == 10
    # Results do not depend on the thread count.
    assert iid.TwoNN().fit(X, threads=1).ci95_ == iid.TwoNN().fit(X).ci95_
    # Duplicate rows are dropped, as the CLI does.
    dup = np.vstack([X, X[:5]])
    d = iid.MLE().fit(dup)
    assert d.duplicates_dropped_ == 5 and d.dimension_ == est.set_params(comb="mle").fit(X).dimension_
    assert set(iid.names()) >= {"mle", "twonn", "lpca", "imanifold"}
    for name, cls in iid.ESTIMATORS.items():
        assert cls.__doc__ and "Defaults:" in cls.__doc__, name


def test_errors(datasets):
    X = datasets["ball5_in_12"]
    with pytest.raises(ValueError, match="n_neighbors = 1: must be at least 2"):
        iid.MLE(n_neighbors=1)
    with pytest.raises(ValueError, match="must be 'mean', 'median' or 'mle'"):
        iid.MLE().fit(X, comb="mode")
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        iid.TwoNN(nope=3)
    with pytest.raises(ValueError, match="unknown estimator \"nope\""):
        iid.estimate(X, ["nope"])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3 column 2 is not finite"):
        iid.MLE().fit(bad)
    with pytest.raises(ValueError, match="2-D array"):
        iid.MLE().fit(X[0])
    with pytest.raises(ValueError, match="needs more points|needs at least"):
        iid.MLE().fit(X[:10])
    with pytest.raises(ValueError, match="threads = 0"):
        iid.MLE().fit(X, threads=0)
    with pytest.raises(ValueError, match="lpca needs at least 2 points, the data has 1"):
        iid.lPCA().fit(np.ones((4, 3), np.float32))  # repeated rows are dropped first
    with pytest.raises(ValueError, match="k_range"):
        iid.estimate(X, ["mle"], k_range=(5, 2))


def test_no_copy_for_float32_c_contiguous(datasets):
    X = datasets["ball5_in_12"]
    address = X.__array_interface__["data"][0]
    iid.TwoNN().fit(X)
    assert imanifold._imanifold.last_input_pointer() == address
    iid.estimate(X, ["mle"], bootstrap=0)
    assert imanifold._imanifold.last_input_pointer() == address
    # Other dtypes / orders are converted once, to the same values.
    for other in (X.astype(np.float64), np.asfortranarray(X)):
        d = iid.TwoNN().fit(other).dimension_
        assert imanifold._imanifold.last_input_pointer() != other.__array_interface__["data"][0]
        assert d == iid.TwoNN().fit(X).dimension_


def test_panic_becomes_runtime_error():
    with pytest.raises(RuntimeError, match=r"\(a Rust panic\): debug_panic was called"):
        imanifold._imanifold.debug_panic()


def test_estimate_knn_strategy_equals_cli(cli, tmp_path):
    # The CLI's --knn-strategy: the approximate search gives the CLI's values and reports its recall; an exact
    # strategy reports none; an unknown one is refused.
    X = cube_in_20(2500, seed=4)
    npy = tmp_path / "x.npy"
    np.save(npy, X)
    names = ["mle", "twonn"]
    theirs = run_cli(cli, npy, tmp_path / "out", names, ["--k", "10", "--knn-strategy", "approx", "--seed", "2"])
    with open(tmp_path / "out" / "results.json") as f:
        knn = json.load(f)["knn"]
    ours = iid.estimate(X, names, n_neighbors=10, seed=2, knn_strategy="approx")
    for label, t in theirs.items():
        assert ours[label]["dimension"] == t["dimension"], label
        assert ours[label]["ci95"] == pytest.approx(tuple(t["ci95"]), rel=1e-12), label
        assert ours[label]["knn"] == knn
    assert knn["strategy"] == "approx" and 0.9 <= knn["recall_at_k"] <= 1.0
    exact = iid.estimate(X, names, n_neighbors=10, seed=2, knn_strategy="pruned")
    assert exact["mle"]["knn"] == {"strategy": "pruned"}
    assert exact["mle"]["dimension"] == pytest.approx(ours["mle"]["dimension"], rel=0.01)
    with pytest.raises(ValueError, match="psychic"):
        iid.estimate(X, names, knn_strategy="psychic")
