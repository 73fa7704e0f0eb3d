"""Impression-writer benchmark: served lists written per second on SQLite.

    python bench/bench_impressions.py [--lists 20000] [--items 12] [--old-lists 2000] [--db path/to/file.db]

Times, in the same run and on fresh scratch SQLite files, (1) the old path — one `EventLog.log_impressions`
call, hence one transaction, per served list — on --old-lists lists, and (2) the service's batching
`ImpressionWriter`: --lists lists submitted from 8 threads as fast as they can, timed from the first submit
to the end of `close()` (everything written). Not part of the test suite.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.catalog.db import Database  # noqa: E402
from engine.insights.events import EventLog  # noqa: E402
from engine.service.impressions import ImpressionWriter  # noqa: E402


def job(n: int, items: int) -> dict:
    return dict(served=[(1 + (n * 31 + i) % 20_000, i, 1.0 - i / 100) for i in range(items)],
                session_id=f"s-{n % 5000}", algorithm="vector_combined", strategy="balanced",
                user_id=f"u-{n % 997}", source_product_id=1 + n % 20_000, config_version=2,
                filters={"request_id": f"req-{n}", "category": "tops"})


def old_path(events: EventLog, lists: int, items: int) -> float:
    t = time.perf_counter()
    for n in range(lists):
        events.log_impressions(**job(n, items))
    return time.perf_counter() - t


def writer_path(events: EventLog, lists: int, items: int, threads: int = 8) -> tuple[float, float, dict, int]:
    writer = ImpressionWriter(events, max_queued=max(10_000, lists))  # measure writing, not the queue bound
    jobs = [job(n, items) for n in range(lists)]

    def serve(k: int) -> None:
        for n in range(k, lists, threads):
            writer.submit(jobs[n])

    pool = [threading.Thread(target=serve, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    submitted = time.perf_counter() - t
    writer.close()
    return time.perf_counter() - t, submitted, writer.status(), writer.batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lists", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--old-lists", type=int, default=2_000, help="lists for the old one-per-transaction path")
    ap.add_argument("--db", type=Path, default=None, help="directory for the scratch databases")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.db or Path(tmp)
        old_events, new_events = (EventLog(Database(f"sqlite:///{where / name}"))
                                  for name in ("old.db", "batched.db"))
        old_s = old_path(old_events, args.old_lists, args.items)
        assert old_events.count() == args.old_lists * args.items
        new_s, submit_s, status, batches = writer_path(new_events, args.lists, args.items)
        rows = new_events.count()
    print(f"SQLite, {args.items} items per list")
    print(f"{'path':<44}{'lists':>8}{'seconds':>10}{'lists/s':>10}{'rows/s':>10}")
    print(f"{'old: log_impressions, 1 transaction/list':<44}{args.old_lists:>8}{old_s:>10.2f}"
          f"{args.old_lists / old_s:>10.0f}{args.old_lists * args.items / old_s:>10.0f}")
    print(f"{'ImpressionWriter, batched (8 threads)':<44}{args.lists:>8}{new_s:>10.2f}"
          f"{args.lists / new_s:>10.0f}{rows / new_s:>10.0f}")
    print(f"speed-up {args.lists / new_s / (args.old_lists / old_s):.1f}x; all {args.lists} submits returned in "
          f"{submit_s:.2f} s; writer: {batches} transactions, "
          f"written {status['written']}, dropped {status['dropped']}, failed {status['failed']}, "
          f"rows {rows} (expected {args.lists * args.items})")


if __name__ == "__main__":
    main()
