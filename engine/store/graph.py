"""The background HNSW build of an embedded store, the holder's side: the build record, the child process,
the folders a build leaves and their recovery after a crash.

A build (EdgeStore.build_graph) goes: flush and copy the shard to `shard-<tag>/` (writes wait, reads go on);
build the copy's graph in `python -m engine.store.build` (engine/store/build.py) while the original keeps
answering with exact search and journals every write; load the built copy beside the original and replay
the journal onto it; then, under the store's lock — milliseconds, nothing is loaded there — replay the last
few writes, point `shard` at the copy (a symlink, replaced atomically) and serve from it; the old shard is
closed and deleted afterwards. Until the symlink moves, every failure leaves the original in place. The
shard is always opened by its real folder, never through the symlink, so a moved link never moves an open
shard. A folder made before any build holds `shard` as a real folder: the first swap retires it
(`shard-retired-<tag>`, closed first, under the lock) and puts the symlink in its place.

What a crash can leave, and what opening the store does with it (`recover`): `shard-*` folders the symlink
does not point at (an unfinished copy, an old shard not yet deleted) are deleted; no `shard` (or a dangling
symlink) with a `shard-retired-*` folder — the crash fell inside the first swap — puts the retired one back
(it had every write: the graph is lost, never data)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import qdrant_edge as qe

from engine.errors import VitrinaError
from engine.store.base import BuildProgress, GraphReport, GraphStatus
from engine.store.build import stored_datatype

STATE = "graph.json"  # what the last build left: points, seconds, writes since
CHILD = "engine.store.build"
POLL_SECONDS = 1.0
# Seconds per point measured for the whole build (copy, graph, swap) of 100k products x 3 named vectors
# (1,624 dimensions) on 2 shared cores: 451 s. Used, scaled by the dimensions, until this store has built once.
SECONDS_PER_POINT = 451 / 100_000
REFERENCE_DIMS = 1624
Report = Callable[[BuildProgress], None]


class GraphBuildFailed(VitrinaError):
    """The build did not replace the shard; the original is untouched and keeps serving exact search."""


@dataclass
class GraphState:
    """Persisted beside the shard: the point count of the last build and the points written since (they sit
    in plain segments that are searched exactly until the next build)."""

    built_points: int | None = None
    built_at: str | None = None
    seconds: float | None = None
    written_since: int = 0

    @classmethod
    def read(cls, folder: Path) -> "GraphState":
        try:
            data = json.loads((folder / STATE).read_text(encoding="utf-8"))
            return cls(data.get("built_points"), data.get("built_at"), data.get("seconds"),
                       int(data.get("written_since", 0)))
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()

    def write(self, folder: Path) -> None:
        """Atomic, best effort: a lost record only makes the next build come sooner."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=".graph-", suffix=".json", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(self), fh)
            os.replace(tmp, folder / STATE)
        except OSError:
            pass


def estimate_seconds(points: int, dims: int, state: GraphState) -> float:
    """How long a build of `points` should take: this store's last build's pace, else the measured reference."""
    if state.built_points and state.seconds:
        return points * state.seconds / state.built_points
    return points * SECONDS_PER_POINT * max(dims, 1) / REFERENCE_DIMS


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def check_space(path: Path, needed: int) -> None:
    free = shutil.disk_usage(path).free
    if free < needed * 1.1:
        raise GraphBuildFailed(f"not enough disk space for the build's copies of the shard: they need about "
                               f"{needed / 1e6:,.0f} MB, {free / 1e6:,.0f} MB are free under {path}")


RETIRED = "shard-retired"


def workdirs(path: Path, prefix: str) -> list[Path]:
    return sorted(p for p in path.glob(f"{prefix}-*") if p.is_dir() and not p.is_symlink())


def recover(path: Path, shard_dir: Path) -> None:
    """Undo what a build interrupted by a crash left (see the module doc). Called only by the folder's opener,
    holding the folder lock, before it loads the shard: no other process is building in it."""
    retired = workdirs(path, RETIRED)
    if retired and not shard_dir.exists():  # missing, or a symlink to nothing
        if shard_dir.is_symlink():
            shard_dir.unlink()
        os.rename(retired[-1], shard_dir)
    current = shard_dir.resolve() if shard_dir.exists() else None
    for leftover in workdirs(path, "shard"):
        if leftover.resolve() != current:
            shutil.rmtree(leftover, ignore_errors=True)


