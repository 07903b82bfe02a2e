import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import classifier as classifier
from . import id as id

__version__: str

class Dataset:
    data: npt.NDArray[np.float32]
    image_shape: Optional[Tuple[int, int, int]]
    ids: List[str]
    columns: Dict[str, Union[npt.NDArray[np.float64], List[str]]]
    source: str
    @property
    def labels(self) -> Optional[Union[npt.NDArray[np.float64], List[str]]]: ...
    def images(self) -> npt.NDArray[np.float32]: ...
    def __len__(self) -> int: ...

def load(path: Union[str, os.PathLike], gray: bool = False, rgb: bool = False,
         resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
         seed: int = 0, recursive: bool = False, threads: Optional[int] = None) -> Dataset: ...

class NearestNeighbors:
    n_neighbors: int
    strategy: str
    threads: Optional[int]
    ef_search: int
    ef_construction: int
    approx_dims: int
    seed: int
    n_samples_fit_: int
    n_features_in_: int
    def __init__(self, n_neighbors: int = 5, strategy: str = "auto", threads: Optional[int] = None,
                 ef_search: int = ..., ef_construction: int = ..., approx_dims: int = ...,
                 seed: int = 0) -> None: ...
    def fit(self, X: npt.ArrayLike, y: object = None) -> "NearestNeighbors": ...
    def kneighbors(self, X: Optional[npt.ArrayLike] = None, n_neighbors: Optional[int] = None,
                   return_distance: bool = True
                   ) -> Union[Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]], npt.NDArray[np.int64]]: ...

def flow(a: Union[npt.ArrayLike, str, os.PathLike], b: Union[npt.ArrayLike, str, os.PathLike], method: str = "dis",
         threads: Optional[int] = None) -> npt.NDArray[np.float32]: ...
def flow_methods() -> List[str]: ...
def score(reference: npt.ArrayLike, query: npt.ArrayLike, methods: Optional[Union[str, List[str]]] = None,
          k: int = 20, dim: Union[str, int] = "auto", calibration: int = 2000, flow_method: str = "dis",
          seed: int = 0, image_shape: Optional[Tuple[int, int, int]] = None,
          features: Optional[Union[str, os.PathLike]] = None, groups: Optional[Sequence[str]] = None,
          threads: Optional[int] = None, mahalanobis_noise: float = 0.0, flow_neighbors: int = 3,
          flow_calibration: int = 200, knn_strategy: str = "auto") -> Dict[str, Any]: ...
def render(scene: str, vary: Union[str, List[str]] = ..., n: int = 100, size: Union[int, Tuple[int, int]] = 64,
           sampling: str = "random", seed: int = 0, ssaa: int = 4, blur: float = 0.0, gray: bool = False,
           depth: bool = False, flow: bool = False, threads: Optional[int] = None) -> Dict[str, object]: ...
def geodesic(data: Union[str, os.PathLike, npt.ArrayLike], k: int = 8, metric: str = "flow",
             flow_method: str = "dis-fine", photometric_weight: float = 10.0,
             truth: Union[str, Sequence[str], Mapping[str, npt.ArrayLike]] = ...,
             periodic: Optional[Mapping[str, float]] = None, truth_scale: Optional[Mapping[str, float]] = None,
             sources: Optional[Sequence[int]] = None, dims: int = 2, graph: str = "relative", path: Optional[Tuple[Any, Any]] = None, path_frames: int = 3,
             gray: bool = False, rgb: bool = False, resize: Optional[Tuple[int, int]] = None,
             limit: Optional[int] = None, sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
             threads: Optional[int] = None) -> Dict[str, Any]: ...
