"""The service against the store underneath it, in one run: the raw store calls `similar()` makes, the facade
over them, a cache hit in the facade (in-process and Redis), then `python -m engine serve` under load over
loopback — distinct products uncached (from the given clients as fast as the service answers, and at a fixed
arrival rate), cache hits in-process (from the given clients, and from one client: a request's own cost, with no
queue) and in Redis, each hit naming one of 20 shopper sessions — with every served list's impressions counted
against what the service wrote.

    python bench/bench_service.py [--data-dir DIR] [--clients 8] [--seconds 15] [--rate 100] [--json]

The load generator is a separate process sharing the machine's cores: `wrk` (Debian's package) when it is
installed, otherwise a Python client (threads with httpx); its name is printed with the results. The fixed-rate
load is an open loop in a Python client (asyncio with httpx): request i is due at i / rate seconds whatever the
answers before it did, and its latency counts from when it was due, so a stalled service is charged for the
requests it held back (no coordinated omission); it says whether a rate is served within a latency, where the
connection loads say how much the service serves when it is the bottleneck. Without --data-dir the Luma demo is
imported and indexed into a scratch folder (~30 s); a data folder that is given (e.g. one made by bench/synth.py)
is copied to scratch first, since the benchmark writes events. Exit status 1 when a request failed or a served
list's impressions were not written."""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import facade_vs_store, percentile  # noqa: E402
from synth import demo_runtime, settings_for  # noqa: E402

from engine.insights.events import Event, EventLog  # noqa: E402
from engine.recommend.config import PersonalisationConfig  # noqa: E402
from engine.recommend.versions import VersionTable  # noqa: E402
from engine.runtime import Runtime  # noqa: E402

START_TIMEOUT = 180.0
SESSIONS = 20  # shopper sessions asking for each cached list
MODES = ("uncached-cold-start", "uncached-distinct", "uncached-rate", "hits-in-process", "hits-one-client",
         "hits-redis")
TARGETS = {"facade_cache_hit_p50_ms": 1.0, "redis_cache_hit_p50_ms": 2.0, "http_cache_hit_p50_ms": 5.0,
           "hits_p95_ms": 25.0, "hits_rps": 400.0, "uncached_rps": 100.0, "uncached_p95_ms": 100.0}
WRK_SCRIPT = """
paths = {%s}
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) i = 0 end
function request()
  i = i + 1
  return wrk.format("GET", paths[((i * %d + id) %% #paths) + 1])
end
function done(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f, '
    .. '"status_errors": %%d, "socket_errors": %%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""


@dataclass
class Load:
    mode: str
    generator: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float
    served_lists: int = 0  # every list the client saw answered (warm-up included)
    impressions_written: int = 0
    impressions_dropped: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(rt: Runtime) -> None:
    """Shopper events (so trending, bought-together and personalised lists have data) and personalisation on."""
    rng = random.Random(7)
    ids = rt.catalog.ids(active_only=True)
    events = []
    for session in range(300):
        user = f"bench-user-{session % 10}"
        for i, pid in enumerate(rng.sample(ids, 3)):
            events.append(Event("click", f"bench-{session}", pid, user_id=user))
            events.append(Event("cart_add" if i else "purchase", f"bench-{session}", pid, user_id=user))
    EventLog(rt.db).log_many(events)
    cfg = rt.config
    if cfg.personalisation != PersonalisationConfig(enabled=True):
        VersionTable(rt.db).append(replace(cfg, personalisation=PersonalisationConfig(enabled=True)), "bench",
                                   "personalisation on for the benchmark")


# ---------------------------------------------------------------- the service under load

def start_server(data: Path, env_extra: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "VITRINA_DATA_DIR": str(data), "VITRINA_IMAGE_ENCODER": "descriptor", "DATABASE_URL": "",
           "QDRANT_URL": "", "PYTHONPATH": str(ROOT), **env_extra}
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port), "--log-level",
                                 "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
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
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk_load(base: str, paths: list[str], clients: int, seconds: int, scratch: Path) -> dict:
    threads = min(2, clients)
    script = scratch / "mix.lua"
    script.write_text(WRK_SCRIPT % (",".join(json.dumps(p) for p in paths), threads), encoding="utf-8")
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "-s", str(script), base],
                         capture_output=True, text=True, timeout=seconds + 120).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    return {"requests": r["requests"], "errors": r["status_errors"] + r["socket_errors"], "p50": r["p50"],
            "p95": r["p95"], "p99": r["p99"], "rps": r["requests"] / r["seconds"]}


def summary(latencies: list[float], errors: int, seconds: float) -> dict:
    """A Python client's load as wrk_load reports one: requests, errors, latency percentiles (ms), req/s."""
    return {"requests": len(latencies), "errors": errors, "p50": percentile(latencies, .5),
            "p95": percentile(latencies, .95), "p99": percentile(latencies, .99), "rps": len(latencies) / seconds}


