"""The drift check as a job (kind "check"): queued, run by the job layer outside any page's script, its report
stored with the job and read back by any process; the Overview draws the newest one."""
from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from engine.catalog.models import Product
from engine.jobs import Jobs
from engine.jobs.checks import latest_check, report_of
from engine.jobs.queue import JobQueue
from engine.errors import ValidationError

from test_console_apptest import ROOT, TIMEOUT, metrics, own_catalog

ROWS = [f"DRIFT-{i},Drift check lamp {i},{20 + i}.00,Drift/Lamps," for i in range(4)]


def _run(rt, job_id: int):
    jobs = Jobs(rt)
    return jobs.wait(job_id, rt.indexer, timeout=TIMEOUT)


def test_a_check_job_reports_drift_then_none_after_indexing(tmp_path, monkeypatch, console_data):
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", ROWS)
    try:
        ids = sorted(p.id for p in rt.catalog.list_products(limit=10))
        jobs = Jobs(rt)
        first = jobs.submit("check", "test")
        assert latest_check(rt.db).id == first and report_of(latest_check(rt.db)) is None  # queued, not run
        job = _run(rt, first)
        assert (job.status, job.total, job.failed) == ("done", 0, 0)
        report = report_of(jobs.job(first))
        assert report.active_products == 4 and report.missing == ids and not report.clean
        assert report.orphans == [] and report.points == 0

        _run(rt, jobs.submit("index", "test"))
        job = _run(rt, jobs.submit("check", "test"))
        again = report_of(job)
        assert again.clean and again.points == 4 and again.active_products == 4
        assert latest_check(rt.db).id == job.id

        with rt.db.session() as s:  # a product switched off in SQL leaves an orphan point behind
            s.get(Product, ids[0]).is_active = False
        third = report_of(_run(rt, jobs.submit("check", "test")))
        assert third.orphans == [ids[0]] and third.active_products == 3
    finally:
        rt.close()


def test_an_unknown_job_kind_is_refused_and_other_kinds_carry_no_report(tmp_path, monkeypatch, console_data):
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", ROWS[:1])
    try:
        queue = JobQueue(rt.db)
        with pytest.raises(ValidationError, match="unknown job kind"):
            queue.submit("checks")
        job = _run(rt, Jobs(rt).submit("index", "test"))
        assert report_of(job) is None and latest_check(rt.db) is None
    finally:
        rt.close()


def test_the_overview_queues_the_check_and_shows_its_report_when_done(tmp_path, monkeypatch, console_data):
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", ROWS)
    try:
        _run(rt, Jobs(rt).submit("index", "test"))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("No drift check has run yet" in i.value for i in at.info)
        at.button(key="overview_check").click().run()
        assert not at.exception
        job = latest_check(rt.db)
        assert job is not None
        deadline = time.monotonic() + TIMEOUT
        while (job := Jobs(rt).job(job.id)).status not in ("done", "failed"):  # the console's runner thread
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        at.run()
        shown = metrics(at, "overview-drift")
        assert shown == {"Missing": "0", "Orphans": "0", "Stale": "0", "Payload out of date": "0"}
        assert any(f"job {job.id}" in s.value and "4 points for 4 active products" in s.value for s in at.success)
    finally:
        rt.close()
