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
