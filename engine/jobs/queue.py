"""The job queue in SQL (engine/catalog/jobs.py): submit, claim, heartbeat, complete, fail, retry — the same
calls for the in-process runner and for Celery workers, so which runner did a batch changes nothing.

Claiming is one conditional UPDATE (`... WHERE id = ? AND status = 'waiting'`): of two runners asking for the
same batch exactly one gets it. A batch still `running` whose heartbeat is older than the visibility timeout
belonged to a runner that died (kill -9, a lost host) and may be claimed again; the work is idempotent
(vectors are upserted by product id, sync rows rewritten), so doing it twice duplicates nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, delete, func, or_, select, update

from engine.catalog.db import Database
from engine.catalog.jobs import JobBatchRow, JobErrorRow, JobRow
from engine.catalog.models import utcnow
from engine.errors import NotFound, ValidationError
from engine.indexing.indexer import ProductError

KINDS = {"index": "index what changed", "full": "full reindex", "sync": "drift repair and sync",
         "retry": "retry failed products", "import": "import a feed, then index it",
         "build_index": "build the search graph", "check": "drift check"}
FIRST_STEP = {"build_index": "build"}  # a job starts with this step (default: plan)
SINGLE = ("index", "build_index")  # kinds of which one waiting (a build: or running) covers a new one
MAX_ATTEMPTS = 5  # a batch failing this often fails its job
BACKOFF_SECONDS = 2.0  # doubled per attempt


def backoff(attempts: int) -> float:
    """Seconds a batch waits before its next attempt, after `attempts` attempts."""
    return BACKOFF_SECONDS * 2 ** (attempts - 1)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    status: str
    reason: str
    total: int
    done: int
    failed: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)  # status -> count

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or utcnow()) - self.started_at).total_seconds()

    @property
    def rate(self) -> float | None:
        """Products per second so far."""
        s = self.seconds
        return self.done / s if s and self.done else None

    @property
    def eta_seconds(self) -> float | None:
        p = self.progress
        if p.get("estimate") is not None and self.status == "running":
            return max(float(p["estimate"]) - float(p.get("elapsed", 0)), 0.0)
        r = self.rate
        return (self.total - self.done - self.failed) / r if r and self.status == "running" else None

    @property
    def progress(self) -> dict[str, Any]:
        """A long single step's own report (a graph build: stage, elapsed and estimated seconds, its pid)."""
        got = self.params.get("progress")
        return dict(got) if isinstance(got, dict) else {}

    @property
    def stage(self) -> str:
        """The progress in words: "building, 42 s of about 120 s (process 1234)", or ""."""
        p = self.progress
        if not p.get("stage"):
            return ""
        text = f"{p['stage']}, {float(p.get('elapsed', 0)):.0f} s"
        if p.get("estimate"):
            text += f" of about {float(p['estimate']):.0f} s"
        return text + (f" (process {p['pid']})" if p.get("pid") else "")


@dataclass(frozen=True)
class Claimed:
    batch_id: int
    job_id: int
    kind: str  # the job's kind
    step: str  # plan | encode | remove | build
    ids: list[int]
    attempts: int
    params: dict[str, Any]


