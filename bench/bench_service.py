"""Load test of the HTTP service over loopback: uvicorn in a subprocess, N concurrent clients (threads with
httpx) sending a fixed mix of requests, once per cache mode — none (VITRINA_CACHE_TTL=0), the in-process TTL
cache (REDIS_URL empty) and Redis (a redis-server started here, when installed). Zero errors are expected:
the exit status is 1 otherwise.

    python bench/bench_service.py [--clients 8] [--requests 600] [--data-dir DIR] [--json]

Without --data-dir the Luma demo catalog is imported and indexed into a scratch folder first (~30 s). The
request mix repeats a bounded set of URLs (similar and visually similar items of 40 products, trending,
complete the look, frequently bought together, personalised lists for 10 shoppers), so a cache has
something to hit; every served list also logs its impressions, as in production."""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.catalog.importers import import_magento  # noqa: E402
from engine.recommend.config import PersonalisationConfig, RecoConfig  # noqa: E402
from engine.recommend.versions import VersionTable  # noqa: E402
from engine.insights.events import Event, EventLog  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.settings import Settings  # noqa: E402

START_TIMEOUT = 120.0


@dataclass
class Result:
    mode: str
    clients: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    rps: float
    cache_hit_ratio: float | None
    first_error: str | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(folder: Path) -> Settings:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = folder, "", "", ""
    s.image_encoder = "descriptor"
    return s


def prepare(folder: Path, catalog_dir: Path) -> None:
    """Import and index the demo catalog, then log shopper events so trending, bought-together and
    personalised lists have something to work with."""
    rt = Runtime(settings_for(folder))
    import_magento(rt.db, catalog_dir)
    rt.indexer.run()
    seed_events(rt)
    rt.close()


def seed_events(rt: Runtime) -> None:
    rng = random.Random(7)
    ids = rt.catalog.ids(active_only=True)
    events = []
    for session in range(300):
        user = f"bench-user-{session % 10}"
        basket = rng.sample(ids, 3)
        for i, pid in enumerate(basket):
            events.append(Event("click", f"bench-{session}", pid, user_id=user))
            events.append(Event("cart_add" if i else "purchase", f"bench-{session}", pid, user_id=user))
    EventLog(rt.db).log_many(events)


def request_mix(rt: Runtime, total: int, seed: int = 11) -> list[tuple[str, str, dict]]:
    """(method, path, params) × total, drawn from a bounded set of distinct requests."""
    rng = random.Random(seed)
    skus = rng.sample([c.sku for c in rt.catalog.list_products(active_only=True, limit=500).items], 40)
    kinds = [
        (5, lambda: ("GET", f"/api/products/{rng.choice(skus)}/similar/", {"limit": 12})),
        (2, lambda: ("GET", f"/api/products/{rng.choice(skus)}/visually_similar/", {"limit": 12})),
        (1, lambda: ("GET", "/api/recommendations/trending/", {"limit": 12})),
        (1, lambda: ("GET", "/api/recommendations/complete_the_look/", {"product_id": rng.choice(skus)})),
        (1, lambda: ("GET", "/api/recommendations/frequently_bought_together/", {"product_id": rng.choice(skus)})),
        (2, lambda: ("GET", "/api/recommendations/personalized/",
                     {"user_id": f"bench-user-{rng.randrange(10)}", "limit": 12})),
    ]
    weights = [w for w, _ in kinds]
    return [rng.choices(kinds, weights)[0][1]() for _ in range(total)]


