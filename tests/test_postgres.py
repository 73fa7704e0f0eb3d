"""The engine on PostgreSQL, as the README promises: DATABASE_URL pointing at a throwaway server (pg_server.py)
and the real paths run unchanged on it — Magento and generic imports, indexing (USE text + descriptor photos,
embedded Qdrant), similar items with filters, drift check, catalog search, event import, the traffic
simulator, every dashboard query, experiments, personalisation and the HTTP service.

Where a result does not depend on the database it is compared with the same computation on SQLite: the
catalog imported into a SQLite file alongside, and the analytics run on a SQLite copy of the PostgreSQL tables
(or on hand-computed values). Skips where PostgreSQL is not installed (fails under CI)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import func, insert, inspect, select, text, update
from starlette.testclient import TestClient

from engine.insights import analytics, dashboards
from engine.insights import popularity as pop
from engine.catalog.db import Database
from engine.catalog.importers import import_generic, import_magento
from engine.catalog.importers.common import ImportReport
from engine.catalog.models import Base, Category, Product, utcnow
from engine.catalog.queries import Catalog
from engine.recommend.config import PersonalisationConfig, RecoConfig
from engine.errors import NotFound, ValidationError
from engine.insights.event_import import import_events
from engine.insights.events import Event, EventLog, utc_now
from engine.catalog.events import EventRow, day_number
from engine.insights.rollups import mark_dirty
from engine.insights.experiments import assign, create_experiment, delete_experiment, get_experiment, list_experiments
from engine.insights.experiments import results as experiment_results
from engine.insights.experiments import stop, two_proportion
from engine.recommend.fbt import co_purchases
from engine.recommend.personal import SERVED_PERSONALISED, personalised
from engine.recommend.profiles import ProfileStore
from engine.catalog.profiles import UserProfileRow
from engine.runtime import Runtime, shared
from engine.service.app import create_app
from engine.settings import Settings
from engine.insights.simulate import SIM_EXPERIMENT, SimulationReport, simulate
from engine.types import Filters
from pg_server import postgres_server, postgres_url  # noqa: F401  (session fixtures)
from test_importers import CSV_REJECTED, JSONL_REJECTED

ROOT = Path(__file__).resolve().parent.parent
GENERIC = ROOT / "tests" / "fixtures" / "generic"
NOW = utc_now().replace(minute=0, second=0, microsecond=0)  # the simulator's end and the analytics' "now"
SIM_SEED = 7

# Russian and Turkish titles in every case, with ё and the four Turkish i's: what the search has to fold.
FEED = """sku,title,price,stock,category,brand
RU-1,Платье красное вечернее,4990,3,Одежда > Платья,Заря
RU-2,ЧЁРНОЕ ПЛАТЬЕ МИДИ,5990,1,Одежда > Платья,Заря
RU-3,чёрная сумка,1500,0,Аксессуары > Сумки,Кожа
RU-4,Черный ремень,990,4,Аксессуары > Ремни,Кожа
TR-1,SİYAH DERİ CEKET,2500,2,Giyim > Ceket,Deri
TR-2,Siyah çanta,800,5,Aksesuar > Çanta,Deri
TR-3,KIRMIZI ELBİSE,1200,1,Giyim > Elbise,Moda
TR-4,Kırmızı ayakkabı,1400,2,Giyim > Ayakkabı,Moda
TR-5,ÇANTA büyük,900,1,Aksesuar > Çanta,Moda
EN-1,Summer sale 50% off_now,10,1,Misc,
"""
NEEDLES = ["платье", "ПЛАТЬЕ", "черн", "ЧЁРН", "Чёрная", "siyah", "SIYAH", "sıyah", "SİYAH", "kırmızı",
           "KIRMIZI", "kirmizi elbise", "çanta", "CANTA", "jacket", "JACKET", "Tee", "mh01", "MH01-BLACK",
           "24-mb0", "50%", "off_", "_", "%", "ı", "strap", "yoga"]


def _luma_settings(tmp: Path, url: str) -> Settings:
    """Settings as a deployment makes them: from the environment, DATABASE_URL naming the server."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"DATABASE_URL": url, "VITRINA_DATA_DIR": str(tmp), "VITRINA_IMAGE_ENCODER": "descriptor",
                            "VITRINA_TEXT_ENCODER": "use", "QDRANT_URL": "", "REDIS_URL": ""}.items():
            mp.setenv(name, value)
        settings = Settings()
    assert settings.sql_url == url
    return settings