def point_at(shard_dir: Path, target: Path) -> None:
    """Make `shard` a symlink to `target` (a sibling) in one atomic rename."""
    tmp = shard_dir.with_name(f".{shard_dir.name}.link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    os.replace(tmp, shard_dir)


def drop_shard_dir(shard_dir: Path) -> None:
    """Delete the shard folder: the symlink and what it points at, or the real folder."""
    if shard_dir.is_symlink():
        target = shard_dir.resolve()
        shard_dir.unlink()
        shutil.rmtree(target, ignore_errors=True)
    elif shard_dir.exists():
        shutil.rmtree(shard_dir)


def run_child(shard_copy: Path, report: Callable[[int, float], None]) -> dict:
    """Build the copy's graph in another process; `report(pid, elapsed)` is called about every second while it
    runs (an exception from it stops the build). Raises GraphBuildFailed with the child's reason."""
    cmd = [sys.executable, "-m", CHILD, str(shard_copy), "--parent", str(os.getpid())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                                   os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env)
        try:
            report(child.pid, 0.0)
            while True:
                try:
                    child.wait(POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    report(child.pid, time.monotonic() - t0)
        except BaseException:
            child.kill()
            child.wait()
            raise
        out = child.stdout.read().decode("utf-8", "replace") if child.stdout else ""
        if child.stdout:
            child.stdout.close()
        err.seek(0)
        why = " ".join(err.read().decode("utf-8", "replace").split())[-500:]
    if child.returncode != 0:
        if child.returncode < 0:
            raise GraphBuildFailed(f"the graph build process {child.pid} was killed by signal {-child.returncode}; "
                                   f"the store is unchanged and keeps exact search")
        raise GraphBuildFailed(f"the graph build process {child.pid} failed (exit {child.returncode}): "
                               f"{why or 'no message'}; the store is unchanged and keeps exact search")
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise GraphBuildFailed(f"the graph build process {child.pid} gave no result; the store is unchanged") from None


class GraphBuilds:
    """The build and its journal, mixed into EdgeStore (whose `_lock`, `_shard`, `_require` and `_load` it
    uses). Every write of the store goes through `_apply`; between the copy and the swap it is also kept in
    the journal, which the swap replays onto the built copy."""

    # Writes kept for the replay, in points, beyond which the build is dropped rather than the memory spent:
    # a reindex of most of the catalog during a build makes the graph stale anyway (the next build follows).
    JOURNAL_MIN_POINTS = 5_000
    REPLAY_UNDER_LOCK = 64  # journaled writes left for the swap itself (the rest is replayed before it)

    def _init_builds(self) -> None:
        self._thaw = threading.Condition(self._lock)
        self._frozen = False  # the shard's files are being copied: writes wait
        self._building = False
        self._journal: list | None = None  # update operations made since the copy, in order
        self._journal_points = 0
        self._journal_limit = self.JOURNAL_MIN_POINTS
        self._void: str | None = None  # why the running build can no longer be swapped in

    def _wait_thawed(self) -> None:
        while self._frozen:
            self._thaw.wait()

    def _apply(self, shard: qe.EdgeShard, op: qe.UpdateOperation, points: int) -> None:
        """One write (the lock held, the copy finished): applied, counted, journaled while a build runs."""
        shard.update(op)
        self._graph.written_since += points
        if self._journal is not None:
            self._journal.append(op)
            self._journal_points += points
            if self._journal_points > self._journal_limit:
                self._void_build(f"{self._journal_points:,} points were written during the build, more than its "
                                 f"journal keeps ({self._journal_limit:,})")

    def _void_build(self, why: str) -> None:
        if self._building and self._void is None:
            self._void = why
            self._journal = None

    def graph_status(self) -> GraphStatus:
        with self._lock:
            shard, spec = self._require()
            points = int(shard.count(qe.CountRequest(exact=True)))
            st = self._graph
            built, indexed = st.built_points, int(shard.info().indexed_vectors_count)
            # A graph made another way (an optimize() of an older version, bench/synth.py) indexes every dense
            # vector of every point; the lexical (sparse) vectors count as indexed without any graph.
            if built is None and points and indexed >= points * len(spec.sizes()):
                built = points
            return GraphStatus(self.backend, points, built, st.built_at, st.seconds, st.written_since, self._building,
                               indexed_vectors=indexed, datatype=stored_datatype(self.shard_dir))

    def build_graph(self, min_points: int, progress: Report | None = None) -> GraphReport:
        """Copy, build the copy's graph in another process, swap it in with the writes made meanwhile. The
        store answers queries throughout (exact search until the swap); writes wait only while the shard's
        files are copied. Raises GraphBuildFailed (the original untouched) when the build cannot finish."""
        t0 = time.monotonic()
        with self._lock:
            shard, spec = self._require()
            if self._building:
                raise GraphBuildFailed(f"a search-graph build is already running for {self.path}")
            points = int(shard.count(qe.CountRequest(exact=True)))
            if points < min_points:
                return GraphReport(False, points, f"{points:,} points, fewer than VITRINA_HNSW_MIN_POINTS="
                                                  f"{min_points:,}: exact search stays, nothing was built")
            estimate = estimate_seconds(points, sum(spec.sizes().values()), self._graph)
            self._building, self._frozen, self._void = True, True, None
            self._journal, self._journal_points = [], 0
            self._journal_limit = max(self.JOURNAL_MIN_POINTS, points // 4)
        tag = f"{os.getpid()}-{int(time.time() * 1000)}"
        work = self.path / f"shard-{tag}"

        def report(stage: str, pid: int | None = None) -> None:
            if progress is not None:
                progress(BuildProgress(stage, time.monotonic() - t0, estimate, pid, points))

        try:
            try:
                report("copying")
                shard.flush()
                live = self.shard_dir.resolve()
                check_space(self.path, folder_bytes(live) * 3 // 2)  # the copy, then its float16 rewrite
                shutil.copytree(live, work)
            finally:
                with self._lock:
                    self._frozen = False
                    self._thaw.notify_all()
            result = run_child(work, lambda pid, _: report("building", pid))
            replayed = self._swap_in(work, tag, lambda stage: report(stage, result.get("pid")))
            seconds = time.monotonic() - t0
            with self._lock:
                self._graph = GraphState(int(result.get("points", points)),
                                         datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                         round(seconds, 1), self._journal_points)
                self._graph.write(self.path)
            return GraphReport(True, int(result.get("points", points)), seconds=seconds, pid=result.get("pid"),
                               replayed=replayed)
        finally:
            with self._lock:
                self._building, self._journal, self._void = False, None, None
                if work.exists() and self.shard_dir.resolve() != work.resolve():
                    shutil.rmtree(work, ignore_errors=True)  # a build that did not get in
                for half_way in (Path(f"{work}.half"), Path(f"{work}.float32")):  # a child killed in halve()
                    shutil.rmtree(half_way, ignore_errors=True)

    def _swap_in(self, built: Path, tag: str, report: Callable[[str], None]) -> int:
        """Load the built copy beside the original and replay the journal onto it while the original serves,
        then under the lock replay the last few writes and switch; the old shard is closed and deleted after.
        No callback runs under the lock (a progress report writes SQL). Returns the writes replayed."""
        report("replaying")
        try:
            new = qe.EdgeShard.load(str(built))
        except Exception as e:  # qdrant-edge raises bare exceptions
            raise GraphBuildFailed(f"the built shard could not be loaded ({e}); the store is unchanged") from e
        done, old = 0, None
        try:
            while True:
                with self._lock:
                    self._check_swappable()
                    pending = list(self._journal[done:])
                if len(pending) <= self.REPLAY_UNDER_LOCK:
                    break
                for op in pending:
                    new.update(op)
                done += len(pending)
            report("swapping")
            with self._lock:
                self._check_swappable()
                for op in self._journal[done:]:
                    new.update(op)
                    done += 1
                old = self._switch(new, built, tag)
        except BaseException:
            if old is None:
                new.close()
            raise
        previous, retired = old  # after the lock: nothing reaches the old shard any more
        if previous is not None:
            previous.close()
        shutil.rmtree(retired, ignore_errors=True)
        with self._lock:
            if self._shard is new:
                new.flush()
        return done

    def _switch(self, new: qe.EdgeShard, built: Path, tag: str) -> tuple:
        """Under the lock: serve from `new` and point `shard` at it. Returns (the old shard, still to close, or
        None when it was closed here; its folder, to delete)."""
        previous = self._shard
        if self.shard_dir.is_symlink():
            retired = self.shard_dir.resolve()
            point_at(self.shard_dir, built)
            self._shard = new
            return previous, retired
        # the first build of a folder made before any: its real `shard` folder is retired, closed first
        previous.flush()
        previous.close()
        self._shard = None
        retired = self.path / f"{RETIRED}-{tag}"
        os.rename(self.shard_dir, retired)
        try:
            point_at(self.shard_dir, built)
        except OSError:
            os.rename(retired, self.shard_dir)
            self._shard = self._load()
            raise
        self._shard = new
        return None, retired

    def _check_swappable(self) -> None:
        """Under the lock: the build can still replace the shard."""
        if self._void is not None:
            raise GraphBuildFailed(f"{self._void}; the build was dropped and the store is unchanged")
        if self._shard is None:
            raise GraphBuildFailed("the store was closed during the build; the build was dropped")
