"""The lexical (sparse) part of the store contract, on both backends: the embedded qdrant-edge store and
qdrant-client (local mode). Expected scores are BM25's IDF-weighted dot products computed here in plain
Python from the same hand-made vectors, never read from a store."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from engine.errors import NotFound, ValidationError
from engine.search.sparse import ProductText, encode_document, encode_query
from engine.store import EdgeStore, QdrantClientStore
from engine.store.base import CollectionSpec, PointRecord
from engine.store.vectors import SparseVector
from engine.types import Filters

SPEC = CollectionSpec(text_encoder="test-text", text_dim=4, image_encoder="test-image", image_dim=3,
                      text_weight=0.5)
DOCS = {
    11: ProductText("Jade yoga jacket", "WJ09-Blue", "Luma", "Women/Tops/Jackets", ("blue",)),
    12: ProductText("Nadia elements shell", "WJ10-Black", "Luma", "Women/Tops/Jackets", ("black",)),
    13: ProductText("Apollo running short", "MSH02-Black", "Luma", "Men/Bottoms/Shorts", ("black",)),
    14: ProductText("Chaz kangeroo hoodie", "MH01-Black", "", "Men/Tops/Hoodies & Sweatshirts", ("black",)),
    15: ProductText("Yoga mat", "24-UG04", "Sprite", "Gear/Fitness Equipment", ()),
}
NO_LEXICAL = 16  # a point written without a lexical vector: never a lexical hit, not counted in the IDF


def _points() -> list[PointRecord]:
    rng = np.random.default_rng(7)
    out = []
    for pid in [*DOCS, NO_LEXICAL]:
        text = rng.normal(size=4).astype(np.float32)
        out.append(PointRecord(pid, {"text": text / np.linalg.norm(text)},
                               {"price": float(pid), "is_active": 1, "colour": "black" if pid % 2 else "blue"},
                               encode_document(DOCS[pid]) if pid in DOCS else None))
    return out


def _bm25(query: SparseVector, only: set[int] | None = None) -> list[tuple[int, float]]:
    """Σ idf(t)·q_t·d_t, idf(t) = ln(1 + (N − n_t + 0.5) / (n_t + 0.5)) over the points with a lexical vector."""
    docs = {pid: dict(zip(v.indices, v.values)) for pid, d in DOCS.items() if (v := encode_document(d))}
    n = len(docs)
    df = {t: sum(t in d for d in docs.values()) for t in query.indices}
    scores = []
    for pid, d in docs.items():
        s = sum(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * w * d[t]
                for t, w in zip(query.indices, query.values) if t in d)
        if s > 0 and (only is None or pid in only):
            scores.append((pid, s))
    return sorted(scores, key=lambda r: (-r[1], r[0]))


@pytest.fixture(params=["edge", "client"])
def store(request, tmp_path):
    client = None
    if request.param == "edge":
        s = EdgeStore(tmp_path / "store")
    else:
        client = QdrantClient(":memory:")
        s = QdrantClientStore(client, "products")
    s.open(SPEC)
    s.upsert(_points())
    yield s
    s.close()
    if client is not None:
        client.close()


@pytest.mark.parametrize("query", ["black jacket", "yoga", "women jackets", "MH01-Black", "kangeroo hoodies"])
def test_lexical_scores_are_bm25_with_the_collections_idf(store, query):
    q = encode_query(query)
    hits = store.query_lexical(q, limit=10)
    expected = _bm25(q)
    assert np.allclose([h.score for h in hits], [s for _, s in expected], rtol=1e-4)  # best first
    got = {h.id: h.score for h in hits}
    assert set(got) == {i for i, _ in expected}  # ties may come in either order
    assert all(got[i] == pytest.approx(s, rel=1e-4) for i, s in expected)
    assert store.has_lexical()


def test_an_exact_sku_comes_first(store):
    hits = store.query_lexical(encode_query("MH01-Black"), limit=3)
    assert hits[0].id == 14


def test_lexical_queries_take_the_same_filters(store):
    q = encode_query("black jacket short hoodie yoga")
    f = Filters(price_max=13.0, colours=["black"])
    hits = store.query_lexical(q, limit=10, filters=f)
    assert {h.id: round(h.score, 4) for h in hits} == {i: round(s, 4) for i, s in _bm25(q, only={11, 13})}
    assert all(h.payload["colour"] == "black" and h.payload["price"] <= 13 for h in hits)
    bare = store.query_lexical(q, limit=10, filters=f, with_payload=False)  # the same hits, no payload read
    assert [(h.id, round(h.score, 4)) for h in bare] == [(h.id, round(h.score, 4)) for h in hits]
    assert all(h.payload == {} for h in bare)


def test_words_no_product_holds_find_nothing(store):
    assert store.query_lexical(encode_query("zzqx"), limit=5) == []


@pytest.mark.parametrize("bad, message", [
    (SparseVector((1, 1), (1.0, 1.0)), "appears twice"),
    (SparseVector((1,), (float("nan"),)), "finite positive"),
    (SparseVector((1,), (-1.0,)), "finite positive"),
    (SparseVector((2**32,), (1.0,)), "0..4294967295"),
    (SparseVector((1, 2), (1.0,)), "2 indices but 1 values"),
    (SparseVector((), ()), "empty"),
    ([1, 2], "must be a SparseVector"),
])
def test_bad_sparse_vectors_are_refused_alike(store, bad, message):
    with pytest.raises(ValidationError, match=message):
        store.query_lexical(bad, limit=3)
    with pytest.raises(ValidationError, match=message):
        store.upsert([PointRecord(99, {"text": np.ones(4, np.float32)}, {}, bad)])
    assert 99 not in store.all_ids()  # nothing half-written


def test_a_collection_without_lexical_vectors_says_so(tmp_path):
    """Both backends: has_lexical False, a lexical query is NotFound naming `index --full`, a lexical write is
    refused whole, and dense writes and queries still work."""
    import qdrant_edge as qe
    path = tmp_path / "old"
    (path / "shard").parent.mkdir(parents=True)
    qe.EdgeShard.create(str(path / "shard"), qe.EdgeConfig(
        vectors={n: qe.EdgeVectorParams(size=s, distance=qe.Distance.Cosine) for n, s in SPEC.sizes().items()}
    )).close()
    (path / "spec.json").write_text(json.dumps({"text_encoder": SPEC.text_encoder, "text_dim": SPEC.text_dim,
                                                "image_encoder": SPEC.image_encoder, "image_dim": SPEC.image_dim,
                                                "text_weight": SPEC.text_weight}))
    client = QdrantClient(":memory:")
    client.create_collection("old", vectors_config={
        n: models.VectorParams(size=s, distance=models.Distance.COSINE) for n, s in SPEC.sizes().items()},
        metadata={"vitrina_spec": json.loads((path / "spec.json").read_text())})
    for old in (EdgeStore(path), QdrantClientStore(client, "old")):
        old.open(SPEC)
        assert not old.has_lexical()
        with pytest.raises(NotFound, match="index --full"):
            old.query_lexical(encode_query("jacket"), limit=3)
        with pytest.raises(ValidationError, match="index --full"):
            old.upsert(_points())
        assert old.all_ids() == set()
        old.upsert([PointRecord(p.id, p.vectors, p.payload) for p in _points()])
        assert len(old.query(np.ones(4, np.float32), "text", limit=3)) == 3
        old.open(SPEC, recreate=True)  # what `index --full` does: the new collection has the lexical vector
        assert old.has_lexical()
        old.close()
    client.close()
