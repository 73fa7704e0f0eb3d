"""Trending, the top-products ranking and the funnel's sessions read the rollups for the days they hold: their
answers must equal independent Python and SQL over the raw events — before and after a refresh, with today's
events, a late arrival on a rolled day, a dirty day, simulated traffic, a category, other weights and an earlier
`now` — on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select, text, update

from engine.catalog.db import Database
from engine.catalog.events import EventRow, ProductDailyRow, day_number
from engine.catalog.models import Category, Product
from engine.insights import analytics as A
from engine.insights import popularity as P
from engine.insights import rollups
from engine.insights.events import utc_now
from pg_server import postgres_server  # noqa: F401  (session fixture)

PRODUCTS = 40
# SQLite ages events by julianday(), which keeps milliseconds; PostgreSQL's timestamps keep microseconds.
REL = {"sqlite": 1e-7, "postgresql": 1e-9}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'rank.db'}")
    else:
        server = request.getfixturevalue("postgres_server")
        database = Database(server.create_database(f"rank_{random.randrange(10**9)}"))
    yield database
    database.engine.dispose()


def fill(db: Database, rng: random.Random, start: datetime, end: datetime, lists: int, first: int = 0) -> None:
    """`lists` served lists of 5 products between start and end: reported impressions for some, clicks, cart
    adds and priced purchases, a tenth of them simulated. Lists n and n + 230 share a session (which may span
    days, rolled up or not)."""
    rows = []
    span = (end - start).total_seconds()
    for n in range(first, first + lists):
        ts = start + timedelta(seconds=rng.uniform(0, span), microseconds=rng.randrange(10**6))
        rid, sim, reported = f"r{n}", int(rng.random() < 0.1), rng.random() < 0.6
        for pos, pid in enumerate(rng.sample(range(1, PRODUCTS), 5)):
            base = {"session_id": f"s{n % 230}", "product_id": pid, "position": pos, "request_id": rid,
                    "simulated": sim, "algorithm": "vector_text"}
            kinds = ["served"] + (["impression"] if reported and pos < 3 else [])
            if rng.random() < 0.3:
                kinds.append("click")
                if rng.random() < 0.5:
                    kinds.append("cart_add")
                    if rng.random() < 0.5:
                        kinds.append("purchase")
            for i, kind in enumerate(kinds):
                at = ts + timedelta(minutes=3 * i)  # a beacon may land after midnight: on the next day
                money = {"price": 10.0 + pid, "quantity": 1 + pid % 2} if kind in ("cart_add", "purchase") else {}
                rows.append({**base, "kind": kind, "ts": at, "day": day_number(at), **money})
    with db.engine.begin() as conn:
        conn.execute(insert(EventRow), rows)


def world(db: Database) -> datetime:
    with db.session() as s:
        s.add_all([Category(id=1, name="Bags", path="Bags"), Category(id=2, name="Shoes", path="Shoes")])
        s.flush()
        s.add_all([Product(id=i, sku=f"S{i}", title=f"P{i}", price=10.0 + i, category_id=1 + i % 2)
                   for i in range(1, PRODUCTS + 1)])
    now = utc_now()
    midnight = datetime.combine(now.date(), datetime.min.time())
    rng = random.Random(7)
    fill(db, rng, midnight - timedelta(days=9), midnight, 400)  # nine complete days (products 1 to PRODUCTS - 1)
    fill(db, rng, midnight, now, 60, first=400)  # today: read raw
    fill(db, rng, now + timedelta(hours=1), now + timedelta(hours=2), 10, first=460)  # past `now`: never counted
    shown = midnight - timedelta(days=2, hours=5)  # a product only ever shown: no score at the default weights
    with db.engine.begin() as conn:
        conn.execute(insert(EventRow), [{"kind": kind, "session_id": "s", "product_id": PRODUCTS, "ts": shown,
                                         "day": day_number(shown), "simulated": 0, "request_id": "shown"}
                                        for kind in ("served", "impression")])
    return now


def by_hand(db: Database, now: datetime, half_life: float = P.DEFAULT_HALF_LIFE_HOURS,
            weights: dict | None = None, simulated: bool = True, products: set | None = None) -> dict[int, float]:
    """Σ weight · 2^(−age/half_life) per product, in Python over every raw event up to `now`."""
    w = {**P.DEFAULT_WEIGHTS, **(weights or {})}
    out: dict[int, float] = {}
    with db.engine.connect() as conn:
        for pid, kind, ts, sim in conn.execute(select(EventRow.product_id, EventRow.kind, EventRow.ts,
                                                      EventRow.simulated)):
            if ts <= now and w[kind] > 0 and (simulated or not sim) and (products is None or pid in products):
                out[pid] = out.get(pid, 0.0) + w[kind] * 2.0 ** (-(now - ts).total_seconds() / 3600 / half_life)
    return out


def ranked(scores: dict[int, float], n: int) -> list[int]:
    return [p for p, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def check_popularity(db: Database, now: datetime) -> None:
    rel = REL[db.engine.dialect.name]
    weights = {"served": 0.1, "impression": 0.5, "click": 2.0}
    earlier = now - timedelta(days=3, hours=5)  # rolled days after it must not count
    cases = [({}, {}, now), ({"weights": weights}, {"weights": weights}, now),
             ({"include_simulated": False}, {"simulated": False}, now), ({}, {}, earlier)]
    for kwargs, hand, at in cases:
        want = by_hand(db, at, **hand)
        got = P.popularity(db, now=at, **kwargs)
        assert got.keys() == want.keys() and got == pytest.approx(want, rel=rel)
        top = P.trending(db, 15, now=at, **kwargs)
        assert [t.product_id for t in top] == ranked(want, 15)
        assert [t.score for t in top] == pytest.approx([want[t.product_id] for t in top], rel=rel)
    bags = {i for i in range(1, PRODUCTS + 1) if 1 + i % 2 == 1}
    assert [t.product_id for t in P.trending(db, 8, category_id=1, now=now)] == ranked(by_hand(db, now,
                                                                                            products=bags), 8)
    slow = by_hand(db, now, half_life=24.0)  # another half-life: every event read raw
    assert P.popularity(db, half_life_hours=24.0, now=now) == pytest.approx(slow, rel=rel)


def products_by_sql(db: Database, first_day: int) -> dict[int, tuple]:
    """(impressions, clicks, carts, purchases, revenue) per product from `first_day` on, in plain SQL:
    impressions are the reported tiles of lists that have them, else the served rows."""
    q = f"""
        SELECT product_id,
               SUM(CASE WHEN kind = 'impression' THEN 1
                        WHEN kind = 'served' AND request_id NOT IN (
                             SELECT request_id FROM events WHERE kind = 'impression') THEN 1 ELSE 0 END),
               SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END), SUM(CASE WHEN kind = 'cart_add' THEN 1 ELSE 0 END),
               SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END),
               SUM(CASE WHEN kind = 'purchase' THEN price * quantity ELSE 0 END)
        FROM events WHERE day >= {first_day} GROUP BY product_id"""
    with db.engine.connect() as conn:
        return {int(r[0]): tuple(r[1:]) for r in conn.execute(text(q))}


def check_top_products(db: Database, now: datetime) -> None:
    start = now.date() - timedelta(days=6)
    want = products_by_sql(db, day_number(datetime.combine(start, datetime.min.time())))
    for by, col in (("purchases", 3), ("clicks", 1), ("revenue", 4)):
        top = A.top_products(db, 12, by, A.Scope(start=start, end=now.date() + timedelta(days=1)))
        order = sorted(want, key=lambda p: (-want[p][col], p))[:12]
        assert top["product_id"].tolist() == order
        for r in top.itertuples():
            assert (r.impressions, r.clicks, r.carts, r.purchases) == want[r.product_id][:4]
            assert r.revenue == pytest.approx(want[r.product_id][4])


def check_funnel_sessions(db: Database, now: datetime) -> None:
    """The funnel's distinct sessions per stage over the last 7 days, against COUNT(DISTINCT) in SQL."""
    start = now.date() - timedelta(days=6)
    first = day_number(datetime.combine(start, datetime.min.time()))
    want = []
    with db.engine.connect() as conn:
        for kinds in ("'served', 'impression'", "'click'", "'cart_add'", "'purchase'"):
            want.append(conn.execute(text(f"SELECT COUNT(DISTINCT session_id) FROM events "
                                          f"WHERE day >= {first} AND kind IN ({kinds})")).scalar_one())
    f = A.funnel(db, A.Scope(start=start, end=now.date() + timedelta(days=1)))
    assert f["sessions"].tolist() == want and len(set(want)) == 4


