"""Indexing on real Celery workers: `python -m engine worker` subprocesses on a real Redis broker on loopback,
no eager mode. This process holds the embedded store, as a console or service does: its runner plans, removes
and writes the vectors the workers hand off (one writer). A worker killed with -9 in the middle of a batch
loses nothing: the broker hands the batch to another worker after the visibility timeout, the drift check is
clean and no point is doubled."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from engine.catalog.importers import import_generic
from engine.catalog.jobs import JobBatchRow, VectorHandoffRow
from engine.jobs import Jobs, ensure_runner
from engine.runtime import Runtime
from engine.settings import Settings
from test_cache import RedisServer, require_redis_server

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY = 3  # seconds: a dead worker's batch goes to another worker after this
PRODUCTS = 240


@pytest.fixture
def redis(tmp_path):
    require_redis_server()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path, redis, monkeypatch) -> dict[str, str]:
    values = {"VITRINA_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
              "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_TEXT_ENCODER": "use", "VITRINA_BATCH_SIZE": "40",
              "VITRINA_JOB_RUNNER": "celery", "CELERY_BROKER_URL": redis.url,
              "VITRINA_JOB_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **values, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def catalog(tmp_path, env) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = ["sku,title,price,stock,images"]
    for i in range(PRODUCTS):
        Image.new("RGB", (320, 320), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(photos / f"{i}.jpg")
        rows.append(f"C-{i},Catalog product {i} in colour {i % 7},{5 + i},{i % 4},{photos / f'{i}.jpg'}")
    (tmp_path / "feed.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path / "feed.csv"


def _worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", "worker", "--name", f"{name}@%h"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait(jobs: Jobs, job_id: int, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while (job := jobs.job(job_id)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} after {timeout} s: {job}"
        time.sleep(0.2)
    return job


def _settled(rt: Runtime, timeout: float = 30.0):
    """The drift report once the holder's runner has written every handed-off vector (store, then sync rows)."""
    deadline = time.monotonic() + timeout
    while True:
        with rt.db.session() as s:
            pending = s.scalar(select(func.count()).select_from(VectorHandoffRow))
        report = rt.indexer.check()
        if (not pending and report.clean) or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def _one_batch(jobs: Jobs, reason: str, ids: list[int]) -> tuple[int, int]:
    """A job planned here into one encode batch of these ids, not yet sent to any worker: (job id, batch id)."""
    job_id, _ = jobs.queue.submit("retry", reason)
    plan = jobs.queue.claim("test", ["plan"])
    [batch_id] = jobs.queue.add_batches(job_id, [("encode", ids)], total=len(ids))
    jobs.queue.complete(plan, 0)
    return job_id, batch_id


def _holder() -> Runtime:
    """This process as the store's holder (its runner plans, removes and writes handed-off vectors)."""
    rt = Runtime(Settings())
    rt.indexer.store.open(rt.indexer.spec)
    ensure_runner(rt)
    return rt


