"""engine/jobs: the SQL queue (atomic claims, a dead runner's batch claimed again, retries with backoff, a batch
done twice counted once), the in-process runner indexing what an import changed with no manual step
(removals included), a poisoned product failing alone with its reason and its retry, and `python -m engine
import` indexing by itself — or leaving the job to the process that holds the store."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from engine.catalog.importers import import_generic
from engine.catalog.jobs import JobBatchRow
from engine.catalog.models import Product, utcnow
from engine.jobs import JobQueue, Jobs, ensure_runner, worker
from engine.jobs.queue import MAX_ATTEMPTS
from engine.runtime import Runtime
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FEED = "sku,title,price,stock,images\n" + "".join(f"P-{i},Product number {i} in red,{10 + i},{i % 5},\n"
                                                    for i in range(1, 41))


def _runtime(tmp_path: Path) -> Runtime:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = tmp_path / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.batch_size = "descriptor", "use", 16
    return Runtime(s)


def _wait(jobs: Jobs, job_id: int, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while (job := jobs.job(job_id)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}: {job}"
        time.sleep(0.1)
    return job


@pytest.fixture
def rt(tmp_path):
    rt = _runtime(tmp_path)
    (tmp_path / "feed.csv").write_text(FEED, encoding="utf-8")
    assert import_generic(rt.db, tmp_path / "feed.csv").created == 40
    yield rt
    ensure_runner(rt).stop()
    rt.close()


# ---- the queue ---------------------------------------------------------------------------------------------
def test_two_runners_never_take_the_same_batch(rt):
    queue = JobQueue(rt.db)
    job_id, _ = queue.submit("full", "test")
    queue.add_batches(job_id, [("encode", [i]) for i in range(30)], total=30)
    got: list[int] = []
    lock = threading.Lock()

    def runner(name: str) -> None:
        while (b := queue.claim(name, ["encode"])) is not None:
            with lock:
                got.append(b.batch_id)

    threads = [threading.Thread(target=runner, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 30


def test_a_dead_runners_batch_is_claimed_again_and_counted_once(rt):
    queue = JobQueue(rt.db, visibility_timeout=5)
    job_id, _ = queue.submit("full", "test")
    queue.add_batches(job_id, [("encode", [1, 2])], total=2)
    first = queue.claim("dead", ["encode"])
    assert first is not None and queue.claim("alive", ["encode"]) is None  # running, heartbeat fresh
    assert 4.0 < queue.claimable_in(first.batch_id, ["encode"]) <= 5.0  # a message now is sent again, not dropped
    assert queue.claimable_in(first.batch_id, ["plan"]) is None  # not for a runner that cannot do its step
    with rt.db.session() as s:
        s.execute(update(JobBatchRow).where(JobBatchRow.id == first.batch_id)
                  .values(heartbeat_at=utcnow() - timedelta(seconds=6)))
    again = queue.claim("alive", ["encode"])
    assert again is not None and again.batch_id == first.batch_id and again.attempts == 2
    queue.complete(again, 2)
    queue.complete(first, 2)  # the presumed-dead runner finished after all
    assert queue.job(job_id).done == 2 and queue.claimable_in(first.batch_id, ["encode"]) is None


def test_a_failing_batch_is_retried_with_backoff_then_fails_its_job(rt):
    queue = JobQueue(rt.db)
    job_id, _ = queue.submit("full", "test")
    plan = queue.claim("r", ["plan"])
    queue.add_batches(job_id, [("encode", [1])], total=1)  # a plan adds its batches, then completes
    queue.complete(plan, 0)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with rt.db.session() as s:  # skip the backoff wait
            s.execute(update(JobBatchRow).where(JobBatchRow.job_id == job_id).values(not_before=None))
        batch = queue.claim("r", ["encode"])
        assert batch is not None and batch.attempts == attempt
        assert queue.fail(batch, "OperationalError: database is locked") is (attempt < MAX_ATTEMPTS)
        if attempt < MAX_ATTEMPTS:
            assert queue.claim("r", ["encode"]) is None  # backing off
    job = queue.job(job_id)
    assert job.status == "failed" and "database is locked" in job.error


# ---- the in-process runner -----------------------------------------------------------------------------------
def test_an_import_is_indexed_by_the_runner_and_a_deactivation_leaves_the_store(rt, tmp_path):
    jobs = Jobs(rt)
    ensure_runner(rt)
    job = _wait(jobs, jobs.submit("index", "catalog import feed.csv"))
    assert (job.status, job.total, job.done, job.failed) == ("done", 40, 40, 0)
    assert job.rate is not None and job.batches == {"done": 4}  # the plan and three batches of 16
    assert rt.indexer.check().clean and rt.store.count() == 40

    gone = rt.catalog.get("P-7").id
    with rt.db.session() as s:
        s.execute(update(Product).where(Product.id == gone).values(is_active=False, updated_at=utcnow()))
    (tmp_path / "more.csv").write_text("sku,title,price\nP-41,Product number 41,50\n", encoding="utf-8")
    import_generic(rt.db, tmp_path / "more.csv")
    job = _wait(jobs, jobs.submit("index", "catalog import more.csv"))
    assert (job.status, job.total, job.done) == ("done", 2, 2)  # the new product in, the inactive one out
    assert gone not in rt.store.all_ids() and rt.indexer.check().clean


def test_a_poisoned_product_fails_alone_with_its_reason_and_can_be_retried(rt, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "poison.csv").write_text(f"sku,title,price,images\nPOISON,Poisoned photo,9,{bad}\n", encoding="utf-8")
    import_generic(rt.db, tmp_path / "poison.csv")
    jobs = Jobs(rt)
    ensure_runner(rt)
    job = _wait(jobs, jobs.submit("index", "poison"))
    assert (job.status, job.done, job.failed) == ("done", 41, 1)
    [err] = jobs.queue.errors(job.id)
    assert err.sku == "POISON" and "photo unusable" in err.error
    assert rt.indexer.check().clean  # indexed on its text, flagged
    retry = _wait(jobs, jobs.retry_failed(job.id))
    assert (retry.kind, retry.total, retry.failed) == ("retry", 1, 1)
    assert jobs.retry_failed(job.id - 1 if job.id > 1 else job.id) in (None, retry.id + 1)


def test_an_index_job_waiting_to_be_planned_covers_a_second_one(rt):
    jobs = Jobs(rt)
    first = jobs.submit("index", "first import")
    assert jobs.submit("index", "second import") == first
    assert jobs.submit("full", "rebuild") != first


# ---- the CLI -------------------------------------------------------------------------------------------------
def _cli(args: list[str], data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VITRINA_DATA_DIR": str(data), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
           "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_BATCH_SIZE": "16", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=data.parent, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_cli_import_is_indexed_without_a_manual_step(tmp_path):
    (tmp_path / "feed.csv").write_text(FEED, encoding="utf-8")
    done = _cli(["import", str(tmp_path / "feed.csv")], tmp_path / "data")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "indexed by job" in done.stderr
    check = _cli(["check", "--json"], tmp_path / "data")
    assert check.returncode == 0 and '"missing": []' in check.stdout.replace("\n", "").replace("  ", ""), check.stdout


def test_a_cli_import_beside_a_store_holder_leaves_the_job_to_it(rt, tmp_path):
    rt.indexer.store.open(rt.indexer.spec)  # this process holds the store, as a console does
    ensure_runner(rt)
    (tmp_path / "more.csv").write_text("sku,title,price\nNEW-1,Brand new product,50\n", encoding="utf-8")
    done = _cli(["import", str(tmp_path / "more.csv")], rt.settings.data_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the process holding the vector store indexes it" in done.stderr
    jobs = Jobs(rt)
    job = _wait(jobs, jobs.queue.jobs(1)[0].id)
    assert job.status == "done" and rt.catalog.get("NEW-1").id in rt.store.all_ids()


def test_a_sync_job_repairs_drift(rt):
    jobs = Jobs(rt)
    ensure_runner(rt)
    assert _wait(jobs, jobs.submit("index", "first")).status == "done"
    lost = sorted(rt.store.all_ids())[:3]
    rt.store.delete(lost)  # points lost behind the engine's back
    assert not rt.indexer.check().clean
    job = _wait(jobs, jobs.submit("sync", "nightly sync and drift repair"))
    assert job.status == "done" and job.done == 3
    assert rt.indexer.check().clean and set(lost) <= rt.store.all_ids()


def test_the_nightly_schedule_queues_a_sync(monkeypatch, tmp_path):
    from engine.jobs.celery_app import NIGHTLY_SYNC, celery_app

    monkeypatch.setenv("VITRINA_SYNC_HOUR", "4")
    s = _runtime(tmp_path).settings
    s.redis_url, s.sync_hour = "redis://127.0.0.1:1/0", 4
    entry = celery_app(s).conf.beat_schedule["nightly-sync"]
    assert entry["task"] == NIGHTLY_SYNC and entry["schedule"].hour == {4} and entry["schedule"].minute == {0}
    for k, v in {"VITRINA_DATA_DIR": str(s.data_dir), "DATABASE_URL": "", "QDRANT_URL": "",
                 "VITRINA_IMAGE_ENCODER": "descriptor"}.items():
        monkeypatch.setenv(k, v)
    worker._state.cache_clear()  # the worker's runtime is read from the environment once per process
    try:
        job_id = worker.nightly_sync()  # what beat runs at that hour
        job = Jobs(_runtime(tmp_path)).job(job_id)
        assert (job.kind, job.status, job.reason) == ("sync", "waiting", "nightly sync and drift repair")
    finally:
        worker._state.cache_clear()
