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


def test_render_flow_equals_cli(cli, tmp_path):
    out = tmp_path / "t"
    subprocess.run([str(cli), "render", "--scene", "object", "--vary", "yaw", "--n", "4", "--size", "24",
                    "--sampling", "trajectory", "--seed", "2", "--flow", "--quiet", "--out", str(out)], check=True)
    got = imanifold.render("object", vary="yaw", n=4, size=24, sampling="trajectory", seed=2, flow=True, threads=1)
    assert got["flow"].shape == (3, 24, 24, 2) and got["flow_valid"].shape == (3, 24, 24)
    for i in range(3):
        np.testing.assert_array_equal(got["flow"][i], np.load(out / "flow" / f"{i:06d}_{i + 1:06d}.npy"))
        assert got["flow_valid"][i].any()
    # The flow explains the motion: frame i+1 sampled at x + flow(x) is closer to frame i than frame i+1 at x.
    imgs = got["images"].mean(axis=-1)
    ys, xs = np.mgrid[0:24, 0:24]
    for i in range(3):
        f, valid = got["flow"][i], got["flow_valid"][i]
        x2 = np.clip(np.rint(xs + f[..., 0]).astype(int), 0, 23)
        y2 = np.clip(np.rint(ys + f[..., 1]).astype(int), 0, 23)
        warped = np.abs(imgs[i + 1][y2, x2] - imgs[i])[valid].mean()
        identity = np.abs(imgs[i + 1] - imgs[i])[valid].mean()
        assert warped < identity, (i, warped, identity)
    with pytest.raises(ValueError, match="trajectory"):
        imanifold.render("object", vary="yaw", n=4, flow=True)
