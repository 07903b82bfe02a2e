"""Input conversion shared by the wrappers."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np


def input_options(gray: bool = False, rgb: bool = False, resize: Optional[Tuple[int, int]] = None,
                  limit: Optional[int] = None, sample: Optional[int] = None, seed: int = 0,
                  recursive: bool = False) -> Dict[str, Any]:
    """The CLI's input options (``--gray``, ``--rgb``, ``--resize``, ``--limit``, ``--sample``, ``--seed``,
    ``--recursive``) as the dict every compiled function that reads a collection takes."""
    return {"gray": bool(gray), "rgb": bool(rgb), "resize": None if resize is None else tuple(resize),
            "limit": limit, "sample": sample, "seed": int(seed), "recursive": bool(recursive)}


def as_matrix(X, what: str = "X") -> np.ndarray:
    """`X` as a C-contiguous float32 n × d array.

    A C-contiguous float32 array is returned as it is (the compiled code borrows its buffer, no copy); any other
    dtype, memory order or array-like is converted once. Raises ValueError unless `X` is two-dimensional.
    """
    a = np.asarray(X)
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n points × d coordinates), got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)
