"""The server store: a collection on a Qdrant server or cluster, through qdrant-client.

The CollectionSpec lives in the collection's own metadata, so it is created, dropped and copied together
with the vectors it describes. Tests run this class against qdrant-client's local mode (`":memory:"`)."""
from __future__ import annotations

import functools
import warnings
from typing import Callable, Sequence, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException

from engine.errors import EncoderMismatch, NotFound, ValidationError, VitrinaError
from engine.types import Filters
from engine.store.base import LEXICAL, PAYLOAD_SCHEMA, BuildProgress, CollectionSpec, GraphReport, GraphStatus, \
    Nearest, PointRecord, StoreHit
from engine.store import filters as fx
from engine.store.vectors import SparseVector, check_lexical, check_sparse, lexical_missing

SPEC_KEY = "vitrina_spec"
_SCHEMA_TYPES = {
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "keyword": models.PayloadSchemaType.KEYWORD,
    "datetime": models.PayloadSchemaType.DATETIME,
}
_SCROLL_PAGE = 1000
F = TypeVar("F", bound=Callable)


def _server_errors(method: F) -> F:
    """Connection and server failures become one VitrinaError naming the server, not an httpx traceback."""
    @functools.wraps(method)
    def wrapper(self: "QdrantClientStore", *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except ResponseHandlingException as exc:
            raise VitrinaError(f"cannot reach the {self.where}: {exc} (check QDRANT_URL)") from exc
        except ApiException as exc:
            raise VitrinaError(f"the {self.where} refused the request: {exc} "
                               f"(check QDRANT_URL and QDRANT_API_KEY)") from exc
    return wrapper  # type: ignore[return-value]


def _condition(c: fx.Condition) -> models.Condition:
    if isinstance(c, fx.AnyOf):
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.values)))
    if isinstance(c, fx.Equals):
        return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))
    if isinstance(c, fx.Between):
        return models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lte=c.lte))
    if isinstance(c, fx.IdIn):
        return models.HasIdCondition(has_id=sorted(c.ids))
    if isinstance(c, fx.HasVector):
        return models.HasVectorCondition(has_vector=c.name)
    raise TypeError(f"no qdrant-client translation for {c!r}")


def to_client_filter(p: fx.FilterPlan) -> models.Filter | None:
    if not p:
        return None
    return models.Filter(must=[_condition(c) for c in p.must] or None,
                         must_not=[_condition(c) for c in p.must_not] or None)


def _hits(points, names: list[str]) -> list[StoreHit]:
    return [StoreHit(int(h.id), float(h.score), dict(h.payload or {}), _vectors(h.vector, names)) for h in points]


def _vectors(raw: object, names: Sequence[str]) -> dict[str, np.ndarray]:
    if not raw or not names or not isinstance(raw, dict):
        return {}
    return {k: np.asarray(v, dtype=np.float32) for k, v in raw.items() if k in names}


def _with_lexical(vectors: dict, lexical: SparseVector | None) -> dict:
    if lexical is None:
        return vectors
    return {**vectors, LEXICAL: models.SparseVector(indices=list(lexical.indices), values=list(lexical.values))}


