"""The drift check as the console shows it: a button queues a check job for the background runner
(engine/jobs/checks.py) and the page returns at once; while the job runs a small fragment polls it, and the
newest check's report is drawn from SQL when it is done — the same for every session and every page.

At 100,000 products the check takes about 20 s: run inside the page's script it held that session for the
whole time and slowed everyone else's reruns; as a job no script waits for it."""
from __future__ import annotations

import streamlit as st

from engine.errors import VitrinaError
from engine.jobs import Jobs
from engine.jobs.checks import KIND, latest_check, report_of

from .fmt import count, when
from .runtime import get_runtime

REFRESH_SECONDS = 1.0
SAMPLE_IDS = 20  # product ids listed per drift kind
NOTICE = "drift_notice"  # why the last request could not be queued, shown on the next run


def request_check() -> None:
    """Queue a drift check (a button's callback); a check already waiting covers this request."""
    rt = get_runtime()
    waiting = latest_check(rt.db)
    if waiting is not None and waiting.status == "waiting":
        return
    try:
        Jobs(rt).submit(KIND, "drift check asked for in the console")
    except VitrinaError as e:
        st.session_state[NOTICE] = str(e)


@st.fragment(run_every=REFRESH_SECONDS)
def _pending(job_id: int, key: str) -> None:
    """Polls the running check; once it is finished the whole page runs again and draws the report."""
    job = Jobs(get_runtime()).job(job_id)
    if job.status in ("done", "failed"):
        st.rerun()
    with st.container(key=f"{key}-pending"):
        st.info(f"Drift check {job.status} in the background (job {job.id}): the report appears here when it "
                "is done; the console stays usable meanwhile.", icon=":material/hourglass_top:")


def drift_panel(prefix: str) -> None:
    """The button (`<prefix>_check`) and the newest check: pending, failed, or its report (metrics in the
    container `<prefix>-drift`)."""
    rt = get_runtime()
    key = f"{prefix}-drift"
    st.button("Run the drift check", key=f"{prefix}_check", icon=":material/fact_check:", on_click=request_check)
    if NOTICE in st.session_state:
        st.error(st.session_state.pop(NOTICE), icon=":material/error:")
    job = latest_check(rt.db)
    if job is None:
        st.info("No drift check has run yet.")
        return
    if job.status in ("waiting", "running"):
        _pending(job.id, key)
        return
    report = report_of(job)
    if job.status == "failed" or report is None:
        st.error(f"The drift check (job {job.id}) failed: {job.error or 'no report'}", icon=":material/error:")
        return
    at = job.finished_at or job.created_at
    with st.container(key=key, horizontal=True):
        st.metric("Missing", count(len(report.missing)), border=True)
        st.metric("Orphans", count(len(report.orphans)), border=True)
        st.metric("Stale", count(len(report.stale)), border=True)
        st.metric("Payload out of date", count(len(report.payload_mismatch)), border=True)
    if report.clean:
        st.success(f"No drift at {when(at)}: {count(report.points)} points for {count(report.active_products)} "
                   f"active products (job {job.id}).", icon=":material/check_circle:")
    else:
        kinds = {"Missing": report.missing, "Orphans": report.orphans, "Stale": report.stale,
                 "Payload out of date": report.payload_mismatch}
        for label, ids in kinds.items():
            if ids:
                more = f" and {len(ids) - SAMPLE_IDS} more" if len(ids) > SAMPLE_IDS else ""
                st.caption(f"{label}: product ids {', '.join(map(str, ids[:SAMPLE_IDS]))}{more}")
        st.warning(f"Drift found at {when(at)} (job {job.id}): repair it with “Check and repair” on the Index page.",
                   icon=":material/warning:")
