"""`python -m engine.store.build <shard folder> --parent PID`: build the HNSW graph of a COPY of an embedded
shard, in a process of its own.

qdrant-edge's optimize() holds the GIL for its whole duration (minutes at 100k products on 2 cores): run in
the process that serves queries, it would freeze the console and the service. The holder copies its shard,
starts this, keeps answering (exact search) from the original, and swaps the copy in when this has finished
(engine/store/graph.py). This process only ever opens the copy, so it never contends for the original's
WAL lock, and it dies with its parent (PR_SET_PDEATHSIG), so a holder killed mid-build leaves no orphan
building on a folder nobody will swap in.

Before the graph, the copy's vectors are rewritten as float16 (`halve`): a catalog large enough for a graph
is one whose vectors dominate the memory of every process that opens the store. At 100k products x 2,564
dimensions the vector pages are 1.15 GB in float32 and 0.59 GB in float16, and the top 60 of 300 catalog
queries agreed with float32 exact search on 99.8 % of places (bench/README.md). Qdrant cannot change a
segment's datatype in place, so the copy's points are read page by page into a new shard created with
float16 storage and the same payload indexes, which then replaces the copy. Small catalogs keep float32
and exact search: they never get here.

The new shard's vectors are also left on disk until a query reads them (qdrant's `cold` memory tier: memory-
mapped without the warm-up at load; the default `cached` tier reads every vector in when a process opens the
shard). At 100k products that read put 637 MB of vector pages in the RSS of every process opening the store,
the console's included, whatever it asked; cold, a process holds the pages its queries touch, which the kernel
keeps in its page cache (shared by the processes on one folder) and may drop. The serving cost measured at
100k: the same store query time, about 5 % fewer uncached requests a second at saturation (bench/README.md).

It prints one JSON line on success — points, indexed vectors, seconds, its pid — and exits 0; on failure a
one-line reason on stderr and exit 1."""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import sys
import time

import qdrant_edge as qe

# Segments above this many KB of vectors get an HNSW graph. 1 KB: every segment of the copy; whether the
# catalog deserves a graph at all was decided by the holder (VITRINA_HNSW_MIN_POINTS).
BUILD_THRESHOLD_KB = 1
HALF = "float16"  # the datatype a built shard stores its dense vectors in
COLD = "cold"  # and their memory tier
COPY_PAGE = 1000  # points read and written per step of halve()
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


def _saved(shard: str) -> dict:
    with open(os.path.join(shard, "edge_config.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _config(shard: str, threshold_kb: int | None, half: bool = False) -> qe.EdgeConfig:
    """The shard's own vector config (load refuses a config without vectors, or with another datatype) with
    another indexing threshold; `half`: float16 storage in the cold tier for a new shard."""
    saved = _saved(shard)
    vectors = {name: qe.EdgeVectorParams(size=int(v["size"]), distance=getattr(qe.Distance, v["distance"]),
                                         datatype=qe.VectorStorageDatatype.Float16
                                         if half or v.get("datatype") == HALF else None,
                                         memory=qe.Memory.Cold if half or v.get("memory") == COLD else None)
               for name, v in saved["vectors"].items()}
    sparse = {name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if (v or {}).get("modifier") == "idf" else None)
              for name, v in (saved.get("sparse_vectors") or {}).items()}
    return qe.EdgeConfig(vectors=vectors, sparse_vectors=sparse or None,
                         optimizers=qe.EdgeOptimizersConfig(indexing_threshold=threshold_kb))


def stored_datatype(shard: str | os.PathLike) -> str:
    """How the shard stores its dense vectors: HALF once a build rewrote it, else "float32" (also for a folder
    whose config cannot be read: the store's own open reports that)."""
    try:
        vectors = _saved(os.fspath(shard)).get("vectors") or {}
    except (OSError, ValueError):
        return "float32"
    kinds = {(v or {}).get("datatype") or "float32" for v in vectors.values()}
    return kinds.pop() if len(kinds) == 1 else "float32"


def halve(shard: str, threshold_kb: int | None) -> bool:
    """Rewrite the shard at `shard` with float16 vectors, payload indexes and sparse vectors kept; False when
    it stores float16 already. The new shard is written beside it and renamed over it only when complete."""
    if stored_datatype(shard) == HALF:
        return False
    target, old = shard.rstrip("/") + ".half", shard.rstrip("/") + ".float32"
    shutil.rmtree(target, ignore_errors=True)
    src = qe.EdgeShard.load(shard)
    dst = qe.EdgeShard.create(target, _config(shard, threshold_kb, half=True))
    try:
        # Indexes before any point and before optimize(): added afterwards, filtered HNSW recall collapses.
        for name, info in src.info().payload_schema.items():
            dst.update(qe.UpdateOperation.create_field_index(name, info.data_type))
        offset = None
        while True:
            records, offset = src.scroll(qe.ScrollRequest(offset=offset, limit=COPY_PAGE, with_payload=True,
                                                          with_vector=True))
            if records:
                dst.update(qe.UpdateOperation.upsert_points(
                    [qe.Point(r.id, r.vector, r.payload) for r in records]))
            if offset is None:
                break
        dst.flush()
    finally:
        dst.close()
        src.close()
    os.rename(shard, old)
    os.rename(target, shard)
    shutil.rmtree(old, ignore_errors=True)
    return True


def build(shard: str) -> dict:
    before = _saved(shard).get("optimizers", {}).get("indexing_threshold")
    t0 = time.perf_counter()
    halved = halve(shard, before)
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
            "segments": int(info.segments_count), "optimized": bool(changed), "halved": halved,
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