@dataclass
class PgWorld:
    settings: Settings
    runtime: Runtime
    sqlite: Database  # the same catalog files imported into SQLite
    magento: ImportReport
    feed: ImportReport
    feed_path: Path

    @property
    def db(self) -> Database:
        return self.runtime.db


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir, postgres_url) -> PgWorld:  # noqa: F811
    tmp = tmp_path_factory.mktemp("pg-world")
    settings = _luma_settings(tmp / "data", postgres_url)
    rt = shared(settings)  # the HTTP service of this process shares it (and its embedded store)
    assert rt.db.engine.dialect.name == "postgresql"
    feed = tmp / "feed.csv"
    feed.write_text(FEED, encoding="utf-8")
    magento = import_magento(rt.db, luma_dir)
    feed_report = import_generic(rt.db, feed)
    lite = Database(f"sqlite:///{tmp / 'catalog.db'}")
    import_magento(lite, luma_dir)
    import_generic(lite, feed)
    report = rt.indexer.run()
    assert report.encoded == rt.catalog.stats().active and not report.errors, report.errors[:3]
    yield PgWorld(settings, rt, lite, magento, feed_report, feed)
    rt.close()
    rt.db.engine.dispose()
    lite.engine.dispose()


@dataclass
class Traffic:
    otto: list  # the two reports of importing the OTTO sample twice
    otto_lite: list  # the same into the SQLite catalog
    sim: SimulationReport


@pytest.fixture(scope="module")
def traffic(world: PgWorld, otto_file: Path) -> Traffic:
    otto = [import_events(world.db, otto_file) for _ in range(2)]
    otto_lite = [import_events(world.sqlite, otto_file) for _ in range(2)]
    sim = simulate(world.db, days=14, shoppers=150, seed=SIM_SEED, end=NOW)
    return Traffic(otto, otto_lite, sim)


def _copy_to_sqlite(db: Database, path: Path) -> Database:
    """Every table of the PostgreSQL database, row for row (ids included), in a new SQLite file."""
    lite = Database(f"sqlite:///{path}")
    with db.engine.connect() as src, lite.engine.begin() as dst:
        for table in Base.metadata.sorted_tables:
            rows = [dict(r) for r in src.execute(select(table).order_by(*table.primary_key.columns)).mappings()]
            for i in range(0, len(rows), 5000):
                dst.execute(insert(table), rows[i:i + 5000])
    return lite


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables}


# ---------------------------------------------------------------- the database itself

