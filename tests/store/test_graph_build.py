"""The background HNSW build of the embedded store (engine/store/graph.py, engine/store/build.py), on a real
qdrant-edge shard with a small clustered catalog and a tiny threshold: the graph is built by another
process while this one keeps answering, writes made meanwhile survive the swap, results after it match
brute-force numpy search, a killed build leaves the store as it was, small catalogs are left exact, and the
folders an interrupted swap leaves are recovered on open."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.store import EdgeStore
from engine.store.base import BuildProgress, CollectionSpec, PointRecord, SparseVector
from engine.store.graph import GraphBuildFailed
from engine.store.vectors import combine
from engine.types import Filters

HALF_ATOL = 5e-4  # a built shard stores float16: unit-vector components come back within half a float16 step
SPEC = CollectionSpec(text_encoder="test-text", text_dim=24, image_encoder="test-image", image_dim=8, text_weight=0.5)
N = 1500
CENTRES = 25


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _points(n: int = N, start: int = 1, seed: int = 7) -> list[PointRecord]:
    """Clustered like real embeddings: points around a few centres (recall on uniform noise means nothing)."""
    rng = np.random.default_rng(seed)
    text_c = rng.normal(size=(CENTRES, SPEC.text_dim))
    image_c = rng.normal(size=(CENTRES, SPEC.image_dim))
    out = []
    for k in range(n):
        c = k % CENTRES
        text = _unit(text_c[c] + rng.normal(0, 0.35, SPEC.text_dim))
        image = _unit(image_c[c] + rng.normal(0, 0.35, SPEC.image_dim))
        out.append(PointRecord(start + k, {"text": text, "image": image,
                                           "combined": combine(text, image, SPEC.text_weight)},
                               {"price": float(5 + k % 200), "is_active": 1, "category_ids": [c % 5]}))
    return out


def _store(path: Path, points: list[PointRecord]) -> EdgeStore:
    store = EdgeStore(path)
    store.open(SPEC)
    for i in range(0, len(points), 500):
        store.upsert(points[i:i + 500])
    return store


def _brute(points: list[PointRecord], q: np.ndarray, k: int, price_max: float | None = None) -> list[int]:
    kept = [p for p in points if price_max is None or p.payload["price"] <= price_max]
    m = np.stack([p.vectors["combined"] for p in kept])
    order = np.argsort(-(m @ _unit(q)), kind="stable")[:k]
    return [kept[i].id for i in order]


class Build:
    """A build on a thread, recording every progress report; `on_stage` runs once per stage, in the build."""

    def __init__(self, store: EdgeStore, min_points: int = 100, on_stage: dict | None = None):
        self.store, self.min_points, self.on_stage = store, min_points, dict(on_stage or {})
        self.reports: list[BuildProgress] = []
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run)

    def _progress(self, p: BuildProgress) -> None:
        self.reports.append(p)
        hook = self.on_stage.pop(p.stage, None)
        if hook is not None:
            hook(p)

    def _run(self) -> None:
        try:
            self.result = self.store.build_graph(self.min_points, self._progress)
        except Exception as e:  # kept for the test to look at
            self.error = e

    def start(self) -> "Build":
        self.thread.start()
        return self

    def stage(self) -> str:
        return self.reports[-1].stage if self.reports else ""

    def join(self, timeout: float = 300) -> "Build":
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the build did not finish"
        return self


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One store, built once, for the tests that only read it afterwards."""
    points = _points()
    store = _store(tmp_path_factory.mktemp("built") / "store", points)
    report = store.build_graph(100)
    yield store, points, report
    store.close()