def start_server(data_dir: Path, env_extra: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "VITRINA_DATA_DIR": str(data_dir), "VITRINA_IMAGE_ENCODER": "descriptor",
           "DATABASE_URL": "", "QDRANT_URL": "", "PYTHONPATH": str(ROOT), **env_extra}
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "engine.service.app:create_app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise SystemExit(f"the service did not start: see {log_path}")
        time.sleep(0.25)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def load(base: str, mix: list[tuple[str, str, dict]], clients: int) -> tuple[list[float], list[str], float]:
    """Latencies (ms) of every request, the errors, and the wall time, with `clients` threads sharing the mix."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(mix)))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                method, path, params = mix[i]
                t = time.perf_counter()
                try:
                    r = http.request(method, path, params=params)
                    ok = r.status_code == 200 and "items" in r.json()
                    problem = None if ok else f"{r.status_code} {path}: {r.text[:200]}"
                except (httpx.HTTPError, ValueError) as e:
                    problem = f"{path}: {type(e).__name__}: {e}"
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    latencies.append(ms)
                    if problem:
                        errors.append(problem)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_mode(mode: str, data_dir: Path, env_extra: dict[str, str], mix, clients: int,
             logs: Path) -> Result:
    proc, base = start_server(data_dir, env_extra, logs / f"{mode.replace(' ', '-')}.log")
    try:
        latencies, errors, wall = load(base, mix, clients)
        cache = httpx.get(f"{base}/health", timeout=10).json()["cache"]
    finally:
        stop(proc)
    looked = cache.get("hits", 0) + cache.get("misses", 0)
    hit_ratio = cache.get("hits", 0) / looked if looked else None
    return Result(mode, clients, len(latencies), len(errors), percentile(latencies, 0.5), percentile(latencies, 0.95),
                  percentile(latencies, 0.99), statistics.fmean(latencies), len(latencies) / wall, hit_ratio,
                  errors[0] if errors else None)


def table(results: list[Result]) -> str:
    head = f"{'cache':<12} {'clients':>7} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} " \
           f"{'mean ms':>8} {'req/s':>7} {'hits':>6}"
    rows = [head, "-" * len(head)]
    for r in results:
        hits = "-" if r.cache_hit_ratio is None else f"{r.cache_hit_ratio:.0%}"
        rows.append(f"{r.mode:<12} {r.clients:>7} {r.requests:>8} {r.errors:>6} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
                    f"{r.p99_ms:>8.1f} {r.mean_ms:>8.1f} {r.rps:>7.1f} {hits:>6}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument("--requests", type=int, default=600, help="requests per cache mode")
    ap.add_argument("--data-dir", type=Path,
                    help="an indexed data folder (default: prepare a scratch copy of the demo)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.clients < 1 or args.requests < 1:
        raise SystemExit("--clients and --requests must be at least 1")

    scratch = Path(tempfile.mkdtemp(prefix="vitrina-bench-service-"))
    try:
        data = args.data_dir or scratch / "data"
        if args.data_dir is None:
            print("preparing the demo catalog ...", file=sys.stderr)
            prepare(data, Settings().catalog_dir)
        cfg = RecoConfig.default()
        cfg.personalisation = PersonalisationConfig(enabled=True)
        rt = Runtime(settings_for(data))
        if rt.config.personalisation != cfg.personalisation:  # the service serves the live version
            VersionTable(rt.db).append(cfg, "bench", "personalisation on for the benchmark")
        mix = request_mix(rt, args.requests)
        rt.close()

        modes: list[tuple[str, dict[str, str]]] = [("none", {"VITRINA_CACHE_TTL": "0", "REDIS_URL": ""}),
                                                   ("in-process", {"VITRINA_CACHE_TTL": "300", "REDIS_URL": ""})]
        redis_proc = None
        if shutil.which("redis-server"):
            port = free_port()
            redis_proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no", "--dir", str(scratch)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            time.sleep(0.3)
            modes.append(("redis", {"VITRINA_CACHE_TTL": "300", "REDIS_URL": f"redis://127.0.0.1:{port}/0"}))
        else:
            print("redis-server is not installed: the Redis mode is left out", file=sys.stderr)
        results = []
        try:
            for mode, env in modes:
                print(f"{mode}: {args.requests} requests, {args.clients} clients ...", file=sys.stderr)
                results.append(run_mode(mode, data, env, mix, args.clients, scratch))
        finally:
            if redis_proc is not None:
                stop(redis_proc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(table(results))
        for r in results:
            if r.first_error:
                print(f"{r.mode}: first error: {r.first_error}")
    if any(r.errors for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
