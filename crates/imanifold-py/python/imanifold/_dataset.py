"""`load` and `Dataset`."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from . import _imanifold
from ._util import input_options


class Dataset:
    """An n × d float32 matrix and what is known about its rows.

    Attributes:
        data: n × d float32 array (one row per image or point; images flattened row-major h, w, c).
        image_shape: (height, width, channels) when the rows are images, else None.
        ids: per-row identifier (file path relative to the source folder, or ``row N``).
        columns: manifest columns (name → float64 array, or list of str for text columns), ``file`` excluded.
        source: where the data came from.
    """

    def __init__(self, data: np.ndarray, image_shape: Optional[Tuple[int, int, int]], ids: List[str],
                 columns: Dict[str, Union[np.ndarray, List[str]]], source: str):
        self.data = data
        self.image_shape = image_shape
        self.ids = ids
        self.columns = columns
        self.source = source

    @property
    def labels(self) -> Optional[Union[np.ndarray, List[str]]]:
        """The ``label`` column, if there is one."""
        return self.columns.get("label")

    def images(self) -> np.ndarray:
        """The rows as an (n, h, w, c) view; ValueError when the rows are not images."""
        if self.image_shape is None:
            raise ValueError(f"{self.source}: the rows are not images")
        return self.data.reshape((len(self.data),) + tuple(self.image_shape))

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        n, d = self.data.shape
        shape = f", image_shape={tuple(self.image_shape)}" if self.image_shape else ""
        cols = f", columns={list(self.columns)}" if self.columns else ""
        return f"Dataset(n={n}, d={d}{shape}{cols}, source={self.source!r})"


def load(path: Union[str, os.PathLike], gray: bool = False, rgb: bool = False,
         resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
         seed: int = 0, recursive: bool = False, threads: Optional[int] = None) -> Dataset:
    """Loads a collection as the CLI's commands do (same options, same rows, same order).

    Args:
        path: an image folder (with an optional ``manifest.csv``: ``file`` + metadata columns, as render outputs
            write), a ``.npy`` file (n × d, or n × h × w [× c] images), or an MNIST ``*-idx3-ubyte[.gz]`` file (its
            labels file, when present next to it, becomes the ``label`` column).
        gray: convert images to grey (ITU-R BT.601 luma). Default: grey if the first image is grey, else RGB.
        rgb: convert images to RGB (excludes ``gray``).
        resize: (width, height): resize every image (bilinear).
        limit: keep the first N rows.
        sample: keep N rows drawn at random with ``seed``, in their original order.
        seed: seed of ``sample``.
        recursive: descend into sub-folders of an image folder.
        threads: worker threads (default: all cores).

    Returns:
        A :class:`Dataset` (``.data`` is float32, values as the loaders give them: images in [0, 1]).

    Raises:
        FileNotFoundError / OSError: missing or unreadable files; ValueError: bad options or contents.
    """
    d = _imanifold.load(os.fspath(path), input_options(gray, rgb, resize, limit, sample, seed, recursive),
                        threads=threads)
    return Dataset(d["data"], d["image_shape"], d["ids"], d["columns"], d["source"])
