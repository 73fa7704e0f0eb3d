"""Today's partial roll (engine.insights.rollup_today): dashboard reads sum today's rollup rows up to the
watermark and read the events past it raw. Every figure must equal independent SQL over the raw events — before
and after a re-roll, with events and late client-reported impressions arriving past the watermark, across
midnight, with today marked dirty — on SQLite and on a real PostgreSQL server; the roll keeps to its interval,
and a reader never waits for another process's roll."""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select, text

from engine.catalog.db import Database
from engine.catalog.events import (EventDailyRow, EventRollupStateRow, EventRow, ProductDailyRow, SessionDailyRow,
                                   day_number)
from engine.catalog.models import Product
from engine.insights import analytics as A
from engine.insights import rollup_today, rollups
from engine.insights.events import utc_now
from pg_server import postgres_server  # noqa: F401  (session fixture)

PRODUCTS = 30
ALGOS = ("vector_text", "trending", "personalised")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'today.db'}")
    else:
        server = request.getfixturevalue("postgres_server")
        database = Database(server.create_database(f"today_{random.randrange(10**9)}"))
    with database.session() as s:
        s.add_all([Product(id=i, sku=f"S{i}", title=f"P{i}", price=10.0 + i) for i in range(1, PRODUCTS + 1)])
    yield database
    database.engine.dispose()


def lists(db: Database, rng: random.Random, start: datetime, end: datetime, n: int, first: int,
          report: float = 0.5) -> list[str]:
    """`n` served lists of 4 products between start and end (reported by the client with probability
    `report`), with clicks, cart adds and priced purchases; returns their request ids."""
    rows, rids = [], []
    span = max((end - start).total_seconds(), 1.0)
    for k in range(first, first + n):
        ts = start + timedelta(seconds=rng.uniform(0, span))
        rid, reported = f"r{k}", rng.random() < report
        rids.append(rid)
        for pos, pid in enumerate(rng.sample(range(1, PRODUCTS + 1), 4)):
            base = {"session_id": f"s{k % 37}", "product_id": pid, "position": pos, "request_id": rid,
                    "algorithm": ALGOS[k % len(ALGOS)], "simulated": k % 9 == 0, "ts": ts, "day": day_number(ts)}
            kinds = ["served"] + (["impression"] if reported and pos < 3 else [])
            if rng.random() < 0.35:
                kinds += ["click"] + (["cart_add", "purchase"] if rng.random() < 0.5 else [])
            for kind in kinds:
                money = {"price": 5.0 + pid, "quantity": 1 + pid % 3} if kind in ("cart_add", "purchase") else {}
                rows.append({**base, "kind": kind, **money})
    with db.engine.begin() as conn:
        conn.execute(insert(EventRow), rows)
    return rids


def report_late(db: Database, rids: list[str], when: datetime) -> None:
    """Client-reported impressions for the first two tiles of lists served earlier."""
    with db.engine.begin() as conn:
        served = conn.execute(select(EventRow.request_id, EventRow.product_id, EventRow.position,
                                     EventRow.session_id, EventRow.algorithm)
                              .where(EventRow.kind == "served", EventRow.request_id.in_(rids),
                                     EventRow.position < 2)).all()
        conn.execute(insert(EventRow), [{"kind": "impression", "request_id": r, "product_id": p, "position": pos,
                                         "session_id": s, "algorithm": a, "ts": when, "day": day_number(when),
                                         "simulated": 0} for r, p, pos, s, a in served])


SQL_COUNTS = """
    SELECT algorithm,
           SUM(CASE WHEN kind = 'served' THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'impression' THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'impression' THEN 1
                    WHEN kind = 'served' AND request_id NOT IN (SELECT request_id FROM events
                        WHERE kind = 'impression' AND request_id IS NOT NULL) THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END), SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'purchase' THEN price * quantity ELSE 0 END)
    FROM events WHERE day >= :first GROUP BY algorithm"""
