"""The drift check as a job (kind "check"): run by the job runner of the process that holds the store, never
inside a Streamlit script, so a console page that asks for it returns at once and no session waits on it.

The report is the job's result: kept in the job's params under "report" (counts and the product ids of each
kind of drift), so any process and any session reads the newest one from SQL.
"""
from __future__ import annotations

import time
from dataclasses import asdict, fields

from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.jobs import JobRow
from engine.indexing.indexer import Indexer
from engine.indexing.reports import DriftReport
from engine.jobs.queue import Claimed, Job, JobQueue

KIND = "check"
HEARTBEAT_SECONDS = 5.0


def run_check(indexer: Indexer, queue: JobQueue, batch: Claimed) -> DriftReport:
    """The plan step of a check job: the drift check, its batch kept alive while it runs, its report stored."""
    last = [time.monotonic()]

    def alive(*_: int) -> None:
        if time.monotonic() - last[0] > HEARTBEAT_SECONDS:
            last[0] = time.monotonic()
            queue.heartbeat(batch.batch_id)

    report = indexer.check(progress=alive)
    save_report(indexer.db, batch.job_id, report)
    return report


def save_report(db: Database, job_id: int, report: DriftReport) -> None:
    with db.session() as s:
        job = s.get(JobRow, job_id)
        job.params = {**dict(job.params or {}), "report": asdict(report)}


def report_of(job: Job) -> DriftReport | None:
    """The drift report a finished check job stored (None before it is done, or for another kind)."""
    got = job.params.get("report") if job.kind == KIND else None
    if not isinstance(got, dict):
        return None
    known = {f.name for f in fields(DriftReport)}
    return DriftReport(**{k: v for k, v in got.items() if k in known})


def latest_check(db: Database) -> Job | None:
    """The newest check job, whatever its status."""
    with db.session() as s:
        job_id = s.scalar(select(JobRow.id).where(JobRow.kind == KIND).order_by(JobRow.id.desc()).limit(1))
    return None if job_id is None else JobQueue(db).job(job_id)
