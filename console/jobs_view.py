"""The indexing queue on the Index page: jobs waiting, running, done and failed, throughput and time left, the
products a job could not index with a retry. It redraws itself every two seconds (a fragment) while the
runner works in the background, so the page never waits for indexing."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.errors import VitrinaError
from engine.jobs import Jobs
from engine.jobs.queue import KINDS

from .fmt import seconds
from .runtime import get_runtime
from .state import kept

REFRESH_SECONDS = 2
NOTICE = "jobs_notice"  # what the last retry did, shown on the next redraw


def submit(kind: str, reason: str, params: dict | None = None) -> int | None:
    """Queue a job for the background runner; None after showing why it could not be queued."""
    try:
        return Jobs(get_runtime()).submit(kind, reason, params)
    except VitrinaError as e:
        st.error(str(e))
        return None


def _retry(job_id: int) -> None:
    new = Jobs(get_runtime()).retry_failed(job_id)
    st.session_state[NOTICE] = (f"Queued job {new} for the failed products of job {job_id}." if new
                                       else f"No product failed in job {job_id}.")


@st.fragment(run_every=REFRESH_SECONDS)
def queue_panel() -> None:
    jobs = Jobs(get_runtime())
    counts = jobs.queue.counts()
    with st.container(key="jobs-counts", horizontal=True):
        for status in ("waiting", "running", "done", "failed"):
            st.metric(status.capitalize(), f"{counts[status]:,}", border=True)
    listed = jobs.queue.jobs(20)
    if not listed:
        st.caption("No indexing job yet: imports queue one by themselves.")
        return
    with st.container(key="jobs-table"):
        st.dataframe(pd.DataFrame([{
            "job": j.id, "what": KINDS.get(j.kind, j.kind), "status": j.status, "why": j.reason,
            "done": f"{j.done:,} / {j.total:,}", "failed": j.failed,
            "products/s": round(j.rate, 1) if j.rate else None,
            "time left": seconds(j.eta_seconds) if j.eta_seconds else "",
            "queued": f"{j.created_at:%Y-%m-%d %H:%M:%S} UTC"} for j in listed]), hide_index=True)
    with_errors = [j.id for j in listed if j.failed]
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE), icon=":material/check_circle:")
    if not with_errors:
        return
    chosen = kept(st.selectbox, "Products a job could not index", with_errors, key="jobs_errors_of",
                  default=with_errors[0], valid=lambda v: v in with_errors, format_func=lambda j: f"job {j}")
    with st.container(key="jobs-errors"):
        st.dataframe(pd.DataFrame([{"sku": e.sku, "product": e.product_id, "why": e.error}
                                   for e in jobs.queue.errors(chosen)]), hide_index=True)
    st.button("Retry these products", key="jobs_retry", on_click=_retry, args=(chosen,), icon=":material/replay:")

