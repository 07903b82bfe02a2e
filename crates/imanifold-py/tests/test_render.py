"""imanifold.render against `imanifold render --npy` (images.npy, manifest.csv) on the same options."""
import csv
import subprocess

import numpy as np
import pytest

import imanifold


@pytest.mark.parametrize("gray", [False, True])
def test_render_equals_cli(cli, tmp_path, gray):
    out = tmp_path / "r"
    cmd = [str(cli), "render", "--scene", "object", "--vary", "yaw,pitch", "--n", "5", "--size", "24", "--seed",
           "4", "--npy", "--quiet", "--out", str(out)] + (["--gray"] if gray else [])
    subprocess.run(cmd, check=True)
    got = imanifold.render("object", vary="yaw,pitch", n=5, size=24, seed=4, gray=gray, depth=True, threads=1)
    np.testing.assert_array_equal(got["images"], np.load(out / "images.npy"))
    with open(out / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    for name in ("yaw", "pitch"):
        np.testing.assert_allclose(got["parameters"][name], [float(r[name]) for r in rows], rtol=1e-6)
    assert got["depth"].shape == (5, 24, 24)


def test_render_bad_inputs_raise():
    with pytest.raises(ValueError):
        imanifold.render("no-such-scene", n=2)
    with pytest.raises(ValueError):
        imanifold.render("object", vary="nope", n=2)
    with pytest.raises(ValueError):
        imanifold.render("object", n=2, sampling="sideways")
