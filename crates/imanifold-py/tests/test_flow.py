"""imanifold.flow against `imanifold flow A B --out F.npy` on the same rendered frames."""
import subprocess

import numpy as np
import pytest

import imanifold


@pytest.fixture(scope="module")
def frames(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    subprocess.run([str(cli), "render", "--scene", "object", "--vary", "yaw", "--n", "2", "--sampling",
                    "trajectory", "--size", "48", "--seed", "3", "--quiet", "--out", str(out)], check=True)
    return out / "images" / "000000.png", out / "images" / "000001.png"


@pytest.mark.parametrize("method", ["dis", "dis-fast"])
def test_flow_of_files_equals_cli(cli, frames, tmp_path, method):
    a, b = frames
    npy = tmp_path / "f.npy"
    subprocess.run([str(cli), "flow", str(a), str(b), "--method", method, "--quiet", "--out", str(npy)], check=True)
    got = imanifold.flow(a, b, method=method, threads=1)
    assert got.dtype == np.float32 and got.shape == (48, 48, 2)
    np.testing.assert_array_equal(got, np.load(npy))


def test_flow_of_arrays_is_finite_and_zero_on_equal_frames():
    rng = np.random.default_rng(0)
    a = rng.random((40, 40), dtype=np.float32)
    f = imanifold.flow(a, a)
    assert f.shape == (40, 40, 2) and np.all(np.isfinite(f))
    assert np.abs(f).max() < 1e-3


def test_flow_bad_inputs_raise(tmp_path):
    a = np.zeros((40, 40), np.float32)
    with pytest.raises(ValueError, match="method"):
        imanifold.flow(a, a, method="nope")
    with pytest.raises(ValueError):
        imanifold.flow(a, np.zeros((40, 41), np.float32))
    with pytest.raises(ValueError):
        imanifold.flow(a, str(tmp_path / "x.png"))
    with pytest.raises(OSError):
        imanifold.flow(tmp_path / "missing.png", tmp_path / "missing2.png")
    assert "dis" in imanifold.flow_methods()