SQL_PRODUCTS = """
    SELECT product_id,
           SUM(CASE WHEN kind = 'impression' THEN 1
                    WHEN kind = 'served' AND request_id NOT IN (SELECT request_id FROM events
                        WHERE kind = 'impression' AND request_id IS NOT NULL) THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END), SUM(CASE WHEN kind = 'cart_add' THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END),
           SUM(CASE WHEN kind = 'purchase' THEN price * quantity ELSE 0 END)
    FROM events WHERE day >= :first GROUP BY product_id"""
SQL_SESSIONS = "SELECT COUNT(DISTINCT session_id) FROM events WHERE day >= :first AND kind IN ({})"


def check(db: Database, today: datetime) -> None:
    """Counts per algorithm, the product ranking and the funnel over the last 7 days (today included) equal
    the plain SQL above."""
    start = today.date() - timedelta(days=6)
    first = day_number(datetime.combine(start, datetime.min.time()))
    scope = A.Scope(start=start, end=today.date())
    with db.engine.connect() as conn:
        want = {r[0]: tuple(r[1:]) for r in conn.execute(text(SQL_COUNTS), {"first": first})}
        products = {r[0]: tuple(r[1:]) for r in conn.execute(text(SQL_PRODUCTS), {"first": first})}
        sessions = [conn.execute(text(SQL_SESSIONS.format(kinds)), {"first": first}).scalar_one()
                    for kinds in ("'served', 'impression'", "'click'", "'cart_add'", "'purchase'")]
    got = A.group_counts(db, ["algorithm"], scope)
    assert set(got) == {(a,) for a in want}
    for (a,), c in got.items():
        assert (c["served"], c["reported"], c["impressions"], c["clicks"], c["purchases"]) == want[a][:5]
        assert c["revenue"] == pytest.approx(want[a][5])
    top = A.top_products(db, PRODUCTS, "impressions", scope)
    assert len(top) == len(products)
    for r in top.itertuples():
        assert (r.impressions, r.clicks, r.carts, r.purchases) == products[r.product_id][:4]
        assert r.revenue == pytest.approx(products[r.product_id][4])
    f = A.funnel(db, scope)
    assert f["sessions"].tolist() == sessions
    assert f["events"].iloc[0] == sum(v[2] for v in want.values())
    rollup_today.wait_for_roll(db)  # a read may have started today's roll in the background: let it land


def state(db: Database) -> tuple:
    with db.engine.connect() as conn:
        return tuple(conn.execute(select(EventRollupStateRow.partial_day, EventRollupStateRow.partial_event_id)
                                  .where(EventRollupStateRow.id == 1)).one())


def top_id(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.max(EventRow.id))).scalar_one()


def setup_days(db: Database) -> tuple[datetime, datetime, random.Random]:
    now = utc_now()
    midnight = datetime.combine(now.date(), datetime.min.time())
    rng = random.Random(11)
    lists(db, rng, midnight - timedelta(days=8), midnight, 120, 0)
    lists(db, rng, midnight, now, 40, 1000)
    return now, midnight, rng


def test_today_is_read_from_its_partial_roll_and_the_raw_tail_past_the_watermark(db):
    now, midnight, rng = setup_days(db)
    check(db, now)  # nothing rolled up yet
    rollups.refresh(db, today_every=0)
    today = day_number(now)
    assert state(db) == (today, top_id(db))
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(EventDailyRow.day == today)).scalar_one() > 0
    check(db, now)
    watermark = top_id(db)
    lists(db, rng, midnight, now, 15, 2000)  # past the watermark: read raw at once
    check(db, now)
    rollups.refresh(db, today_every=3600)  # within the interval: no roll
    assert state(db) == (today, watermark)
    check(db, now)
    rollups.refresh(db, today_every=0)
    assert state(db) == (today, top_id(db)) and top_id(db) > watermark
    check(db, now)


