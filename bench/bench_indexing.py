"""Indexing throughput (products/s) of the job layer against the encoders alone, on the same products in one run:

  encoders alone  the text encoder (USE) and the image encoder (descriptor) of this process encoding the
                  products' texts and decoded photos directly, batch by batch: the ceiling;
  in-process      `Jobs.submit("full")` then `Jobs.wait` here (VITRINA_JOB_RUNNER=inprocess): plan, encode and
                  write through the SQL queue, as the CLI does;
  celery xN       VITRINA_JOB_RUNNER=celery with N `python -m engine worker` subprocesses on a redis-server
                  started here on loopback. This process holds the embedded store as a console or service
                  would: its runner thread (`ensure_runner`) plans the job and writes the vectors the workers
                  hand off through SQL. Timed from the submit until the job is done and every product's point
                  is in the store.

    python bench/bench_indexing.py [--limit N] [--batch-size 64] [--json]

The Luma demo catalog is imported once into a scratch folder (SQL only); every job mode starts from its own
copy of that folder, with an empty store. `--limit` keeps the first N active products and deactivates the rest,
so the jobs take their ordinary path. Model loading and worker start-up are left out of the times: the
encoders of this process are used once before timing, and each worker set first encodes a warm-up job of
one-product batches until every worker has done one (a worker loads its encoders on its first batch).

The machine has 2 cores: two Celery workers compete with each other, and with this process's writer, for
them. The ratio to the encoders alone therefore shows what the job layer costs (queue round trips, the SQL
hand-off of vectors, the writer's one-second poll), not what more machines would gain."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from engine.catalog.importers import import_magento  # noqa: E402
from engine.catalog.jobs import JobBatchRow  # noqa: E402
from engine.catalog.models import Product  # noqa: E402
from engine.encoders.factory import make_image_encoder, make_text_encoder  # noqa: E402
from engine.encoders.images import load_image  # noqa: E402
from engine.errors import VitrinaError  # noqa: E402
from engine.indexing.indexer import product_text  # noqa: E402
from engine.jobs import Jobs, ensure_runner  # noqa: E402
from engine.jobs.work import pending_handoff  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.settings import Settings  # noqa: E402

START_TIMEOUT = 120.0  # seconds for redis-server to answer and for workers to finish a warm-up batch
JOB_TIMEOUT = 600.0
WARMUP_BATCHES_PER_WORKER = 4


@dataclass
class Result:
    mode: str
    products: int
    seconds: float
    products_per_s: float
    ratio: float | None = None  # products/s over the encoders alone's


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(folder: Path, batch_size: int, broker: str = "") -> Settings:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = folder, "", "", ""
    s.text_encoder, s.image_encoder, s.batch_size = "use", "descriptor", batch_size
    s.job_runner, s.celery_broker_url = ("celery", broker) if broker else ("inprocess", "")
    return s


def worker_env(folder: Path, batch_size: int, broker: str) -> dict[str, str]:
    """The environment of a worker: the same data folder, encoders and broker as this process's settings."""
    return {**os.environ, "VITRINA_DATA_DIR": str(folder), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
            "VITRINA_TEXT_ENCODER": "use", "VITRINA_IMAGE_ENCODER": "descriptor",
            "VITRINA_BATCH_SIZE": str(batch_size), "VITRINA_JOB_RUNNER": "celery", "CELERY_BROKER_URL": broker,
            "PYTHONPATH": str(ROOT)}


def prepare(folder: Path, catalog_dir: Path, limit: int | None, batch_size: int) -> int:
    """Import the demo catalog into `folder` (SQL only, no store); with `limit`, only the first `limit` active
    products stay active. Returns the active products."""
    rt = Runtime(settings_for(folder, batch_size))
    import_magento(rt.db, catalog_dir, settings=rt.settings)
    with rt.db.session() as s:
        active = list(s.scalars(select(Product.id).where(Product.is_active.is_(True)).order_by(Product.id)))
        if limit is not None and limit < len(active):
            s.execute(update(Product).where(Product.id.in_(active[limit:])).values(is_active=False))
            active = active[:limit]
    rt.close()
    rt.db.engine.dispose()
    return len(active)


def fresh_copy(base: Path, folder: Path) -> Path:
    shutil.copytree(base, folder)
    return folder


