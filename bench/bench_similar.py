"""`similar()` against the store calls it makes (the source's vector, the candidates, the source's leaf), at
the demo size and on large data folders made by bench/synth.py (exact search, or with the HNSW graph built),
with a cache hit in the facade beside them. Every ratio comes from one run in one process.

    python bench/bench_similar.py [--large exact=/tmp/big100k --large hnsw=/tmp/big100k-hnsw] [--json]

Goals (issue 13): similar() adds ≤ 1 ms to its store calls at the demo size and stays ≤ 1.5× them at 100k;
a cache hit in the facade p50 ≤ 1 ms (≤ 2 ms with Redis on loopback, bench/bench_service.py)."""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import facade_vs_store  # noqa: E402
from synth import demo_runtime, settings_for  # noqa: E402

from engine.runtime import Runtime  # noqa: E402

DEMO_OVERHEAD_MS = 1.0
LARGE_RATIO = 1.5


def sample_of(data: Path, n: int) -> list[int]:
    rt = Runtime(settings_for(data))
    ids = rt.catalog.ids(active_only=True)
    rt.close()
    return random.Random(11).sample(ids, min(n, len(ids)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="append", default=[], metavar="NAME=DIR",
                    help="a data folder made by bench/synth.py, e.g. exact=/tmp/big100k (repeatable)")
    ap.add_argument("--queries", type=int, default=200, help="products timed per folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    folders = []
    for spec in args.large:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_dir():
            raise SystemExit(f"--large takes NAME=DIR with an existing folder, got {spec!r}")
        folders.append((name, Path(path)))
    res = {"machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        demo_runtime(demo).close()
        res["demo"] = facade_vs_store(demo, sample_of(demo, args.queries))
    for name, path in folders:
        res[name] = facade_vs_store(path, sample_of(path, args.queries))
    res["machine"] += f", load {os.getloadavg()[0]:.1f} at the end"
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"machine: {res['machine']}")
    for section, vals in res.items():
        if section == "machine":
            continue
        print(f"[{section}]")
        for k, v in vals.items():
            print(f"  {k:<24} {v}")
        if section == "demo":
            print(f"  goal: similar_minus_raw_ms ≤ {DEMO_OVERHEAD_MS}")
        else:
            print(f"  goal: similar_over_raw ≤ {LARGE_RATIO}")


if __name__ == "__main__":
    main()
