"""One contract, two backends: every test runs against the embedded qdrant-edge store and against
qdrant-client (local mode). Expected results come from brute-force numpy cosine and plain Python filtering
over the same hand-made points, never from the store under test."""
from __future__ import annotations

import socket
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from engine.errors import EncoderMismatch, NotFound, ValidationError, VitrinaError
from engine.settings import Settings
from engine.store import EdgeStore, QdrantClientStore, StoreLocked, open_store
from engine.store.base import CollectionSpec, Nearest, PointRecord, VectorStore
from engine.types import Filters
from engine.store.vectors import combine, text_only_combined

ROOT = Path(__file__).resolve().parents[2]
SPEC = CollectionSpec(text_encoder="test-text", text_dim=8, image_encoder="test-image", image_dim=6,
                      text_weight=0.6)
N = 40
PARENTS = {11: 1, 12: 1, 21: 2, 22: 2}  # leaf category -> parent
BRANDS = ["acme", "borea", "cirrus", None]
COLOURS = ["red", "blue", "black", "white"]


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _make_points() -> list[PointRecord]:
    rng = np.random.default_rng(20261126)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    points = []
    for k in range(N):
        pid = 101 + k  # not 0-based, so a position mistaken for an id shows
        text = _unit(rng.normal(size=SPEC.text_dim))
        has_image = k % 5 != 3
        vectors = {"text": text}
        if has_image:
            image = _unit(rng.normal(size=SPEC.image_dim))
            vectors["image"] = image
            vectors["combined"] = combine(text, image, SPEC.text_weight)
        else:
            vectors["combined"] = text_only_combined(text, SPEC.image_dim)
        leaf = list(PARENTS)[k % 4]
        points.append(PointRecord(pid, vectors, {
            "category_ids": [PARENTS[leaf], leaf],
            "leaf_category_id": leaf,
            "price": round(float(rng.uniform(5, 200)), 2),
            "brand": BRANDS[k % 3 if k % 7 else 3],
            "colour": COLOURS[(k * 3) % 4],
            "group_key": f"g{k // 3}",
            "is_active": k % 6 != 0,  # given as bools: the store keeps 0/1
            "in_stock": k % 3 != 1,
            "has_image": has_image,
            "created_at": start + timedelta(days=k),
            "sku": f"SKU-{pid}",
        }))
    return points


POINTS = _make_points()
BY_ID = {p.id: p for p in POINTS}


def _matches(p: PointRecord, f: Filters | None) -> bool:
    """Plain-Python reading of what each Filters field means."""
    if f is None:
        return True
    pl = p.payload
    return ((not f.category_ids or any(c in pl["category_ids"] for c in f.category_ids))
            and (f.price_min is None or pl["price"] >= f.price_min)
            and (f.price_max is None or pl["price"] <= f.price_max)
            and (not f.colours or pl["colour"] in f.colours)
            and (not f.brands or pl["brand"] in f.brands)
            and pl["brand"] not in f.exclude_brands
            and p.id not in f.exclude_ids
            and pl["group_key"] not in f.exclude_groups
            and (not f.active_only or pl["is_active"])
            and (not f.in_stock or pl["in_stock"]))


def _brute(q: np.ndarray, using: str, f: Filters | None = None) -> list[tuple[int, float]]:
    """Every matching point that has this vector, scored by numpy cosine, best first."""
    rows = [(p.id, float(_unit(q) @ _unit(p.vectors[using])))
            for p in POINTS if using in p.vectors and _matches(p, f)]
    return sorted(rows, key=lambda r: -r[1])


def _query_vector(using: str, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=SPEC.sizes()[using]).astype(np.float32)


class Backend:
    """Makes stores on one collection; `reopen` opens it again as a restarted process would."""

    def __init__(self, kind: str, tmp_path: Path):
        self.kind = kind
        self.path = tmp_path / "store"
        self.client = QdrantClient(":memory:") if kind == "client" else None
        self.opened: list = []

    def new(self):
        store = EdgeStore(self.path) if self.kind == "edge" else QdrantClientStore(self.client, "products")
        self.opened.append(store)
        return store

    def reopen(self, store):
        store.close()
        return self.new()

    def close_all(self) -> None:
        for s in self.opened:
            s.close()
        if self.client is not None:
            self.client.close()