class JobQueue:
    def __init__(self, db: Database, visibility_timeout: float = 3600.0):
        self.db, self.visibility_timeout = db, visibility_timeout

    # ---- submit -------------------------------------------------------------------------------------
    def submit(self, kind: str, reason: str = "", params: dict[str, Any] | None = None) -> tuple[int, list[int]]:
        """Queue a job (its plan step first, a build its build step); returns (job id, new batch ids). An `index`
        job still waiting to be planned already covers every later change, and a build waiting or running
        covers a second one: the id of the one there is returned."""
        if kind not in KINDS:
            raise ValidationError(f"unknown job kind {kind!r} (known: {', '.join(KINDS)})")
        with self.db.session() as s:
            if kind in SINGLE:
                open_ = ("waiting", "running") if kind == "build_index" else ("waiting",)
                waiting = s.scalar(select(JobRow.id).where(JobRow.kind == kind, JobRow.status.in_(open_))
                                   .order_by(JobRow.id).limit(1))
                if waiting is not None:
                    return waiting, []
            job = JobRow(kind=kind, reason=reason[:500], params=params or {})
            s.add(job)
            s.flush()
            batch = JobBatchRow(job_id=job.id, seq=0, step=FIRST_STEP.get(kind, "plan"), ids=[])
            s.add(batch)
            s.flush()
            return job.id, [batch.id]

    def add_batches(self, job_id: int, steps: Sequence[tuple[str, list[int]]], total: int) -> list[int]:
        """The work a plan found: one batch per (step, product ids); the job's total becomes known."""
        with self.db.session() as s:
            start = s.scalar(select(func.max(JobBatchRow.seq)).where(JobBatchRow.job_id == job_id)) or 0
            rows = [JobBatchRow(job_id=job_id, seq=start + i + 1, step=step, ids=list(ids))
                    for i, (step, ids) in enumerate(steps)]
            s.add_all(rows)
            s.execute(update(JobRow).where(JobRow.id == job_id).values(total=total))
            s.flush()
            return [r.id for r in rows]

    # ---- claim --------------------------------------------------------------------------------------
    def _claimable(self, now: datetime):
        stale = now - timedelta(seconds=self.visibility_timeout)
        return or_(and_(JobBatchRow.status == "waiting",
                        or_(JobBatchRow.not_before.is_(None), JobBatchRow.not_before <= now)),
                   and_(JobBatchRow.status == "running", JobBatchRow.heartbeat_at < stale))

    def claim(self, worker: str, steps: Iterable[str], batch_id: int | None = None,
              job_id: int | None = None) -> Claimed | None:
        """Take one batch of the given steps (that batch, with batch_id; of that job, with job_id), or None."""
        steps = list(steps)
        for _ in range(20):
            now = utcnow()
            with self.db.session() as s:
                q = select(JobBatchRow.id).where(JobBatchRow.step.in_(steps), self._claimable(now))
                if batch_id is not None:
                    q = q.where(JobBatchRow.id == batch_id)
                if job_id is not None:
                    q = q.where(JobBatchRow.job_id == job_id)
                candidate = s.scalar(q.order_by(JobBatchRow.id).limit(1))
                if candidate is None:
                    return None
                taken = s.execute(update(JobBatchRow).where(JobBatchRow.id == candidate, self._claimable(now))
                                  .values(status="running", worker=worker[:200], heartbeat_at=now,
                                          attempts=JobBatchRow.attempts + 1)).rowcount
                if not taken:
                    continue  # another runner was quicker: look again
                b = s.get(JobBatchRow, candidate)
                job = s.get(JobRow, b.job_id)
                if job.status == "waiting":
                    job.status, job.started_at = "running", now
                return Claimed(b.id, b.job_id, job.kind, b.step, list(b.ids or []), b.attempts, dict(job.params or {}))
        return None

    def claimable_in(self, batch_id: int, steps: Iterable[str]) -> float | None:
        """Seconds until a batch of these steps may be claimed (0.0: now), or None once it is finished (or is not
        of these steps). A message for a batch another runner holds can arrive before that runner's heartbeat
        turns stale: the broker's visibility clock starts at delivery, the heartbeat at the claim. Such a
        message is sent again, not dropped."""
        now = utcnow()
        with self.db.session() as s:
            row = s.execute(select(JobBatchRow.status, JobBatchRow.step, JobBatchRow.heartbeat_at,
                                   JobBatchRow.not_before).where(JobBatchRow.id == batch_id)).first()
        if row is None or row.status not in ("waiting", "running") or row.step not in set(steps):
            return None
        if row.status == "running":
            at = (row.heartbeat_at or now) + timedelta(seconds=self.visibility_timeout)
        else:
            at = row.not_before or now
        return max(0.0, (at - now).total_seconds())

    def note(self, job_id: int, text: str) -> None:
        """Add what a step found to the job's description (an import's counts and first rejected rows)."""
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            job.reason = (f"{job.reason} — {text}" if job.reason else text)[:2000]

    def set_progress(self, job_id: int, progress: dict[str, Any], total: int | None = None) -> None:
        """Record where a long step is (kept in the job's params under "progress", shown by `jobs show` and the
        Index page); `total` sets what the job counts, once known."""
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            job.params = {**dict(job.params or {}), "progress": dict(progress)}
            if total is not None:
                job.total = int(total)

    def heartbeat(self, batch_id: int) -> None:
        with self.db.session() as s:
            s.execute(update(JobBatchRow).where(JobBatchRow.id == batch_id).values(heartbeat_at=utcnow()))

    # ---- finish -------------------------------------------------------------------------------------
    def complete(self, batch: Claimed, done: int, errors: Sequence[ProductError] = (), seconds: float = 0.0) -> None:
        """The batch is done: its products count, its per-product errors are kept. Counted once even when the
        batch was done twice (a runner presumed dead that finished after all)."""
        with self.db.session() as s:
            first = s.execute(update(JobBatchRow).where(JobBatchRow.id == batch.batch_id,
                                                        JobBatchRow.status != "done")
                              .values(status="done", seconds=seconds, error=None)).rowcount
            if first:
                s.execute(delete(JobErrorRow).where(JobErrorRow.job_id == batch.job_id,
                                                    JobErrorRow.product_id.in_([e.product_id for e in errors])))
                s.add_all(JobErrorRow(job_id=batch.job_id, product_id=e.product_id, sku=e.sku, error=e.error)
                          for e in errors)
                s.execute(update(JobRow).where(JobRow.id == batch.job_id)
                          .values(done=JobRow.done + done, failed=JobRow.failed + len(errors)))
        self._settle(batch.job_id)

    def fail(self, batch: Claimed, error: str, retry: bool = True) -> bool:
        """The batch raised: retried later with backoff (True), or, after MAX_ATTEMPTS or with retry=False (a
        failure that doing it again would repeat), failed with its job."""
        retry = retry and batch.attempts < MAX_ATTEMPTS
        with self.db.session() as s:
            values: dict[str, Any] = {"error": error[:2000]}
            if retry:
                values.update(status="waiting", not_before=utcnow() + timedelta(seconds=backoff(batch.attempts)))
            else:
                values.update(status="failed")
            s.execute(update(JobBatchRow).where(JobBatchRow.id == batch.batch_id).values(**values))
        self._settle(batch.job_id)
        return retry

    def _settle(self, job_id: int) -> None:
        """A job whose batches are all finished is done (failed when one of them failed)."""
        with self.db.session() as s:
            def count(*statuses: str) -> int:
                return s.scalar(select(func.count()).where(JobBatchRow.job_id == job_id,
                                                           JobBatchRow.status.in_(statuses)))

            open_, failed = count("waiting", "running"), count("failed")
            if open_:
                return
            error = s.scalar(select(JobBatchRow.error).where(JobBatchRow.job_id == job_id,
                                                            JobBatchRow.status == "failed").limit(1))
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(("waiting", "running")))
                      .values(status="failed" if failed else "done", error=error, finished_at=utcnow()))

    # ---- read ---------------------------------------------------------------------------------------
    def job(self, job_id: int) -> Job:
        jobs = self._jobs(select(JobRow).where(JobRow.id == job_id))
        if not jobs:
            raise NotFound(f"no job {job_id}")
        return jobs[0]

    def jobs(self, limit: int = 50) -> list[Job]:
        """Newest first."""
        return self._jobs(select(JobRow).order_by(JobRow.id.desc()).limit(limit))

    def _jobs(self, q) -> list[Job]:
        with self.db.session() as s:
            rows = list(s.scalars(q))
            counts: dict[int, dict[str, int]] = {}
            if rows:
                for jid, status, n in s.execute(select(JobBatchRow.job_id, JobBatchRow.status, func.count())
                                                .where(JobBatchRow.job_id.in_([r.id for r in rows]))
                                                .group_by(JobBatchRow.job_id, JobBatchRow.status)):
                    counts.setdefault(jid, {})[status] = n
            return [Job(r.id, r.kind, r.status, r.reason, r.total, r.done, r.failed, r.error, r.created_at,
                        r.started_at, r.finished_at, dict(r.params or {}), counts.get(r.id, {})) for r in rows]

    def errors(self, job_id: int) -> list[ProductError]:
        with self.db.session() as s:
            return [ProductError(e.product_id, e.sku, e.error) for e in
                    s.scalars(select(JobErrorRow).where(JobErrorRow.job_id == job_id).order_by(JobErrorRow.id))]

    def latest(self, kind: str) -> Job | None:
        """The newest job of a kind."""
        jobs = self._jobs(select(JobRow).where(JobRow.kind == kind).order_by(JobRow.id.desc()).limit(1))
        return jobs[0] if jobs else None

    def counts(self) -> dict[str, int]:
        """Jobs by status: waiting, running, done, failed."""
        with self.db.session() as s:
            got = dict(s.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all())
        return {k: int(got.get(k, 0)) for k in ("waiting", "running", "done", "failed")}
