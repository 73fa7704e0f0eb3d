"""Indexing jobs from a terminal: `worker` (a Celery worker), `jobs` (list, show, submit, retry), and the
auto-indexing every catalog import ends with (`auto_index`). `jobs submit build_index` builds the search
graph: here when this process can take the store, else by the process holding it."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli.common import Command, Progress, count_arg, load
from engine.errors import ValidationError, VitrinaError
from engine.jobs.graph import KIND as BUILD, build_step, queue_if_due
from engine.jobs.queue import KINDS, Job
from engine.jobs.runner import Jobs, worker_name
from engine.runtime import Runtime
from engine.settings import Settings
from engine.store.edge import StoreLocked


def auto_index(rt: Runtime, reason: str, quiet: bool) -> dict[str, Any]:
    """Queue the indexing of what an import changed (content hashes decide what is redone). When this process
    can take the store (nobody else holds it), the job runs here at once, with workers if configured;
    otherwise the process holding it (the console, the service) or the workers do it, and this says so."""
    jobs = Jobs(rt)
    job_id = jobs.submit("index", reason)
    try:
        indexer = rt.indexer
        indexer.store.open(indexer.spec)
    except VitrinaError as e:  # the store is held elsewhere (its holder's runner takes the job), or not usable
        if not quiet:
            where = ("the process holding the vector store indexes it" if isinstance(e, StoreLocked)
                     else f"it cannot run here: {e}")
            print(f"indexing queued as job {job_id}: {where} (python -m engine jobs show {job_id})", file=sys.stderr)
        return {"job": job_id, "status": "queued"}
    bar = Progress("index", quiet)
    job = jobs.wait(job_id, indexer, progress=bar)
    bar.close()
    graph_job = queue_if_due(jobs, indexer.store)
    rt.close()
    if not quiet:
        print(f"indexed by job {job.id}: {job.done} product(s), {job.failed} failed", file=sys.stderr)
        if graph_job is not None:
            print(f"the catalog needs a search graph: queued as job {graph_job} for the process holding the store "
                  f"(or build it now: python -m engine jobs submit {BUILD})", file=sys.stderr)
    return {"job": job.id, "status": job.status, "done": job.done, "failed": job.failed, "graph_job": graph_job}


def build_graph(rt: Runtime, quiet: bool) -> dict[str, Any]:
    """Queue a search-graph build and, when this process can take the store, run it here (its stages on
    stderr); otherwise the process holding the store runs it. Refused with a Qdrant server."""
    if rt.settings.qdrant_url:
        raise ValidationError("with QDRANT_URL the Qdrant server builds its search graph itself: there is no "
                              f"{BUILD} job to run")
    jobs = Jobs(rt)
    try:
        store = rt.store
        store.graph_status()  # no collection yet: refused, nothing queued
    except StoreLocked:
        job_id = jobs.submit(BUILD, "python -m engine jobs submit build_index")
        if not quiet:
            print(f"search-graph build queued as job {job_id}: the process holding the vector store builds it "
                  f"(python -m engine jobs show {job_id})", file=sys.stderr)
        return {"job": job_id, "status": "queued"}
    job_id = jobs.submit(BUILD, "python -m engine jobs submit build_index")
    batch = jobs.queue.claim(worker_name("inline"), ["build"], job_id=job_id)
    if batch is not None:
        def echo(p) -> None:
            if not quiet:
                print(f"{p.stage}: {p.elapsed:.0f} s" + (f" of about {p.estimate:.0f} s" if p.estimate else "")
                      + (f" (process {p.pid})" if p.pid else ""), file=sys.stderr)

        build_step(store, jobs.queue, batch, rt.settings, echo=echo)
    rt.close()
    job = jobs.job(job_id)
    if not quiet:
        print(f"job {job.id} {job.status}: {job.error or job.reason}", file=sys.stderr)
    if job.status == "failed":
        raise VitrinaError(f"job {job.id} failed: {job.error}")
    return {"job": job.id, "status": job.status, "points": job.total, "reason": job.reason, "progress": job.progress}


def _job_record(job: Job, jobs: Jobs) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "status": job.status, "reason": job.reason, "total": job.total,
            "done": job.done, "failed": job.failed, "error": job.error, "created_at": job.created_at,
            "started_at": job.started_at, "finished_at": job.finished_at, "items_per_s": job.rate,
            "eta_s": job.eta_seconds, "batches": job.batches, "progress": job.progress or None}


def _print(job: Job) -> None:
    rate = f", {job.rate:.1f}/s" if job.rate else ""
    eta = f", about {job.eta_seconds:.0f} s left" if job.eta_seconds else ""
    stage = f" [{job.stage}]" if job.stage and job.status == "running" else ""
    print(f"job {job.id} {job.kind:6} {job.status:8} {job.done}/{job.total} done, {job.failed} failed{rate}{eta}"
          f"{stage}  {job.reason}")


def jobs_command(args: argparse.Namespace) -> Any:
    rt = Runtime(Settings())
    jobs = Jobs(rt)
    if args.action == "submit":
        if args.what not in KINDS or args.what == "retry":
            raise ValidationError(f"submit one of: {', '.join(k for k in KINDS if k != 'retry')}")
        if args.what == BUILD:
            return build_graph(rt, quiet=args.json)
        job_id = jobs.submit(args.what, "python -m engine jobs submit")
        return {"job": job_id} if args.json else print(f"queued job {job_id}")
    if args.action == "retry":
        job_id = jobs.retry_failed(_number(args.what))
        if args.json:
            return {"job": job_id}
        print(f"queued job {job_id}" if job_id else "no product failed in that job")
        return None
    if args.action == "show":
        job = jobs.job(_number(args.what))
        errors = jobs.queue.errors(job.id)
        if args.json:
            return {**_job_record(job, jobs), "errors": errors}
        _print(job)
        for e in errors:
            print(f"  {e.sku} ({e.product_id}): {e.error}")
        return None
    listed = jobs.queue.jobs(args.limit or 20)
    if args.json:
        return {"counts": jobs.queue.counts(), "jobs": [_job_record(j, jobs) for j in listed]}
    for job in listed:
        _print(job)
    return None


def _number(text: str | None) -> int:
    if text is None or not text.isdigit() or not 0 < len(text) < 12:
        raise ValidationError(f"give a job number, got {text!r}")
    return int(text)


def _jobs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "submit", "retry"])
    p.add_argument("what", nargs="?", help="show/retry: a job number; submit: index, full, sync, import or "
                                           "build_index (the search graph: built here when this process can take "
                                           "the store, else by the process holding it)")
    p.add_argument("--limit", type=count_arg, help="list: the newest N (default 20)")


def worker_command(args: argparse.Namespace) -> Any:
    settings = Settings()
    if settings.job_runner != "celery":
        raise ValidationError("a worker serves VITRINA_JOB_RUNNER=celery: set it (and CELERY_BROKER_URL or "
                              "REDIS_URL) for every process of this data location")
    load("engine.jobs.worker").run_worker(settings, beat=args.beat, loglevel=args.log_level, name=args.name)
    return None


def _worker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beat", action="store_true", help="also run the schedule (nightly sync at VITRINA_SYNC_HOUR)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--name", help="worker name (default: celery@<host>)")


COMMANDS = (
    Command("jobs", "indexing jobs: list, show N, submit index|full|sync|build_index, retry N (its failed products)",
            jobs_command, _jobs_args, ranks=False),
    Command("worker", "run a Celery worker of the indexing jobs (VITRINA_JOB_RUNNER=celery)", worker_command,
            _worker_args, ranks=False),
)