@pytest.fixture(params=["edge", "client"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    b.close_all()


@pytest.fixture
def store(backend):
    """A fresh, filled collection for tests that write."""
    s = backend.new()
    s.open(SPEC)
    s.upsert(POINTS)
    return s


@pytest.fixture(scope="module", params=["edge", "client"])
def ro_store(request, tmp_path_factory):
    """One filled collection per backend shared by the read-only tests, to keep the suite fast."""
    b = Backend(request.param, tmp_path_factory.mktemp(request.param))
    s = b.new()
    s.open(SPEC)
    s.upsert(POINTS)
    yield s
    b.close_all()


# ---------------------------------------------------------------- nearest


def test_both_backends_satisfy_the_protocol(ro_store):
    assert isinstance(ro_store, VectorStore)
    assert ro_store.backend in ("qdrant-edge", "qdrant-client")


@pytest.mark.parametrize("using", ["text", "image", "combined"])
def test_nearest_order_and_scores_match_numpy(ro_store, using):
    q = _query_vector(using)
    hits = ro_store.query(q, using, limit=10, filters=None)
    expected = _brute(q, using)[:10]
    assert [h.id for h in hits] == [i for i, _ in expected]
    assert np.allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)
    assert hits[0].payload["sku"] == f"SKU-{hits[0].id}"


def test_query_without_payload_gives_the_same_hits_with_empty_payloads(ro_store):
    q = _query_vector("combined", seed=5)
    full = ro_store.query(q, "combined", limit=10, filters=None)
    bare = ro_store.query(q, "combined", limit=10, filters=None, with_payload=False)
    assert [(h.id, round(h.score, 6)) for h in bare] == [(h.id, round(h.score, 6)) for h in full]
    assert all(h.payload == {} for h in bare) and all(h.payload for h in full)


def test_query_offset_pages_through_the_same_order(ro_store):
    q = _query_vector("combined", seed=3)
    expected = [i for i, _ in _brute(q, "combined")]
    page2 = ro_store.query(q, "combined", limit=5, offset=5, filters=None)
    assert [h.id for h in page2] == expected[5:10]


def test_combined_score_is_the_weighted_mix(ro_store):
    # The combined vector's promise: cos(c_a, c_b) = w cos(t) + (1 - w) cos(i) for products with photos.
    a, b = POINTS[0], POINTS[1]
    hit = {h.id: h for h in ro_store.query(a.vectors["combined"], "combined", limit=N, filters=None)}[b.id]
    w = SPEC.text_weight
    mix = (w * float(a.vectors["text"] @ b.vectors["text"])
           + (1 - w) * float(a.vectors["image"] @ b.vectors["image"]))
    assert hit.score == pytest.approx(mix, abs=1e-5)


# ---------------------------------------------------------------- filters

FILTER_CASES = {
    "parent category matches its subtree": Filters(category_ids=[1], active_only=False),
    "leaf category": Filters(category_ids=[22], active_only=False),
    "two leaves": Filters(category_ids=[11, 21], active_only=False),
    "price_min": Filters(price_min=120.0, active_only=False),
    "price_max": Filters(price_max=60.0, active_only=False),
    "price range": Filters(price_min=40.0, price_max=110.0, active_only=False),
    "colours, any case": Filters(colours=["Red", " black "], active_only=False),
    "brands": Filters(brands=["acme", "cirrus"], active_only=False),
    "exclude_brands": Filters(exclude_brands=["borea"], active_only=False),
    "exclude_ids": Filters(exclude_ids=[101, 102, 105, 130], active_only=False),
    "exclude_groups": Filters(exclude_groups=["g0", "g5", "g9"], active_only=False),
    "active_only": Filters(active_only=True),
    "in_stock": Filters(in_stock=True, active_only=False),
    "everything at once": Filters(category_ids=[1, 22], price_min=20.0, price_max=180.0,
                                  colours=["red", "blue", "white"], brands=["acme", "borea", "cirrus"],
                                  exclude_brands=["cirrus"], exclude_ids=[103], exclude_groups=["g2"],
                                  active_only=True, in_stock=True),
}


@pytest.mark.parametrize("case", list(FILTER_CASES), ids=list(FILTER_CASES))
def test_each_filter_keeps_exactly_the_matching_points(ro_store, case):
    q = _query_vector("combined", seed=5)
    expected = _brute(q, "combined", replace(FILTER_CASES[case]).validate())
    assert 0 < len(expected) < N, "the case must keep some points and drop others"
    hits = ro_store.query(q, "combined", limit=N, filters=replace(FILTER_CASES[case]))
    assert [h.id for h in hits] == [i for i, _ in expected]
    assert np.allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)
    assert ro_store.count(replace(FILTER_CASES[case])) == len(expected)


