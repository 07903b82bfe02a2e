"""Dense optical flow between two frames."""
from __future__ import annotations

import os
from typing import List, Optional, Union

import numpy as np

from . import _imanifold
from ._util import as_matrix


def flow(a: Union[np.ndarray, str, os.PathLike], b: Union[np.ndarray, str, os.PathLike], method: str = "dis",
         threads: Optional[int] = None) -> np.ndarray:
    """Optical flow from frame ``a`` to frame ``b``, as ``imanifold flow A B --method METHOD``.

    Args:
        a, b: grey frames (h × w arrays, values in [0, 1]; float32 C-contiguous: no copy, anything else converted
            once), or paths of image files (read and converted to grey exactly as the CLI reads them).
        method: a name of :func:`flow_methods` (``dis`` (default), ``dis-fast``, ``horn-schunck``, ...).
        threads: worker threads (default: all cores).

    Returns:
        float32 (h, w, 2): u (right) then v (down), with ``b(x + flow(x)) ≈ a(x)``.

    Raises ValueError for a bad method or frames (different sizes, too small, non-finite), OSError for an
    unreadable file.
    """
    paths = [isinstance(x, (str, os.PathLike)) for x in (a, b)]
    if all(paths):
        return _imanifold.flow_files(os.fspath(a), os.fspath(b), method, threads=threads)
    if any(paths):
        raise ValueError("flow: give two arrays or two paths, not one of each")
    return _imanifold.flow_arrays(as_matrix(a, "a"), as_matrix(b, "b"), method, threads=threads)


def flow_methods() -> List[str]:
    """Every method name :func:`flow` accepts."""
    return list(_imanifold.flow_methods())
