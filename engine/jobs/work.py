"""What a runner does with a claimed batch, and the hand-off of vectors to the store's single writer.

Steps:
  plan    (needs the store) what the job has to do: an import job first imports its feed (path under the
          import roots or allow-listed URL), a full job first empties the collection, a sync job
          first runs the drift check and marks what to redo, a retry job forces its products; then the work
          is cut into `remove` and `encode` batches of VITRINA_BATCH_SIZE products;
  encode  (any process with the encoders) vectors and payloads; written to the store by a process that may
          write it, else put in `vector_handoff` for the process that holds the embedded store;
  remove  (needs the store) products no longer active leave the store;
  build   (needs the store) a build_index job's one step: the search graph built in another process and
          swapped in (engine/jobs/graph.py).
"""
from __future__ import annotations

import io
import logging
import time
from typing import Callable, Sequence

import numpy as np
from sqlalchemy import delete, func, select

from engine.catalog.importers.feeds import import_feed
from engine.catalog.jobs import VectorHandoffRow
from engine.catalog.models import VectorSync
from engine.indexing.indexer import Indexer
from engine.indexing.reports import Batch, Encoded
from engine.errors import ValidationError
from engine.jobs.checks import run_check
from engine.jobs.graph import build_step
from engine.jobs.queue import Claimed, JobQueue
from engine.settings import Settings

log = logging.getLogger(__name__)
WRITER_STEPS = ("plan", "remove", "build")  # steps that need the store itself
Dispatch = Callable[[Sequence[int]], None]  # hands new batch ids to the runners that need telling (Celery)


def _pack(vectors: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in vectors.items()})
    return buf.getvalue()


def _unpack(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as z:
        return {k: z[k] for k in z.files}


def hand_off(indexer: Indexer, job_id: int, items: Sequence[Encoded]) -> None:
    """Encoded products for the writer: one row per product, overwritten by a redelivered batch."""
    with indexer.db.session() as s:
        for e in items:
            s.merge(VectorHandoffRow(product_id=e.product_id, job_id=job_id, content_hash=e.content_hash,
                                     vectors=_pack(e.vectors) if e.vectors is not None else None,
                                     payload=e.payload, has_image=e.has_image))


def ingest(indexer: Indexer, limit: int = 512) -> int:
    """Write handed-off vectors into the store (the writer's side); returns how many were written."""
    with indexer.db.session() as s:
        rows = list(s.scalars(select(VectorHandoffRow).order_by(VectorHandoffRow.at).limit(limit)))
        items = [Encoded(r.product_id, r.content_hash, _unpack(r.vectors) if r.vectors is not None else None,
                         dict(r.payload), bool(r.has_image)) for r in rows]
        seen = {r.product_id: r.at for r in rows}
    if not items:
        return 0
    indexer.write(items)
    with indexer.db.session() as s:  # only the rows written: a newer row for the same product stays
        for pid, at in seen.items():
            s.execute(delete(VectorHandoffRow).where(VectorHandoffRow.product_id == pid, VectorHandoffRow.at == at))
    return len(items)


def pending_handoff(indexer: Indexer, job_id: int) -> int:
    with indexer.db.session() as s:
        return s.scalar(select(func.count()).select_from(VectorHandoffRow).where(VectorHandoffRow.job_id == job_id))


def _import(indexer: Indexer, queue: JobQueue, batch: Claimed, settings: Settings) -> None:
    """An import job's first part: the feed into the catalog (streamed); its counts go in the job's text."""
    last = [time.monotonic()]

    def alive(*_: int) -> None:  # a long import keeps its batch's heartbeat fresh, at most every 5 s
        if time.monotonic() - last[0] > 5:
            last[0] = time.monotonic()
            queue.heartbeat(batch.batch_id)

    rep = import_feed(indexer.db, batch.params["source"], settings, progress=alive)
    text = f"imported {rep.created} new, {rep.updated} updated, {rep.unchanged} unchanged, {len(rep.rejected)} rejected"
    if rep.rejected:
        first = rep.rejected[0]
        text += f" (first: line {first.line}: {first.message})"
    queue.note(batch.job_id, text)


def _plan(indexer: Indexer, queue: JobQueue, batch: Claimed, batch_size: int, settings: Settings | None) -> list[int]:
    kind = batch.kind
    if kind == "import":
        if settings is None:
            raise ValidationError("an import job needs the settings of its data location")
        _import(indexer, queue, batch, settings)
    if kind == "full":
        indexer.reset()
    else:
        indexer.store.open(indexer.spec)
    if kind == "check":  # the drift check alone: its report is the job's result (engine/jobs/checks.py)
        run_check(indexer, queue, batch)
        return []
    if kind == "sync":
        indexer.mark_for_repair(indexer.check())
    if kind == "retry":
        ids = sorted(int(i) for i in batch.params.get("ids", []))
        with indexer.db.session() as s:  # forget their vectors so they are encoded again
            s.execute(delete(VectorSync).where(VectorSync.product_id.in_(ids)))
        todo, gone = ids, []
    else:
        plan = indexer.plan(full=kind == "full")
        todo, gone = plan.todo, plan.gone
    steps = [("remove", gone)] if gone else []
    steps += [("encode", todo[i:i + batch_size]) for i in range(0, len(todo), batch_size)]
    return queue.add_batches(batch.job_id, steps, total=len(todo) + len(gone))


def process(indexer: Indexer, queue: JobQueue, batch: Claimed, *, writer: bool, batch_size: int,
            dispatch: Dispatch | None = None, settings: Settings | None = None) -> str:
    """Do one claimed batch and record the outcome: "done", or after an exception "retry" (the batch waits its
    backoff; a Celery worker sends itself the message again) or "failed" (attempts used up: the job fails)."""
    t0 = time.perf_counter()
    try:
        if batch.step == "plan":
            new = _plan(indexer, queue, batch, batch_size, settings)
            queue.complete(batch, 0, seconds=time.perf_counter() - t0)
            if dispatch is not None and new:
                dispatch(new)
            return "done"
        if batch.step == "build":
            if settings is None:
                raise ValidationError("a build job needs the settings of its data location")
            return build_step(indexer.store, queue, batch, settings)
        if batch.step == "remove":
            indexer.remove(batch.ids)
            queue.complete(batch, len(batch.ids), seconds=time.perf_counter() - t0)
            return "done"
        result: Batch = indexer.encode(batch.ids)
        queue.heartbeat(batch.batch_id)
        if writer:
            indexer.write(result.items)
        else:
            hand_off(indexer, batch.job_id, result.items)
        queue.complete(batch, len(result.items), result.errors, seconds=time.perf_counter() - t0)
        return "done"
    except Exception as e:  # the batch's failure, recorded; the runner goes on with the next one
        log.warning("job %s batch %s (%s) failed: %s", batch.job_id, batch.batch_id, batch.step, e, exc_info=True)
        return "retry" if queue.fail(batch, f"{type(e).__name__}: {e}") else "failed"