def test_a_batch_answers_each_query_as_query_does(ro_store):
    cases = [Nearest(_query_vector(using, seed=i), using, limit, replace(FILTER_CASES[case]), vectors, payload)
             for i, (using, limit, case, vectors, payload) in enumerate([
                 ("combined", 10, "exclude_ids", (), False),
                 ("combined", 5, "leaf category", ("combined",), True),
                 ("text", N, "everything at once", (), True),
                 ("image", 7, "price range", ("image", "text"), False)])]
    batch = ro_store.query_batch(cases)
    assert len(batch) == len(cases) and all(batch)
    for q, got in zip(cases, batch):
        alone = ro_store.query(q.vector, q.using, q.limit, replace(q.filters), q.with_vectors,
                               with_payload=q.with_payload)
        key = lambda hits: [(h.id, round(h.score, 5), h.payload) for h in hits]  # noqa: E731
        assert key(got) == key(alone)
        assert all(h.vectors.keys() == set(q.with_vectors) for h in got)
        assert all(np.allclose(h.vectors[k], a.vectors[k]) for h, a in zip(got, alone) for k in q.with_vectors)
    assert ro_store.query_batch([]) == []
    with pytest.raises(ValidationError, match="inverted"):  # one bad query refuses the whole batch
        ro_store.query_batch([cases[0], replace(cases[1], filters=Filters(price_min=100.0, price_max=10.0))])


def test_default_filters_hide_inactive_products(ro_store):
    ids = {h.id for h in ro_store.query(_query_vector("text", seed=9), "text", limit=N, filters=Filters())}
    inactive = {p.id for p in POINTS if not p.payload["is_active"]}
    assert inactive and not ids & inactive
    assert len(ids) == N - len(inactive)


def test_inverted_price_range_raises(ro_store):
    with pytest.raises(ValidationError, match="inverted"):
        ro_store.query(_query_vector("text"), "text", limit=5, filters=Filters(price_min=100.0, price_max=10.0))
    with pytest.raises(ValidationError, match="inverted"):
        ro_store.count(Filters(price_min=100.0, price_max=10.0))


@pytest.mark.parametrize("bad", [{"brands": "acme"}, {"colours": "red"}, {"exclude_groups": "g1"},
                                 {"category_ids": 11}, {"exclude_ids": [101, "x"]}], ids=lambda b: next(iter(b)))
def test_malformed_filter_fields_are_refused(ro_store, bad):
    (name,) = bad
    with pytest.raises(ValidationError, match=name):
        ro_store.count(Filters(active_only=False, **bad))


# ---------------------------------------------------------------- missing image vector


def test_points_without_image_are_skipped_by_image_queries_and_counted(ro_store):
    with_image = {p.id for p in POINTS if "image" in p.vectors}
    assert 0 < len(with_image) < N
    hits = ro_store.query(_query_vector("image"), "image", limit=N, filters=None)
    assert {h.id for h in hits} == with_image
    assert ro_store.count(has_vector="image") == len(with_image)
    assert ro_store.count(has_vector="text") == N
    assert ro_store.count() == N
    f = Filters(category_ids=[2], active_only=False)
    assert ro_store.count(f, has_vector="image") == len([i for i in with_image if _matches(BY_ID[i], f)])


# ---------------------------------------------------------------- writes


def test_upsert_replaces_the_whole_point(store):
    target = POINTS[0]
    assert "image" in target.vectors
    text = _unit(np.random.default_rng(77).normal(size=SPEC.text_dim))
    store.upsert([PointRecord(target.id, {"text": text, "combined": text_only_combined(text, SPEC.image_dim)},
                              {"price": 1.5, "is_active": True, "has_image": False})])
    (got,) = store.retrieve([target.id], with_vectors=["text", "image", "combined"])
    assert got.payload == {"price": 1.5, "is_active": 1, "has_image": 0}
    assert set(got.vectors) == {"text", "combined"}
    assert np.allclose(got.vectors["text"], text, atol=1e-6)
    assert store.count() == N
    top = store.query(text, "text", limit=1, filters=None)[0]
    assert top.id == target.id and top.score == pytest.approx(1.0, abs=1e-5)
    assert target.id not in {h.id for h in store.query(_query_vector("image"), "image", limit=N, filters=None)}


