import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

DEFAULT_QUERY_BLOCK: int
QUERY_BLOCK_BYTES: int
DEFAULT_SHARD_ROWS: int
DEFAULT_SPLIT_EVERY: int

Part = Tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float32]]

def load_source(src: object) -> npt.NDArray[np.float32]: ...
def shard_topk(query: object, reference: object, k: int, offset: int, query_start: Optional[int] = None,
               strategy: str = "auto", threads: Optional[int] = None) -> Part: ...
def merge_topk(parts: Sequence[Part], k: int) -> Part: ...
def finish(part: Part, k: int) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def kneighbors(queries: object, references: object, k: int, client: object = None, query_block: Optional[int] = None,
               strategy: str = "auto", threads: Optional[int] = None, split_every: int = 8
               ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def main(argv: Optional[Sequence[str]] = None) -> int: ...

DEFAULT_IMAGE_SHARD: int

def load_images(files: Sequence[str], spec: Dict[str, Any], threads: Optional[int] = None
                ) -> npt.NDArray[np.float32]: ...
def image_folder(path: Union[str, os.PathLike], shard_rows: int = 8192, gray: bool = False, rgb: bool = False,
                 resize: Optional[Tuple[int, int]] = None, limit: Optional[int] = None,
                 sample: Optional[int] = None, seed: int = 0, recursive: bool = False,
                 threads: Optional[int] = None) -> Any: ...

DEFAULT_RENDER_RANGE: int

def render_range(folder: str, request: Dict[str, Any], start: int, end: int, threads: Optional[int] = None
                 ) -> float: ...
def render(scene: str, out: Union[str, os.PathLike], vary: Union[str, Sequence[str]] = (), n: int = 100,
           size: Union[int, Tuple[int, int]] = 64, sampling: str = "random", seed: int = 0, ssaa: int = 4,
           blur: float = 0.0, gray: bool = False, depth: bool = False, set: Sequence[str] = (),
           client: object = None, range_size: int = 1024, threads: Optional[int] = None) -> Dict[str, Any]: ...

MOMENT_BLOCK: int
MOMENT_FANIN: int

def moment_blocks(sources: Sequence[Tuple[int, int, object]]) -> List[list]: ...
def block_column_sums(pieces: Sequence[object]) -> Tuple[int, npt.NDArray[np.float64]]: ...
def block_scatter(pieces: Sequence[object], mean: npt.NDArray[np.float64]) -> Tuple[int, npt.NDArray[np.float64]]: ...
def combine_column_sums(parts: Sequence[Tuple[int, npt.NDArray[np.float64]]]) -> Tuple[int, npt.NDArray[np.float64]]: ...
def combine_scatter(parts: Sequence[Tuple[int, npt.NDArray[np.float64]]]) -> Tuple[int, npt.NDArray[np.float64]]: ...
def dimension(shards: object, estimators: Sequence[str] = ("mle", "twonn"), n_neighbors: Optional[int] = None,
              k_range: Optional[Tuple[int, int]] = None, bootstrap: int = ..., seed: int = 0, client: object = None,
              query_block: Optional[int] = None, threads: Optional[int] = None, split_every: int = 8
              ) -> Dict[str, Dict[str, Any]]: ...

DEFAULT_SCORE_BLOCK: int
SCORE_DEFAULT_K: int
SCORE_DEFAULT_CALIBRATION: int

def row_digests(src: object) -> npt.NDArray[np.bytes_]: ...
def take_rows(src: object, start: int, rows: int, wanted: object
              ) -> Tuple[npt.NDArray[np.int64], Optional[npt.NDArray[np.float32]]]: ...
def score_block(points: object, table: Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]],
                pieces: Sequence[Tuple[npt.NDArray[np.int64], Optional[npt.NDArray[np.float32]]]], d: int,
                methods: str, k: int, dim: str, dimension: float,
                calibration: Optional[Dict[str, npt.NDArray[np.float64]]] = None, threads: Optional[int] = None
                ) -> Dict[str, npt.NDArray[Any]]: ...
def score(reference: object, queries: object, methods: Optional[Sequence[str]] = None, k: int = 20,
          dim: object = "auto", calibration: int = 2000, seed: int = 0, client: object = None,
          query_block: int = 1024, threads: Optional[int] = None, split_every: int = 8
          ) -> Dict[str, npt.NDArray[Any]]: ...