class QdrantClientStore:
    """VectorStore on a Qdrant collection. Pass a QdrantClient (kept open on close()) or a location string:
    a URL, or ":memory:" for qdrant-client's local mode (the store then owns and closes the client)."""

    backend = "qdrant-client"

    def __init__(self, client_or_url: QdrantClient | str, collection: str, api_key: str | None = None):
        if not isinstance(collection, str) or not collection.strip():
            raise VitrinaError(f"the Qdrant collection name must be a non-empty string, got {collection!r}")
        if isinstance(client_or_url, QdrantClient):
            self.client, self._owns_client, where = client_or_url, False, "the given client"
        elif isinstance(client_or_url, str) and client_or_url.strip():
            self.client = QdrantClient(client_or_url, api_key=api_key or None)
            self._owns_client, where = True, client_or_url
        else:
            raise VitrinaError(f"expected a QdrantClient or a Qdrant URL, got {client_or_url!r}")
        self.collection = collection
        self.where = f"Qdrant collection {collection!r} ({where})"
        self._spec: CollectionSpec | None = None

    # ------------------------------------------------------------ lifecycle

    def _exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection))

    def _stored_spec(self) -> CollectionSpec | None:
        meta = self.client.get_collection(self.collection).config.metadata or {}
        data = meta.get(SPEC_KEY)
        return None if data is None else fx.spec_from_json(data, self.where)

    def _ensure_indexes(self) -> None:
        with warnings.catch_warnings():
            # Local mode warns that payload indexes do nothing there; on a server they are what keeps
            # filtered search fast, so they are always requested.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
            have = set((self.client.get_collection(self.collection).payload_schema or {}).keys())
            for name, kind in PAYLOAD_SCHEMA.items():
                if name not in have:
                    self.client.create_payload_index(self.collection, name, field_schema=_SCHEMA_TYPES[kind],
                                                     wait=True)

    @_server_errors
    def open(self, spec: CollectionSpec, *, recreate: bool = False) -> None:
        fx.check_spec(spec)
        if self._exists() and not recreate:
            stored = self._stored_spec()
            if stored is None:
                raise self._no_spec()
            if stored != spec:
                raise EncoderMismatch(fx.mismatch_message(self.where, stored, spec))
            self._ensure_indexes()
            self._spec = stored
            return
        self._spec = None
        if self._exists():
            self.client.delete_collection(self.collection)
        self.client.create_collection(
            self.collection,
            vectors_config={name: models.VectorParams(size=size, distance=models.Distance.COSINE)
                            for name, size in spec.sizes().items()},
            sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata={SPEC_KEY: fx.spec_to_json(spec)},
        )
        if self._stored_spec() != spec:
            self.client.delete_collection(self.collection)
            raise VitrinaError(f"the Qdrant server behind {self.where} does not keep collection metadata, "
                               f"where Vitrina records which encoders built the vectors: use a newer Qdrant")
        self._ensure_indexes()
        self._spec = spec

    @_server_errors
    def has_lexical(self) -> bool:
        if not self._exists():
            return False
        return LEXICAL in (self.client.get_collection(self.collection).config.params.sparse_vectors or {})

    @_server_errors
    def spec(self) -> CollectionSpec | None:
        if not self._exists():
            return None
        return self._stored_spec()

    def _require(self) -> CollectionSpec:
        if self._spec is None:
            if not self._exists():
                raise NotFound(f"the {self.where} does not exist yet: build it with "
                               f"`python -m engine index --full`")
            self._spec = self._stored_spec()
            if self._spec is None:
                raise self._no_spec()
        return self._spec

    def _no_spec(self) -> EncoderMismatch:
        return EncoderMismatch(f"the {self.where} has no recorded spec (not built by Vitrina, or an "
                               f"interrupted build); {fx.REINDEX_HINT}")

    def flush(self) -> None:
        """Nothing to do: every write is sent with wait=True, so the server has applied it on return."""

    def close(self) -> None:
        """Closes the client only when this store created it; a caller's client stays usable."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> "QdrantClientStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes

    @_server_errors
    def upsert(self, points: Sequence[PointRecord]) -> None:
        """Replaces whole points: a vector left out of a re-upserted point is gone afterwards."""
        clean = fx.check_points(points, self._require())
        lexical = check_lexical(points, self.has_lexical(), self.where)
        if clean:
            self.client.upsert(self.collection, wait=True, points=[
                models.PointStruct(id=p.id, vector=_with_lexical(p.vectors, lex), payload=p.payload)
                for p, lex in zip(clean, lexical)])

    @_server_errors
    def delete(self, ids: Sequence[int]) -> None:
        self._require()
        ids = fx.check_ids(ids)
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids), wait=True)

    @_server_errors
    def set_payload(self, ids: Sequence[int], payload: dict) -> None:
        """Unknown ids raise NotFound and nothing is changed."""
        self._require()
        ids = fx.check_ids(ids)
        clean = fx.clean_payload(payload)
        if not ids or not clean:
            return
        found = {int(r.id) for r in self.client.retrieve(self.collection, ids, with_payload=False,
                                                         with_vectors=False)}
        missing = sorted(set(ids) - found)
        if missing:
            raise NotFound(f"no points with ids {missing[:20]} in the {self.where}")
        self.client.set_payload(self.collection, payload=clean, points=ids, wait=True)

    # ------------------------------------------------------------ reads

    @_server_errors
    def query(self, vector: np.ndarray, using: str, limit: int, filters: Filters | None = None,
              with_vectors: Sequence[str] = (), offset: int = 0, with_payload: bool = True) -> list[StoreHit]:
        request, names = self._nearest(self._require(), Nearest(vector, using, limit, filters, with_vectors,
                                                                with_payload), offset)
        res = self.client.query_points(self.collection, query=request.query, using=request.using,
                                       limit=request.limit, offset=request.offset, query_filter=request.filter,
                                       with_payload=request.with_payload, with_vectors=request.with_vector)
        return _hits(res.points, names)

    @_server_errors
    def query_batch(self, queries: Sequence[Nearest]) -> list[list[StoreHit]]:
        if not queries:
            return []
        spec = self._require()
        planned = [self._nearest(spec, q) for q in queries]
        answers = self.client.query_batch_points(self.collection, requests=[request for request, _ in planned])
        return [_hits(a.points, names) for a, (_, names) in zip(answers, planned)]

    @staticmethod
    def _nearest(spec: CollectionSpec, q: Nearest, offset: int = 0) -> tuple[models.QueryRequest, list[str]]:
        vector, limit, offset, names = fx.check_nearest(q, spec, offset)
        return models.QueryRequest(query=vector, using=q.using, limit=limit, offset=offset or None,
                                   filter=to_client_filter(fx.plan(q.filters)), with_payload=bool(q.with_payload),
                                   with_vector=names or False), names

    @_server_errors
    def query_lexical(self, vector: SparseVector, limit: int, filters: Filters | None = None,
                      with_payload: bool = True) -> list[StoreHit]:
        q = check_sparse(vector, "lexical query")
        (limit, _) = fx.check_limit(limit)
        self._require()
        if not self.has_lexical():
            raise NotFound(lexical_missing(self.where))
        res = self.client.query_points(self.collection, query=models.SparseVector(indices=list(q.indices),
                                                                                  values=list(q.values)),
                                       using=LEXICAL, limit=limit, query_filter=to_client_filter(fx.plan(filters)),
                                       with_payload=bool(with_payload))
        return [StoreHit(int(h.id), float(h.score), dict(h.payload or {})) for h in res.points if h.score > 0]

    @_server_errors
    def recommend(self, positives: Sequence[np.ndarray], negatives: Sequence[np.ndarray], using: str,
                  limit: int, filters: Filters | None = None) -> list[StoreHit]:
        pos, neg = fx.check_examples(positives, negatives, using, self._require())
        (limit, _) = fx.check_limit(limit)
        query = models.RecommendQuery(recommend=models.RecommendInput(
            positive=pos, negative=neg, strategy=models.RecommendStrategy.BEST_SCORE))
        res = self.client.query_points(self.collection, query=query, using=using, limit=limit,
                                       query_filter=to_client_filter(fx.plan(filters)), with_payload=True)
        return [StoreHit(int(h.id), float(h.score), dict(h.payload or {})) for h in res.points]

    @_server_errors
    def retrieve(self, ids: Sequence[int], with_vectors: Sequence[str] = ()) -> list[StoreHit]:
        self._require()
        ids = list(dict.fromkeys(fx.check_ids(ids)))
        names = fx.check_with_vectors(with_vectors)
        if not ids:
            return []
        recs = self.client.retrieve(self.collection, ids, with_payload=True, with_vectors=names or False)
        by_id = {int(r.id): r for r in recs}
        return [StoreHit(i, 0.0, dict(by_id[i].payload or {}), _vectors(by_id[i].vector, names))
                for i in ids if i in by_id]

    @_server_errors
    def all_ids(self) -> set[int]:
        self._require()
        out: set[int] = set()
        offset = None
        while True:
            page, offset = self.client.scroll(self.collection, limit=_SCROLL_PAGE, offset=offset,
                                              with_payload=False, with_vectors=False)
            out.update(int(r.id) for r in page)
            if offset is None or not page:
                return out

    @_server_errors
    def count(self, filters: Filters | None = None, has_vector: str | None = None) -> int:
        self._require()
        flt = to_client_filter(fx.plan(filters, has_vector=has_vector))
        return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def graph_status(self) -> GraphStatus:
        return GraphStatus(self.backend, self.count(), server=True)

    def build_graph(self, min_points: int, progress: Callable[[BuildProgress], None] | None = None) -> GraphReport:
        """Refused: a Qdrant server builds and maintains its HNSW graph itself, in the background, by its own
        optimizers (its indexing_threshold); there is no copy to build and swap here."""
        raise ValidationError(f"the {self.where} is on a Qdrant server (QDRANT_URL), which builds its search "
                              "graph itself: there is nothing to build from Vitrina")


__all__ = ["QdrantClientStore", "SPEC_KEY", "to_client_filter"]