def test_set_payload_changes_fields_and_keeps_vectors(store):
    target = POINTS[4]
    store.set_payload([target.id], {"price": 999.0, "in_stock": False})
    (got,) = store.retrieve([target.id], with_vectors=["text", "image", "combined"])
    assert got.payload["price"] == 999.0 and got.payload["in_stock"] == 0
    assert got.payload["sku"] == target.payload["sku"]  # untouched fields stay
    assert set(got.vectors) == set(target.vectors)
    for name, v in target.vectors.items():
        assert np.allclose(got.vectors[name], v, atol=1e-6)
    found = store.query(target.vectors["text"], "text", limit=N,
                        filters=Filters(price_min=500.0, active_only=False))
    assert [h.id for h in found] == [target.id]


def test_set_payload_on_unknown_id_raises_and_changes_nothing(store):
    with pytest.raises(NotFound, match="99999"):
        store.set_payload([POINTS[0].id, 99999], {"price": 1.0})
    assert store.retrieve([POINTS[0].id])[0].payload["price"] == POINTS[0].payload["price"]


def test_delete_removes_points(store):
    gone = [POINTS[2].id, POINTS[7].id]
    store.delete(gone + [55555])  # an unknown id is not an error: the point is gone either way
    assert store.all_ids() == set(BY_ID) - set(gone)
    assert store.count() == N - 2
    assert store.retrieve(gone) == []
    hits = store.query(POINTS[2].vectors["text"], "text", limit=N, filters=None)
    assert not {h.id for h in hits} & set(gone)


def test_retrieve_returns_vectors_in_request_order(ro_store):
    with_img, without = POINTS[5], POINTS[3]
    assert "image" in with_img.vectors and "image" not in without.vectors
    hits = ro_store.retrieve([without.id, 424242, with_img.id], with_vectors=["text", "image", "combined"])
    assert [h.id for h in hits] == [without.id, with_img.id]
    assert set(hits[0].vectors) == {"text", "combined"}
    assert set(hits[1].vectors) == {"text", "image", "combined"}
    for h in hits:
        for name, v in h.vectors.items():
            assert v.dtype == np.float32
            assert np.allclose(v, BY_ID[h.id].vectors[name], atol=1e-6)
    assert ro_store.retrieve([with_img.id])[0].vectors == {}


def test_stored_vectors_are_normalised(store):
    raw = np.arange(1, SPEC.text_dim + 1, dtype=np.float32) * 3.0
    store.upsert([PointRecord(500, {"text": raw}, {"price": 10.0})])
    (got,) = store.retrieve([500], with_vectors=["text"])
    assert np.allclose(got.vectors["text"], _unit(raw), atol=1e-6)


def test_flags_are_stored_as_integers(ro_store):
    payloads = {h.id: h.payload for h in ro_store.retrieve(list(BY_ID))}
    for pid, p in BY_ID.items():
        for flag in ("is_active", "in_stock", "has_image"):
            assert type(payloads[pid][flag]) is int and payloads[pid][flag] == int(p.payload[flag])
    assert payloads[101]["created_at"] == "2025-01-01T00:00:00+00:00"  # a datetime, stored as UTC ISO 8601


def test_all_ids(ro_store):
    assert ro_store.all_ids() == set(BY_ID)


# ---------------------------------------------------------------- recommend


def test_recommend_prefers_points_near_positives(ro_store):
    a, b, c = POINTS[8], POINTS[9], POINTS[10]
    hits = ro_store.recommend([a.vectors["text"], b.vectors["text"]], [c.vectors["text"]], "text", limit=10)
    assert {h.id for h in hits[:2]} == {a.id, b.id}
    assert c.id not in {h.id for h in hits}

    # Best-score strategy, computed independently: the best positive similarity where it beats the best
    # negative one, else minus the best negative; both squashed by Qdrant's sigmoid 0.5 (x / (1 + |x|) + 1).
    def squash(x: float) -> float:
        return 0.5 * (x / (1 + abs(x)) + 1)

    rows = []
    for p in POINTS:
        pos = max(float(p.vectors["text"] @ v) for v in (a.vectors["text"], b.vectors["text"]))
        neg = float(p.vectors["text"] @ c.vectors["text"])
        rows.append((p.id, squash(pos) if pos > neg else -squash(neg)))
    # a and b both score squash(1): equal scores may come in either order, so ties are put in id order.
    tie_order = lambda r: (-round(r[1], 5), r[0])  # noqa: E731
    expected = sorted(rows, key=tie_order)[:10]
    got = sorted(((h.id, h.score) for h in hits), key=tie_order)
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_recommend_respects_filters_and_needs_a_positive(ro_store):
    a = POINTS[8]
    f = Filters(exclude_ids=[a.id], category_ids=[2], active_only=False)
    hits = ro_store.recommend([a.vectors["combined"]], [], "combined", limit=N, filters=replace(f))
    assert {h.id for h in hits} == {p.id for p in POINTS if _matches(p, f)}
    with pytest.raises(ValidationError, match="positive"):
        ro_store.recommend([], [a.vectors["text"]], "text", limit=5)