def python_load(base: str, paths: list[str], clients: int, seconds: int, scratch: Path) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def worker(k: int) -> None:
        i = k
        with httpx.Client(base_url=base, timeout=60) as http:
            while time.monotonic() < until:
                t = time.perf_counter()
                try:
                    ok = http.get(paths[i % len(paths)]).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
                    errors[0] += not ok
                i += clients

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return summary(latencies, errors[0], time.perf_counter() - t0)


def rate_load(base: str, paths: list[str], rate: float, seconds: int) -> dict:
    """An open loop at `rate` requests a second for `seconds`: latency from when each request was due."""
    latencies: list[float] = []
    errors = [0]

    async def run() -> float:
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            start = time.perf_counter() + 0.5

            async def one(i: int) -> None:
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                try:
                    ok = (await http.get(paths[i % len(paths)])).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - due) * 1000)
                errors[0] += not ok

            await asyncio.gather(*(one(i) for i in range(int(rate * seconds))))
            return time.perf_counter() - start

    # The client's own full collections (over its thousands of scheduled requests) took 120-150 ms once a load:
    # every request due meanwhile was charged for them. The client is short-lived: its heap is frozen instead.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        elapsed = asyncio.run(run())
    finally:
        gc.enable()
        gc.unfreeze()
    return summary(latencies, errors[0], elapsed)