def test_schema_is_created_on_postgresql(world: PgWorld):
    insp = inspect(world.db.engine)
    tables = set(insp.get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert {"products", "events", "experiments", "user_profiles", "user_dislikes", "vector_sync"} <= tables
    assert "ix_events_user" in {ix["name"] for ix in insp.get_indexes("events")}
    cols = {c["name"]: c["type"] for c in insp.get_columns("events")}
    assert cols["product_id"].python_type is int and "BIGINT" in str(cols["product_id"]).upper()
    with world.db.engine.connect() as conn:
        assert conn.execute(text("show server_encoding")).scalar() == "UTF8"


# ---------------------------------------------------------------- imports

def _catalog_rows(db: Database) -> dict[str, tuple]:
    """Products by sku with what an import decides about them, independent of ids."""
    with db.session() as s:
        paths = dict(s.execute(select(Category.id, Category.path)).all())
        out = {}
        for p in s.scalars(select(Product)):
            out[p.sku] = (p.title, round(p.price, 4), p.stock_qty, p.colour, p.group_key, p.is_active,
                          p.language, paths.get(p.category_id), p.brand.name if p.brand else None,
                          json.dumps(p.attributes, sort_keys=True), tuple(i.path for i in p.images),
                          tuple(sorted(paths[c.id] for c in p.categories)))
        return out


def test_magento_import_is_idempotent_and_matches_sqlite(world: PgWorld, luma_dir: Path):
    first = world.magento
    assert first.created == 461 and first.rejected == [] and first.links_created > 0
    before, stats = _counts(world.db), world.runtime.catalog.stats()
    again = import_magento(world.db, luma_dir)
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert (again.links_created, again.links_removed, again.categories_created) == (0, 0, 0)
    assert _counts(world.db) == before and world.runtime.catalog.stats() == stats
    assert world.feed.created == 10 and world.feed.rejected == []
    # the same files give the same catalog on SQLite, down to every field, photo and membership
    assert _catalog_rows(world.db) == _catalog_rows(world.sqlite)
    pg_stats, lite_stats = stats, Catalog(world.sqlite).stats()
    for name in ("products", "active", "in_stock", "with_images", "images", "styles", "categories", "brands",
                 "links", "per_source", "without_colour"):
        assert getattr(pg_stats, name) == getattr(lite_stats, name), name


@pytest.fixture()
def generic_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "feed"
    shutil.copytree(GENERIC, folder)
    (folder / "photos").mkdir()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(folder / "photos" / "tee.jpg")
    return folder


def test_generic_import_rejects_bad_rows_with_their_lines(postgres_server, generic_dir: Path):  # noqa: F811
    db = Database(postgres_server.create_database("generic_feed"))
    try:
        rep = import_generic(db, generic_dir / "products.csv")
        assert [e.line for e in rep.rejected] == CSV_REJECTED and rep.created == 5
        messages = {e.line: e.message for e in rep.rejected}
        assert "expected 15 columns, got 3" in messages[11] and "repeats line 2" in messages[14]
        rep = import_generic(db, generic_dir / "products.jsonl")
        assert [e.line for e in rep.rejected] == JSONL_REJECTED and rep.created == 4
        again = import_generic(db, generic_dir / "products.csv")
        assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
        with db.session() as s:  # the rejected BAD-DATE row named brand Phantom and category Ghost > Town
            assert s.scalar(select(func.count()).select_from(Category).where(Category.path.like("Ghost%"))) == 0
            ru = s.scalar(select(Product).where(Product.sku == "RU-1"))
            assert (ru.title, ru.colour, ru.language, ru.attributes) == (
                "Платье красное вечернее", "red", "ru", {"material": "шёлк"})

        # A row the database refuses (here a trigger; on PostgreSQL also a value longer than its column) is
        # rejected with its line, and nothing of it is left behind; the other rows of its batch land.
        with db.engine.begin() as conn:
            conn.execute(text("CREATE FUNCTION no_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                              "IF NEW.sku = 'BOOM' THEN RAISE EXCEPTION 'sku BOOM is reserved'; END IF; "
                              "RETURN NEW; END $$"))
            conn.execute(text("CREATE TRIGGER no_boom BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION "
                              "no_boom()"))
        data = ("sku,title,price,category,colour\nA,Red a,1,X > Y,\nBOOM,Boom,2,Ghost > Town,\nC,Blue c,3,X > Z,\n"
                f"LONG,Thing,4,Q > R,{'w' * 70}\n").encode()
        rep = import_generic(db, data, name="x.csv")
        assert [e.line for e in rep.rejected] == [3, 5] and rep.created == 2
        assert "reserved" in rep.rejected[0].message and "too long" in rep.rejected[1].message
        with db.session() as s:
            assert set(s.scalars(select(Category.path).where(Category.path.in_(
                ["X", "X/Y", "X/Z", "Ghost", "Q", "Q/R"])))) == {"X", "X/Y", "X/Z"}
            assert s.scalar(select(func.count()).select_from(Product).where(Product.sku.in_(["A", "C"]))) == 2
    finally:
        db.engine.dispose()


# ---------------------------------------------------------------- index, similar, check

def test_index_is_complete_and_similar_respects_filters(world: PgWorld):
    rt = world.runtime
    stats = rt.catalog.stats()
    assert rt.store.count(Filters()) == stats.active
    again = rt.indexer.run()
    assert again.candidates == 0 and again.encoded == 0
    assert rt.indexer.check().clean

    jackets = rt.catalog.category("Men/Tops/Jackets").id
    f = Filters(category_ids=[jackets], price_min=40, price_max=80, colours=["black", "blue"])
    recs = rt.recommender().similar("MH01-Black", n=10, filters=f)
    assert recs
    for r in recs:
        assert 40 <= r.product.price <= 80 and r.product.colour in ("black", "blue")
        assert jackets in r.product.category_ids
    plain = rt.recommender().similar("MJ01-Red", by="combined", n=12, strategy="relevance")
    assert len(plain) == 12 and rt.catalog.get("MJ01-Red").id not in [r.product.id for r in plain]
    sims = [r.similarity for r in plain]
    assert sims == sorted(sims, reverse=True)
    in_stock = rt.recommender().similar("MH01-Black", n=10, filters=Filters(in_stock=True))
    assert in_stock and all(r.product.in_stock for r in in_stock)
    assert all(r.product.group_key != "MH01" for r in rt.recommender().similar("MH01-Black", n=20,
                                                                             exclude_same_style=True))
    # a product written only in Russian is indexed on text and found by its neighbours' language
    ru = rt.recommender().similar("RU-1", by="text", n=3)
    assert ru and ru[0].product.sku.startswith("RU-")


def test_drift_on_postgresql_is_found_and_repaired(world: PgWorld):
    rt = world.runtime
    pid = rt.catalog.get("MJ01-Red").id
    with world.db.session() as s:
        price = s.get(Product, pid).price
        s.execute(update(Product).where(Product.id == pid).values(price=price + 1))
    try:
        drift = rt.indexer.check()
        assert drift.payload_mismatch == [pid] and not drift.missing and not drift.orphans
        assert rt.indexer.check(repair=True).repaired and rt.indexer.check().clean
        assert rt.store.retrieve([pid])[0].payload["price"] == pytest.approx(price + 1)
    finally:
        with world.db.session() as s:
            s.execute(update(Product).where(Product.id == pid).values(price=price, updated_at=utcnow()))
        rt.indexer.run()
    assert rt.indexer.check().clean


# ---------------------------------------------------------------- search

@pytest.mark.parametrize("active_only", [False, True])
def test_search_folds_case_and_letters_like_sqlite(world: PgWorld, active_only: bool):
    pg, lite = world.runtime.catalog, Catalog(world.sqlite)
    for needle in NEEDLES:
        for limit in (3, 1000):
            got = [c.sku for c in pg.search(needle, limit=limit, active_only=active_only)]
            want = [c.sku for c in lite.search(needle, limit=limit, active_only=active_only)]
            assert got == want, (needle, limit)


@pytest.mark.parametrize("needle, skus", [
    ("ПЛАТЬЕ", {"RU-1", "RU-2"}), ("черн", {"RU-1", "RU-2", "RU-3", "RU-4"}), ("ЧЁРНАЯ", {"RU-3"}),
    ("KIRMIZI", {"TR-3", "TR-4"}), ("kırmızı", {"TR-3", "TR-4"}), ("sıyah", {"TR-1", "TR-2"}),
    ("SİYAH", {"TR-1", "TR-2"}), ("canta", {"TR-2", "TR-5"}), ("50%", {"EN-1"}), ("off_n", {"EN-1"}),
])
def test_search_on_postgresql_finds_every_spelling(world: PgWorld, needle: str, skus: set[str]):
    assert {c.sku for c in world.runtime.catalog.search(needle)} == skus


def test_search_ranks_exact_sku_first(world: PgWorld):
    hits = world.runtime.catalog.search("mh01-black", limit=5)
    assert hits[0].sku == "MH01-Black"
    assert [c.sku for c in world.runtime.catalog.search("MH01", limit=50)][:1] != []
    assert all(c.sku.upper().startswith("MH01") for c in world.runtime.catalog.search("MH01", limit=5))


# ---------------------------------------------------------------- events

def _otto_truth(path: Path) -> dict[str, int]:
    kinds = {"clicks": "click", "carts": "cart_add", "orders": "purchase"}
    counts = dict.fromkeys(("impression", "click", "cart_add", "purchase"), 0)  # the funnel's stages
    for line in path.read_text().splitlines():
        if line.strip():
            for e in json.loads(line)["events"]:
                counts[kinds[e["type"]]] += 1
    return counts


def test_events_import_twice_adds_nothing(world: PgWorld, traffic: Traffic, otto_file: Path):
    first, second = traffic.otto
    total = sum(_otto_truth(otto_file).values())
    assert (first.rows, first.inserted, first.duplicates, first.rejected) == (total, total, 0, [])
    assert (second.rows, second.inserted, second.duplicates) == (total, 0, total)
    assert [(r.inserted, r.duplicates) for r in traffic.otto] == [(r.inserted, r.duplicates)
                                                                   for r in traffic.otto_lite]
    with world.db.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(EventRow).where(EventRow.external_id.like("otto:%")))
        assert n.scalar_one() == total