# ---------------------------------------------------------------- spec and lifecycle


def test_spec_and_points_survive_reopening(backend, store):
    assert store.spec() == SPEC
    q = _query_vector("combined", seed=11)
    before = [(h.id, h.score) for h in store.query(q, "combined", limit=10, filters=None)]
    again = backend.reopen(store)
    assert again.spec() == SPEC
    assert again.all_ids() == set(BY_ID)
    assert [(h.id, h.score) for h in again.query(q, "combined", limit=10, filters=None)] == before
    again.open(SPEC)  # the same spec opens and keeps everything
    assert again.count() == N


@pytest.mark.parametrize("change", [{"text_dim": 9}, {"image_encoder": "other-image"}, {"text_weight": 0.5}],
                         ids=["dim", "encoder", "weight"])
def test_mismatched_spec_raises_and_keeps_the_collection(backend, store, change):
    again = backend.reopen(store)
    with pytest.raises(EncoderMismatch) as err:
        again.open(replace(SPEC, **change))
    (field,) = change
    assert field in str(err.value) and "python -m engine index --full" in str(err.value)
    assert again.spec() == SPEC and again.count() == N


def test_recreate_empties_and_takes_the_new_spec(backend, store):
    other = replace(SPEC, text_dim=4, text_encoder="smaller")
    store.open(other, recreate=True)
    assert store.spec() == other
    assert store.count() == 0 and store.all_ids() == set()
    store.upsert([PointRecord(1, {"text": np.ones(4, np.float32)}, {"price": 3.0})])
    again = backend.reopen(store)
    assert again.spec() == other and again.all_ids() == {1}


def test_no_collection_yet(backend):
    s = backend.new()
    assert s.spec() is None
    with pytest.raises(NotFound, match="index --full"):
        s.query(_query_vector("text"), "text", limit=3)


# ---------------------------------------------------------------- bad input writes nothing


@pytest.mark.parametrize("bad", [
    {"text": np.ones(SPEC.text_dim + 1, np.float32)},
    {"text": np.zeros(SPEC.text_dim, np.float32)},
    {"text": np.full(SPEC.text_dim, np.nan, np.float32)},
    {"colour": np.ones(SPEC.text_dim, np.float32)},
    {},
], ids=["wrong size", "zero", "nan", "unknown vector name", "no vectors"])
def test_bad_vector_is_refused_before_writing(store, bad):
    good = PointRecord(900, {"text": np.ones(SPEC.text_dim, np.float32)}, {"price": 1.0})
    with pytest.raises(ValidationError):
        store.upsert([good, PointRecord(901, bad, {"price": 2.0})])
    assert store.count() == N and 900 not in store.all_ids()


def test_bad_payload_and_ids_are_refused_before_writing(store):
    vec = {"text": np.ones(SPEC.text_dim, np.float32)}
    with pytest.raises(ValidationError, match="price"):
        store.upsert([PointRecord(900, vec, {"price": 1.0}), PointRecord(901, vec, {"price": "cheap"})])
    with pytest.raises(ValidationError, match="category_ids"):
        store.upsert([PointRecord(902, vec, {"category_ids": ["men"]})])
    with pytest.raises(ValidationError, match="created_at"):
        store.upsert([PointRecord(903, vec, {"created_at": "yesterday"})])
    with pytest.raises(ValidationError, match="id"):
        store.upsert([PointRecord(-1, vec, {})])
    with pytest.raises(ValidationError, match="price"):
        store.set_payload([101], {"price": float("nan")})
    assert store.count() == N and not {900, 901, 902, 903} & store.all_ids()
    assert store.retrieve([101])[0].payload["price"] == BY_ID[101].payload["price"]


