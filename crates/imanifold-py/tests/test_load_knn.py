"""imanifold.load and imanifold.NearestNeighbors."""
import gzip
import struct

import numpy as np
import pytest

import imanifold


def write_idx(path, array, code=0x08):
    data = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(data + array.astype(np.uint8).tobytes())


def test_load_npy_images(tmp_path):
    imgs = np.random.default_rng(0).uniform(size=(7, 4, 5)).astype(np.float32)
    np.save(tmp_path / "imgs.npy", imgs)
    ds = imanifold.load(tmp_path / "imgs.npy", limit=5)
    assert ds.data.shape == (5, 20) and ds.data.dtype == np.float32
    assert ds.image_shape == (4, 5, 1) and len(ds.ids) == 5 and ds.labels is None
    np.testing.assert_array_equal(ds.images()[..., 0], imgs[:5])
    sub = imanifold.load(tmp_path / "imgs.npy", sample=3, seed=1)
    assert len(sub) == 3 and sub.ids == imanifold.load(tmp_path / "imgs.npy", sample=3, seed=1).ids


def test_load_idx_with_labels(tmp_path):
    imgs = np.arange(3 * 2 * 2).reshape(3, 2, 2) * 10
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([7, 1, 9]))
    ds = imanifold.load(tmp_path / "t10k-images-idx3-ubyte.gz")
    assert ds.data.shape == (3, 4) and ds.image_shape == (2, 2, 1)
    np.testing.assert_array_equal(ds.labels, [7.0, 1.0, 9.0])
    np.testing.assert_allclose(ds.data, imgs.reshape(3, 4) / 255.0, rtol=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        imanifold.load(tmp_path / "missing.npy")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(OSError, match="unknown input type"):
        imanifold.load(tmp_path / "notes.txt")
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="--limit 0 selects nothing"):
        imanifold.load(tmp_path / "x.npy", limit=0)
    with pytest.raises(ValueError, match="exclude each other"):
        imanifold.load(tmp_path / "x.npy", gray=True, rgb=True)


def test_kneighbors_matches_sklearn(datasets):
    X = datasets["ball5_in_12"]
    Q = X[:50] + 0.01
    nn = imanifold.NearestNeighbors(n_neighbors=6).fit(X)
    d_self, i_self = nn.kneighbors()
    d_q, i_q = nn.kneighbors(Q, n_neighbors=4)
    assert d_self.shape == (len(X), 6) and i_self.dtype == np.int64
    assert not (i_self == np.arange(len(X))[:, None]).any()  # each point itself excluded
    np.testing.assert_array_equal(nn.kneighbors(Q, 4, return_distance=False), i_q)
    for strategy in ("brute", "pruned", "tree"):
        d, i = imanifold.NearestNeighbors(6, strategy=strategy, threads=1).fit(X).kneighbors()
        np.testing.assert_array_equal(i, i_self)
    try:
        from sklearn.neighbors import NearestNeighbors as SkNN
    except Exception as e:  # pragma: no cover
        pytest.skip(f"scikit-learn not importable ({e})")
    X64 = X.astype(np.float64)
    sk = SkNN(n_neighbors=6, algorithm="brute").fit(X64)
    sd, si = sk.kneighbors()
    np.testing.assert_array_equal(i_self, si)
    np.testing.assert_allclose(d_self, sd, rtol=1e-5)
    sd, si = sk.kneighbors(Q.astype(np.float64), n_neighbors=4)
    np.testing.assert_array_equal(i_q, si)
    np.testing.assert_allclose(d_q, sd, rtol=1e-5)


def test_kneighbors_no_copy_and_errors(datasets):
    X = datasets["ball5_in_12"]
    nn = imanifold.NearestNeighbors(3).fit(X)
    nn.kneighbors()
    assert imanifold._imanifold.last_input_pointer() == X.__array_interface__["data"][0]
    with pytest.raises(ValueError, match="query has 5 columns but the reference has 12"):
        nn.kneighbors(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="needs more points"):
        nn.kneighbors(n_neighbors=len(X))
    with pytest.raises(ValueError, match="not a search strategy"):
        imanifold.NearestNeighbors(3, strategy="ball_tree").fit(X).kneighbors()
    with pytest.raises(ValueError, match="not fitted"):
        imanifold.NearestNeighbors().kneighbors()
