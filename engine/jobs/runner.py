"""The job API of a runtime (submit, dispatch, retry, drain) and the in-process runner.

Embedded default (VITRINA_JOB_RUNNER=inprocess): the process that holds the store — the console, the HTTP
service, a CLI command — runs a background thread that claims batches from the SQL queue and does them, so
`make demo` needs nothing new and no page waits for indexing. With VITRINA_JOB_RUNNER=celery the encode
batches go to `python -m engine worker` processes (engine/jobs/celery_app.py) and the thread keeps what needs
the store: planning, removals, and writing the vectors workers hand off (an embedded store has one writer);
with QDRANT_URL workers write the store themselves and take every step.

A search-graph build (a `build` step: minutes at 100k products) runs in a thread of its own in the runner's
process, its child process doing the work, so the runner goes on with indexing meanwhile (those writes are
journaled and replayed onto the built graph). When the runner has done some work and the queue is empty, it
queues a build if the catalog needs one (engine/jobs/graph.py).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Sequence

from sqlalchemy import select

from engine.catalog.jobs import JobBatchRow
from engine.indexing.indexer import Indexer
from engine.jobs.celery_app import send_batches
from engine.jobs.queue import Job, JobQueue
from engine.errors import VitrinaError
from engine.jobs.graph import queue_if_due
from engine.jobs.work import WRITER_STEPS, ingest, pending_handoff, process
from engine.runtime import Runtime

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
Progress = Callable[[int, int], None]


def worker_name(role: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


class Jobs:
    """Indexing jobs of one data location."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        s = runtime.settings
        self.queue = JobQueue(runtime.db, s.job_visibility_timeout)
        self.celery = s.job_runner == "celery"
        self.remote_writers = bool(s.qdrant_url)  # workers may write a Qdrant server themselves

    def submit(self, kind: str, reason: str = "", params: dict[str, Any] | None = None) -> int:
        """Queue a job and tell the runners; returns its id (an index job already waiting covers a new one)."""
        job_id, new = self.queue.submit(kind, reason, params)
        self.dispatch(new)
        return job_id

    def dispatch(self, batch_ids: Sequence[int]) -> None:
        """Celery workers learn of batches by message; the in-process runner polls the queue and needs none.
        Steps that need an embedded store are left to the thread of the process that holds it."""
        if not self.celery or not batch_ids:
            return
        with self.runtime.db.session() as s:
            steps = dict(s.execute(select(JobBatchRow.id, JobBatchRow.step)
                                   .where(JobBatchRow.id.in_(list(batch_ids)))).all())
        send_batches(self.runtime.settings, [b for b in batch_ids
                                             if self.remote_writers or steps.get(b) not in WRITER_STEPS])

    def retry_failed(self, job_id: int) -> int | None:
        """A new job for the products that failed in `job_id` (None when none did)."""
        ids = sorted({e.product_id for e in self.queue.errors(job_id)})
        if not ids:
            return None
        return self.submit("retry", f"retry of the {len(ids)} failed product(s) of job {job_id}", {"ids": ids})

    def steps_here(self) -> tuple[str, ...]:
        """What the process holding the store does itself: everything, or with Celery only the store's part."""
        return WRITER_STEPS if self.celery else WRITER_STEPS + ("encode",)

    def run_pending(self, indexer: Indexer, job_id: int | None = None, progress: Progress | None = None,
                    role: str = "inline") -> int:
        """Do the claimable batches here until none is left (of `job_id` only, when given), writing what
        workers handed off on the way; returns the batches done. The CLI's way, and the runner thread's (which
        hands a graph build to a thread of its own and goes on)."""
        done = 0
        while True:
            ingest(indexer)
            batch = self.queue.claim(worker_name(role), self.steps_here(), job_id=job_id)
            if batch is None:
                return done
            args = (indexer, self.queue, batch)
            kwargs = dict(writer=True, batch_size=self.runtime.settings.batch_size, dispatch=self.dispatch,
                          settings=self.runtime.settings)
            if batch.step == "build" and role == "thread":
                threading.Thread(target=process, args=args, kwargs=kwargs, name="vitrina-graph-build",
                                 daemon=True).start()
            else:
                process(*args, **kwargs)
            done += 1
            if progress is not None and job_id is not None:
                job = self.queue.job(job_id)
                progress(job.done + job.failed, max(job.total, job.done + job.failed))

    def job(self, job_id: int) -> Job:
        return self.queue.job(job_id)

    def wait(self, job_id: int, indexer: Indexer, progress: Progress | None = None,
             timeout: float | None = None) -> Job:
        """Run the job's batches here and write what workers hand off until the job is finished (the CLI's
        way when it holds the store); with Celery the workers encode meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.run_pending(indexer, job_id=job_id, progress=progress)
            written = ingest(indexer)
            job = self.queue.job(job_id)
            if job.status in ("done", "failed") and not written and not pending_handoff(indexer, job_id):
                indexer.store.flush()
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise VitrinaError(f"job {job_id} is not finished after {timeout:.0f} s: "
                                   f"{job.done} of {job.total} done (python -m engine jobs show {job_id})")
            if progress is not None:
                progress(job.done + job.failed, max(job.total, job.done + job.failed))
            time.sleep(0.2)


class BackgroundRunner:
    """The in-process runner: a daemon thread of the process holding the store, polling the queue."""

    def __init__(self, jobs: Jobs, poll: float = POLL_SECONDS):
        self.jobs, self.poll = jobs, poll
        self._stop = threading.Event()
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="vitrina-jobs", daemon=True)

    def start(self) -> "BackgroundRunner":
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _busy(self) -> bool:
        """A job waiting or running (here, on a worker, or the build itself): a graph is judged after it."""
        counts = self.jobs.queue.counts()
        return bool(counts["waiting"] or counts["running"])

    def _loop(self) -> None:
        # after a pass that did some work (an index job, an import), once the queue is empty; not at start, so
        # opening a large catalog never starts a build by itself (its next indexing, the button or the CLI do)
        check_graph = False
        while not self._stop.is_set():
            try:  # the indexer (the store, the encoders) is made on the first pass, in this thread
                indexer = self.jobs.runtime.indexer
                if self.jobs.run_pending(indexer, role="thread"):
                    check_graph = True
                elif check_graph and not self._busy():
                    check_graph = False
                    queue_if_due(self.jobs, indexer.store)
                self._last_error = None
            except Exception as e:  # the database or the store away for a while: say so once, poll on, never die
                if str(e) != self._last_error:
                    log.warning("the job runner could not run the queue: %s", e, exc_info=True)
                self._last_error = str(e)
            self._stop.wait(self.poll)


_RUNNERS: dict[int, BackgroundRunner] = {}
_LOCK = threading.Lock()


def ensure_runner(runtime: Runtime) -> BackgroundRunner:
    """The one runner thread of this runtime (the console and the service call it at start)."""
    with _LOCK:
        runner = _RUNNERS.get(id(runtime))
        if runner is None or not runner.alive:
            runner = _RUNNERS[id(runtime)] = BackgroundRunner(Jobs(runtime)).start()
        return runner
