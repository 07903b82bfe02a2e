"""Shared fixtures: generated data sets (numpy only) and the CLI binary."""
import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def ball(n, d, D, seed):
    """n points uniform in a d-ball, rotated into R^D (float32)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x *= rng.uniform(size=(n, 1)) ** (1 / d)
    basis = np.linalg.qr(rng.normal(size=(D, d)))[0]
    return np.ascontiguousarray(x @ basis.T, dtype=np.float32)


def paraboloid(n, d, seed):
    """n points on the graph of |u|^2 over [-1, 1]^d (float32, d + 1 columns)."""
    u = np.random.default_rng(seed).uniform(-1, 1, size=(n, d))
    return np.ascontiguousarray(np.hstack([u, (u**2).sum(1, keepdims=True)]), dtype=np.float32)


@pytest.fixture(scope="session")
def datasets():
    return {"ball5_in_12": ball(500, 5, 12, 1), "paraboloid6": paraboloid(500, 6, 2)}


@pytest.fixture(scope="session")
def cli():
    """The built CLI (IMANIFOLD_BIN, else target/release/imanifold); skipped with a message when missing."""
    path = pathlib.Path(os.environ.get("IMANIFOLD_BIN", ROOT / "target" / "release" / "imanifold"))
    if not path.is_file():
        pytest.skip(f"CLI binary {path} not built (cargo build --release -p imanifold)")
    return path


def split_files(x, sizes, folder):
    """``x`` cut into consecutive .npy files of ``sizes`` rows in ``folder`` (created): the Dask tests' shards."""
    folder.mkdir()
    bounds = np.cumsum([0] + list(sizes))
    assert bounds[-1] == len(x)
    for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        np.save(folder / f"part{s:03d}.npy", x[a:b])
    return folder


def cube_in_20(n=2500, seed=0):
    """Uniform points in a 5-D cube, linearly embedded in R^20."""
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(rng.uniform(size=(n, 5)) @ rng.normal(size=(5, 20)), dtype=np.float32)


def sphere_in_9(n=2000, seed=1):
    """Uniform points on the 2-sphere, rotated into R^9 and shifted off the origin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    basis = np.linalg.qr(rng.normal(size=(9, 3)))[0]
    return np.ascontiguousarray(x @ basis.T + 4.0, dtype=np.float32)


@pytest.fixture(scope="module")
def process_cluster():
    """A LocalCluster of two single-thread worker processes (what a worker-kill test needs)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster
