"""Image sets of a 3-D scene, rendered in memory."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _imanifold


def render(scene: str, vary: Union[str, Sequence[str]] = (), n: int = 100,
           size: Union[int, Tuple[int, int]] = 64, sampling: str = "random", seed: int = 0, ssaa: int = 4,
           blur: float = 0.0, gray: bool = False, depth: bool = False, flow: bool = False,
           threads: Optional[int] = None) -> Dict[str, object]:
    """Renders an image set of ``scene``, as ``imanifold render`` (same images as its ``images.npy``).

    Args:
        scene: built-in scene (``object``, ``room``, ``turntable``, ``shapes10``) or a scene ``.toml`` path.
        vary: parameters to vary (list or comma-separated); the others keep their defaults.
        n: images (random, trajectory) or points per varied parameter (grid).
        size: N (square) or (width, height).
        sampling: ``random``, ``grid`` or ``trajectory``.
        seed, ssaa, blur, gray: as the CLI's ``--seed --ssaa --blur --gray``.
        depth: also return per-pixel camera-space depth (+inf on background).
        flow: also return the ground-truth optical flow from each image to the next (needs ``sampling=
            "trajectory"``), as ``imanifold render --flow`` writes it in ``flow/AAAAAA_BBBBBB.npy``.
        threads: worker threads (default: all cores; results do not depend on it).

    Returns:
        dict with ``images`` float32 (n, h, w) grey or (n, h, w, 3) in [0, 1] (unquantised), ``parameters`` (dict
        name → float64 values of each varied parameter), with ``depth`` ``depth`` float32 (n, h, w), and with ``flow``
        ``flow`` float32 (n − 1, h, w, 2) (u, v in pixels: image i's pixel (x, y) moves to (x + u, y + v) in image
        i + 1) and ``flow_valid`` bool (n − 1, h, w) (the surface seen at the pixel stays visible inside image i + 1).

    Raises ValueError for an unknown scene or parameter, or bad options.
    """
    if isinstance(vary, str):
        vary = vary.split(",")
    w, h = (size, size) if isinstance(size, int) else size
    images, names, values, d, f = _imanifold.render(scene, list(vary), int(n), int(w), int(h), sampling, int(seed),
                                                    int(ssaa), float(blur), bool(gray), bool(depth), flow=bool(flow),
                                                    threads=threads)
    out = {"images": images[..., 0] if gray else images,
           "parameters": {name: values[:, j].copy() for j, name in enumerate(names)}}
    if depth:
        out["depth"] = d[..., 0]
    if flow:
        out["flow"], out["flow_valid"] = f
    return out
