"""The embedded store: Qdrant's own engine (qdrant-edge) inside this process, persisted to a folder.

Layout under `path`: `shard` (the Qdrant shard: WAL, segments; after a graph build, a symlink to the
`shard-<tag>/` it built), `spec.json` (the CollectionSpec that made
the vectors), `graph.json` (what the last HNSW build covered) and `folder.lock`. The opener holds an flock on
`folder.lock` for as long as it has the shard open (the shard's WAL lock alone has a gap while a background
build swaps folders), so one EdgeStore per folder at a time. The graph build: engine/store/graph.py."""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import qdrant_edge as qe

from engine.errors import EncoderMismatch, NotFound, VitrinaError
from engine.types import Filters
from engine.store.base import LEXICAL, PAYLOAD_SCHEMA, CollectionSpec, Nearest, PointRecord, StoreHit
from engine.store.edge_wire import edge_sparse, edge_vectors, shard_has_lexical, to_edge_filter, vectors_of
from engine.store.vectors import SparseVector, check_lexical, check_sparse, lexical_missing
from engine.store import filters as fx
from engine.store import owner
from engine.store.graph import RETIRED, GraphBuilds, GraphState, drop_shard_dir, recover, workdirs

# Segments smaller than this (per vector, in KB) keep the plain index: search stays exact and no HNSW build
# is ever needed. The build holds the GIL and freezes the process for minutes on 2 cores, while exact search
# over ~25k products x 1024-d combined vectors (100 MB) still answers in tens of milliseconds.
INDEXING_THRESHOLD_KB = 100_000

_SCHEMA_TYPES = {
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "keyword": qe.PayloadSchemaType.Keyword,
    "datetime": qe.PayloadSchemaType.Datetime,
}
_SCROLL_PAGE = 1000
FOLDER_LOCK = "folder.lock"


class StoreLocked(VitrinaError):
    """The shard's WAL is locked by another opener (another process, or another EdgeStore in this one)."""


def _hits(hits, names: list[str]) -> list[StoreHit]:
    return [StoreHit(int(h.id), float(h.score), dict(h.payload or {}), vectors_of(h.vector, names)) for h in hits]


