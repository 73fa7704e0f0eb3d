"""`python -m engine worker`: a real Celery worker of the indexing jobs (VITRINA_JOB_RUNNER=celery).

Each worker loads the encoders once and takes one batch at a time (`--pool solo`, prefetch 1): encoding is
CPU-bound, so more throughput comes from more worker processes or machines, each a single-threaded encoder.
With the embedded store a worker only encodes and hands the vectors to the process holding the store
(engine/jobs/work.py); with QDRANT_URL it writes them itself and also plans and removes. `--beat` adds the
schedule: a full sync and drift repair every night at VITRINA_SYNC_HOUR (UTC)."""
from __future__ import annotations

import logging
from functools import lru_cache

from engine.indexing.indexer import Indexer
from engine.jobs.celery_app import NIGHTLY_SYNC, PROCESS_BATCH, QUEUE, celery_app, send_batches
from engine.jobs.queue import backoff
from engine.jobs.runner import Jobs, worker_name
from engine.jobs.work import WRITER_STEPS, process
from engine.runtime import Runtime
from engine.settings import Settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _state() -> tuple[Jobs, Indexer]:
    rt = Runtime(Settings())
    jobs = Jobs(rt)
    store = rt.store if jobs.remote_writers else None  # an embedded store belongs to another process
    return jobs, Indexer(rt.db, store, rt.text_encoder, rt.image_encoder, rt.text_weight,
                         max_bytes=rt.settings.max_upload_bytes, max_pixels=rt.settings.max_pixels)


def process_batch(batch_id: int) -> str:
    """One batch, if it is still to do (a redelivered message for a batch done elsewhere does nothing)."""
    jobs, indexer = _state()
    steps = ("encode",) + (WRITER_STEPS if jobs.remote_writers else ())
    batch = jobs.queue.claim(worker_name("celery"), steps, batch_id=batch_id)
    if batch is None:  # finished elsewhere, or still held: then asked again once its holder counts as dead
        wait = jobs.queue.claimable_in(batch_id, steps)
        if wait is None:
            return "skipped"
        # at most 0.9 of the visibility timeout: a message held back longer would be handed out twice meanwhile
        countdown = min(wait + 0.5, 0.9 * jobs.queue.visibility_timeout)
        send_batches(jobs.runtime.settings, [batch_id], countdown=countdown)
        return "deferred"
    outcome = process(indexer, jobs.queue, batch, writer=jobs.remote_writers,
                      batch_size=jobs.runtime.settings.batch_size, dispatch=jobs.dispatch, settings=jobs.runtime.settings)
    if outcome == "retry":  # the queue holds it back for its backoff; the broker brings it back then
        send_batches(jobs.runtime.settings, [batch_id], countdown=backoff(batch.attempts) + 0.5)
    return outcome


def nightly_sync() -> int:
    jobs, _ = _state()
    return jobs.submit("sync", "nightly sync and drift repair")


def worker_app(settings: Settings):
    app = celery_app(settings)
    app.task(name=PROCESS_BATCH)(process_batch)
    app.task(name=NIGHTLY_SYNC)(nightly_sync)
    return app


def run_worker(settings: Settings, beat: bool = False, loglevel: str = "warning", name: str | None = None) -> None:
    argv = ["worker", "--pool", "solo", "--queues", QUEUE, "--loglevel", loglevel, "--without-gossip",
            "--without-mingle", "--without-heartbeat"]
    if name:
        argv += ["--hostname", name]
    if beat:
        argv.append("--beat")
    worker_app(settings).worker_main(argv)
