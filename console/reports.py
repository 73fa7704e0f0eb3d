"""How the Index page shows the engine's reports: indexing, import and drift check."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.catalog.importers import ImportReport
from engine.indexing.indexer import DriftReport, IndexReport

from .activity import Done
from .fmt import count, seconds, when

SAMPLE_IDS = 20  # product ids listed per drift kind


def index_summary(done: Done[IndexReport], *, key: str) -> None:
    r = done.report
    with st.container(key=key, border=True):
        st.markdown(f"**{r.mode.title()} indexing** at {when(done.at)}, {seconds(r.seconds)}")
        with st.container(horizontal=True):
            st.metric("Needed work", count(r.candidates))
            st.metric("Encoded", count(r.encoded))
            st.metric("Payload only", count(r.payload_only))
            st.metric("Text only (no photo)", count(r.text_only))
            st.metric("Removed", count(r.removed))
            st.metric("Errors", count(len(r.errors)))
        if r.errors:
            st.dataframe(pd.DataFrame([{"product id": e.product_id, "sku": e.sku, "error": e.error}
                                       for e in r.errors]), hide_index=True, key=f"{key}-errors")
        else:
            st.success("No product failed.", icon=":material/check_circle:")


def import_summary(done: Done[ImportReport], *, key: str) -> None:
    r = done.report
    with st.container(key=key, border=True):
        st.markdown(f"**Import of {', '.join(r.files)}** at {when(done.at)}, {seconds(r.seconds)}")
        with st.container(horizontal=True):
            st.metric("Created", count(r.created))
            st.metric("Updated", count(r.updated))
            st.metric("Unchanged", count(r.unchanged))
            st.metric("Rejected", count(len(r.rejected)))
            st.metric("Categories created", count(r.categories_created))
        if r.rejected:
            st.dataframe(pd.DataFrame([{"file": e.file, "line": e.line, "reason": e.message} for e in r.rejected]),
                         hide_index=True, key=f"{key}-rejected")
        for warning in r.warnings:
            st.warning(warning)


def drift_summary(done: Done[DriftReport], *, key: str) -> None:
    r = done.report
    kinds = {"Missing from the store": r.missing, "Orphan points": r.orphans, "Stale vectors": r.stale,
             "Payload out of date": r.payload_mismatch}
    with st.container(key=key, border=True):
        st.markdown(f"**Drift check** at {when(done.at)}: {count(r.points)} points for "
                    f"{count(r.active_products)} active products" + (" — repaired" if r.repaired else ""))
        with st.container(horizontal=True):
            for label, ids in kinds.items():
                st.metric(label, count(len(ids)))
        if r.clean:
            st.success("The store matches the catalog.", icon=":material/check_circle:")
        else:
            for label, ids in kinds.items():
                if ids:
                    more = f" and {len(ids) - SAMPLE_IDS} more" if len(ids) > SAMPLE_IDS else ""
                    st.caption(f"{label}: product ids {', '.join(map(str, ids[:SAMPLE_IDS]))}{more}")
            if r.repaired:
                st.success("Repaired: orphans removed, the rest reindexed.", icon=":material/build:")
            else:
                st.warning("Run “Check and repair” to fix it.", icon=":material/warning:")
