"""`python -m engine.store.build <shard folder> --parent PID`: build the HNSW graph of a COPY of an embedded
shard, in a process of its own.

qdrant-edge's optimize() holds the GIL for its whole duration (minutes at 100k products on 2 cores): run in
the process that serves queries, it would freeze the console and the service. The holder copies its shard,
starts this, keeps answering (exact search) from the original, and swaps the copy in when this has finished
(engine/store/graph.py). This process only ever opens the copy, so it never contends for the original's
WAL lock, and it dies with its parent (PR_SET_PDEATHSIG), so a holder killed mid-build leaves no orphan
building on a folder nobody will swap in.

It prints one JSON line on success — points, indexed vectors, seconds, its pid — and exits 0; on failure a
one-line reason on stderr and exit 1."""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import time

import qdrant_edge as qe

# Segments above this many KB of vectors get an HNSW graph. 1 KB: every segment of the copy; whether the
# catalog deserves a graph at all was decided by the holder (VITRINA_HNSW_MIN_POINTS).
BUILD_THRESHOLD_KB = 1
NICENESS = 10  # the build yields the cores to the process answering queries
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the thread that started it ends; elsewhere it is a no-op.
    A parent that died before the call is caught by comparing the parent pid."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:
        raise SystemExit("the process that started the build is gone")


def _config(shard: str, threshold_kb: int | None) -> qe.EdgeConfig:
    """The shard's own vector config (load refuses a config without vectors) with another indexing threshold."""
    with open(os.path.join(shard, "edge_config.json"), encoding="utf-8") as fh:
        saved = json.load(fh)
    vectors = {name: qe.EdgeVectorParams(size=int(v["size"]), distance=getattr(qe.Distance, v["distance"]))
               for name, v in saved["vectors"].items()}
    sparse = {name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if (v or {}).get("modifier") == "idf" else None)
              for name, v in (saved.get("sparse_vectors") or {}).items()}
    return qe.EdgeConfig(vectors=vectors, sparse_vectors=sparse or None,
                         optimizers=qe.EdgeOptimizersConfig(indexing_threshold=threshold_kb))


def build(shard: str) -> dict:
    with open(os.path.join(shard, "edge_config.json"), encoding="utf-8") as fh:
        before = json.load(fh).get("optimizers", {}).get("indexing_threshold")
    t0 = time.perf_counter()
    edge = qe.EdgeShard.load(shard, _config(shard, BUILD_THRESHOLD_KB))
    changed = edge.optimize()
    info = edge.info()
    edge.flush()
    edge.close()
    # The swapped-in shard keeps the threshold it had: an optimize() called in the serving process later must
    # not start indexing every small segment while holding the GIL.
    edge = qe.EdgeShard.load(shard, _config(shard, before))
    edge.close()
    return {"pid": os.getpid(), "points": int(info.points_count), "indexed_vectors": int(info.indexed_vectors_count),
            "segments": int(info.segments_count), "optimized": bool(changed),
            "seconds": round(time.perf_counter() - t0, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.store.build", description=__doc__.splitlines()[0])
    ap.add_argument("shard", help="the copied shard folder (never the live one: its holder has it locked)")
    ap.add_argument("--parent", type=int, default=0, help="pid of the holder; the build stops if it is gone")
    args = ap.parse_args(argv)
    _die_with_parent(args.parent)
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    if not os.path.isfile(os.path.join(args.shard, "edge_config.json")):
        print(f"no shard at {args.shard}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(build(args.shard)), flush=True)
    except Exception as e:  # qdrant-edge raises bare exceptions: the holder shows this line as the job's error
        print(" ".join(f"{type(e).__name__}: {e}".split()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