def test_bad_event_rows_are_rejected_by_line_and_the_rest_lands(world: PgWorld):
    """Values PostgreSQL cannot store (an INTEGER position past 2^31, a NUL in text) are rejected rows on
    both databases, rather than failing the whole chunk on PostgreSQL only."""
    data = ("kind,ts,session_id,product_id,position,query,event_id\n"
            "click,2024-01-01T00:00:00Z,bad-rows,5,1,ok,pg-bad-1\n"
            "click,2024-01-01T00:00:00Z,bad-rows,6,3000000000,big,pg-bad-2\n"
            "click,2024-01-01T00:00:00Z,bad-rows,7,1,nul\x00here,pg-bad-3\n"
            "click,2024-01-01T00:00:00Z,bad-rows,99999999999999999999,1,huge,pg-bad-4\n"
            "click,2024-01-01T00:00:00Z,bad-rows,8,2,fine,pg-bad-5\n").encode()
    for db in (world.db, world.sqlite):
        rep = import_events(db, data)
        assert [line for line, _ in rep.rejected] == [3, 4, 5], (db.engine.dialect.name, rep.rejected)
        assert "at most" in rep.rejected[0][1] and "NUL" in rep.rejected[1][1]
        assert rep.inserted == 2
        with db.engine.begin() as conn:
            got = conn.execute(select(EventRow.product_id).where(EventRow.session_id == "bad-rows")
                               .order_by(EventRow.product_id)).scalars().all()
            conn.execute(EventRow.__table__.delete().where(EventRow.session_id == "bad-rows"))
            mark_dirty(conn, [day_number(datetime(2024, 1, 1))])  # a deletion marks its days (rollups' contract)
        assert got == [5, 8]


