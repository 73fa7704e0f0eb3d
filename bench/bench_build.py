"""The background HNSW build: raw-store query latency before, during and after it, its duration by stage,
recall@10 afterwards against the exact results from before, and whether queries were answered throughout.

    python bench/bench_build.py [--n 20000] [--data DIR] [--queries 200] [--rate QPS] [--json]

The catalog is synthesised from the real Luma vectors (bench/synth.py: perturbed copies, so the clustered
structure of real embeddings is kept) into a scratch folder, or, with --data, the `qdrant` folder of an
existing data folder (e.g. one made by `bench/synth.py --n 100000`) is COPIED to scratch and built there: the
given folder is never modified. "Raw store" means the store calls similar() makes (a top-12 nearest query on
the combined vector with the active-only filter, the source excluded), timed in this process while the graph
is built by a child process (engine/store/build.py) and swapped in."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.store import EdgeStore  # noqa: E402
from engine.store.base import BuildProgress  # noqa: E402
from engine.types import Filters  # noqa: E402
from synth import demo_runtime, synthesise  # noqa: E402

K = 12


def pcts(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0}
    a = np.asarray(ms)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "max_ms": round(float(a.max()), 1)}


def make_catalog(args: argparse.Namespace, scratch: Path) -> Path:
    """The store folder to build: a copy of --data's, or a synthesised catalog of --n products."""
    target = scratch / "big"
    if args.data:
        src = Path(args.data) / "qdrant"
        if not (src / "shard").is_dir():
            sys.exit(f"{args.data} holds no embedded store (no qdrant/shard)")
        shutil.copytree(src, target / "qdrant", ignore=shutil.ignore_patterns("owner.json", "folder.lock"))
        return target / "qdrant"
    src = demo_runtime(scratch / "demo")
    synthesise(src, args.n, target)
    src.close()
    return target / "qdrant"


def queries(store: EdgeStore, count: int, seed: int = 5) -> list[tuple[int, np.ndarray]]:
    """(source id, its combined vector) for random products, as similar() would query."""
    ids = sorted(store.all_ids())
    rng = np.random.default_rng(seed)
    picked = [int(i) for i in rng.choice(ids, size=min(count, len(ids)), replace=False)]
    return [(h.id, h.vectors["combined"]) for h in store.retrieve(picked, with_vectors=["combined"])]


def ask(store: EdgeStore, q: tuple[int, np.ndarray]) -> tuple[float, list[int]]:
    t = time.perf_counter()
    hits = store.query(q[1], "combined", K, Filters(active_only=True, exclude_ids=[q[0]]))
    return (time.perf_counter() - t) * 1000, [h.id for h in hits]


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        t0 = time.perf_counter()
        folder = make_catalog(args, Path(tmp))
        setup_s = time.perf_counter() - t0
        store = EdgeStore(folder)
        status = store.graph_status()
        qs = queries(store, args.queries)
        for q in qs[:10]:
            ask(store, q)  # warm the page cache outside the timed part
        before, exact = [], {}
        for q in qs:
            ms, ids = ask(store, q)
            before.append(ms)
            exact[q[0]] = ids
        reports: list[BuildProgress] = []
        box: dict = {}

        def build() -> None:
            try:
                box["report"] = store.build_graph(args.min_points, reports.append)
            except Exception as e:  # reported in the results
                box["error"] = f"{type(e).__name__}: {e}"

        thread = threading.Thread(target=build)
        started = time.perf_counter()
        thread.start()
        during: dict[str, list[float]] = {}
        answered_at: list[float] = []
        i = 0
        while thread.is_alive():
            if args.rate:
                time.sleep(max(0.0, started + i / args.rate - time.perf_counter()))
            stage = reports[-1].stage if reports else "starting"
            ms, _ = ask(store, qs[i % len(qs)])
            i += 1
            during.setdefault(stage, []).append(ms)
            answered_at.append(time.perf_counter())
        thread.join()
        total_s = time.perf_counter() - started
        after, recall = [], []
        for q in qs:
            ms, ids = ask(store, q)
            after.append(ms)
            recall.append(len(set(ids[:10]) & set(exact[q[0]][:10])) / max(1, min(10, len(exact[q[0]]))))
        final = store.graph_status()
        store.close()
    firsts: dict[str, float] = {}
    for r in reports:
        firsts.setdefault(r.stage, r.elapsed)
    order = [s for s in ("copying", "building", "replaying", "swapping") if s in firsts]
    stage_s = {s: round((firsts[order[k + 1]] if k + 1 < len(order) else total_s) - firsts[s], 2)
               for k, s in enumerate(order)}
    gaps = np.diff([started] + answered_at) * 1000 if answered_at else np.array([total_s * 1000])
    report = box.get("report")
    return {
        "points": status.points, "setup_s": round(setup_s, 1), "cores": os.cpu_count(),
        "build": {"error": box.get("error"), "built": bool(report and report.built), "seconds": round(total_s, 1),
                  "stages_s": stage_s, "estimate_s": round(reports[0].estimate, 1) if reports else None,
                  "child_pid": report.pid if report else None, "own_pid": os.getpid(),
                  "indexed_vectors": final.indexed_vectors},
        "query_before_exact": pcts(before),
        "query_during_build": {stage: pcts(ms) for stage, ms in during.items()},
        "answered_during_build": sum(len(v) for v in during.values()),
        "longest_unanswered_ms": round(float(gaps.max()), 1),
        "query_after_graph": pcts(after),
        "recall_at_10_vs_exact": round(float(np.mean(recall)), 4) if recall else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="products to synthesise (without --data)")
    ap.add_argument("--data", help="an existing data folder whose store is copied and built (never modified)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="queries per second while the build runs (default 0: back to back, one core busy)")
    ap.add_argument("--min-points", type=int, default=1, help="VITRINA_HNSW_MIN_POINTS for the build")
    ap.add_argument("--scratch", help="folder for the scratch copy (default: the system temp folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    b = res["build"]
    print(f"{res['points']:,} points, {res['cores']} cores; build {b['seconds']} s {b['stages_s']} "
          f"(estimate {b['estimate_s']} s) in process {b['child_pid']} (this one {b['own_pid']}); error: {b['error']}")
    print(f"raw store query, exact before: {res['query_before_exact']}")
    for stage, p in res["query_during_build"].items():
        print(f"  during {stage}: {p}")
    print(f"answered during the build: {res['answered_during_build']}, longest wait {res['longest_unanswered_ms']} ms")
    print(f"with the graph after: {res['query_after_graph']}; recall@10 vs exact {res['recall_at_10_vs_exact']}")


if __name__ == "__main__":
    main()
