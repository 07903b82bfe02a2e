"""imanifold.classifier against `imanifold classifier train|eval`, `fool` and `adversarial` on a tiny rendered set."""
import csv
import json
import subprocess

import numpy as np
import pytest

import imanifold
from imanifold import classifier

TINY = ["--epochs", "2", "--channels", "4,8", "--hidden", "16", "--seed", "3"]


@pytest.fixture(scope="module")
def labelled(cli, tmp_path_factory):
    """40 labelled 16×16 images of the shapes10 scene and a model trained on them by the CLI."""
    root = tmp_path_factory.mktemp("cls")
    subprocess.run([str(cli), "render", "--scene", "shapes10", "--n", "40", "--size", "16", "--seed", "1",
                    "--quiet", "--out", str(root / "data")], check=True)
    subprocess.run([str(cli), "classifier", "train", "--data", str(root / "data"), *TINY, "--quiet", "--out",
                    str(root / "model")], check=True)
    return root / "data", root / "model"


def test_train_equals_cli(labelled, tmp_path):
    data, cli_model = labelled
    path, report = classifier.train(data, tmp_path / "m", epochs=2, channels=(4, 8), hidden=16, seed=3, threads=1)
    assert path == str(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == (cli_model / "model.safetensors").read_bytes()
    want = json.loads((cli_model / "results.json").read_text())
    for key in ("train_accuracy", "validation_accuracy", "n_images", "class_counts", "epochs", "seed"):
        assert report[key] == want[key], key
    assert json.loads((tmp_path / "m" / "results.json").read_text())["validation_accuracy"] == report[
        "validation_accuracy"]


def test_certified_train_equals_cli(cli, labelled, tmp_path):
    """certified_eps= (a fraction text or a float) trains the CLI's --certified-eps model, weight for weight."""
    data, _ = labelled
    subprocess.run([str(cli), "classifier", "train", "--data", str(data), *TINY, "--certified-eps", "2/255",
                    "--quiet", "--out", str(tmp_path / "cli")], check=True)
    for eps, name in (("2/255", "text"), (2 / 255, "float")):
        classifier.train(data, tmp_path / name, epochs=2, channels=(4, 8), hidden=16, seed=3, threads=1,
                         certified_eps=eps)
        assert (tmp_path / name / "model.safetensors").read_bytes() == (tmp_path / "cli" / "model.safetensors").read_bytes()
    report = json.loads((tmp_path / "text" / "results.json").read_text())
    assert report["certified_training"]["eps"] == pytest.approx(2 / 255)
    with pytest.raises(ValueError, match="certified"):
        classifier.train(data, tmp_path / "bad", epochs=1, certified_eps=float("nan"))
    assert not (tmp_path / "bad").exists()


def test_evaluate_equals_cli(cli, labelled):
    data, model = labelled
    run = subprocess.run([str(cli), "classifier", "eval", "--model", str(model), "--data", str(data), "--json"],
                         check=True, capture_output=True, text=True)
    want = json.loads(run.stdout)
    got = classifier.evaluate(model, data, threads=1)
    assert got["accuracy"] == want["accuracy"]
    assert got["per_class"] == want["per_class"]
    k = len(got["classes"])
    assert got["confusion"].shape == (k, k) and got["confusion"].sum() == want["n_images"]
    assert np.trace(got["confusion"]) == round(want["accuracy"] * want["n_images"])
    # Per-image predictions equal the CLI's predictions.csv.
    out = model.parent / "eval"
    subprocess.run([str(cli), "classifier", "eval", "--model", str(model), "--data", str(data), "--out", str(out)],
                   check=True, capture_output=True)
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    names = got["classes"]
    assert [names[p] for p in got["predicted"]] == [r["predicted"] for r in rows]
    np.testing.assert_array_equal(got["confusion"].sum(axis=1),
                                  [sum(1 for r in rows if r["label"] == c) for c in names])


def test_fool_equals_cli(cli, labelled, tmp_path):
    _, model = labelled
    subprocess.run([str(cli), "fool", "--model", str(model), "--method", "gradient-ascent", "--generations", "5",
                    "--classes", "cube,torus", "--seed", "1", "--quiet", "--out", str(tmp_path / "f")], check=True)
    got = classifier.fool(model, method="gradient-ascent", generations=5, classes=["cube", "torus"], seed=1)
    assert got["images"].shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(got["images"].reshape(2, -1), np.load(tmp_path / "f" / "fooling.npy"))
    assert [got["class_names"][c] for c in got["classes"]] == ["cube", "torus"]
    with open(tmp_path / "f" / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["confidence"]) for r in rows] == [i["png_confidence"] for i in got["report"]["images"]]


def test_attack_equals_cli(cli, labelled, tmp_path):
    data, model = labelled
    subprocess.run([str(cli), "adversarial", "--model", str(model), "--data", str(data), "--method", "fgsm",
                    "--random-trials", "3", "--quiet", "--out", str(tmp_path / "a")], check=True)
    got = classifier.attack(model, data, method="fgsm", random_trials=3)
    want = json.loads((tmp_path / "a" / "results.json").read_text())
    assert got["report"]["flip_rate"] == want["flip_rate"]
    m = len(got["rows"])
    np.testing.assert_array_equal(got["perturbed"].reshape(m, -1), np.load(tmp_path / "a" / "perturbed.npy"))
    np.testing.assert_array_equal(got["clean"].reshape(m, -1), np.load(tmp_path / "a" / "clean.npy"))
    assert np.abs(got["perturbed"] - got["clean"]).max() <= 8 / 255 + 1e-6


def test_on_manifold_attack_equals_cli(cli, labelled, tmp_path):
    data, model = labelled
    subprocess.run([str(cli), "adversarial", "--model", str(model), "--data", str(data), "--method", "on-manifold",
                    "--reference", str(data), "--tangent-k", "8", "--random-trials", "2", "--quiet",
                    "--out", str(tmp_path / "a")], check=True)
    got = classifier.attack(model, data, method="on-manifold", reference=data, tangent_k=8, random_trials=2)
    want = json.loads((tmp_path / "a" / "results.json").read_text())
    for key in ["flip_rate", "pgd_flip_rate", "mean_off_tangent_fraction", "tangent"]:
        assert got["report"][key] == want[key], key
    m = len(got["rows"])
    np.testing.assert_array_equal(got["perturbed"].reshape(m, -1), np.load(tmp_path / "a" / "perturbed.npy"))
    with pytest.raises(ValueError, match="reference"):
        classifier.attack(model, data, method="on-manifold")
    with pytest.raises(ValueError, match="tangent dim"):
        classifier.attack(model, data, method="on-manifold", reference=data, tangent_k=8, tangent_dim=8)


def test_classifier_bad_inputs_raise(labelled, tmp_path):
    data, model = labelled
    with pytest.raises(ValueError):
        classifier.train(data, tmp_path / "m", epochs=0)
    with pytest.raises(ValueError, match="nope"):
        classifier.train(data, tmp_path / "m", epochs=1, label_column="nope")
    assert not (tmp_path / "m").exists()
    with pytest.raises(FileNotFoundError):
        classifier.evaluate(tmp_path / "no-model", data)
    with pytest.raises(ValueError):
        classifier.evaluate(model, data, resize=(8, 8))
    with pytest.raises(ValueError, match="unknown class"):
        classifier.fool(model, method="gradient-ascent", classes="unicorn")
    with pytest.raises(ValueError):
        classifier.attack(model, data, method="sideways")
    with pytest.raises(ValueError):
        classifier.attack(model, data, method="fgsm", eps="a/b")