class EdgeStore(GraphBuilds):
    """VectorStore on qdrant-edge. Opening an existing folder takes its lock immediately, so a second opener
    fails at construction with StoreLocked rather than later in the middle of a write.

    Every write waits while a graph build copies the shard (`_wait_thawed`) and goes through `_apply`, which
    journals it for the build's replay (GraphBuilds)."""

    backend = "qdrant-edge"

    def __init__(self, path: Path | str, *, indexing_threshold_kb: int = INDEXING_THRESHOLD_KB):
        self.path = Path(path)
        self.shard_dir = self.path / "shard"
        self.spec_file = self.path / "spec.json"
        self.indexing_threshold_kb = int(indexing_threshold_kb)
        self._lock = threading.RLock()
        self._shard: qe.EdgeShard | None = None
        self._spec: CollectionSpec | None = None
        self._folder_lock = None
        self._graph = GraphState.read(self.path)
        self._init_builds()
        if self._present():
            self._shard = self._load()
            self._spec = self._read_spec_or_none()
            owner.write(self.path)

    # ------------------------------------------------------------ lifecycle

    def _shard_exists(self) -> bool:
        return (self.shard_dir / "edge_config.json").exists() or (self.shard_dir / "segments").exists()

    def _present(self) -> bool:
        """A shard, or the old one a build's swap left aside when it was interrupted (recovered on load)."""
        return self._shard_exists() or bool(workdirs(self.path, RETIRED))

    def _take_folder(self) -> None:
        if self._folder_lock is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / FOLDER_LOCK, "a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise StoreLocked(owner.locked_message(self.path)) from None
        self._folder_lock = fh

    def _release_folder(self) -> None:
        if self._folder_lock is not None:
            fcntl.flock(self._folder_lock, fcntl.LOCK_UN)
            self._folder_lock.close()
            self._folder_lock = None

    def _locked_error(self, exc: Exception) -> Exception:
        if "WouldBlock" in str(exc) or "Can't init WAL" in str(exc):
            return StoreLocked(owner.locked_message(self.path))
        return exc

    def _load(self) -> qe.EdgeShard:
        self._take_folder()
        try:
            recover(self.path, self.shard_dir)  # what a build interrupted by a crash left
            # by its real folder: a later build moves the `shard` symlink, never an open shard (graph.py)
            return qe.EdgeShard.load(str(self.shard_dir.resolve()))
        except Exception as exc:  # qdrant-edge raises bare Exception with the engine's message
            self._release_folder()
            raise self._locked_error(exc) from exc

    def _create(self, spec: CollectionSpec) -> qe.EdgeShard:
        cfg = qe.EdgeConfig(
            vectors={name: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine)
                     for name, size in spec.sizes().items()},
            sparse_vectors={LEXICAL: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb),
        )
        self._take_folder()
        try:
            shard = qe.EdgeShard.create(str(self.shard_dir), cfg)
        except Exception as exc:
            self._release_folder()
            raise self._locked_error(exc) from exc
        self._ensure_indexes(shard)
        return shard

    @staticmethod
    def _ensure_indexes(shard: qe.EdgeShard) -> None:
        # Indexes must exist before any optimize(): added afterwards, filtered HNSW recall collapses.
        have = set(shard.info().payload_schema)
        for name, kind in PAYLOAD_SCHEMA.items():
            if name not in have:
                shard.update(qe.UpdateOperation.create_field_index(name, _SCHEMA_TYPES[kind]))

    def _read_spec(self) -> CollectionSpec | None:
        if not self.spec_file.exists():
            return None
        return fx.spec_from_json(self.spec_file.read_text(encoding="utf-8"), str(self.spec_file))

    def _read_spec_or_none(self) -> CollectionSpec | None:
        """While loading, an unreadable spec counts as none: open() refuses it with the reason, and
        open(recreate=True) can still rebuild the folder."""
        try:
            return self._read_spec()
        except EncoderMismatch:
            return None

    def _no_spec(self) -> EncoderMismatch:
        self._read_spec()  # raises the more precise "unreadable" error when there is a file
        return EncoderMismatch(f"the vector collection at {self.path} has no recorded spec "
                               f"(an interrupted build?); {fx.REINDEX_HINT}")

    def _write_spec(self, spec: CollectionSpec) -> None:
        """Atomic: a crash leaves the old file or the new one, never half of it."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".spec-", suffix=".json", dir=self.path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(fx.spec_to_json(spec), fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.spec_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _wipe(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None
        self._spec = None
        self._void_build("the collection was emptied (a full reindex) during the build")
        self._graph = GraphState()
        (self.path / "graph.json").unlink(missing_ok=True)
        # The spec goes first: if the wipe is interrupted, the shard left behind has no spec and is refused.
        self.spec_file.unlink(missing_ok=True)
        drop_shard_dir(self.shard_dir)

    def open(self, spec: CollectionSpec, *, recreate: bool = False) -> None:
        fx.check_spec(spec)
        with self._lock:
            self._wait_thawed()
            if self._shard is None and self._present():
                self._shard = self._load()
                self._spec = self._read_spec_or_none()
                owner.write(self.path)
            if self._shard is not None and not recreate:
                if self._spec is None:
                    raise self._no_spec()
                if self._spec != spec:
                    what = f"vector collection at {self.path}"
                    raise EncoderMismatch(fx.mismatch_message(what, self._spec, spec))
                self._ensure_indexes(self._shard)
                return
            self._wipe()
            self._shard = self._create(spec)
            owner.write(self.path)
            self._write_spec(spec)
            self._spec = spec

    def has_lexical(self) -> bool:
        """A folder made before the lexical vector existed has none until a full reindex recreates it."""
        with self._lock:
            return self._shard is not None and shard_has_lexical(self.shard_dir)

    def spec(self) -> CollectionSpec | None:
        with self._lock:
            if self._spec is not None and self._shard is not None:
                return self._spec
            return self._read_spec_or_none() if self._shard_exists() else None

    def _require(self) -> tuple[qe.EdgeShard, CollectionSpec]:
        if self._shard is None:
            if self._shard_exists():
                raise VitrinaError(f"the store at {self.path} was closed: call open(spec) again before using it")
            raise NotFound(f"there is no vector collection at {self.path} yet: build it with "
                           f"`python -m engine index --full`")
        if self._spec is None:
            raise self._no_spec()
        return self._shard, self._spec

    def flush(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._graph.write(self.path)

    def close(self) -> None:
        """Flush and release the folder's lock; the store can be reopened with open() or a new EdgeStore."""
        with self._lock:
            self._wait_thawed()
            if self._shard is not None:
                self._shard.flush()
                self._graph.write(self.path)
                self._shard.close()
                self._shard = None
                owner.clear(self.path)
            self._release_folder()

    def announce(self, api: str) -> None:
        """Record the HTTP API this process serves the engine on, for processes that find the store taken. The
        console calls this on every page run: the note is rewritten only when it does not say so already."""
        if self._shard is None:
            return
        noted = owner.read(self.path)
        if noted is None or noted.pid != os.getpid() or noted.api != api:
            owner.write(self.path, api)

    def __enter__(self) -> "EdgeStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes

    def upsert(self, points: Sequence[PointRecord]) -> None:
        """Replaces whole points: a vector left out of a re-upserted point is gone afterwards."""
        with self._lock:
            self._wait_thawed()
            shard, spec = self._require()
            clean = fx.check_points(points, spec)
            lexical = check_lexical(points, self.has_lexical(), f"vector collection at {self.path}")
            if clean:
                self._apply(shard, qe.UpdateOperation.upsert_points(
                    [qe.Point(p.id, edge_vectors(p.vectors, lex), p.payload) for p, lex in zip(clean, lexical)]),
                    len(clean))

    def delete(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._wait_thawed()
            shard, _ = self._require()
            ids = fx.check_ids(ids)
            if ids:
                self._apply(shard, qe.UpdateOperation.delete_points(ids), 0)

    def set_payload(self, ids: Sequence[int], payload: dict) -> None:
        """Unknown ids raise NotFound and nothing is changed (checked first, as the engine stops mid-way)."""
        with self._lock:
            self._wait_thawed()
            shard, _ = self._require()
            ids = fx.check_ids(ids)
            clean = fx.clean_payload(payload)
            if not ids or not clean:
                return
            found = {int(r.id) for r in shard.retrieve(ids, with_payload=False, with_vector=False)}
            missing = sorted(set(ids) - found)
            if missing:
                raise NotFound(f"no points with ids {missing[:20]} in the vector store")
            # a point of an indexed segment moves to the plain one when its payload changes: it counts as written
            self._apply(shard, qe.UpdateOperation.set_payload(ids, clean), len(ids))

    # ------------------------------------------------------------ reads

    def query(self, vector: np.ndarray, using: str, limit: int, filters: Filters | None = None,
              with_vectors: Sequence[str] = (), offset: int = 0, with_payload: bool = True) -> list[StoreHit]:
        with self._lock:
            shard, spec = self._require()
            request, names = self._nearest(spec, Nearest(vector, using, limit, filters, with_vectors, with_payload),
                                           offset)
            hits = shard.query(request)
        return _hits(hits, names)

    def query_batch(self, queries: Sequence[Nearest]) -> list[list[StoreHit]]:
        if not queries:
            return []
        with self._lock:
            shard, spec = self._require()
            planned = [self._nearest(spec, q) for q in queries]
            answers = shard.query_batch(qe.QueryBatchRequest([request for request, _ in planned]))
        return [_hits(hits, names) for hits, (_, names) in zip(answers, planned)]

    @staticmethod
    def _nearest(spec: CollectionSpec, q: Nearest, offset: int = 0) -> tuple[qe.QueryRequest, list[str]]:
        vector, limit, offset, names = fx.check_nearest(q, spec, offset)
        return qe.QueryRequest(limit=limit, offset=offset or None, query=qe.Query.Nearest(vector, using=q.using),
                               filter=to_edge_filter(fx.plan(q.filters)), with_payload=bool(q.with_payload),
                               with_vector=names or False), names

    def query_lexical(self, vector: SparseVector, limit: int, filters: Filters | None = None,
                      with_payload: bool = True) -> list[StoreHit]:
        q = check_sparse(vector, "lexical query")
        (limit, _) = fx.check_limit(limit)
        with self._lock:
            shard, _ = self._require()
            if not self.has_lexical():
                raise NotFound(lexical_missing(f"vector collection at {self.path}"))
            hits = shard.query(qe.QueryRequest(limit=limit, query=qe.Query.Nearest(edge_sparse(q), using=LEXICAL),
                                               filter=to_edge_filter(fx.plan(filters)),
                                               with_payload=bool(with_payload), with_vector=False))
        return [StoreHit(int(h.id), float(h.score), dict(h.payload or {})) for h in hits if h.score > 0]

    def recommend(self, positives: Sequence[np.ndarray], negatives: Sequence[np.ndarray], using: str,
                  limit: int, filters: Filters | None = None) -> list[StoreHit]:
        with self._lock:
            shard, spec = self._require()
            pos, neg = fx.check_examples(positives, negatives, using, spec)
            (limit, _) = fx.check_limit(limit)
            hits = shard.query(qe.QueryRequest(
                limit=limit,
                query=qe.Query.RecommendBestScore(qe.RecommendQuery(positives=pos, negatives=neg), using=using),
                filter=to_edge_filter(fx.plan(filters)), with_payload=True, with_vector=False))
        return [StoreHit(int(h.id), float(h.score), dict(h.payload or {})) for h in hits]

    def retrieve(self, ids: Sequence[int], with_vectors: Sequence[str] = ()) -> list[StoreHit]:
        with self._lock:
            shard, _ = self._require()
            ids = list(dict.fromkeys(fx.check_ids(ids)))
            names = fx.check_with_vectors(with_vectors)
            if not ids:
                return []
            recs = shard.retrieve(ids, with_payload=True, with_vector=names or False)
        by_id = {int(r.id): r for r in recs}
        return [StoreHit(i, 0.0, dict(by_id[i].payload or {}), vectors_of(by_id[i].vector, names))
                for i in ids if i in by_id]

    def all_ids(self) -> set[int]:
        with self._lock:
            shard, _ = self._require()
            out: set[int] = set()
            offset = None
            while True:
                page, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=_SCROLL_PAGE,
                                                             with_payload=False, with_vector=False))
                out.update(int(r.id) for r in page)
                if offset is None or not page:
                    return out

    def count(self, filters: Filters | None = None, has_vector: str | None = None) -> int:
        with self._lock:
            shard, _ = self._require()
            flt = to_edge_filter(fx.plan(filters, has_vector=has_vector))
            return int(shard.count(qe.CountRequest(exact=True, filter=flt)))


__all__ = ["EdgeStore", "StoreLocked", "INDEXING_THRESHOLD_KB", "to_edge_filter"]
