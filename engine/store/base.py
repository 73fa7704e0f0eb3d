"""The vector-store contract. Two implementations (embedded qdrant-edge, qdrant-client) pass one test suite;
callers never know which one they hold."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from engine.store.vectors import SparseVector
from engine.types import Filters

# The named sparse vector of lexical (BM25-style) weights, computed by engine.search.sparse with one tokenizer
# for both stores; the store applies the IDF of each term (Qdrant's IDF modifier).
LEXICAL = "lexical"

# Payload fields that get a Qdrant payload index (every filtered field is indexed).
PAYLOAD_SCHEMA: dict[str, str] = {
    "category_ids": "integer",  # the leaf and all its ancestors, so a parent filter matches its subtree
    "leaf_category_id": "integer",
    "price": "float",
    "brand": "keyword",
    "colour": "keyword",
    "group_key": "keyword",
    "is_active": "integer",  # 0/1: qdrant-edge 0.9.0 cannot match bools
    "in_stock": "integer",  # 0/1
    "has_image": "integer",  # 0/1
    "created_at": "datetime",
}


@dataclass(frozen=True)
class CollectionSpec:
    """What made the vectors. Opening a collection with a different spec is an EncoderMismatch."""

    text_encoder: str
    text_dim: int
    image_encoder: str
    image_dim: int
    text_weight: float

    @property
    def combined_dim(self) -> int:
        return self.text_dim + self.image_dim

    def sizes(self) -> dict[str, int]:
        return {"text": self.text_dim, "image": self.image_dim, "combined": self.combined_dim}

    def differences(self, other: "CollectionSpec") -> list[str]:
        out = []
        for name in ("text_encoder", "text_dim", "image_encoder", "image_dim", "text_weight"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: collection has {a!r}, requested {b!r}")
        return out


@dataclass
class PointRecord:
    id: int
    vectors: dict[str, np.ndarray]  # any of text / image / combined; a product without photo has no image
    payload: dict = field(default_factory=dict)
    lexical: SparseVector | None = None  # written only to a collection that has the LEXICAL sparse vector


@dataclass
class StoreHit:
    id: int
    score: float
    payload: dict = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Nearest:
    """One nearest-neighbour query of a batch (VectorStore.query_batch): query's arguments, kept together."""

    vector: np.ndarray
    using: str
    limit: int
    filters: Filters | None = None
    with_vectors: Sequence[str] = ()
    with_payload: bool = True


@dataclass(frozen=True)
class BuildProgress:
    """Where a background graph build is: stage copying | building | replaying | swapping, seconds since it
    began, the expected total (from the point count and the last build's pace), the building process."""

    stage: str
    elapsed: float
    estimate: float | None = None
    pid: int | None = None
    points: int = 0


@dataclass(frozen=True)
class GraphStatus:
    """What a store's search graph covers. `exact` is True while every query scans all vectors (no graph, or
    one that the points written since have outgrown); `server` marks a Qdrant server, which builds its own."""

    backend: str
    points: int
    built_points: int | None = None
    built_at: str | None = None
    seconds: float | None = None
    written_since: int = 0
    building: bool = False
    server: bool = False
    indexed_vectors: int = 0  # vectors (of every name) in segments that have a graph
    datatype: str = "float32"  # how the dense vectors are stored: a built embedded shard holds float16

    @property
    def exact(self) -> bool:
        return not self.server and not self.built_points


@dataclass(frozen=True)
class GraphReport:
    """What a build did: `built` False with the reason when nothing was to be built (a small catalog)."""

    built: bool
    points: int
    reason: str = ""
    seconds: float = 0.0
    pid: int | None = None
    replayed: int = 0  # writes made during the build, applied to the new shard


@runtime_checkable
class VectorStore(Protocol):
    backend: str  # "qdrant-edge" | "qdrant-client"

    def open(self, spec: CollectionSpec, *, recreate: bool = False) -> None:
        """Create the collection (vectors text/image/combined, cosine, payload indexes) or open it.
        Raises EncoderMismatch when it exists with another spec, unless recreate=True (drops all points)."""

    def spec(self) -> CollectionSpec | None:
        """The spec the collection was built with, or None when there is no collection yet."""

    def upsert(self, points: Sequence[PointRecord]) -> None: ...

    def delete(self, ids: Sequence[int]) -> None: ...

    def set_payload(self, ids: Sequence[int], payload: dict) -> None:
        """Change payload fields only; vectors stay."""

    def query(self, vector: np.ndarray, using: str, limit: int, filters: Filters | None = None,
              with_vectors: Sequence[str] = (), offset: int = 0, with_payload: bool = True) -> list[StoreHit]:
        """Nearest points by cosine on the named vector, filtered; score = cosine similarity. `with_payload=False`
        leaves every hit's payload empty: reading it costs three quarters of an embedded query, and the
        recommender reads the products from its card cache anyway."""

    def query_batch(self, queries: Sequence[Nearest]) -> list[list[StoreHit]]:
        """Several nearest-neighbour queries in one store call, each answered as `query` answers it, in order:
        complete the look asks for every complementary category at once, and the store plans them together."""

    def has_lexical(self) -> bool:
        """Whether the collection has the LEXICAL sparse vector (created by this version). A collection made
        before it has none: lexical search is unavailable until `index --full` recreates it."""

    def query_lexical(self, vector: SparseVector, limit: int, filters: Filters | None = None,
                      with_payload: bool = True) -> list[StoreHit]:
        """Points by the dot product of their LEXICAL vector with `vector`, each term weighted by its IDF over
        the collection; points sharing no term are left out. NotFound when the collection has no lexical
        vector (has_lexical() is False)."""

    def recommend(self, positives: Sequence[np.ndarray], negatives: Sequence[np.ndarray], using: str,
                  limit: int, filters: Filters | None = None) -> list[StoreHit]:
        """Qdrant recommend (best-score strategy) from positive and negative example vectors."""

    def retrieve(self, ids: Sequence[int], with_vectors: Sequence[str] = ()) -> list[StoreHit]:
        """Points by id (missing ids are left out), score 0."""

    def all_ids(self) -> set[int]: ...

    def count(self, filters: Filters | None = None, has_vector: str | None = None) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def graph_status(self) -> GraphStatus:
        """Whether queries go through an HNSW graph or scan every vector."""

    def build_graph(self, min_points: int, progress: Callable[[BuildProgress], None] | None = None) -> GraphReport:
        """Build the HNSW graph without stopping the store from serving (embedded: in another process, on a
        copy); nothing below `min_points` points. A Qdrant server builds its own: it refuses."""