def test_the_graph_is_built_by_another_process_while_queries_keep_answering(tmp_path):
    points = _points()
    store = _store(tmp_path / "store", points)
    q = points[3].vectors["combined"]
    build = Build(store).start()
    answered: list[tuple[float, str]] = []  # (when, the build's stage then)
    while build.thread.is_alive():
        hits = store.query(q, "combined", 10)
        assert len(hits) == 10
        answered.append((time.monotonic(), build.stage()))
    build.join()
    assert build.error is None, build.error
    report = build.result
    assert report.built and report.points == N
    assert report.pid is not None and report.pid != os.getpid()
    stages = [p.stage for p in build.reports]
    assert stages[0] == "copying" and stages[-1] == "swapping"
    assert "building" in stages and "replaying" in stages
    assert {p.pid for p in build.reports if p.stage == "building"} == {report.pid}
    during = [t for t, stage in answered if stage == "building"]
    assert len(during) >= 3, f"only {len(during)} queries answered while the graph was being built"
    building_s = max(p.elapsed for p in build.reports if p.stage == "building") - \
        min(p.elapsed for p in build.reports if p.stage == "building")
    gaps = np.diff(during) if len(during) > 1 else np.array([0.0])
    assert gaps.max() < max(1.0, building_s / 2), "the holder froze while the graph was built"
    status = store.graph_status()
    assert status.built_points == N and status.indexed_vectors >= N and not status.exact
    store.close()


def test_results_after_the_swap_match_exact_search(built):
    store, points, report = built
    assert report.built and store.graph_status().indexed_vectors >= N
    rng = np.random.default_rng(3)
    recalls, filtered = [], []
    for i in range(40):
        q = _unit(points[i * 37].vectors["combined"] + rng.normal(0, 0.2, SPEC.combined_dim))
        got = [h.id for h in store.query(q, "combined", 10)]
        recalls.append(len(set(got) & set(_brute(points, q, 10))) / 10)
        got = [h.id for h in store.query(q, "combined", 10, Filters(price_max=60.0))]
        filtered.append(len(set(got) & set(_brute(points, q, 10, price_max=60.0))) / 10)
    assert np.mean(recalls) >= 0.95, recalls
    assert np.mean(filtered) >= 0.95, filtered


def test_the_built_shard_stores_float16_and_keeps_indexes_and_lexical_vectors(tmp_path):
    points = _points(600)
    for p in points:  # a word per centre: the lexical list must find a point's cluster after the rewrite
        p.lexical = SparseVector([p.payload["category_ids"][0] + 1, 1000 + p.id], [1.0, 0.5])
    store = _store(tmp_path / "store", points)
    before_bytes = sum(f.stat().st_size for f in (tmp_path / "store" / "shard").rglob("*") if f.is_file())
    assert store.graph_status().datatype == "float32"
    assert store.build_graph(100).built
    assert store.graph_status().datatype == "float16"
    live = (tmp_path / "store" / "shard").resolve()
    saved = json.loads((live / "edge_config.json").read_text())
    assert {v.get("datatype") for v in saved["vectors"].values()} == {"float16"}
    assert sorted(p.name for p in (tmp_path / "store").iterdir() if p.name.startswith("shard-")) == [live.name]
    got = store.retrieve([p.id for p in points[:50]], with_vectors=["text", "image", "combined"])
    for hit, p in zip(sorted(got, key=lambda h: h.id), points[:50]):
        for name in ("text", "image", "combined"):
            assert np.allclose(hit.vectors[name], p.vectors[name], atol=HALF_ATOL)
            assert not np.allclose(hit.vectors[name], p.vectors[name], atol=1e-7)  # float16, not float32
        assert hit.payload == p.payload
    hits = store.query_lexical(SparseVector([1000 + points[7].id], [1.0]), 5)
    assert [h.id for h in hits] == [points[7].id]
    hits = store.query(points[9].vectors["combined"], "combined", 20, Filters(category_ids=[2]))
    assert hits and all(2 in h.payload["category_ids"] for h in hits)
    schema = json.loads((live / "edge_config.json").read_text()).get("sparse_vectors")
    assert schema == {"lexical": {"modifier": "idf"}}
    after_bytes = sum(f.stat().st_size for f in live.rglob("*") if f.is_file())
    assert after_bytes < before_bytes, (before_bytes, after_bytes)
    store.close()
    reopened = EdgeStore(tmp_path / "store")  # the saved config loads as it is: float16 stays
    assert reopened.retrieve([1], with_vectors=["text"])[0].vectors["text"].shape == (SPEC.text_dim,)
    reopened.close()