def test_bad_query_arguments(ro_store):
    with pytest.raises(ValidationError, match="shape"):
        ro_store.query(np.ones(SPEC.image_dim, np.float32), "text", limit=3)
    with pytest.raises(ValidationError, match="unknown vector"):
        ro_store.query(np.ones(SPEC.text_dim, np.float32), "colour", limit=3)
    with pytest.raises(ValidationError, match="limit"):
        ro_store.query(np.ones(SPEC.text_dim, np.float32), "text", limit=0)


# ---------------------------------------------------------------- edge: one opener per folder


def test_second_edgestore_on_an_open_path_is_refused(tmp_path):
    path = tmp_path / "s"
    first = EdgeStore(path)
    first.open(SPEC)
    first.upsert(POINTS[:3])
    first.announce("http://127.0.0.1:8765")
    try:
        with pytest.raises(StoreLocked, match=f"is owned by process {os.getpid()} "):
            EdgeStore(path)
        code = f"from engine.store import EdgeStore\nEdgeStore({str(path)!r})"
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert f"store at {path} is owned by process {os.getpid()}" in proc.stderr
        assert "use the HTTP API it serves at http://127.0.0.1:8765" in proc.stderr and "QDRANT_URL" in proc.stderr
    finally:
        first.close()
    assert not (path / "owner.json").exists()  # the owner's note goes with its lock
    with EdgeStore(path) as after:  # close() releases the lock
        assert after.all_ids() == {p.id for p in POINTS[:3]}


def test_open_store_follows_the_settings(tmp_path):
    edge = open_store(Settings(data_dir=tmp_path, qdrant_url=""))
    try:
        assert isinstance(edge, EdgeStore) and edge.path == tmp_path / "qdrant"
    finally:
        edge.close()
    remote = open_store(Settings(data_dir=tmp_path, qdrant_url=":memory:", qdrant_collection="c1"))
    try:
        assert isinstance(remote, QdrantClientStore) and remote.collection == "c1"
        remote.open(SPEC)
        assert remote.spec() == SPEC
    finally:
        remote.close()


def test_collection_without_a_recorded_spec_is_refused_until_rebuilt(backend, store):
    # A folder whose spec file was lost, or a server collection that Vitrina did not build.
    store.close()
    if backend.kind == "edge":
        (backend.path / "spec.json").unlink()
    else:
        backend.client.delete_collection("products")
        backend.client.create_collection("products", vectors_config={
            n: models.VectorParams(size=s, distance=models.Distance.COSINE) for n, s in SPEC.sizes().items()})
    again = backend.new()
    assert again.spec() is None
    with pytest.raises(EncoderMismatch, match="no recorded spec"):
        again.open(SPEC)
    with pytest.raises(EncoderMismatch, match="no recorded spec"):
        again.count()
    again.open(SPEC, recreate=True)
    assert again.spec() == SPEC and again.count() == 0


def test_unreadable_edge_spec_is_refused_until_rebuilt(tmp_path):
    with EdgeStore(tmp_path / "s") as s:
        s.open(SPEC)
        s.upsert(POINTS[:2])
    (tmp_path / "s" / "spec.json").write_text('{"text_encoder": "test-text", "text_dim": ', encoding="utf-8")
    with EdgeStore(tmp_path / "s") as again:
        with pytest.raises(EncoderMismatch, match="unreadable"):
            again.open(SPEC)
        again.open(SPEC, recreate=True)
        assert again.count() == 0
    with EdgeStore(tmp_path / "s") as third:
        assert third.spec() == SPEC


def test_a_closed_edge_store_says_so_and_reopens(tmp_path):
    s = EdgeStore(tmp_path / "s")
    s.open(SPEC)
    s.upsert(POINTS[:4])
    s.close()
    with pytest.raises(VitrinaError, match="closed"):
        s.count()
    s.open(SPEC)
    assert s.count(filters=None) == 4
    s.close()


def test_unreachable_qdrant_server_gives_a_clear_error():
    with socket.socket() as sock:  # a port nothing listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # (a client of our own: the default one probes the server version in a background thread, which warns)
    client = QdrantClient(f"http://127.0.0.1:{port}", check_compatibility=False, timeout=5)
    s = QdrantClientStore(client, "products")
    try:
        with pytest.raises(VitrinaError, match="cannot reach the Qdrant collection 'products'.*refused"):
            s.open(SPEC)
    finally:
        client.close()
