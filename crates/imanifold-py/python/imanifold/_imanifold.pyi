"""The compiled half of imanifold (glue over the Rust library crates). Use the `imanifold` package instead."""
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_BOOTSTRAP: int
DEFAULT_PW_NEIGHBORS: int

def last_input_pointer() -> int: ...
def debug_panic(threads: Optional[int] = None) -> None: ...
def load(path: str, gray: bool = False, rgb: bool = False, resize: Optional[Tuple[int, int]] = None,
         limit: Optional[int] = None, sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
         threads: Optional[int] = None) -> Dict[str, Any]: ...
def kneighbors(reference: npt.NDArray[np.float32], query: Optional[npt.NDArray[np.float32]], k: int,
               strategy: str = "auto", threads: Optional[int] = None
               ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def exact_sq_distances(reference: npt.NDArray[np.float32], query: Optional[npt.NDArray[np.float32]],
                       indices: npt.NDArray[np.int64], threads: Optional[int] = None) -> npt.NDArray[np.float64]: ...
def estimator_params(name: str, params_json: str) -> str: ...
def estimator_names() -> List[str]: ...
def fit(x: npt.NDArray[np.float32], name: str, params_json: str, bootstrap: int, seed: int,
        threads: Optional[int] = None) -> Tuple[str, Optional[npt.NDArray[np.float64]]]: ...
def fit_pw(x: npt.NDArray[np.float32], name: str, params_json: str, n_neighbors: int, smooth: bool, seed: int,
           threads: Optional[int] = None) -> npt.NDArray[np.float64]: ...
def estimate(x: npt.NDArray[np.float32], estimators: List[str], n_neighbors: Optional[int] = None,
             k_range: Optional[Tuple[int, int]] = None, bootstrap: int = ..., seed: int = 0,
             threads: Optional[int] = None) -> str: ...
def flow_arrays(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], method: str,
                threads: Optional[int] = None) -> npt.NDArray[np.float32]: ...
def flow_files(a: str, b: str, method: str, threads: Optional[int] = None) -> npt.NDArray[np.float32]: ...
def flow_methods() -> List[str]: ...
SCORE_DEFAULT_K: int
SCORE_DEFAULT_CALIBRATION: int
SCORE_DEFAULT_FLOW_METHOD: str
SCORE_DEFAULT_FLOW_NEIGHBORS: int
SCORE_DEFAULT_FLOW_CALIBRATION: int
def score(reference: npt.NDArray[np.float32], query: npt.NDArray[np.float32], methods: str, k: int, dim: str,
          calibration: int, flow_method: str, seed: int, image_shape: Optional[Tuple[int, int, int]] = None,
          threads: Optional[int] = None, flow_neighbors: int = 3,
          flow_calibration: int = 200) -> Dict[str, npt.NDArray[Any]]: ...
def score_features(reference: npt.NDArray[np.float32], query: npt.NDArray[np.float32], features: str,
                   methods: Optional[str], k: int, dim: str, calibration: int, seed: int,
                   groups: Optional[List[str]] = None, threads: Optional[int] = None,
                   mahalanobis_noise: float = 0.0) -> Dict[str, Any]: ...
def render(scene: str, vary: List[str], n: int, width: int, height: int, sampling: str, seed: int, ssaa: int,
           blur: float, gray: bool, depth: bool, flow: bool = False,
           threads: Optional[int] = None) -> Tuple[Any, List[str], Any, Any, Any]: ...
GEODESIC_DEFAULT_K: int
GEODESIC_DEFAULT_DIMS: int
GEODESIC_DEFAULT_METRIC: str
GEODESIC_DEFAULT_FLOW_METHOD: str
GEODESIC_DEFAULT_PHOTOMETRIC_WEIGHT: float
def geodesic_path(path: str, opts: Dict[str, Any], gray: bool = False, rgb: bool = False,
                  resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None,
                  sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
                  threads: Optional[int] = None) -> Dict[str, Any]: ...
def geodesic_arrays(x: npt.NDArray[np.float32], opts: Dict[str, Any],
                    image_shape: Optional[Tuple[int, int, int]] = None,
                    columns: List[Tuple[str, List[float]]] = ..., threads: Optional[int] = None) -> Dict[str, Any]: ...
CLASSIFIER_DEFAULTS: Dict[str, Any]
def classifier_train(data: str, out: str, label_column: str, epochs: int, batch_size: int, learning_rate: float,
                     weight_decay: float, validation: float, channels: List[int], hidden: int, input: Dict[str, Any],
                     threads: Optional[int] = None) -> str: ...
def classifier_evaluate(model: str, data: str, label_column: str, input: Dict[str, Any],
                        threads: Optional[int] = None) -> Dict[str, Any]: ...
def classifier_fool(model: str, method: str, classes: str, confidence: float, generations: int, population: int,
                    mutation_rate: float, mutation_half_life: float, step_size: float, seed: int,
                    threads: Optional[int] = None) -> Dict[str, Any]: ...
def classifier_attack(model: str, data: str, label_column: str, method: str, norm: str, eps: str, steps: int,
                      search_rounds: int, random_trials: int, input: Dict[str, Any],
                      reference: Optional[str] = None, tangent_k: int = 20, tangent_dim: Optional[int] = None,
                      confidence: Optional[float] = None, threads: Optional[int] = None) -> Dict[str, Any]: ...