def test_an_import_is_indexed_by_a_celery_worker_without_a_manual_step(env, catalog, tmp_path):
    rt = _holder()
    worker = _worker(env, "w1", tmp_path / "w1.log")
    try:
        done = subprocess.run([sys.executable, "-m", "engine", "import", str(catalog)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "indexing queued as job" in done.stderr, done.stderr[-2000:]
        jobs = Jobs(rt)
        job = _wait(jobs, jobs.queue.jobs(1)[0].id)
        assert (job.status, job.done, job.failed) == ("done", PRODUCTS, 0), job
        report = _settled(rt)
        with rt.db.session() as s:
            workers = set(s.scalars(select(JobBatchRow.worker).where(JobBatchRow.step == "encode")))
        assert workers and all(w.endswith(":celery") for w in workers)  # encoded by the worker, not here
        assert report.clean and rt.store.count() == PRODUCTS
    finally:
        _stop(worker)
        ensure_runner(rt).stop()
        rt.close()


def test_a_worker_killed_mid_batch_loses_nothing(env, catalog, tmp_path):
    rt = _holder()
    import_generic(rt.db, catalog)
    first = _worker(env, "w1", tmp_path / "w1.log")
    second = None
    try:
        jobs = Jobs(rt)
        job_id = jobs.submit("index", "kill test")
        deadline = time.monotonic() + 120
        while True:  # wait until the first worker is inside an encode batch
            with rt.db.session() as s:
                running = s.scalar(select(JobBatchRow.id).where(JobBatchRow.job_id == job_id,
                                                                JobBatchRow.step == "encode",
                                                                JobBatchRow.status == "running"))
            if running is not None:
                break
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "w1.log").read_text()[-2000:]
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        second = _worker(env, "w2", tmp_path / "w2.log")
        job = _wait(jobs, job_id)
        assert (job.status, job.done, job.failed) == ("done", PRODUCTS, 0), job
        with rt.db.session() as s:
            redone = s.get(JobBatchRow, running)
            assert redone.status == "done" and redone.attempts == 2 and redone.worker.startswith(
                tuple(f"{h}:" for h in [os.uname().nodename]))
        report = _settled(rt)
        assert report.clean and rt.store.count() == PRODUCTS == report.points  # nothing lost, nothing doubled
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
        ensure_runner(rt).stop()
        rt.close()


def test_a_message_that_comes_back_before_its_holder_counts_as_dead_is_kept(env, tmp_path):
    """The broker's visibility clock starts when a message is delivered, the batch's heartbeat when it is
    claimed, so a dead worker's message can come back while the heartbeat is still fresh. Here a runner that
    died right after its claim holds the batch and the message arrives at once: the worker sends it again
    until the holder counts as dead, then does the batch (dropping the message would leave it running)."""
    rt = _holder()
    worker = _worker(env, "w1", tmp_path / "w1.log")
    try:
        jobs = Jobs(rt)
        job_id, batch_id = _one_batch(jobs, "held batch", [])
        assert jobs.queue.claim("dead", ["encode"]).batch_id == batch_id
        jobs.dispatch([batch_id])
        job = _wait(jobs, job_id, timeout=60)
        with rt.db.session() as s:
            row = s.get(JobBatchRow, batch_id)
            assert (job.status, row.status, row.attempts) == ("done", "done", 2), (tmp_path / "w1.log").read_text()
            assert row.worker.endswith(":celery")
    finally:
        _stop(worker)
        ensure_runner(rt).stop()
        rt.close()


def test_a_worker_refuses_to_start_without_celery_configured(tmp_path, env):
    done = subprocess.run([sys.executable, "-m", "engine", "worker"], cwd=tmp_path,
                          env={**env, "VITRINA_JOB_RUNNER": "inprocess"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "VITRINA_JOB_RUNNER=celery" in done.stderr and "Traceback" not in done.stderr


def test_a_batch_that_raises_on_a_worker_is_sent_again_after_its_backoff(env, tmp_path):
    """An id past SQLite's integer range makes the batch raise inside the worker: the queue holds it back for
    its backoff and the worker sends itself the message again, so a second attempt follows by itself."""
    rt = _holder()
    worker = _worker(env, "w1", tmp_path / "w1.log")
    try:
        jobs = Jobs(rt)
        _, batch_id = _one_batch(jobs, "poisoned batch", [2 ** 70])
        jobs.dispatch([batch_id])
        deadline = time.monotonic() + 60
        while True:
            with rt.db.session() as s:
                row = s.get(JobBatchRow, batch_id)
                attempts, error = row.attempts, row.error
            if attempts >= 2:
                break
            assert time.monotonic() < deadline, (tmp_path / "w1.log").read_text()[-2000:]
            time.sleep(0.2)
        assert "OverflowError" in error or "too large" in error, error
    finally:
        _stop(worker)
        ensure_runner(rt).stop()
        rt.close()