_MAPPED = """
import sys, qdrant_edge as qe

def resident():  # KB of the vector files' mappings held in this process's memory
    total, vectors = 0, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) >= 6:
            vectors = "vector_storage-" in head[5]
        elif vectors and head[0] == "Rss:":
            total += int(head[1])
    return total

shard = qe.EdgeShard.load(sys.argv[1])
at_open = resident()
shard.retrieve(list(range(1, 51)), with_payload=False, with_vector=["text"])
print(at_open, resident())
"""


def test_a_built_shards_vectors_are_read_into_memory_only_when_a_query_needs_them(tmp_path):
    """A catalog large enough for a graph is one whose vectors dominate the memory of every process opening the
    store: the built shard leaves them on disk until read (qdrant's `cold` tier), so a process holds the pages
    its queries touch, not the whole catalog's, and the kernel may drop them. Measured on the mappings of the
    vector files in a fresh process (/proc/self/smaps), at open and after reading some vectors."""
    store = _store(tmp_path / "store", _points(600))

    def mapped() -> tuple[int, int]:
        store.close()  # the WAL lock: one process opens a shard at a time
        shard = str((tmp_path / "store" / "shard").resolve())
        done = subprocess.run([sys.executable, "-c", _MAPPED, shard], capture_output=True, text=True, check=True)
        at_open, after_reads = map(int, done.stdout.split())
        return at_open, after_reads

    before, _ = mapped()  # a small catalog's shard (no graph): its vector files are read in at open (98 MB here)
    store.open(SPEC)
    assert store.build_graph(100).built
    saved = json.loads(((tmp_path / "store" / "shard").resolve() / "edge_config.json").read_text())
    assert {v.get("memory") for v in saved["vectors"].values()} == {"cold"}
    at_open, after_reads = mapped()
    assert at_open * 100 < before and after_reads > at_open, (before, at_open, after_reads)  # 98,344 / 112 / 144 KB


def test_writes_made_during_the_build_survive_the_swap(tmp_path):
    points = _points()
    store = _store(tmp_path / "store", points)
    new = _points(100, start=10_001, seed=99)
    moved = _points(1, start=11, seed=123)[0]  # id 11 re-upserted with other vectors

    def write(_: BuildProgress) -> None:
        """While the child builds (the swap waits for this hook: nothing races it)."""
        for p in new:  # one write each: more than the swap replays under the lock, so most are replayed before
            store.upsert([p])
        store.delete([1, 2, 3, 4, 5])
        store.set_payload([6, 7, 8], {"price": 999.0})
        store.upsert([moved])

    build = Build(store, on_stage={"building": write}).start()
    assert build.join().error is None, build.error
    assert build.result.replayed == 100 + 3

    def check(s: EdgeStore) -> None:
        assert s.count() == N + 100 - 5
        assert s.retrieve([1, 2, 3, 4, 5]) == []
        assert {h.id: h.payload["price"] for h in s.retrieve([6, 7, 8, 9])} == {6: 999.0, 7: 999.0, 8: 999.0,
                                                                            9: points[8].payload["price"]}
        for p in new + [moved]:
            assert s.query(p.vectors["combined"], "combined", 1)[0].id == p.id
        got = s.retrieve([11], with_vectors=["text"])[0].vectors["text"]
        assert np.allclose(got, moved.vectors["text"], atol=HALF_ATOL)

    check(store)
    assert store.graph_status().written_since == 100 + 3 + 1
    store.close()
    check(reopened := EdgeStore(tmp_path / "store"))  # flushed: a restarted process sees the same
    reopened.close()


