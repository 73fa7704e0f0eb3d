"""The `served` rows of the lists the service answered, written in batches from one thread, off the request path.

Each row names its list by request id (events.request_id); a tile a shopper's browser reports visible arrives
later as an `impression` row naming the same request id (POST /api/events/), and the analytics divide clicks by
those where a list has them, by the served rows otherwise (engine.insights.analytics)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from engine.insights.events import EventLog, utc_now
from engine.insights.gaps import record_gap

log = logging.getLogger(__name__)


class ImpressionWriter:
    """Writes impressions from one thread, off the request path: a response never waits for the event log,
    and the request threads never contend for SQLite's single write lock. Each pass drains everything queued
    (up to `max_batch` lists) into ONE transaction — one executemany INSERT of all their rows — so the writer
    keeps up with the service instead of paying a commit per list. `submit` never blocks: only a full queue
    (a true overload, the database far behind) drops lists, counted and reported by /health and recorded as a gap
    in the event log that every analytics view reports for its period. `close` writes
    everything queued before it returns. After the first list of a pass it waits up to `linger` seconds for
    more, so the commit count stays low under load while a lone list is written within that time."""

    def __init__(self, events: EventLog, max_queued: int = 50_000, max_batch: int = 1_000, linger: float = 0.05):
        self.events = events
        self.max_batch, self.linger = max_batch, linger
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._drops = threading.Lock()
        self.written = self.dropped = self.failed = self.batches = 0
        self._gap: tuple[datetime, datetime, int] | None = None  # drops not yet recorded: first, last, count

    def submit(self, job: dict[str, Any]) -> None:
        """Queue one served list (the keyword arguments of EventLog.log_impressions); never blocks. The list
        is stamped with the time it was served, not the time it is written."""
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="vitrina-impressions", daemon=True)
                    self._thread.start()
        if job.get("ts") is None:
            job = {**job, "ts": utc_now()}
        job = _with_request_id(job)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._drops:
                self.dropped += 1
                dropped = self.dropped
                first, _, count = self._gap or (job["ts"], None, 0)
                self._gap = (first, job["ts"], count + 1)
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("impression queue full: %d lists dropped so far", dropped)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Linger a moment after the first list so a busy service pays one commit per many lists.
            until = time.monotonic() + self.linger
            while len(batch) < self.max_batch and batch[-1] is not None:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            jobs = [job for job in batch if job is not None]
            try:
                if jobs:
                    self._write(jobs)
                self._record_gap()
            finally:
                for _ in batch:
                    self._queue.task_done()
            if len(jobs) < len(batch):  # the stop marker of close(): everything before it is written
                return

    def _write(self, jobs: list[dict[str, Any]]) -> None:
        try:
            _, rejected = self.events.log_impression_lists(jobs)
        except Exception:  # the database refused the batch: write list by list so one bad list costs only itself
            log.exception("could not write a batch of %d impression lists; retrying them one by one", len(jobs))
            for job in jobs:
                try:
                    self.events.log_impressions(**job)
                    self.written += 1
                except Exception:  # the shopper already has the list; the log must not stop
                    self.failed += 1
                    log.exception("could not log the impressions of request %s", _request_id(job))
            return
        self.batches += 1
        self.written += len(jobs) - len(rejected)
        self.failed += len(rejected)
        for i, err in rejected:
            log.error("could not log the impressions of request %s: %s", _request_id(jobs[i]), err)

    def _record_gap(self) -> None:
        """Mark the stretch whose lists were dropped as incomplete in the event log (engine.insights.gaps)."""
        with self._drops:
            gap, self._gap = self._gap, None
        if gap is None:
            return
        try:
            record_gap(self.events.db, *gap)
        except Exception:  # the log cannot take it now: keep it for the next pass
            log.exception("could not record %d dropped lists as a gap in the event log", gap[2])
            with self._drops:
                if self._gap is None:
                    self._gap = gap
                else:
                    self._gap = (gap[0], self._gap[1], gap[2] + self._gap[2])

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued list is written; False when the timeout passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the thread (a later submit starts it again)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout)  # behind every queued list: they are written first
            except queue.Full:
                log.warning("impression writer: queue still full after %.0f s at shutdown", timeout)
            thread.join(timeout)
            if thread.is_alive():
                log.warning("impression writer: %d lists still unwritten at shutdown", self._queue.qsize())
        self._thread = None

    def status(self) -> dict[str, int]:
        # queued: accepted and not yet written (a batch being written still counts)
        return {"queued": self._queue.unfinished_tasks, "written": self.written, "dropped": self.dropped,
                "failed": self.failed}


def _with_request_id(job: dict[str, Any]) -> dict[str, Any]:
    """The list's request id in its own column: a caller may hand it over in filters["request_id"] (how the
    service named its lists before the column existed); the filters keep only what the list was filtered by."""
    filters = job.get("filters")
    if job.get("request_id") is None and isinstance(filters, dict) and "request_id" in filters:
        rest = {k: v for k, v in filters.items() if k != "request_id"}
        job = {**job, "request_id": filters["request_id"], "filters": rest or None}
    return job


def _request_id(job: dict[str, Any]) -> Any:
    return job.get("request_id")
