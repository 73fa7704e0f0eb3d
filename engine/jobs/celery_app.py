"""The Celery side of the job layer: the app (Redis broker, late acks, a visibility timeout from the settings)
and how batches are sent to it. Celery is imported only when VITRINA_JOB_RUNNER=celery asks for it: the
embedded default never loads it.

Reliability comes from the broker and the SQL queue together: a task is acknowledged only once its batch is
recorded (`acks_late`), a worker killed mid-batch (even with -9) leaves its message unacknowledged, and the
broker hands it to another worker after VITRINA_JOB_VISIBILITY_TIMEOUT seconds; that worker may claim the
batch because its heartbeat is as old (engine/jobs/queue.py). The work is idempotent, so nothing is doubled."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from engine.errors import ValidationError
from engine.settings import Settings

APP_NAME = "vitrina"
QUEUE = "vitrina-jobs"
PROCESS_BATCH = "vitrina.process_batch"
NIGHTLY_SYNC = "vitrina.nightly_sync"


def broker_url(settings: Settings) -> str:
    url = settings.celery_broker_url or settings.redis_url
    if not url:
        raise ValidationError("VITRINA_JOB_RUNNER=celery needs a broker: set CELERY_BROKER_URL or REDIS_URL")
    return url


@lru_cache(maxsize=8)
def _app(url: str, visibility_timeout: float, sync_hour: int) -> Any:
    from celery import Celery  # only with VITRINA_JOB_RUNNER=celery
    from celery.schedules import crontab

    app = Celery(APP_NAME, broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_default_queue=QUEUE, broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        # the sweep that hands a dead worker's messages on runs about every restore interval
        broker_transport_options={"visibility_timeout": visibility_timeout, "unacked_restore_throttle": 1,
                                  "unacked_restore_interval": max(1, min(10, int(visibility_timeout / 2)))},
        timezone="UTC", beat_schedule={"nightly-sync": {"task": NIGHTLY_SYNC,
                                                        "schedule": crontab(hour=sync_hour, minute=0)}})
    return app


def celery_app(settings: Settings) -> Any:
    """The Celery app of these settings (one per broker and timeout in a process)."""
    return _app(broker_url(settings), float(settings.job_visibility_timeout), int(settings.sync_hour))


def send_batches(settings: Settings, batch_ids: Sequence[int], countdown: float | None = None) -> None:
    app = celery_app(settings)
    for batch_id in batch_ids:
        app.send_task(PROCESS_BATCH, args=[int(batch_id)], queue=QUEUE, countdown=countdown)
