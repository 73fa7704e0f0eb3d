"""The search-graph build as a job (engine/jobs/graph.py): the holder's runner builds it in another process
and reports its stage, queries keep answering meanwhile, an index job over VITRINA_HNSW_MIN_POINTS queues a
build by itself (and a small catalog none), a killed build fails its job with the reason and is not queued
again for the same catalog, a Qdrant server refuses it, and `python -m engine jobs submit build_index` runs it
or leaves it to the process holding the store."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from engine.catalog.importers import import_generic
from engine.errors import ValidationError
from engine.jobs import JobQueue, Jobs, ensure_runner
from engine.jobs.graph import build_step, due, queue_if_due
from engine.runtime import Runtime
from engine.settings import Settings
from engine.store import EdgeStore, QdrantClientStore
from engine.store.base import CollectionSpec, GraphStatus, PointRecord
from engine.store.vectors import combine

ROOT = Path(__file__).resolve().parents[2]
SPEC = CollectionSpec(text_encoder="test-text", text_dim=24, image_encoder="test-image", image_dim=8, text_weight=0.5)
N = 1500


def _settings(tmp_path: Path, min_points: int) -> Settings:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = tmp_path / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.batch_size, s.hnsw_min_points = "descriptor", "use", 16, min_points
    return s


def _fill(store, n: int = N) -> np.ndarray:
    """Clustered points straight into the store (no encoder needed to build a graph); returns a query."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(20, SPEC.text_dim + SPEC.image_dim))
    points = []
    for k in range(n):
        v = centres[k % 20] + rng.normal(0, 0.3, centres.shape[1])
        text, image = v[:SPEC.text_dim] / np.linalg.norm(v[:SPEC.text_dim]), v[SPEC.text_dim:] / np.linalg.norm(v[SPEC.text_dim:])
        points.append(PointRecord(k + 1, {"text": text.astype(np.float32), "image": image.astype(np.float32),
                                          "combined": combine(text, image, SPEC.text_weight)}, {"price": 1.0 + k}))
    store.open(SPEC)
    store.upsert(points)
    return points[0].vectors["combined"]


def _wait(jobs: Jobs, job_id: int, timeout: float = 300.0, each=None):
    deadline = time.monotonic() + timeout
    while (job := jobs.job(job_id)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}: {job}"
        if each is not None:
            each(job)
        time.sleep(0.05)
    return job


@pytest.fixture
def rt(tmp_path):
    rt = Runtime(_settings(tmp_path, min_points=100))
    yield rt
    ensure_runner(rt).stop()
    rt.close()


def test_the_runner_builds_the_graph_in_another_process_and_reports_its_stage(rt):
    q = _fill(rt.store)
    jobs = Jobs(rt)
    ensure_runner(rt)
    seen: dict[str, set] = {"stages": set(), "pids": set(), "texts": set()}
    answered_while_building = [0]

    def watch(job) -> None:
        p = job.progress
        if p.get("stage"):
            seen["stages"].add(p["stage"])
            seen["texts"].add(job.stage)
        if p.get("pid"):
            seen["pids"].add(p["pid"])
        if p.get("stage") == "building":
            assert len(rt.store.query(q, "combined", 5)) == 5  # the holder keeps answering
            answered_while_building[0] += 1

    job = _wait(jobs, jobs.submit("build_index", "test"), each=watch)
    assert job.status == "done", job.error
    assert job.total == job.done == N and f"graph built over {N:,} points" in job.reason
    assert "building" in seen["stages"] and answered_while_building[0] >= 1
    assert seen["pids"] and os.getpid() not in seen["pids"]
    assert any(t.startswith("building, ") and "(process " in t for t in seen["texts"])
    assert job.progress["stage"] == "done"
    status = rt.store.graph_status()
    assert status.built_points == N and status.indexed_vectors >= N
    assert jobs.submit("build_index", "again") != job.id  # a finished build does not cover a new one


def test_a_build_waiting_or_running_covers_a_second_request(rt):
    jobs = Jobs(rt)
    first = jobs.submit("build_index", "one")
    assert jobs.submit("build_index", "two") == first
    batch = jobs.queue.claim("test", ["build"])
    assert batch is not None and batch.job_id == first and batch.step == "build"
    assert jobs.submit("build_index", "three") == first  # running still covers it


def test_an_index_job_over_the_threshold_queues_a_build_by_itself(tmp_path):
    rt = Runtime(_settings(tmp_path, min_points=10))
    (tmp_path / "feed.csv").write_text("sku,title,price\n" + "".join(f"P-{i},Product number {i} in red,{10 + i}\n"
                                                                      for i in range(1, 41)), encoding="utf-8")
    import_generic(rt.db, tmp_path / "feed.csv")
    jobs = Jobs(rt)
    ensure_runner(rt)
    try:
        assert _wait(jobs, jobs.submit("index", "import")).status == "done"
        deadline = time.monotonic() + 60
        while (build := jobs.queue.latest("build_index")) is None:
            assert time.monotonic() < deadline, "no build was queued after the index job"
            time.sleep(0.1)
        assert build.reason.startswith("automatic: 40 points and no search graph yet")
        assert _wait(jobs, build.id).status == "done"
        assert rt.store.graph_status().built_points == 40
        time.sleep(2.5)  # a few runner passes: a fresh graph is not rebuilt
        assert jobs.queue.latest("build_index").id == build.id
    finally:
        ensure_runner(rt).stop()
        rt.close()