def test_simulator_writes_what_it_reports(world: PgWorld, traffic: Traffic):
    sim = traffic.sim
    assert sim.events > 1000 and sim.experiment == SIM_EXPERIMENT
    with world.db.engine.connect() as conn:
        got = dict(conn.execute(select(EventRow.kind, func.count()).where(EventRow.simulated == 1)
                                .group_by(EventRow.kind)).all())
        catalog_ids = set(conn.execute(select(Product.id)).scalars())
        shown = set(conn.execute(select(EventRow.product_id).where(EventRow.simulated == 1).distinct()).scalars())
    assert got == {"served": sim.served, "impression": sim.impressions, "click": sim.clicks, "cart_add": sim.carts,
                   "purchase": sim.purchases}
    assert shown <= catalog_ids  # the simulator shops the imported catalog


# ---------------------------------------------------------------- analytics: PostgreSQL == SQLite copy == by hand

def _shown_by_hand(db: Database) -> int:
    """What the simulated shoppers were shown, counted in Python: a list's reported impression rows when its
    browser reported any, else its served rows."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(EventRow.request_id, EventRow.kind).where(
            EventRow.simulated == 1, EventRow.kind.in_(("served", "impression")))).all()
    lists: dict[str, dict[str, int]] = {}
    for rid, kind in rows:
        tally = lists.setdefault(rid, {"served": 0, "impression": 0})
        tally[kind] += 1
    return sum(t["impression"] or t["served"] for t in lists.values())


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False,
                                  rtol=1e-9, atol=1e-12)


# SQLite ages events by julianday(), a float of days good to ~50 µs; PostgreSQL's extract(epoch) is exact.
LITE_REL = 1e-7


def _scored_equal(a: list, b: list) -> None:
    """Same scores rank by rank; the products may differ only by near ties at the cut."""
    assert [x.score for x in a] == pytest.approx([y.score for y in b], rel=LITE_REL)
    sa, sb = {x.product_id: x.score for x in a}, {y.product_id: y.score for y in b}
    for pid in sa.keys() & sb.keys():
        assert sa[pid] == pytest.approx(sb[pid], rel=LITE_REL)
    for pid in sa.keys() ^ sb.keys():
        assert sa.get(pid, sb.get(pid)) == pytest.approx(a[-1].score, rel=LITE_REL)


def _popularity_by_hand(db: Database, half_life: float, now: datetime, ids: set[int] | None = None
                        ) -> dict[int, float]:
    weights = pop.DEFAULT_WEIGHTS
    out: dict[int, float] = {}
    with db.engine.connect() as conn:
        rows = conn.execute(select(EventRow.product_id, EventRow.kind, EventRow.ts).where(
            EventRow.ts <= now, EventRow.kind.in_([k for k, w in weights.items() if w > 0])))
        for pid, kind, ts in rows:
            if ids is None or pid in ids:
                age = (now - ts).total_seconds() / 3600.0
                out[pid] = out.get(pid, 0.0) + weights[kind] * 2.0 ** (-age / half_life)
    return out


def test_analytics_equal_a_sqlite_copy_and_hand_counts(world: PgWorld, traffic: Traffic, otto_file: Path,
                                                       tmp_path: Path):
    pg, lite = world.db, _copy_to_sqlite(world.db, tmp_path / "copy.db")
    try:
        assert _counts(lite) == _counts(pg)
        sim_scope, otto_scope = analytics.Scope(simulated=True), analytics.Scope(end=date(2023, 1, 1))
        for scope in (None, sim_scope, otto_scope, analytics.Scope(start=NOW - timedelta(days=3), end=NOW),
                      analytics.Scope(algorithms=["vector_combined", "trending"], simulated=True)):
            for by in ("algorithm", ["algorithm", "strategy"], "variant", ["experiment", "variant"], "position"):
                _frames_equal(analytics.metrics(pg, by, scope), analytics.metrics(lite, by, scope))
            _frames_equal(analytics.daily(pg, scope), analytics.daily(lite, scope))
            _frames_equal(analytics.daily(pg, scope, by="algorithm"), analytics.daily(lite, scope, by="algorithm"))
            _frames_equal(analytics.funnel(pg, scope), analytics.funnel(lite, scope))
            _frames_equal(analytics.ctr_by_position(pg, scope, by_algorithm=True),
                          analytics.ctr_by_position(lite, scope, by_algorithm=True))
            for by in analytics.TOP_BY:
                _frames_equal(analytics.top_products(pg, 15, by, scope, min_impressions=5 if by == "ctr" else 0),
                              analytics.top_products(lite, 15, by, scope, min_impressions=5 if by == "ctr" else 0))

        for scope in (None, sim_scope, otto_scope):  # the dashboard page's helpers
            assert dashboards.span(pg, scope) == dashboards.span(lite, scope)
            assert dashboards.races(pg, scope) == dashboards.races(lite, scope)
        algos = dashboards.algorithms(pg)
        assert algos == dashboards.algorithms(lite) and "vector_combined" in algos
        top = analytics.top_products(pg, 5, "purchases", sim_scope).product_id.tolist()
        for pid in top:  # frequently bought together: the same baskets on both
            got = co_purchases(pg, pid, min_support=1, min_confidence=0.0, min_lift=0.0)
            assert got == co_purchases(lite, pid, min_support=1, min_confidence=0.0, min_lift=0.0)
        assert any(pairs for pairs, _ in (co_purchases(pg, pid, 1, 0.0, 0.0) for pid in top))

        # by hand: the simulator's own tally and the OTTO file
        sim = traffic.sim
        m = analytics.metrics(pg, "algorithm", sim_scope)
        shown = _shown_by_hand(pg)
        assert (m.reported.sum(), m.served.sum(), m.impressions.sum(), m.clicks.sum(), m.carts.sum(),
                m.purchases.sum()) == (sim.impressions, sim.served, shown, sim.clicks, sim.carts, sim.purchases)
        d = analytics.daily(pg, sim_scope)
        assert d.impressions.sum() == shown and d.day.min() >= pd.Timestamp(NOW.date() - timedelta(days=14))
        truth = _otto_truth(otto_file)
        f = analytics.funnel(pg, otto_scope).set_index("stage")
        assert f.events.to_dict() == truth
        pos = analytics.ctr_by_position(pg, sim_scope, max_position=3)
        assert list(pos.position) == [0, 1, 2, 3] and pos.ctr.is_monotonic_decreasing  # position bias

        # popularity and trending: decayed sums, checked against Python over the raw rows
        gear = world.runtime.catalog.category("Gear").id
        for half_life in (72.0, 1.0):  # 1 h: OTTO's 2022 events decay past float range (PostgreSQL's exp underflow)
            now = NOW + timedelta(hours=1)
            got = pop.popularity(pg, half_life, now=now)
            assert got == pytest.approx(pop.popularity(lite, half_life, now=now), rel=LITE_REL, abs=1e-300)
            assert got == pytest.approx(_popularity_by_hand(pg, half_life, now), rel=1e-9, abs=1e-300)
            _scored_equal(pop.trending(pg, 10, half_life_hours=half_life, now=now),
                          pop.trending(lite, 10, half_life_hours=half_life, now=now))
            in_gear = pop.trending(pg, 10, category_id=gear, half_life_hours=half_life, now=now)
            _scored_equal(in_gear, pop.trending(lite, 10, category_id=gear, half_life_hours=half_life,
                                                      now=now))
            gear_ids = {c.id for c in world.runtime.catalog.list_products(gear, limit=1000)}
            assert in_gear and {s.product_id for s in in_gear} <= gear_ids
        with pg.engine.connect() as conn:  # back when only the OTTO sessions had happened
            then = conn.execute(select(func.max(EventRow.ts)).where(EventRow.external_id.like("otto:%"))).scalar_one()
        old = pop.trending(pg, 5, half_life_hours=1.0, now=then + timedelta(hours=1))
        assert old and all(s.score > 0 for s in old) and old == sorted(old, key=lambda s: (-s.score, s.product_id))
        _scored_equal(old, pop.trending(lite, 5, half_life_hours=1.0, now=then + timedelta(hours=1)))
        cov = analytics.coverage(pg)
        assert (cov.products, cov.with_text) == (cov.active, world.runtime.catalog.stats().active)
    finally:
        lite.engine.dispose()


# ---------------------------------------------------------------- experiments

def test_experiments_create_results_stop(world: PgWorld, traffic: Traffic, tmp_path: Path):
    db = world.db
    name = "pg-layout-test"
    exp = create_experiment(db, name, [("A", "similar", 0.5), ("B", "diverse", 0.5)], control="A",
                            description="Кнопка «похожие» / benzer ürünler")
    assert exp.status == "running" and [v.name for v in exp.variants] == ["A", "B"]
    with pytest.raises(ValidationError, match="already exists"):
        create_experiment(db, name, [("A", "x", 0.5), ("B", "y", 0.5)])
    ids = world.runtime.catalog.ids()[:20]
    log = EventLog(db)
    plan = {"A": (200, 20, 2), "B": (200, 40, 5)}  # impressions, clicks, purchases
    t = NOW - timedelta(hours=5)
    for variant, (n_imp, n_click, n_buy) in plan.items():
        events = [Event("impression", f"exp-{variant}-{i}", ids[i % 20], ts=t, position=i % 8,
                        algorithm="vector_combined", experiment=name, variant=variant) for i in range(n_imp)]
        events += [Event("click", f"exp-{variant}-{i}", ids[i % 20], ts=t, position=i % 8,
                         algorithm="vector_combined", experiment=name, variant=variant) for i in range(n_click)]
        events += [Event("purchase", f"exp-{variant}-{i}", ids[i % 20], ts=t, algorithm="vector_combined",
                         experiment=name, variant=variant) for i in range(n_buy)]
        assert log.log_many(events) == n_imp + n_click + n_buy
    res = experiment_results(db, name)
    table = res.table.set_index("variant")
    for variant, (n_imp, n_click, n_buy) in plan.items():
        assert (table.loc[variant, "impressions"], table.loc[variant, "clicks"],
                table.loc[variant, "purchases"]) == (n_imp, n_click, n_buy)
    cmp = two_proportion(40, 200, 20, 200)
    assert table.loc["B", "ctr"] == pytest.approx(0.2) and table.loc["B", "ctr_diff"] == pytest.approx(cmp.diff)
    assert table.loc["B", "ctr_p_value"] == pytest.approx(cmp.p_value) and res.leader == "B"

    # the simulator's experiment reads the same on a SQLite copy
    lite = _copy_to_sqlite(db, tmp_path / "exp.db")
    try:
        for exp_name in (name, SIM_EXPERIMENT):
            _frames_equal(experiment_results(db, exp_name).table, experiment_results(lite, exp_name).table)
    finally:
        lite.engine.dispose()

    stopped = stop(db, name, winner="B")
    assert stopped.status == "stopped" and stopped.winner == "B" and stopped.stopped_at is not None
    assert assign(get_experiment(db, name), "anyone").name == "B"
    assert {e.name for e in list_experiments(db)} >= {name, SIM_EXPERIMENT}
    delete_experiment(db, name)
    with pytest.raises(NotFound):
        get_experiment(db, name)


# ---------------------------------------------------------------- personalisation

def _personal_config() -> RecoConfig:
    cfg = RecoConfig.default()
    cfg.personalisation = PersonalisationConfig(enabled=True, history_size=20, half_life_hours=24.0,
                                                exclude_seen=True)
    return cfg.validate()


def test_profile_refresh_and_personalised_for_a_simulated_shopper(world: PgWorld, traffic: Traffic):
    rt, cfg = world.runtime, _personal_config()
    with world.db.engine.connect() as conn:  # the simulated shopper who clicked most
        user = conn.execute(select(EventRow.user_id).where(EventRow.simulated == 1, EventRow.kind == "click")
                            .group_by(EventRow.user_id).order_by(func.count().desc(), EventRow.user_id)
                            .limit(1)).scalar_one()
    assert user.startswith(f"sim-u{SIM_SEED}-")
    ps = ProfileStore(rt)
    now = NOW + timedelta(hours=1)
    profile = ps.refresh(user, cfg, now=now)
    assert profile.vector is not None and profile.events > 0 and profile.price_band is not None
    fresh = ps.from_scratch(user, cfg, now=now)
    assert np.allclose(profile.vector, fresh.vector, atol=1e-6) and profile.categories == pytest.approx(
        fresh.categories)
    with world.db.session() as s:  # the sums round-trip through bytea and json
        row = s.get(UserProfileRow, user)
        assert row.last_event_id == profile.last_event_id and len(row.vector) % 8 == 0

    # a new purchase is folded in incrementally and equals a recomputation
    bought = rt.catalog.get("WS03-Blue").id
    EventLog(rt.db).log(Event("purchase", f"{user}-late", bought, ts=now, user_id=user))
    later = now + timedelta(hours=2)
    inc, scratch = ps.refresh(user, cfg, now=later), ps.from_scratch(user, cfg, now=later)
    assert np.allclose(inc.vector, scratch.vector, atol=1e-6)
    assert (inc.events, inc.last_event_id) == (scratch.events, scratch.last_event_id)
    assert inc.last_event_id > profile.last_event_id

    rec = rt.recommender(cfg)
    res = personalised(rec, user, n=8, now=later)
    assert res.served == SERVED_PERSONALISED and len(res.items) == 8
    served = [r.product.id for r in res.items]
    seen = ps.interacted(user, ("click", "cart_add", "purchase"))
    assert bought not in served and not set(served) & seen
    ps.dislike(user, served[0])
    assert ps.dislikes(user) == [served[0]]
    again = personalised(rec, user, n=8, now=later)
    assert served[0] not in [r.product.id for r in again.items] and again.negatives == 1
    assert ps.undislike(user, served[0]) and ps.dislikes(user) == []


# ---------------------------------------------------------------- the HTTP service (last: it releases the store)

def test_service_similar_endpoint_on_postgresql(world: PgWorld):
    settings = world.settings
    before = EventLog(world.db).count()
    app = create_app(settings)
    with TestClient(app) as client:
        r = client.get("/api/products/MJ01-Red/similar/",
                       params={"limit": 6, "color": "black,blue", "price_max": 80, "category": "Men/Tops",
                               "session_id": "pg-svc", "user_id": "pg-user"})
        assert r.status_code == 200, r.text
        body = r.json()
        rec = app.state.service.recommender()
        expected = rec.similar("MJ01-Red", n=6, filters=Filters(
            category_ids=[rec.catalog.category("Men/Tops").id], price_max=80.0, colours=["black", "blue"]))
        assert [i["id"] for i in body["items"]] == [e.product.id for e in expected] and len(expected) == 6
        assert [i["score"] for i in body["items"]] == pytest.approx([e.score for e in expected], abs=1e-9)
        assert all(i["colour"] in ("black", "blue") and i["price"] <= 80 for i in body["items"])
        by_id = client.get(f"/api/products/{body['items'][0]['id']}/similar/", params={"limit": 3})
        assert by_id.status_code == 200 and len(by_id.json()["items"]) == 3
        assert client.get("/api/products/NO-SUCH-SKU/similar/").status_code == 404
        assert client.get("/api/products/MJ01-Red/similar/", params={"price_min": -1}).status_code == 400
    # the impressions of the served lists were written to PostgreSQL
    with world.db.engine.connect() as conn:
        logged = conn.execute(select(EventRow.position, EventRow.user_id, EventRow.algorithm)
                              .where(EventRow.session_id == "pg-svc").order_by(EventRow.position)).all()
    assert [p for p, _, _ in logged] == list(range(6))
    assert {(u, a) for _, u, a in logged} == {("pg-user", "vector_combined")}
    assert EventLog(world.db).count() == before + 6 + 3