# ---- encoders alone ----------------------------------------------------------------------------------------
def encoders_alone(base: Path, batch_size: int) -> Result:
    """The encoders on the products a full job would encode: texts and photo paths are read from SQL before
    the clock starts; photo decoding (load_image) is timed, as it is part of every image's encoding."""
    settings = settings_for(base, batch_size)
    rt = Runtime(settings)
    with rt.db.session() as s:
        products = list(s.scalars(select(Product).where(Product.is_active.is_(True)).order_by(Product.id)
                                  .options(selectinload(Product.images), selectinload(Product.category))))
        work = [(product_text(p), p.images[0].path if p.images else None)
                for p in products if p.title and p.title.strip()]
    rt.db.engine.dispose()
    text = make_text_encoder("use", settings.device, settings.encode_batch)
    image, _ = make_image_encoder("descriptor", settings.device, settings.encode_batch)
    limits = (settings.max_upload_bytes, settings.max_pixels)

    def run(chunk: list[tuple[str, str | None]]) -> None:
        text.encode([t for t, _ in chunk])
        images = []
        for _, path in chunk:
            if path is not None:
                try:
                    images.append(load_image(path, *limits))
                except VitrinaError:  # the indexer indexes such a product on its text alone
                    pass
        if images:
            image.encode(images)

    run(work[:2])  # load the models outside the timed part
    t = time.perf_counter()
    for start in range(0, len(work), batch_size):
        run(work[start:start + batch_size])
    seconds = time.perf_counter() - t
    return Result("encoders alone", len(work), seconds, len(work) / seconds)


# ---- in-process runner -------------------------------------------------------------------------------------
def in_process(folder: Path, batch_size: int) -> Result:
    rt = Runtime(settings_for(folder, batch_size))
    try:
        jobs = Jobs(rt)
        rt.indexer.store.open(rt.indexer.spec)  # opening the embedded store is not indexing
        t = time.perf_counter()
        job_id = jobs.submit("full", "bench_indexing: in-process runner")
        job = jobs.wait(job_id, rt.indexer, timeout=JOB_TIMEOUT)
        seconds = time.perf_counter() - t
        check(job, rt.store.count())
        return Result("in-process", job.done, seconds, job.done / seconds)
    finally:
        rt.close()
        rt.db.engine.dispose()


# ---- Celery workers ----------------------------------------------------------------------------------------
class RedisServer:
    """redis-server on a free loopback port, persistence off, in the scratch folder."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder)],
            stdout=(folder / "redis.log").open("w"), stderr=subprocess.STDOUT)
        import redis  # only needed with redis-server installed

        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"redis-server did not start: see {folder / 'redis.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop(self.process)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def wait_job(rt: Runtime, job_id: int, workers: list[tuple[subprocess.Popen, Path]]):
    """Poll until the job is finished and the runner thread has written every handed-off vector."""
    jobs, deadline = Jobs(rt), time.monotonic() + JOB_TIMEOUT
    while True:
        job = jobs.job(job_id)
        if job.status == "failed":
            raise SystemExit(f"job {job_id} failed: {job.error}")
        if job.status == "done" and not pending_handoff(rt.indexer, job_id) and rt.store.count() >= job.done:
            return job
        for proc, log in workers:
            if proc.poll() is not None:
                raise SystemExit(f"a worker exited ({proc.returncode}):\n{tail(log)}")
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} not finished after {JOB_TIMEOUT:.0f} s: {job}")
        time.sleep(0.05)


def warm_up(rt: Runtime, workers: list[tuple[subprocess.Popen, Path]], batch_size: int) -> None:
    """Retry jobs of one-product batches until every worker has encoded one, so that each has started and
    loaded its encoders before the timed job. The points they write are dropped by the full job's reset."""
    pids = {str(proc.pid) for proc, _ in workers}
    with rt.db.session() as s:
        ids = list(s.scalars(select(Product.id).where(Product.is_active.is_(True)).order_by(Product.id)
                             .limit(WARMUP_BATCHES_PER_WORKER * len(workers))))
    jobs, seen = Jobs(rt), set()
    deadline = time.monotonic() + START_TIMEOUT
    rt.settings.batch_size = 1  # the runner thread plans with the runtime's settings
    try:
        while not pids <= seen:
            if time.monotonic() > deadline:
                logs = "\n".join(tail(log) for _, log in workers)
                raise SystemExit(f"workers not ready after {START_TIMEOUT:.0f} s:\n{logs}")
            job_id = jobs.submit("retry", "bench_indexing: worker warm-up", {"ids": ids})
            wait_job(rt, job_id, workers)
            with rt.db.session() as s:
                names = s.scalars(select(JobBatchRow.worker).where(JobBatchRow.job_id == job_id,
                                                                   JobBatchRow.step == "encode"))
                seen |= {n.split(":")[1] for n in names if n and n.endswith(":celery")}
    finally:
        rt.settings.batch_size = batch_size


