"""Input conversion shared by the wrappers."""
from __future__ import annotations

import numpy as np


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
