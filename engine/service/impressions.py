"""The impressions of served lists, written from one thread, off the request path."""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from engine.insights.events import EventLog

log = logging.getLogger(__name__)


class ImpressionWriter:
    """Writes impressions from one thread, off the request path: a response never waits for the event log,
    and the request threads never contend for SQLite's single write lock. Each list is still one
    `EventLog.log_impressions` batch; a full queue (the database far behind) drops lists with a warning
    rather than slowing shoppers down."""

    def __init__(self, events: EventLog, max_queued: int = 10_000):
        self.events = events
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.written = self.dropped = self.failed = 0

    def submit(self, job: dict[str, Any]) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="vitrina-impressions", daemon=True)
                    self._thread.start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("impression queue full: %d lists dropped so far", self.dropped)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self.events.log_impressions(**job)
                self.written += 1
            except Exception:  # the shopper already has the list; the log must not stop
                self.failed += 1
                log.exception("could not log the impressions of request %s", job["filters"].get("request_id"))
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued list is written; False when the timeout passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self.flush(timeout)
            self._queue.put(None)
            thread.join(timeout)
        self._thread = None

    def status(self) -> dict[str, int]:
        return {"queued": self._queue.qsize(), "written": self.written, "dropped": self.dropped,
                "failed": self.failed}