def celery_workers(folder: Path, batch_size: int, broker: str, n_workers: int) -> Result:
    rt = Runtime(settings_for(folder, batch_size, broker))
    env = worker_env(folder, batch_size, broker)
    workers: list[tuple[subprocess.Popen, Path]] = []
    runner = None
    try:
        rt.indexer.store.open(rt.indexer.spec)  # this process holds the store, as the console or service does
        runner = ensure_runner(rt)
        for i in range(1, n_workers + 1):
            log = folder.parent / f"{folder.name}-w{i}.log"
            workers.append((subprocess.Popen([sys.executable, "-m", "engine", "worker", "--name", f"w{i}@%h"],
                                             cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT),
                            log))
        warm_up(rt, workers, batch_size)
        t = time.perf_counter()
        job_id = Jobs(rt).submit("full", f"bench_indexing: {n_workers} Celery worker(s)")
        job = wait_job(rt, job_id, workers)
        seconds = time.perf_counter() - t
        check(job, rt.store.count())
        label = f"celery x{n_workers}"
        return Result(label, job.done, seconds, job.done / seconds)
    finally:
        for proc, _ in workers:
            stop(proc)
        if runner is not None:
            runner.stop()
        rt.close()
        rt.db.engine.dispose()


def check(job, points: int) -> None:
    """A finished full job leaves one point per product it did; anything else makes the timing meaningless."""
    if job.status != "done" or points != job.done:
        raise SystemExit(f"job {job.id} ended {job.status} with {job.done} done, {job.failed} failed, "
                         f"{points} points in the store")


def table(results: list[Result]) -> str:
    head = f"{'mode':<16} {'products':>8} {'seconds':>8} {'products/s':>10} {'ratio':>6}"
    rows = [head, "-" * len(head)]
    for r in results:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        rows.append(f"{r.mode:<16} {r.products:>8} {r.seconds:>8.2f} {r.products_per_s:>10.1f} {ratio:>6}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="index only the first N active products (default: all)")
    ap.add_argument("--batch-size", type=int, default=Settings().batch_size,
                    help="products per job batch, and per encoder call of the encoders-alone run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if (args.limit is not None and args.limit < 1) or args.batch_size < 1:
        raise SystemExit("--limit and --batch-size must be at least 1")

    scratch = Path(tempfile.mkdtemp(prefix="vitrina-bench-indexing-"))
    redis_server = None
    try:
        base = scratch / "base"
        print("importing the demo catalog ...", file=sys.stderr)
        n = prepare(base, Settings().catalog_dir, args.limit, args.batch_size)
        print(f"encoders alone: {n} products ...", file=sys.stderr)
        results = [encoders_alone(base, args.batch_size)]
        print("in-process runner ...", file=sys.stderr)
        results.append(in_process(fresh_copy(base, scratch / "inprocess"), args.batch_size))
        try:
            import celery  # noqa: F401
            missing = None if shutil.which("redis-server") else "redis-server is not installed"
        except ImportError:
            missing = "celery is not installed"
        if missing:
            print(f"{missing}: the Celery modes are left out", file=sys.stderr)
        else:
            redis_server = RedisServer(scratch / "redis")
            for workers in (1, 2):
                print(f"{workers} Celery worker(s) ...", file=sys.stderr)
                results.append(celery_workers(fresh_copy(base, scratch / f"celery{workers}"), args.batch_size,
                                              redis_server.url, workers))
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    ceiling = results[0].products_per_s
    for r in results:
        r.ratio = r.products_per_s / ceiling
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(table(results))


if __name__ == "__main__":
    main()