def test_a_killed_build_process_leaves_the_store_intact(tmp_path):
    points = _points()
    store = _store(tmp_path / "store", points)
    extra = _points(1, start=20_000, seed=5)

    def kill(p: BuildProgress) -> None:
        store.upsert(extra)  # written to the original, which stays
        os.kill(p.pid, signal.SIGKILL)

    build = Build(store, on_stage={"building": kill}).start().join()
    assert isinstance(build.error, GraphBuildFailed)
    assert "killed by signal 9" in str(build.error) and "unchanged" in str(build.error)
    assert store.count() == N + 1
    assert store.query(extra[0].vectors["combined"], "combined", 1)[0].id == 20_000
    status = store.graph_status()
    assert status.built_points is None and status.indexed_vectors == 0 and not status.building
    assert sorted(p.name for p in (tmp_path / "store").iterdir() if p.name.startswith(("shard-", "."))) == []
    store.close()
    assert EdgeStore(tmp_path / "store").count() == N + 1


def test_below_the_threshold_nothing_is_built(tmp_path):
    store = _store(tmp_path / "store", _points(300))
    build = Build(store, min_points=301).start().join()
    assert build.error is None and not build.result.built
    assert "fewer than VITRINA_HNSW_MIN_POINTS=301" in build.result.reason
    assert build.reports == []  # no copy, no process
    status = store.graph_status()
    assert status.exact and status.indexed_vectors == 0
    store.close()


def test_a_full_reindex_during_the_build_drops_it(tmp_path):
    store = _store(tmp_path / "store", _points())
    build = Build(store, on_stage={"building": lambda p: store.open(SPEC, recreate=True)}).start().join()
    assert isinstance(build.error, GraphBuildFailed) and "emptied" in str(build.error)
    assert store.count() == 0 and store.graph_status().built_points is None
    store.upsert(_points(10))
    assert store.count() == 10
    store.close()


def test_a_second_build_at_the_same_time_is_refused(tmp_path):
    store = _store(tmp_path / "store", _points())
    second: list[Exception] = []

    def again(p: BuildProgress) -> None:
        try:
            store.build_graph(100)
        except GraphBuildFailed as e:
            second.append(e)

    build = Build(store, on_stage={"building": again}).start().join()
    assert build.error is None and build.result.built
    assert len(second) == 1 and "already running" in str(second[0])
    store.close()


def test_the_swap_moves_a_symlink_and_leftovers_are_cleared_on_open(tmp_path):
    folder = tmp_path / "store"
    store = _store(folder, _points(400))
    first = store.build_graph(100)
    assert first.built and (folder / "shard").is_symlink()
    built_in = (folder / "shard").resolve()
    assert built_in.name.startswith("shard-") and not any(folder.glob("shard-retired-*"))
    store.upsert(_points(3, start=5_000))
    second = store.build_graph(100)  # the second swap only moves the link: the first copy goes
    assert second.built and not built_in.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith("shard-")] == [(folder / "shard").resolve().name]
    store.close()
    (folder / "shard-9-9").mkdir()  # an unfinished copy left by a crash
    store = EdgeStore(folder)
    assert store.count() == 403 and not (folder / "shard-9-9").exists()
    store.close()


def test_a_first_swap_interrupted_by_a_crash_is_recovered_on_open(tmp_path):
    folder = tmp_path / "store"
    store = _store(folder, _points(400))
    store.close()
    # the crash fell inside the first swap: the real folder retired, the link not made yet
    os.rename(folder / "shard", folder / "shard-retired-1-1")
    shutil.copytree(folder / "shard-retired-1-1", folder / "shard-1-1")  # the copy it was building
    store = EdgeStore(folder)
    assert store.count() == 400 and (folder / "shard").is_dir() and not (folder / "shard").is_symlink()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("shard")) == ["shard"]
    store.close()
    # a dangling link with a retired folder: the retired one comes back
    os.rename(folder / "shard", folder / "shard-retired-2-2")
    os.symlink("shard-gone", folder / "shard")
    store = EdgeStore(folder)
    assert store.count() == 400 and {h.id for h in store.retrieve([1, 400])} == {1, 400}
    store.close()
