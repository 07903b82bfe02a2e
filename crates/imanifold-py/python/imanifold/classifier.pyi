import os
from typing import Any, Dict, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]
DEFAULTS: Dict[str, Any]

def train(data: PathLike, out: PathLike, label_column: str = "label", epochs: int = 15, batch_size: int = 32,
          learning_rate: float = 0.002, weight_decay: float = 0.0001, validation: float = 0.2,
          channels: Sequence[int] = (16, 32, 32), hidden: int = 64,
          certified_eps: Union[float, str, None] = None, certified_kappa: float = 0.5,
          certified_warmup: float = 0.1, certified_ramp: float = 0.5, gray: bool = False, rgb: bool = False,
          resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
          seed: int = 0, recursive: bool = False, threads: Optional[int] = None) -> Tuple[str, Dict[str, Any]]: ...
def evaluate(model: PathLike, data: PathLike, label_column: str = "label", gray: bool = False, rgb: bool = False,
             resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
             seed: int = 0, recursive: bool = False, threads: Optional[int] = None) -> Dict[str, Any]: ...
def fool(model: PathLike, method: str, classes: Union[str, Sequence[str]] = "all",
         confidence: float = 0.99, generations: int = 1000, population: int = 64, mutation_rate: float = 0.1,
         mutation_half_life: float = 100.0, step_size: float = 0.02, seed: int = 0,
         threads: Optional[int] = None) -> Dict[str, Any]: ...
def attack(model: PathLike, data: PathLike, method: str, norm: str = "linf",
           eps: Union[float, str] = "8/255", steps: int = 40, search_rounds: int = 10, random_trials: int = 100,
           label_column: str = "label", gray: bool = False, rgb: bool = False,
           resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None, sample: Optional[int] = None,
           seed: int = 0, recursive: bool = False, reference: Optional[PathLike] = None, tangent_k: int = 20,
           tangent_dim: Optional[int] = None, confidence: Optional[float] = None,
           threads: Optional[int] = None) -> Dict[str, Any]: ...
