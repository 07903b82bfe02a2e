from typing import Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

DEFAULT_QUERY_BLOCK: int
DEFAULT_SHARD_ROWS: int
DEFAULT_SPLIT_EVERY: int

Part = Tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float32]]

def load_source(src: object) -> npt.NDArray[np.float32]: ...
def shard_topk(query: object, reference: object, k: int, offset: int, query_start: Optional[int] = None,
               strategy: str = "auto", threads: Optional[int] = None) -> Part: ...
def merge_topk(parts: Sequence[Part], k: int) -> Part: ...
def finish(part: Part, k: int) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def kneighbors(queries: object, references: object, k: int, client: object = None, query_block: int = 4096,
               strategy: str = "auto", threads: Optional[int] = None, split_every: int = 8
               ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def main(argv: Optional[Sequence[str]] = None) -> int: ...
