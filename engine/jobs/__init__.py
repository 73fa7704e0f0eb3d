"""Indexing as jobs: a SQL queue of record, an in-process runner by default, Celery workers to scale out."""
from engine.jobs.queue import Job, JobQueue
from engine.jobs.runner import BackgroundRunner, Jobs, ensure_runner

__all__ = ["BackgroundRunner", "Job", "JobQueue", "Jobs", "ensure_runner"]