def test_trending_and_top_products_from_the_rollup_equal_the_raw_events(db):
    now = world(db)
    check_popularity(db, now)  # nothing rolled up: all raw
    rollups.refresh(db)
    with db.engine.connect() as conn:
        rolled = conn.execute(select(ProductDailyRow.day).distinct()).scalars().all()
    assert len(rolled) >= 10 and max(rolled) == day_number(now)  # the complete days, and today to its watermark
    check_popularity(db, now)
    check_top_products(db, now)
    check_funnel_sessions(db, now)
    # a late purchase on a rolled day, not refreshed yet: read raw by its id past the rollup's last one
    late = datetime.combine(now.date() - timedelta(days=2), datetime.min.time()) + timedelta(hours=13)
    with db.engine.begin() as conn:
        conn.execute(insert(EventRow), [{"kind": "purchase", "session_id": "late", "product_id": 3, "ts": late,
                                         "day": day_number(late), "simulated": 0, "price": 13.0, "quantity": 1}])
    check_popularity(db, now)
    rollups.refresh(db)  # now that day is rolled up again, with the purchase
    check_popularity(db, now)
    check_top_products(db, now)
    rollups.mark_dirty(db, [day_number(late)])  # a dirty day: read raw until the next refresh
    check_popularity(db, now)
    check_top_products(db, now)


