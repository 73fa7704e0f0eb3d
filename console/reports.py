"""How the Index page shows an import's report (indexing: console/jobs_view.py; drift: console/drift_view.py)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.catalog.importers import ImportReport

from .activity import Done
from .fmt import count, seconds, when


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