def test_a_small_catalog_gets_no_build(tmp_path):
    rt = Runtime(_settings(tmp_path, min_points=N + 1))
    _fill(rt.store)
    jobs = Jobs(rt)
    assert queue_if_due(jobs, rt.store) is None and jobs.queue.latest("build_index") is None
    job_id = jobs.submit("build_index", "asked anyway")
    jobs.run_pending(rt.indexer)
    job = jobs.job(job_id)
    assert job.status == "done" and f"fewer than VITRINA_HNSW_MIN_POINTS={N + 1:,}" in job.reason
    assert rt.store.graph_status().indexed_vectors == 0
    rt.close()


def test_the_rebuild_rule():
    assert due(GraphStatus("qdrant-edge", 99), 100) is None
    assert "no search graph yet" in due(GraphStatus("qdrant-edge", 100), 100)
    built = GraphStatus("qdrant-edge", 1000, built_points=1000, written_since=199)
    assert due(built, 100) is None  # 199 < a fifth of 1000
    assert "200 points written since" in due(GraphStatus("qdrant-edge", 1000, built_points=1000, written_since=200), 100)
    assert due(GraphStatus("qdrant-client", 10 ** 6, server=True), 100) is None
    assert due(GraphStatus("qdrant-edge", 10 ** 6, building=True), 100) is None


def test_a_killed_build_fails_its_job_and_is_not_queued_again(rt):
    q = _fill(rt.store)
    before = [h.id for h in rt.store.query(q, "combined", 10)]
    jobs = Jobs(rt)
    ensure_runner(rt)
    killed: list[int] = []

    def kill(job) -> None:
        pid = job.progress.get("pid")
        if pid and job.progress.get("stage") == "building" and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    job = _wait(jobs, queue_if_due(jobs, rt.store), each=kill)
    assert killed and job.status == "failed"
    assert f"process {killed[0]} was killed by signal 9" in job.error and "unchanged" in job.error
    assert job.batches == {"failed": 1}  # not retried: the same catalog would fail the same way
    assert rt.store.count() == N and [h.id for h in rt.store.query(q, "combined", 10)] == before
    assert rt.store.graph_status().built_points is None
    assert queue_if_due(jobs, rt.store) is None  # same points, same writes: not queued again


def test_a_qdrant_server_builds_its_own_graph(tmp_path):
    store = QdrantClientStore(QdrantClient(":memory:"), "products")
    store.open(SPEC)
    with pytest.raises(ValidationError, match="builds its search graph itself"):
        store.build_graph(1)
    assert store.graph_status().server
    s = _settings(tmp_path, min_points=1)
    s.qdrant_url = "http://127.0.0.1:6333"
    rt = Runtime(s)
    queue = JobQueue(rt.db)
    job_id, _ = queue.submit("build_index", "queued before the switch to a server")
    assert build_step(store, queue, queue.claim("t", ["build"]), s) == "done"
    job = queue.job(job_id)
    assert job.status == "done" and "builds its search graph itself: nothing to do" in job.reason
    done = _cli(["jobs", "submit", "build_index"], tmp_path / "cli", QDRANT_URL="http://127.0.0.1:9")
    assert done.returncode == 2 and "Qdrant server builds its search graph itself" in done.stderr
    assert "Traceback" not in done.stderr


def _cli(args: list[str], data: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "VITRINA_DATA_DIR": str(data), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
            "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_HNSW_MIN_POINTS": "100", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=data.parent, env=full, capture_output=True,
                          text=True, timeout=300)


def test_the_cli_builds_here_or_leaves_it_to_the_holder(tmp_path):
    data = tmp_path / "data"
    store = EdgeStore(data / "qdrant")
    _fill(store)
    store.close()
    done = _cli(["jobs", "submit", "build_index", "--json"], data)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["status"] == "done" and out["points"] == N and out["progress"]["stage"] == "done"
    assert out["progress"]["pid"] != os.getpid()
    shown = json.loads(_cli(["jobs", "show", str(out["job"]), "--json"], data).stdout)
    assert shown["kind"] == "build_index" and shown["progress"]["stage"] == "done"
    held = EdgeStore(data / "qdrant")  # this process holds the store now, as a console would
    try:
        assert held.graph_status().built_points == N
        queued = _cli(["jobs", "submit", "build_index"], data)
        assert queued.returncode == 0 and "the process holding the vector store builds it" in queued.stderr
    finally:
        held.close()
    helped = _cli(["jobs", "--help"], data)
    assert helped.returncode == 0 and "build_index" in helped.stdout
