"""imanifold: the manifold of natural images from Python.

Bindings of the imanifold Rust library (numpy in and out):

* :func:`load` — image folders, render outputs, ``.npy`` and MNIST IDX(.gz) files as an n × d float32 matrix plus
  metadata (:class:`Dataset`), with the CLI's input options;
* :class:`NearestNeighbors` — exact kNN with scikit-learn's interface and return convention;
* :mod:`imanifold.id` — intrinsic-dimension estimators with scikit-dimension's class and parameter names, and
  :func:`imanifold.id.estimate` (several estimators on one kNN pass, with intervals and scale curves);
* :func:`flow` — dense optical flow between two frames (arrays or image files);
* :func:`render` — image sets of a 3-D scene in memory, with their parameters and depth;
* :func:`score` — off-manifold scores of query images against a reference set;
* :func:`geodesic` — geodesic distances on the kNN graph of a collection (optical-flow or pixel edge weights),
  Isomap embedding and agreement with true parameters;
* :mod:`imanifold.classifier` — train a small convnet into a model folder, evaluate it, fooling images and
  adversarial perturbations.

Inputs: C-contiguous float32 arrays are used without a copy; other dtypes and memory orders are converted once.
Computations release the GIL and run on ``threads`` worker threads (default: all cores; results do not depend on
it). Bad values raise ``ValueError``, unreadable files ``OSError``, with the library's message.
"""
from __future__ import annotations

from . import _imanifold
from . import classifier
from . import id
from ._dataset import Dataset, load
from ._flow import flow, flow_methods
from ._geodesic import geodesic
from ._neighbors import NearestNeighbors
from ._render import render
from ._score import score

__version__ = _imanifold.__version__
__all__ = ["Dataset", "NearestNeighbors", "classifier", "flow", "flow_methods", "geodesic", "id", "load", "render",
           "score", "__version__"]