def test_trending_reads_the_decayed_sums_of_the_rollup(db):
    """The fast path is taken: doubling the rolled click sums doubles those clicks' share of the score."""
    now = world(db)
    rollups.refresh(db)
    only_clicks = {"weights": {"click": 1.0, "cart_add": 0.0, "purchase": 0.0}}
    before = P.popularity(db, now=now, **only_clicks)
    with db.engine.begin() as conn:
        conn.execute(update(ProductDailyRow).values(decay_click=ProductDailyRow.decay_click * 2))
    midnight = datetime.combine(now.date(), datetime.min.time())
    clicks = {"weights": {"click": 1.0, "cart_add": 0.0, "purchase": 0.0}}
    every, rolled = by_hand(db, now, **clicks), by_hand(db, midnight, **clicks)  # rolled: the complete days'
    decay = 2.0 ** (-(now - midnight).total_seconds() / 3600 / P.DEFAULT_HALF_LIFE_HOURS)
    rel = REL[db.engine.dialect.name]
    assert before == pytest.approx(every, rel=rel)
    # the rolled days' clicks now count twice; today's, read raw, once
    want = {p: every.get(p, 0.0) + rolled.get(p, 0.0) * decay for p in every}
    assert P.popularity(db, now=now, **only_clicks) == pytest.approx(want, rel=rel)
    assert rollups.DECAY_HALF_LIFE_HOURS == P.DEFAULT_HALF_LIFE_HOURS


def test_a_product_rollup_without_the_decayed_sums_is_rebuilt(tmp_path):
    """A database rolled up before the decayed sums existed forgets its rollups on start: trending reads raw
    until the next refresh rolls every day up again, with the sums."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    now = world(db)
    rollups.refresh(db)
    with db.engine.begin() as conn:
        for kind in ("served", "impression", "click", "cart_add", "purchase"):
            conn.execute(text(f"ALTER TABLE product_daily DROP COLUMN decay_{kind}"))
    db.engine.dispose()
    db = Database(url)
    with db.engine.connect() as conn:
        assert rollups.coverage(conn).through_day == -1
        assert conn.execute(select(ProductDailyRow.id)).first() is None
    assert P.popularity(db, now=now) == pytest.approx(by_hand(db, now), rel=REL["sqlite"])
    assert rollups.refresh(db).days >= 9
    assert P.popularity(db, now=now) == pytest.approx(by_hand(db, now), rel=REL["sqlite"])
    db.engine.dispose()


def test_dashboard_reads_on_postgresql_are_one_snapshot_without_jit_for_their_transaction_only(
        postgres_server):  # noqa: F811
    db = Database(postgres_server.create_database(f"jit_{random.randrange(10**9)}"))
    try:
        with db.engine.connect() as conn:
            before = conn.exec_driver_sql("SHOW jit").scalar()
            level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
        with db.engine.connect() as conn:
            rollups.snapshot(conn)
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
            assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "repeatable read"
        with db.engine.connect() as conn:  # the pooled connection is back to the server's settings
            assert conn.exec_driver_sql("SHOW jit").scalar() == before
            assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == level == "read committed"
    finally:
        db.engine.dispose()