def test_a_list_reported_past_the_watermark_counts_its_impressions_once(db):
    now, midnight, rng = setup_days(db)
    unreported = lists(db, rng, midnight, now, 12, 3000, report=0.0)  # served rows count: no report yet
    partly = lists(db, rng, midnight, now, 6, 4000, report=1.0)  # reported before the watermark
    rollups.refresh(db, today_every=0)
    before = A.group_counts(db, [], A.Scope(start=now.date(), end=now.date()))[()]
    report_late(db, unreported[:8] + partly, now)  # past the watermark
    check(db, now)
    after = A.group_counts(db, [], A.Scope(start=now.date(), end=now.date()))[()]
    late_rows = 8 * 2 + 6 * 2
    # eight lists' 4 served rows each stop counting, and their 2 reported tiles count; the reported lists add tiles
    assert after["impressions"] == before["impressions"] - 8 * 4 + late_rows
    assert after["reported"] == before["reported"] + late_rows
    rollups.refresh(db, today_every=0)  # rolled again: the same figures from the rollup alone
    assert state(db)[1] == top_id(db)
    assert A.group_counts(db, [], A.Scope(start=now.date(), end=now.date()))[()] == after
    check(db, now)


def test_yesterdays_partial_roll_is_rolled_whole_after_midnight(db):
    now, midnight, rng = setup_days(db)
    yesterday = midnight - timedelta(days=1)
    rollups.refresh(db, today=yesterday.date())  # the complete days before yesterday
    rollup_today.roll_today(db, every=0, now=yesterday + timedelta(hours=20))  # yesterday, up to the watermark
    assert state(db) == (day_number(yesterday), top_id(db))
    lists(db, rng, yesterday, midnight, 10, 5000)  # yesterday's tail
    check(db, now)
    rollups.refresh(db, today_every=0)  # yesterday complete now; today partial
    with db.engine.connect() as conn:
        assert rollups.coverage(conn).through_day == day_number(yesterday)
    assert state(db) == (day_number(now), top_id(db))
    check(db, now)


def test_today_marked_dirty_is_read_raw_until_rolled_again(db):
    now, midnight, rng = setup_days(db)
    rollups.refresh(db, today_every=0)
    watermark = top_id(db)
    with db.engine.begin() as conn:  # a deletion behind the rollup's back
        conn.execute(EventRow.__table__.delete().where(EventRow.day == day_number(now), EventRow.kind == "click"))
    rollups.mark_dirty(db, [day_number(now)])
    with db.engine.connect() as conn:
        assert rollups.coverage(conn).partial_day is None
    lists(db, rng, midnight, now, 5, 6000)
    rollups.refresh(db, today_every=3600)  # dirty: rolled again whatever the interval
    assert state(db) == (day_number(now), top_id(db)) and top_id(db) > watermark
    check(db, now)


def test_a_reader_does_not_wait_for_the_roll_on_postgresql(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's locks")
    now, midnight, rng = setup_days(db)
    rollups.refresh(db, today_every=0)
    watermark = top_id(db)
    lists(db, rng, midnight, now, 5, 7000)
    with db.engine.connect() as other:  # another process rolling today: a reader reads the longer tail
        assert other.execute(select(func.pg_try_advisory_lock(rollup_today._ADVISORY_KEY))).scalar_one()
        other.commit()
        t0 = time.perf_counter()
        assert rollup_today.roll_today(db, every=0) is None
        assert time.perf_counter() - t0 < 1.0
        check(db, now)
        other.execute(select(func.pg_advisory_unlock(rollup_today._ADVISORY_KEY)))
        other.commit()
    assert state(db)[1] == watermark
    writer = db.engine.connect()  # an insert in flight: the SHARE lock gives up after LOCK_TIMEOUT_MS
    try:
        lists_in = [{"kind": "click", "session_id": "w", "product_id": 1, "ts": now, "day": day_number(now),
                     "simulated": 0, "algorithm": ALGOS[0]}]
        writer.execute(insert(EventRow), lists_in)
        t0 = time.perf_counter()
        assert rollup_today.roll_today(db, every=0) is None
        waited = time.perf_counter() - t0
        assert rollup_today.LOCK_TIMEOUT_MS / 1000 <= waited < 2.0
        check(db, now)
        writer.commit()
    finally:
        writer.close()
    assert state(db)[1] == watermark
    assert rollup_today.roll_today(db, every=0) == top_id(db)
    check(db, now)


def test_concurrent_readers_roll_today_once(db):
    now, midnight, rng = setup_days(db)
    rollups.refresh(db, today_every=0)
    lists(db, rng, midnight, now, 5, 8000)
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(rollup_today.roll_today(db, every=60, now=now
                                                                                     + timedelta(seconds=61))))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=lambda v: v is not None) == [None, None, None, top_id(db)]
    check(db, now)


