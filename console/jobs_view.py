"""The indexing queue on the Index page: jobs waiting, running, done and failed, throughput and time left, the
products a job could not index with a retry; and the search graph: what it covers, its build's stage while
one runs in the background, a button to queue one. Both redraw themselves every two seconds (fragments) while
the runner works in the background, so the page never waits for indexing or for a build."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.errors import VitrinaError
from engine.jobs import Jobs
from engine.jobs.graph import KIND as BUILD
from engine.jobs.queue import KINDS

from .fmt import count, seconds
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
            "stage": j.stage if j.status == "running" else "",
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



def _queue_build() -> None:
    job = submit(BUILD, "search graph requested from the console")
    if job is not None:
        st.session_state[NOTICE] = f"Queued the search-graph build as job {job}."


@st.fragment(run_every=REFRESH_SECONDS)
def graph_panel() -> None:
    """The search graph: exact search below VITRINA_HNSW_MIN_POINTS, else an HNSW graph built in a background
    process (the store keeps answering meanwhile); a running build shows its stage from the queue."""
    rt = get_runtime()
    min_points = rt.settings.hnsw_min_points
    try:
        status = rt.store.graph_status()
    except VitrinaError as e:
        st.caption(f"No search graph: {e}")
        return
    with st.container(key="graph-status", horizontal=True):
        st.metric("Vectors", count(status.points), border=True)
        if status.server:
            st.metric("Search", "Qdrant server", border=True)
        else:
            st.metric("Search", "exact" if status.exact else "HNSW graph", border=True)
            st.metric("Graph covers", count(status.built_points) if status.built_points else "—", border=True)
            st.metric("Written since", count(status.written_since), border=True)
            st.metric("Vectors stored as", status.datatype, border=True,
                      help="A built search graph comes with float16 vectors: half the memory of float32, scores "
                           "within about 0.001.")
    building = Jobs(rt).queue.latest(BUILD)
    if status.server:
        st.caption("With QDRANT_URL the Qdrant server builds and maintains its search graph itself.")
        return
    if building is not None and building.status in ("waiting", "running"):
        left = f", about {seconds(building.eta_seconds)} left" if building.eta_seconds else ""
        st.info(f"Building the search graph (job {building.id}): {building.stage or building.status}{left}. "
                "Queries keep answering with exact search until it is swapped in.", icon=":material/hub:")
    elif building is not None and building.status == "failed":
        st.warning(f"The last search-graph build (job {building.id}) failed: {building.error}",
                   icon=":material/error:")
    if status.points < min_points:
        st.caption(f"Catalogs below {min_points:,} vectors (VITRINA_HNSW_MIN_POINTS) keep exact search: no graph is "
                   "built for them.")
    else:
        st.caption(f"From {min_points:,} vectors (VITRINA_HNSW_MIN_POINTS) a graph is built in a background process "
                   "after indexing; the store keeps serving exact search until it is swapped in.")
    st.button("Build search graph", key="graph_build", icon=":material/hub:", on_click=_queue_build,
              disabled=status.points < min_points or status.building)
