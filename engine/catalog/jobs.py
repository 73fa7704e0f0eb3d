"""SQL tables of indexing jobs: the queue of record, whichever runner does the work.

A job (index what changed, full reindex, drift repair + sync, ...) is split into batches; any runner — the
background thread of the process that holds the vector store, or a Celery worker — claims a batch with one
conditional UPDATE, so two runners never take the same one, and a batch whose runner died (its heartbeat
older than VITRINA_JOB_VISIBILITY_TIMEOUT) is claimed again. Per-product failures are kept per job, for the
console's retry. `vector_handoff` carries vectors a worker computed to the one process that may write an
embedded store (single writer): it upserts them in batches and deletes the rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.catalog.models import Base, utcnow


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # index | full | sync | retry
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting | running | done | failed
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was queued: "catalog import feed.csv", ...
    total: Mapped[int] = mapped_column(Integer, default=0)  # products to handle, known once planned
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)  # products that failed (job_errors)
    error: Mapped[str | None] = mapped_column(Text)  # why the job itself failed
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class JobBatchRow(Base):
    __tablename__ = "job_batches"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(16))  # plan | encode | remove
    ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)  # retry backoff
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)


Index("ix_job_batches_claim", JobBatchRow.status, JobBatchRow.step, JobBatchRow.id)


class JobErrorRow(Base):
    __tablename__ = "job_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(128))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VectorHandoffRow(Base):
    __tablename__ = "vector_handoff"
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # a redelivered batch overwrites
    job_id: Mapped[int] = mapped_column(Integer, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    vectors: Mapped[bytes | None] = mapped_column(LargeBinary)  # npz of name → float32; None: payload only
    payload: Mapped[dict] = mapped_column(JSON)
    has_image: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
