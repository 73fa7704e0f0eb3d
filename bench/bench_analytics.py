"""Analytics at scale: every dashboard query's time on a large event log, SQLite and PostgreSQL, with the daily
rollups (engine.insights.rollups) built.

    python bench/bench_analytics.py --events 1000000 --backend sqlite [--db path.db]
    python bench/bench_analytics.py --events 1000000 --backend postgres   # a throwaway server (tests/pg_server.py)

Fills the log with --events synthetic rows over --days days ending now (--whole-today: at today's last second) (numpy-generated lists of 8 items: served
rows for every list, client-reported impressions for 60% of them, clicks, cart adds and priced purchases, with
algorithms, strategies, config versions and an A/B experiment), plus searches; times the first rollup build,
an incremental refresh after one more day of events, today's partial roll from scratch (engine.insights.rollup_today),
then each dashboard query (median of --repeat runs, the rollup fresh, today rolled up to the last --raw-minutes
of the log, which every query reads raw), and then the next roll, carried on from the watermark over that tail.
Prints a Markdown table for bench/README.md. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import func, insert, select, text  # noqa: E402

from engine.catalog.db import Database  # noqa: E402
from engine.catalog.events import EventRow, SearchRow, day_number  # noqa: E402
from engine.catalog.models import Category, Product  # noqa: E402
from engine.insights import analytics as A  # noqa: E402
from engine.insights import dashboards as D  # noqa: E402
from engine.insights import experiments as X  # noqa: E402
from engine.insights import impact as I  # noqa: E402
from engine.insights import popularity as P  # noqa: E402
from engine.insights import revenue as R  # noqa: E402
from engine.insights import rollup_today, rollups  # noqa: E402
from engine.insights import searches as S  # noqa: E402
from engine.insights.events import utc_now  # noqa: E402

PRODUCTS = 2000
LIST = 8
ALGOS = np.array(["vector_text", "vector_image", "vector_combined", "personalised", "complete_the_look", "trending"])
STRATS = np.array(["balanced", "relevance", "trending", "upsell"])
EXPERIMENT = "bench-ab"
COLS = ["ts", "day", "kind", "session_id", "user_id", "product_id", "algorithm", "strategy", "position", "score",
        "experiment", "variant", "simulated", "config_version", "request_id", "price", "quantity"]


def catalog(db: Database) -> np.ndarray:
    prices = np.round(5.0 + (np.arange(1, PRODUCTS + 1) * 37) % 300, 2)
    with db.engine.begin() as conn:
        conn.execute(insert(Category), [{"id": c, "name": f"Category {c}", "path": f"Category {c}"}
                                        for c in range(1, 21)])
        conn.execute(insert(Product), [{"id": i, "sku": f"SKU{i}", "title": f"Product {i}", "description": "",
                                        "price": float(prices[i - 1]), "category_id": 1 + i % 20,
                                        "is_active": True, "attributes": {}} for i in range(1, PRODUCTS + 1)])
    X.create_experiment(db, EXPERIMENT, [("A", "balanced", 0.5), ("B", "relevance", 0.5)], control="A")
    return prices


def batch(rng: np.random.Generator, lists: int, first: int, start: datetime, days: float, prices: np.ndarray
          ) -> list[tuple]:
    """The rows of `lists` served lists numbered from `first`, spread over `days` days from `start`."""
    secs = np.sort(rng.uniform(0, days * 86400, lists))
    sessions = first // 20 + np.arange(lists) // 20
    algo = ALGOS[rng.integers(0, len(ALGOS), lists)]
    strat = STRATS[rng.integers(0, len(STRATS), lists)]
    in_exp = rng.random(lists) < 0.3
    version = 1 + (secs > days * 86400 / 2)
    products = rng.integers(1, PRODUCTS + 1, (lists, LIST))
    reported = rng.random(lists) < 0.6
    seen = rng.integers(3, LIST + 1, lists)
    click = rng.random((lists, LIST)) < 0.06 / (1 + np.arange(LIST)) ** 0.5
    cart = click & (rng.random((lists, LIST)) < 0.3)
    buy = cart & (rng.random((lists, LIST)) < 0.4)
    qty = 1 + (rng.random((lists, LIST)) < 0.15)
    rows: list[tuple] = []
    for i in range(lists):
        ts = start + timedelta(seconds=float(secs[i]))
        d = day_number(ts)
        n = first + i
        sess = f"s{sessions[i]}"
        exp, var = (EXPERIMENT, "AB"[n % 2]) if in_exp[i] else (None, None)
        base = (sess, f"u{sessions[i] % 50_000}")
        ctx = (str(algo[i]), str(exp and ("balanced", "relevance")[n % 2] or strat[i]))
        rid = f"b{n}"
        cv = int(version[i])
        for p in range(LIST):
            pid = int(products[i, p])
            rows.append((ts, d, "served", *base, pid, *ctx, p, 1.0 - p / 10, exp, var, 0, cv, rid, None, None))
            if reported[i] and p < max(seen[i], 1 + (np.flatnonzero(click[i]).max() if click[i].any() else -1)):
                rows.append((ts, d, "impression", *base, pid, *ctx, p, None, exp, var, 0, cv, rid, None, None))
            if click[i, p]:
                rows.append((ts, d, "click", *base, pid, *ctx, p, None, exp, var, 0, cv, rid, None, None))
            if cart[i, p]:
                money = (float(prices[pid - 1]), int(qty[i, p]))
                rows.append((ts, d, "cart_add", *base, pid, *ctx, p, None, exp, var, 0, cv, rid, *money))
                if buy[i, p]:
                    rows.append((ts, d, "purchase", *base, pid, *ctx, p, None, exp, var, 0, cv, rid, *money))
    return rows


def write(db: Database, rows: list[tuple]) -> None:
    if db.engine.dialect.name == "sqlite":
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO events ({', '.join(COLS)}) VALUES ({', '.join('?' for _ in COLS)})",
                                 [(r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:]) for r in rows])
        return
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY events ({', '.join(COLS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        raw.commit()
    finally:
        raw.close()


def fill(db: Database, events: int, days: int, seed: int, prices: np.ndarray, end: datetime
         ) -> tuple[int, float]:
    """About `events` rows over the `days` days before `end`; returns (rows written, seconds)."""
    rng = np.random.default_rng(seed)
    per_list = LIST * 1.55  # served + reported + actions, measured on this generator
    lists = int(events / per_list)
    start = end - timedelta(days=days)
    written, t0, step = 0, time.perf_counter(), 50_000
    for first in range(0, lists, step):
        n = min(step, lists - first)
        frac = first / lists
        rows = batch(rng, n, first, start + timedelta(days=days * frac), days * n / lists, prices)
        write(db, rows)
        written += len(rows)
        print(f"  {written:>11,} rows  {time.perf_counter() - t0:7.1f} s", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return written, time.perf_counter() - t0


def searches(db: Database, n: int, days: int, seed: int, end: datetime) -> None:
    rng = np.random.default_rng(seed)
    words = [f"{c} {k}" for c in ("red", "blue", "black", "linen", "wool") for k in ("dress", "shirt", "coat", "cap")]
    start = end - timedelta(days=days)
    rows = []
    for i in range(n):
        ts = start + timedelta(seconds=float(rng.uniform(0, days * 86400)))
        q = words[int(rng.zipf(1.5)) % len(words)]
        results = 0 if rng.random() < 0.05 else int(rng.integers(1, 40))
        rows.append({"ts": ts, "day": day_number(ts), "kind": "text", "query": q, "norm": q, "language": "en",
                     "results": results, "no_good_match": int(rng.random() < 0.05), "request_id": f"b{i * 7}",
                     "simulated": 0})
    with db.engine.begin() as conn:
        conn.execute(insert(SearchRow), rows)


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def queries(db: Database) -> list[tuple[str, Callable[[], Any]]]:
    today = utc_now().date()
    week = A.Scope(start=today - timedelta(days=6), end=today)
    month = A.Scope(start=today - timedelta(days=29), end=today)
    s7, e7 = today - timedelta(days=6), today
    return [
        ("metrics by algorithm, 7 days", lambda: A.metrics(db, "algorithm", week)),
        ("metrics by strategy, 30 days", lambda: A.metrics(db, "strategy", month)),
        ("metrics by algorithm+strategy, all", lambda: A.metrics(db, ["algorithm", "strategy"])),
        ("metrics, one algorithm, 7 days", lambda: A.metrics(db, "strategy", A.Scope(s7, e7, ["trending"]))),
        ("rate table by algorithm, 7 days (Analytics)", lambda: D.rate_table(db, "algorithm", week)),
        ("best algorithm per rate (headline), 7 days", lambda: D.races(db, week)),
        ("CTR by position per algorithm, 30 days", lambda: D.position_curve(db, month)),
        ("daily trend by algorithm, 30 days", lambda: D.daily_trend(db, month)),
        ("funnel (sessions + events), 7 days", lambda: A.funnel(db, week)),
        ("top 20 products by purchases, 7 days", lambda: A.top_products(db, 20, scope=week)),
        ("experiment results", lambda: X.results(db, EXPERIMENT)),
        ("impact of config version 2", lambda: I.version_impact(db, 2)),
        ("revenue summary, 7 days", lambda: R.revenue_summary(db, s7, e7)),
        ("revenue by algorithm, 30 days", lambda: R.revenue_by(db, today - timedelta(days=29), today)),
        ("top queries, 7 days", lambda: S.top_queries(db, s7, e7)),
        ("failed queries, 7 days", lambda: S.failed_queries(db, s7, e7)),
        ("queries without clicks, 7 days", lambda: S.queries_without_clicks(db, s7, e7)),
        ("trending top 20", lambda: P.trending(db, 20)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--db", type=Path, help="SQLite file (default: a scratch file)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--shared-buffers", default="512MB", help="PostgreSQL shared_buffers")
    ap.add_argument("--whole-today", action="store_true", help=(
        "end the log at today's last second instead of now: every read then scans a whole day of raw events, "
        "the worst case of the day for a log read raw"))
    ap.add_argument("--raw-minutes", type=float, default=5.0, help=(
        "minutes of events at the log's end left past today's watermark, read raw by every query (a partial "
        "roll is at most TODAY_EVERY_SECONDS = 5 min old)"))
    args = ap.parse_args()
    end = utc_now()
    if args.whole_today:
        end = datetime.combine(end.date() + timedelta(days=1), datetime.min.time()) - timedelta(seconds=1)
    server = None
    if args.backend == "postgres":
        import pg_server
        pg_server.SERVER_OPTIONS = pg_server.SERVER_OPTIONS.replace("shared_buffers=32MB",
                                                                    f"shared_buffers={args.shared_buffers}")
        server = pg_server.PostgresServer(pg_server.require_postgres()).start()
        url = server.url()
    else:
        path = args.db or Path(tempfile.mkdtemp(prefix="vitrina-bench-")) / "analytics.db"
        url = f"sqlite:///{path}"
    try:
        db = Database(url)
        prices = catalog(db)
        rows, fill_s = fill(db, args.events, args.days, args.seed, prices, end)
        searches(db, 100_000, args.days, args.seed, end)
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        today = utc_now().date()
        t0 = time.perf_counter()
        first = rollups.refresh(db, today=today - timedelta(days=1))  # all but yesterday and today
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = rollups.refresh(db, today=today)  # one more complete day: the incremental step of a nightly refresh
        incr_s = time.perf_counter() - t0
        # The raw tail a real read sees: the events of the last --raw-minutes before the log's end (a roll is
        # at most TODAY_EVERY_SECONDS old), past the watermark; held so for every query.
        with db.engine.connect() as conn:
            cut = end - timedelta(minutes=args.raw_minutes)
            watermark = conn.execute(select(func.max(EventRow.id)).where(EventRow.ts <= cut)).scalar_one() or 0
            tail = conn.execute(select(func.count()).where(EventRow.id > watermark)).scalar_one()
        t0 = time.perf_counter()
        rollup_today.roll_today(db, every=0, upto=watermark)  # today's partial roll, from scratch to the watermark
        today_s = time.perf_counter() - t0
        rollup_today.TODAY_EVERY_SECONDS = float("inf")
        with db.engine.connect() as conn:
            rolled = conn.execute(text("SELECT COUNT(*) FROM event_daily")).scalar_one()
        results = []
        for name, fn in queries(db):
            fn()  # warm: the first call pays imports and caches
            results.append((name, timed(fn, args.repeat)))
        t0 = time.perf_counter()
        rollup_today.roll_today(db, every=0)  # the next roll: carried on from the watermark over the tail
        carried_s = time.perf_counter() - t0
        out = {"backend": db.engine.dialect.name, "events": rows, "log_ends": end.isoformat(timespec="seconds"), "fill_s": round(fill_s, 1),
               "rollup_build_s": round(build_s, 2), "rollup_days": first.days,
               "rollup_incremental_s": round(incr_s, 2), "incremental_days": again.days, "rollup_rows": rolled,
               "today_roll_s": round(today_s, 2), "today_roll_carried_s": round(carried_s, 2),
               "raw_minutes": args.raw_minutes, "raw_tail_events": tail,
               "queries_ms": {n: round(t * 1000, 1) for n, t in results}}
        print(json.dumps(out, indent=2))
        print(f"\n| query | {out['backend']} {rows / 1e6:.1f}M (ms) |\n|---|---:|")
        for n, t in results:
            print(f"| {n} | {t * 1000:,.0f} |")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