def run_mode(mode: str, data: Path, env: dict[str, str], paths: list[str], warm: bool, clients: int, seconds: int,
             scratch: Path, warmup: list[str] | None = None, rate: float | None = None) -> Load:
    """One load on a fresh service, once it has read its product cards (/health). `warm`: every path asked once
    first (cache hits); `warmup`: a load of `seconds` over these other paths first, unmeasured, so the store's
    pages are in memory as in a service that has run a while; `rate`: the measured load is an open loop at that
    rate (rate_load), not `clients` connections."""
    proc, base = start_server(data, env, scratch / f"{mode}.log")
    try:
        warmed = 0
        deadline = time.monotonic() + START_TIMEOUT
        while httpx.get(f"{base}/health", timeout=30).json()["cards"]["warming"]:
            if time.monotonic() > deadline:
                raise SystemExit(f"{mode}: the service was still reading its product cards after {START_TIMEOUT} s")
            time.sleep(0.25)
        with httpx.Client(base_url=base, timeout=120) as http:
            for p in paths if warm else paths[:3]:
                assert http.get(p).status_code == 200, p
                warmed += 1
        generator = "wrk" if shutil.which("wrk") else "python-httpx"
        load = wrk_load if generator == "wrk" else python_load
        if warmup:
            warmed += load(base, warmup, clients, seconds, scratch)["requests"]
        if rate is not None:
            generator = f"python-httpx open loop at {rate:g}/s"
            r = rate_load(base, paths, rate, seconds)
        else:
            r = load(base, paths, clients, seconds, scratch)
        deadline = time.monotonic() + 60
        while True:  # the writer lingers a moment: wait until it has written what was queued
            imp = httpx.get(f"{base}/health", timeout=30).json()["impressions"]
            if imp["queued"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        stop(proc)
    return Load(mode, generator, r["requests"], r["errors"], round(r["p50"], 2), round(r["p95"], 2),
                round(r["p99"], 2), round(r["rps"], 1), warmed + r["requests"], imp["written"], imp["dropped"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, help="an indexed data folder (copied); default: the Luma demo")
    ap.add_argument("--clients", type=int, default=8, help="concurrent connections")
    ap.add_argument("--seconds", type=int, default=15, help="length of each load")
    ap.add_argument("--distinct", type=int, default=3000, help="distinct products of the uncached load")
    ap.add_argument("--queries", type=int, default=200, help="products timed in this process")
    ap.add_argument("--rate", type=float, default=100.0, help="requests a second of the fixed-rate uncached load")
    ap.add_argument("--mode", action="append", choices=MODES, help="run only this load (repeatable; default: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.clients < 1 or args.seconds < 1 or args.rate <= 0:
        raise SystemExit("--clients and --seconds must be at least 1, --rate above 0")
    scratch = Path(tempfile.mkdtemp(prefix="vitrina-bench-service-"))
    redis_proc = None
    try:
        data = scratch / "data"
        if args.data_dir is None:
            print("preparing the demo catalog ...", file=sys.stderr)
            demo_runtime(data).close()
        else:
            shutil.copytree(args.data_dir, data, ignore=shutil.ignore_patterns(".owner*"))
        rt = Runtime(settings_for(data))
        seed(rt)
        rng = random.Random(11)
        ids = rt.catalog.ids(active_only=True)
        sample = rng.sample(ids, min(args.queries, len(ids)))
        picked = [rt.cards.get(i).sku for i in rng.sample(ids, min(2 * args.distinct, len(ids)))]
        distinct, others = picked[:args.distinct], picked[args.distinct:]  # measured / the warm-up's
        bounded = distinct[:40]
        rt.close()
        redis_url = None
        if shutil.which("redis-server"):
            port = free_port()
            redis_proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no", "--dir", str(scratch)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            time.sleep(0.3)
            redis_url = f"redis://127.0.0.1:{port}/0"
        print("timing the store, the facade and cache hits in this process ...", file=sys.stderr)
        facade = facade_vs_store(data, sample, redis_url)
        hit_paths = ([f"/api/products/{s}/similar/?limit=12" for s in bounded]
                     + [f"/api/products/{s}/visually_similar/?limit=12" for s in bounded[:10]]
                     + [f"/api/recommendations/complete_the_look/?product_id={s}" for s in bounded[:10]]
                     + [f"/api/recommendations/frequently_bought_together/?product_id={s}" for s in bounded[:10]]
                     + ["/api/recommendations/trending/?limit=12"])
        # as a storefront asks: each list for many shoppers, every request naming its session
        hit_paths = [f"{p}&session_id=shopper-{k}" for k in range(SESSIONS) for p in hit_paths]
        uncached = {"VITRINA_CACHE_TTL": "0", "REDIS_URL": ""}
        similar_paths = [f"/api/products/{s}/similar/?limit=12" for s in distinct]
        # Uncached twice: right after the start, and after a load over other products (the store's pages read).
        warmup = [f"/api/products/{s}/similar/?limit=12" for s in others] or None
        modes = [("uncached-cold-start", uncached, similar_paths, False, None),
                 ("uncached-distinct", uncached, similar_paths, False, warmup),
                 ("uncached-rate", uncached, similar_paths, False, warmup),
                 ("hits-in-process", {"VITRINA_CACHE_TTL": "300", "REDIS_URL": ""}, hit_paths, True, None),
                 # what one shopper's request costs over HTTP when nothing queues behind others
                 ("hits-one-client", {"VITRINA_CACHE_TTL": "300", "REDIS_URL": ""}, hit_paths, True, None)]
        if redis_url:
            modes.append(("hits-redis", {"VITRINA_CACHE_TTL": "300", "REDIS_URL": redis_url}, hit_paths, True, None))
        else:
            print("redis-server is not installed: the Redis modes are left out", file=sys.stderr)
        loads = []
        for mode, env, paths, warm, warmup in [m for m in modes if not args.mode or m[0] in args.mode]:
            clients = 1 if mode == "hits-one-client" else args.clients
            rate = args.rate if mode == "uncached-rate" else None
            print(f"{mode}: " + (f"{rate:g} requests a second" if rate else f"{clients} connection(s)")
                  + f" for {args.seconds} s ...", file=sys.stderr)
            loads.append(run_mode(mode, data, env, paths, warm, clients, args.seconds, scratch, warmup, rate))
    finally:
        if redis_proc is not None:
            stop(redis_proc)
        shutil.rmtree(scratch, ignore_errors=True)
    report = {"machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", "targets": TARGETS,
              "in_process": facade, "loads": [asdict(x) for x in loads]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"machine: {report['machine']}; load generator: {loads[0].generator if loads else '-'}")
        for k, v in facade.items():
            target = TARGETS.get(k)
            print(f"  {k:<24} {v}" + (f"   (target ≤ {target})" if target else ""))
        head = f"{'mode':<20} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} " \
               f"{'served':>7} {'written':>7} {'dropped':>7}"
        print(head)
        for x in loads:
            print(f"{x.mode:<20} {x.requests:>8} {x.errors:>6} {x.p50_ms:>8.1f} {x.p95_ms:>8.1f} {x.p99_ms:>8.1f} "
                  f"{x.rps:>8.1f} {x.served_lists:>7} {x.impressions_written:>7} {x.impressions_dropped:>7}"
                  + (f"  ({x.generator})" if x.generator != loads[0].generator else ""))
        print(f"targets: cache hits over HTTP p50 ≤ {TARGETS['http_cache_hit_p50_ms']} ms (one client, and "
              f"{args.clients} clients), p95 ≤ {TARGETS['hits_p95_ms']} ms, ≥ {TARGETS['hits_rps']:.0f} req/s with "
              f"{args.clients}; every served list written; uncached at 100k with HNSW: ≥ "
              f"{TARGETS['uncached_rps']:.0f} req/s with p95 ≤ {TARGETS['uncached_p95_ms']:.0f} ms")
    # A list still in flight when the client stopped counting was served and written too: written ≥ counted.
    if any(x.errors or x.impressions_dropped or x.impressions_written < x.served_lists for x in loads):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