def test_an_older_database_gains_the_partial_roll_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    rollups.refresh(db)
    with db.engine.begin() as conn:
        for col in ("partial_day", "partial_event_id", "partial_at"):
            conn.execute(text(f"ALTER TABLE event_rollup_state DROP COLUMN {col}"))
    db.engine.dispose()
    db = Database(url)
    with db.engine.connect() as conn:
        cols = {r[1] for r in conn.execute(text("PRAGMA table_info(event_rollup_state)"))}
    assert {"partial_day", "partial_event_id", "partial_at"} <= cols
    rollups.refresh(db, today_every=0)
    assert state(db)[0] == day_number(utc_now())
    db.engine.dispose()


def test_a_dashboard_read_rolls_today_in_the_background_and_stays_exact(db, monkeypatch):
    now, midnight, rng = setup_days(db)
    rollups.refresh(db, today_every=0)
    first = state(db)
    lists(db, rng, midnight, now, 20, 3000)
    monkeypatch.setattr(rollup_today, "TODAY_EVERY_SECONDS", 0.0)  # every read finds the roll due
    scope = A.Scope(start=now.date(), end=now.date())
    got = A.group_counts(db, ["algorithm"], scope)  # starts the roll and reads on: the old roll + the raw tail
    rollup_today.wait_for_roll(db)
    assert state(db) == (day_number(now), top_id(db)) and top_id(db) > first[1]  # the background roll landed
    assert A.group_counts(db, ["algorithm"], scope, refresh=False) == got  # the same figures from the new roll
    check(db, now)
    monkeypatch.setattr(rollup_today, "TODAY_EVERY_SECONDS", 3600.0)
    assert rollup_today.roll_today_soon(db) is None  # fresh: no thread


def today_rows(db: Database, day: int) -> dict[str, list[tuple]]:
    """Today's rows of the three rollups, less their ids, sorted (floats rounded: sums in another order)."""
    out = {}
    for table in (EventDailyRow, SessionDailyRow, ProductDailyRow):
        cols = [c for c in table.__table__.columns if c.name != "id"]
        with db.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(table.day == day)).all()
        out[table.__tablename__] = sorted((tuple(round(v, 9) if isinstance(v, float) else v for v in r)
                                           for r in rows), key=repr)
    return out


def marked(db: Database, day: int, product: int, add: int) -> None:
    """Add `add` clicks to a product's row of today: a roll carried on leaves the rows the tail did not touch."""
    with db.engine.begin() as conn:
        conn.execute(ProductDailyRow.__table__.update().where(ProductDailyRow.day == day,
                                                              ProductDailyRow.product_id == product)
                     .values(clicks=ProductDailyRow.clicks + add))


