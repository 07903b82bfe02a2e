"""The small convnet classifier: training into a model folder, evaluation, fooling images and adversarial
perturbations, over the library calls of ``imanifold classifier train|eval``, ``imanifold fool`` and
``imanifold adversarial`` (same defaults, same numbers for the same data and seed).

Models are folders (``model.safetensors`` + ``config.json``, as the CLI writes them); data are anything the loaders
read with a label column (e.g. a ``render`` output folder), loaded with :func:`imanifold.load`'s options.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from . import _imanifold
from ._util import input_options

DEFAULTS: Dict[str, Any] = dict(_imanifold.CLASSIFIER_DEFAULTS)
_D = DEFAULTS

PathLike = Union[str, os.PathLike]


def _certified_eps(eps: Union[float, str, None]) -> Optional[str]:
    # Passed as text and parsed by the CLI's parser (numbers and fractions); 0 means plain training.
    if eps is None or (not isinstance(eps, str) and float(eps) == 0.0):
        return None
    return eps if isinstance(eps, str) else repr(float(eps))


def train(data: PathLike, out: PathLike, label_column: str = _D["label_column"], epochs: int = _D["epochs"],
          batch_size: int = _D["batch_size"], learning_rate: float = _D["learning_rate"],
          weight_decay: float = _D["weight_decay"], validation: float = _D["validation"],
          channels: Sequence[int] = tuple(_D["channels"]), hidden: int = _D["hidden"],
          certified_eps: Union[float, str, None] = None, certified_kappa: float = _D["certified_kappa"],
          certified_warmup: float = _D["certified_warmup"], certified_ramp: float = _D["certified_ramp"],
          gray: bool = False, rgb: bool = False, resize: Optional[Tuple[int, int]] = None,
          limit: Optional[int] = None, sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
          threads: Optional[int] = None) -> Tuple[str, Dict[str, Any]]:
    """Trains a classifier on the labelled images at ``data`` and writes the model folder ``out``, as
    ``imanifold classifier train --data DATA --out OUT`` (same weights for the same data, options and seed).

    Args:
        data: labelled images (a folder with ``manifest.csv``, e.g. a ``render`` output, or any loader input).
        out: model folder to write (must not exist or be empty; written atomically).
        label_column: manifest column holding each image's class.
        epochs, batch_size, learning_rate (peak AdamW rate, cosine decay), weight_decay: training settings.
        validation: fraction of the images held out for the validation accuracy.
        channels: convolution channels (3×3 kernels; the first layer stride 1, the others stride 2).
        hidden: width of the hidden fully connected layer.
        certified_eps: certified (IBP) training in L∞ boxes of this radius, in [0, 1] pixel units (a number or a
            fraction string such as ``"2/255"``), as ``--certified-eps``; ``None`` (or 0): plain training.
        certified_kappa, certified_warmup, certified_ramp: final weight of the clean cross-entropy, share of the
            steps trained plainly first, share over which the radius rises from 0 (``--certified-kappa`` etc.).
        gray, rgb, resize, limit, sample, recursive: the loaders' options (as :func:`imanifold.load`).
        seed: seed of the split, the initialisation and the batches (and of ``sample``).
        threads: worker threads (default: all cores; results do not depend on it).

    Returns:
        (model folder path, the folder's ``results.json`` as a dict: accuracies, class counts, timings, ...).

    Raises:
        ValueError: bad options, missing label column, ``out`` not empty; FileNotFoundError / OSError: unreadable
        data or unwritable ``out``.
    """
    report = _imanifold.classifier_train(os.fspath(data), os.fspath(out), label_column, int(epochs),
                                         int(batch_size), float(learning_rate), float(weight_decay),
                                         float(validation), [int(c) for c in channels], int(hidden),
                                         _certified_eps(certified_eps), float(certified_kappa),
                                         float(certified_warmup), float(certified_ramp),
                                         input_options(gray, rgb, resize, limit, sample, seed, recursive), threads=threads)
    return os.fspath(out), json.loads(report)


def evaluate(model: PathLike, data: PathLike, label_column: str = _D["label_column"], gray: bool = False,
             rgb: bool = False, resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None,
             sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
             threads: Optional[int] = None) -> Dict[str, Any]:
    """Accuracy of the model folder ``model`` on the labelled images at ``data``, as ``imanifold classifier eval``.

    Returns:
        dict with ``accuracy`` (float), ``per_class`` (list of {class, n, accuracy}), ``classes`` (names),
        ``confusion`` (int64 classes × classes, rows = true class), per image ``labels`` and ``predicted`` (int64
        class indices), ``confidence`` (float32) and ``ids``, and ``report`` (the CLI's ``--json`` summary).

    Raises:
        ValueError: data that do not fit the model (load them with the model's ``resize`` and ``gray``/``rgb``),
        missing label column, unknown class; FileNotFoundError / OSError: missing or unreadable model or data.
    """
    out = _imanifold.classifier_evaluate(os.fspath(model), os.fspath(data), label_column,
                                         input_options(gray, rgb, resize, limit, sample, seed, recursive), threads=threads)
    out["report"] = json.loads(out["report"])
    out["accuracy"] = out["report"]["accuracy"]
    out["per_class"] = out["report"].get("per_class")
    return out


def fool(model: PathLike, method: str, classes: Union[str, Sequence[str]] = _D["fool_classes"],
         confidence: float = _D["fool_confidence"], generations: int = _D["fool_generations"],
         population: int = _D["fool_population"], mutation_rate: float = _D["fool_mutation_rate"],
         mutation_half_life: float = _D["fool_mutation_half_life"], step_size: float = _D["fool_step_size"],
         seed: int = 0, threads: Optional[int] = None) -> Dict[str, Any]:
    """Fooling images (Nguyen et al. 2015) of the model folder ``model``, as ``imanifold fool``.

    Args:
        method: ``evolve-direct``, ``evolve-cppn`` or ``gradient-ascent``.
        classes: ``"all"`` or class names (list or comma-separated).
        confidence: target probability; a class stops once its best image reaches it.
        generations: budget (generations or gradient steps); population: offspring per generation.
        mutation_rate, mutation_half_life: direct encoding's per-pixel mutation probability and its half-life.
        step_size: gradient ascent's RMS pixel change per step.
        seed: seed of the search. threads: worker threads.

    Returns:
        dict with ``images`` float32 (n, h, w, c) in [0, 1], ``classes`` (int64 class index per image),
        ``class_names`` and ``report`` (method, generations, evaluations and per image class, confidence,
        generation, reached, png_confidence).

    Raises ValueError for bad options or unknown classes; FileNotFoundError / OSError for an unreadable model.
    """
    if not isinstance(classes, str):
        classes = ",".join(classes)
    out = _imanifold.classifier_fool(os.fspath(model), method, classes, float(confidence), int(generations),
                                     int(population), float(mutation_rate), float(mutation_half_life),
                                     float(step_size), int(seed), threads=threads)
    out["report"] = json.loads(out["report"])
    return out


def attack(model: PathLike, data: PathLike, method: str, norm: str = _D["attack_norm"],
           eps: Union[float, str] = _D["attack_eps"], steps: int = _D["attack_steps"],
           search_rounds: int = _D["attack_search_rounds"], random_trials: int = _D["attack_random_trials"],
           label_column: str = _D["label_column"], gray: bool = False, rgb: bool = False,
           resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
           seed: int = 0, recursive: bool = False, reference: Optional[PathLike] = None,
           tangent_k: int = _D["attack_tangent_k"], tangent_dim: Optional[int] = None,
           confidence: Optional[float] = None, threads: Optional[int] = None) -> Dict[str, Any]:
    """Adversarial perturbations (Szegedy et al. 2014) of the correctly classified images at ``data``, as
    ``imanifold adversarial`` (perturbed images on the 8-bit grid).

    Args:
        method: ``fgsm``, ``pgd``, ``lbfgs`` or ``on-manifold`` (PGD inside the local tangent spaces of
            ``reference``, Stutz et al. 2019; the report adds ``pgd_flip_rate``, plain PGD at the same budget on the
            same images, ``mean_off_tangent_fraction`` and ``tangent``). norm: ``l2`` or ``linf``.
        reference: on-manifold only: the collection whose tangent spaces bound the perturbation (loaded like
            ``data``); tangent_k: its nearest images per tangent space; tangent_dim: the tangent dimension (default:
            the reference's estimated intrinsic dimension).
        eps: budget in [0, 1] pixel units, a number or a fraction such as ``"8/255"`` (ignored by lbfgs).
        steps: PGD steps or L-BFGS iterations per value of c; search_rounds: L-BFGS values of c.
        random_trials: random perturbations per image (each kind) for the random flip rates.
        confidence: pgd only: keep going after the label changes until the wrong class's softmax probability
            reaches it (a high-confidence attack); default: stop at the first change.
        label_column, gray, rgb, resize, limit, sample, seed, recursive: as :func:`evaluate`; ``seed`` also seeds
        the random trials.
        threads: worker threads.

    Returns:
        dict with ``rows`` (int64 attacked rows of the collection), ``clean`` and ``perturbed`` float32
        (m, h, w, c), ``class_names`` and ``report`` (flip_rate, random flip rates, norms, per image results).

    Raises ValueError for bad options or data that do not fit the model; FileNotFoundError / OSError for
    unreadable files.
    """
    out = _imanifold.classifier_attack(os.fspath(model), os.fspath(data), label_column, method, norm, str(eps),
                                       int(steps), int(search_rounds), int(random_trials),
                                       input_options(gray, rgb, resize, limit, sample, seed, recursive),
                                       reference=None if reference is None else os.fspath(reference),
                                       tangent_k=int(tangent_k), tangent_dim=tangent_dim,
                                       confidence=None if confidence is None else float(confidence), threads=threads)
    out["report"] = json.loads(out["report"])
    return out
