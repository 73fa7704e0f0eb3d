"""Event-log benchmark: ingest rates into SQLite and the dashboard queries' times on a large log.

    python bench/bench_events.py [--events 1000000] [--db path/to/file.db]

Builds a synthetic 2,000-product catalog in a scratch SQLite file, measures the three write paths (EventLog API,
generic JSONL import, OTTO import), fills the log to --events with the traffic simulator, then times every
query the analytics dashboard runs. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from engine.insights import analytics as A  # noqa: E402
from engine.insights import popularity as P  # noqa: E402
from engine.insights import experiments as X  # noqa: E402
from engine.catalog.db import Database  # noqa: E402
from engine.catalog.models import Category, Product, VectorSync  # noqa: E402
from engine.insights.event_import import import_events  # noqa: E402
from engine.insights.events import Event, EventLog  # noqa: E402
from engine.insights.simulate import SIM_EXPERIMENT, simulate  # noqa: E402

END = datetime(2024, 6, 1)
PRODUCTS = 2000


def build_catalog(db: Database) -> None:
    colours = ["red", "blue", "black", "white", "green", "grey", "pink", "beige"]
    with db.engine.begin() as conn:
        conn.execute(insert(Category), [{"id": c, "name": f"Category {c}", "path": f"Category {c}"}
                                        for c in range(1, 21)])
        conn.execute(insert(Product), [{"id": i, "sku": f"SKU{i}", "title": f"Product {i}", "description": "",
                                        "price": 5.0 + (i * 37) % 300, "category_id": 1 + i % 20,
                                        "colour": colours[(i // 20) % len(colours)], "is_active": True,
                                        "attributes": {}} for i in range(1, PRODUCTS + 1)])
        conn.execute(insert(VectorSync), [{"product_id": i, "content_hash": "x", "text_encoder": "use",
                                           "image_encoder": "clip" if i % 10 else None, "text_weight": 0.5,
                                           "has_image": bool(i % 10)} for i in range(1, PRODUCTS + 1)])


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_api(db: Database, n: int) -> float:
    log = EventLog(db)
    start = END - timedelta(days=30)
    t = time.perf_counter()
    for b in range(0, n, 5000):
        log.log_many([Event("impression" if i % 10 else "click", f"api-s{i // 8}", 1 + i % PRODUCTS,
                            ts=start + timedelta(seconds=i), algorithm="vector_text", strategy="similar",
                            position=i % 8, score=0.5) for i in range(b, min(n, b + 5000))])
    return n / (time.perf_counter() - t)


def bench_generic(db: Database, n: int) -> float:
    start = END - timedelta(days=30)
    data = "\n".join(json.dumps({"kind": "impression" if i % 10 else "click", "ts": (start + timedelta(seconds=i))
                                 .isoformat() + "Z", "session_id": f"gen-s{i // 8}", "product_id": 1 + i % PRODUCTS,
                                 "algorithm": "vector_image", "strategy": "similar", "position": i % 8,
                                 "score": 0.5}) for i in range(n)).encode()
    t = time.perf_counter()
    report = import_events(db, data)
    assert report.inserted == n, report.summary
    return n / (time.perf_counter() - t)


def bench_otto(db: Database, n: int, first_session: int = 0) -> float:
    base = int((END - timedelta(days=30) - datetime(1970, 1, 1)).total_seconds() * 1000)
    types = ["clicks"] * 8 + ["carts", "orders"]
    lines = [json.dumps({"session": s, "events": [{"aid": 1 + (s * 31 + j) % PRODUCTS, "ts": base + s * 1000 + j,
                                                    "type": types[j % 10]} for j in range(20)]})
             for s in range(first_session, first_session + n // 20)]
    data = "\n".join(lines).encode()
    t = time.perf_counter()
    report = import_events(db, data, format="otto")
    assert report.inserted == n // 20 * 20, report.summary
    return report.inserted / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the log for the query timings")
    ap.add_argument("--db", type=Path, help="SQLite file to use (default: a scratch file, deleted afterwards)")
    args = ap.parse_args()
    if args.events < 100_000:
        ap.error("--events must be at least 100000 (the ingest measurements alone write 150000)")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if path.exists():
            ap.error(f"{path} exists: give a new file")
        db = Database(f"sqlite:///{path}")
        build_catalog(db)
        rows: list[tuple[str, str, str]] = []
        sample = 50_000
        rows.append(("ingest: EventLog.log_many (5k batches)", f"{sample:,}", f"{bench_api(db, sample):,.0f} ev/s"))
        rows.append(("ingest: import generic JSONL", f"{sample:,}", f"{bench_generic(db, sample):,.0f} ev/s"))
        rows.append(("ingest: import OTTO JSONL", f"{sample:,}", f"{bench_otto(db, sample):,.0f} ev/s"))

        log = EventLog(db)
        per_shopper, seed, sim_time, sim_events = 0.0, 0, 0.0, 0
        while (have := log.count()) < args.events:  # a small first run measures events per shopper
            shoppers = 200 if not per_shopper else max(20, math.ceil((args.events - have) / per_shopper))
            t = time.perf_counter()
            rep = simulate(db, shoppers=shoppers, days=28, seed=seed, end=END)
            sim_time += time.perf_counter() - t
            sim_events += rep.events
            per_shopper = max(1.0, rep.events / shoppers)
            seed += 1
        rows.append(("ingest: simulator (generate + write)", f"{sim_events:,}", f"{sim_events / sim_time:,.0f} ev/s"))
        rows.append(("ingest: import OTTO JSONL into the full log", f"{sample:,}",
                     f"{bench_otto(db, sample, first_session=10 ** 6):,.0f} ev/s"))
        total = log.count()

        last_week = A.Scope(start=(END - timedelta(days=7)).date(), end=END.date())
        queries: list[tuple[str, Callable[[], Any]]] = [
            ("metrics by algorithm", lambda: A.metrics(db, "algorithm")),
            ("metrics by strategy", lambda: A.metrics(db, "strategy")),
            ("metrics by algorithm+strategy", lambda: A.metrics(db, ["algorithm", "strategy"])),
            ("metrics by algorithm, last 7 days", lambda: A.metrics(db, "algorithm", last_week)),
            ("metrics, one algorithm", lambda: A.metrics(db, "strategy", A.Scope(algorithms=["trending"]))),
            ("metrics by algorithm, real traffic only", lambda: A.metrics(db, "algorithm", A.Scope(simulated=False))),
            ("metrics by experiment+variant", lambda: A.metrics(db, ["experiment", "variant"])),
            ("CTR by position", lambda: A.ctr_by_position(db)),
            ("CTR by position per algorithm", lambda: A.ctr_by_position(db, by_algorithm=True)),
            ("daily series", lambda: A.daily(db)),
            ("daily series by algorithm", lambda: A.daily(db, by="algorithm")),
            ("funnel (events + sessions)", lambda: A.funnel(db)),
            ("funnel, one algorithm", lambda: A.funnel(db, A.Scope(algorithms=["vector_text"]))),
            ("top 20 products by purchases", lambda: A.top_products(db, 20)),
            ("top 20 products by CTR (≥ 100 shown)", lambda: A.top_products(db, 20, "ctr", min_impressions=100)),
            ("experiment results", lambda: X.results(db, SIM_EXPERIMENT)),
            ("popularity (all products)", lambda: P.popularity(db, 72, now=END)),
            ("trending top 20", lambda: P.trending(db, 20, now=END)),
            ("trending top 20 in a category", lambda: P.trending(db, 20, category_id=3, now=END)),
            ("coverage", lambda: A.coverage(db)),
        ]
        times = []
        for name, fn in queries:
            seconds, _ = timed(fn, repeat=2)
            times.append(seconds)
            rows.append((f"query: {name}", f"{total:,}", f"{seconds * 1000:,.0f} ms"))
        size = path.stat().st_size / 2 ** 20

    width = max(len(r[0]) for r in rows)
    print(f"\nSQLite event log benchmark — {total:,} events, file {size:,.0f} MiB\n")
    print(f"{'measure':<{width}}  {'events':>10}  {'result':>14}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 14}")
    for name, n, result in rows:
        print(f"{name:<{width}}  {n:>10}  {result:>14}")
    print(f"\nmedian dashboard query {statistics.median(times) * 1000:,.0f} ms, slowest {max(times) * 1000:,.0f} ms")


if __name__ == "__main__":
    main()