@pytest.mark.parametrize("seed", [3, 17])
def test_a_roll_carried_on_from_the_watermark_equals_todays_roll_from_scratch(db, seed):
    now, midnight, rng = setup_days(db)
    rng.seed(seed)
    unreported = lists(db, rng, midnight, now, 15, 3000, report=0.0)
    rollups.refresh(db, today_every=0)
    today, watermark = day_number(now), top_id(db)
    # Past the watermark: new lists (their sessions are earlier ones too, which reach new stages), late reports
    # of lists served before it, a served row of no list, and yesterday's events (not today's rollup).
    lists(db, rng, now - timedelta(minutes=5), now, 6, 9000)
    report_late(db, unreported[:7], now)
    with db.engine.begin() as conn:
        conn.execute(insert(EventRow), [{"kind": "served", "session_id": "s1", "product_id": 2, "ts": now,
                                         "day": today, "simulated": 0, "algorithm": ALGOS[1]}])
        touched = set(conn.execute(select(EventRow.product_id).where(EventRow.id > watermark)).scalars())
        rolled = set(conn.execute(select(ProductDailyRow.product_id).where(ProductDailyRow.day == today)).scalars())
    lists(db, rng, midnight - timedelta(hours=3), midnight - timedelta(hours=1), 3, 9500)
    untouched = min(rolled - touched)
    marked(db, today, untouched, 1000)
    assert rollup_today.roll_today(db, every=0, now=now) == top_id(db) > watermark
    marked(db, today, untouched, -1000)  # it was still there: carried on, not rolled whole
    carried = today_rows(db, today)
    rollups.mark_dirty(db, [today])
    rollup_today.roll_today(db, every=0, now=now)  # today whole, from scratch
    assert carried == today_rows(db, today)  # (check() would count the served row of no list differently)


def test_a_carried_roll_with_nothing_new_changes_no_row(db):
    now, midnight, rng = setup_days(db)
    rollups.refresh(db, today_every=0)
    today, watermark = day_number(now), top_id(db)
    rows = today_rows(db, today)
    assert rollup_today.roll_today(db, every=0, now=now) == watermark
    assert today_rows(db, today) == rows


def test_a_tail_longer_than_the_roll_is_rolled_whole(db):
    now, midnight, rng = setup_days(db)
    rollups.refresh(db, today_every=0)
    today = day_number(now)
    product = min(product_ids_of_today(db, today))
    marked(db, today, product, 1000)
    lists(db, rng, midnight, now, 120, 9000)  # three times what today's roll holds
    rollup_today.roll_today(db, every=0, now=now)
    with db.engine.connect() as conn:
        clicks = conn.execute(select(func.sum(ProductDailyRow.clicks)).where(ProductDailyRow.day == today,
                                                                             ProductDailyRow.product_id == product))
        assert clicks.scalar_one() < 1000  # rolled whole: the mark is gone
    check(db, now)


def product_ids_of_today(db: Database, day: int) -> set[int]:
    with db.engine.connect() as conn:
        return set(conn.execute(select(ProductDailyRow.product_id).where(ProductDailyRow.day == day)).scalars())


def test_reads_of_a_rolled_today_do_not_walk_its_events(tmp_path):
    """The dashboards' reads cost what today's rollup rows cost, however many events they hold: counted in
    SQLite's virtual-machine steps (a progress handler), so a query plan that walks today's events (a period's
    lower bound met before the raw days' one) fails however fast the machine."""
    db = Database(f"sqlite:///{tmp_path / 'steps.db'}")
    with db.session() as s:
        s.add_all([Product(id=i, sku=f"S{i}", title=f"P{i}", price=10.0 + i) for i in range(1, PRODUCTS + 1)])
    steps = [0]

    def counting(dbapi_conn, _record):
        dbapi_conn.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1) or 0, 100)

    event.listen(db.engine, "connect", counting)
    db.engine.dispose()
    now, midnight, rng = setup_days(db)
    scope = A.Scope(start=now.date() - timedelta(days=6), end=now.date())
    reads = {"counts": lambda: A.group_counts(db, ["algorithm"], scope, refresh=False),
             "top products": lambda: A.top_products(db, PRODUCTS, "purchases", scope),
             "funnel": lambda: A.funnel(db, scope)}

    def cost() -> dict[str, int]:
        rollups.refresh(db, today_every=0)
        out = {}
        for name, read in reads.items():
            steps[0] = 0
            read()
            out[name] = steps[0]
        return out

    few = cost()
    lists(db, rng, midnight, now, 1500, 20000)  # 40 times today's events, the same sessions and products
    many = cost()
    assert all(many[k] < 3 * few[k] + 50 for k in reads), (few, many)
    db.engine.dispose()
