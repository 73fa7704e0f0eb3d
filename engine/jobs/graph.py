"""The search-graph build as a job (kind `build_index`, one `build` step), and when one is queued by itself.

The step runs where the store is held (a writer step): the embedded store copies its shard, builds the
copy's HNSW graph in another process and swaps it in (engine/store/graph.py), reporting its stage into the
job (`JobQueue.set_progress`) so `jobs show` and the Index page follow it. A Qdrant server builds its own
graph: there the step does nothing and says so. A failed build is not retried by itself — the same catalog
would fail the same way — and leaves the store as it was.

Queued automatically (`queue_if_due`) by the runner of the process holding the store after it has done some
work (an index job, an import; never merely because a process started), once no job is waiting or running,
and by the CLI's indexing, when the catalog has at least VITRINA_HNSW_MIN_POINTS vectors and either has no graph yet or has
had that many points (or a fifth of the graph) written since its graph was built: those sit in plain
segments, searched exactly."""
from __future__ import annotations

import logging
import time
from typing import Callable

from engine.errors import VitrinaError
from engine.jobs.queue import Claimed, JobQueue
from engine.settings import Settings
from engine.store.base import BuildProgress, GraphStatus, VectorStore

log = logging.getLogger(__name__)
KIND = "build_index"
REPORT_EVERY = 2.0  # seconds between progress writes to the queue while the child builds
REBUILD_SHARE = 0.2  # rebuild once the points written since the build reach this share of the graph


def build_step(store: VectorStore, queue: JobQueue, batch: Claimed, settings: Settings,
               echo: Callable[[BuildProgress], None] | None = None) -> str:
    """Run a claimed build batch to its end: "done" (built, or nothing to build) or "failed" (no retry).
    `echo` also hears every progress report (the CLI prints them)."""
    t0 = time.perf_counter()
    if settings.qdrant_url or getattr(store, "backend", "") != "qdrant-edge":
        queue.note(batch.job_id, "the Qdrant server builds its search graph itself: nothing to do")
        queue.complete(batch, 0, seconds=time.perf_counter() - t0)
        return "done"
    last: list = [0.0, None]  # when the queue last heard, and of which stage

    def progress(p: BuildProgress) -> None:
        if echo is not None:
            echo(p)
        now = time.monotonic()
        if p.stage == last[1] and now - last[0] < REPORT_EVERY:  # a new stage is always written
            return
        last[0], last[1] = now, p.stage
        queue.set_progress(batch.job_id, {"stage": p.stage, "elapsed": round(p.elapsed, 1),
                                          "estimate": round(p.estimate, 1) if p.estimate else None, "pid": p.pid},
                           total=p.points)
        queue.heartbeat(batch.batch_id)

    try:
        report = store.build_graph(settings.hnsw_min_points, progress)
    except Exception as e:  # the reason goes to the job; the store keeps serving as it was
        log.warning("job %s: the search-graph build failed: %s", batch.job_id, e)
        queue.fail(batch, f"{type(e).__name__}: {e}" if not isinstance(e, VitrinaError) else str(e), retry=False)
        return "failed"
    if report.built:
        queue.set_progress(batch.job_id, {"stage": "done", "elapsed": round(report.seconds, 1), "estimate": None,
                                          "pid": report.pid}, total=report.points)
        queue.note(batch.job_id, f"graph built over {report.points:,} points in {report.seconds:.0f} s by process "
                                 f"{report.pid}; {report.replayed} write(s) made meanwhile replayed")
    else:
        queue.set_progress(batch.job_id, {"stage": "skipped", "elapsed": 0.0, "estimate": None, "pid": None},
                           total=report.points)
        queue.note(batch.job_id, report.reason)
    queue.complete(batch, report.points if report.built else 0, seconds=time.perf_counter() - t0)
    return "done"


def due(status: GraphStatus, min_points: int) -> str | None:
    """Why a build should be queued now, or None."""
    if status.server or status.building or status.points < min_points:
        return None
    if not status.built_points:
        return f"{status.points:,} points and no search graph yet (VITRINA_HNSW_MIN_POINTS={min_points:,})"
    if status.written_since >= max(min_points, REBUILD_SHARE * status.built_points):
        return (f"{status.written_since:,} points written since the graph was built over "
                f"{status.built_points:,}: they are searched exactly until it is rebuilt")
    return None


def queue_if_due(jobs, store: VectorStore) -> int | None:
    """Queue a build when one is due and nothing else is in the queue; returns its job id. A build that failed
    is not queued again for the same catalog state (points and writes unchanged), so a build that cannot
    succeed is not retried forever. `jobs` is the runtime's engine.jobs.runner.Jobs."""
    settings = jobs.runtime.settings
    if settings.qdrant_url:
        return None
    counts = jobs.queue.counts()
    if counts["waiting"] or counts["running"]:
        return None
    try:
        status = store.graph_status()
    except VitrinaError:  # no collection yet
        return None
    reason = due(status, settings.hnsw_min_points)
    if reason is None:
        return None
    state = {"points": status.points, "written_since": status.written_since}
    last = jobs.queue.latest(KIND)
    if last is not None and last.status == "failed" and {k: last.params.get(k) for k in state} == state:
        return None
    return jobs.submit(KIND, f"automatic: {reason}", state)
