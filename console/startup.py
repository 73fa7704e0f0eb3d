"""First start: prepare the demo catalog (import + index) with a live status box; later starts return at once."""
from __future__ import annotations

import streamlit as st

from engine.demo import prepare_demo
from engine.errors import VitrinaError
from engine.runtime import Runtime

from .activity import activity
from .runtime import startup_state

LOG_LINES = 30  # the preparation log shows its last lines


def needs_demo(rt: Runtime) -> bool:
    """True when the catalog or the vector index is empty: cheap (one SQL count, one store count), so it can
    run on every start without loading any encoder."""
    if rt.catalog.stats().products == 0:
        return True
    return rt.store.spec() is None or rt.store.count() == 0


def ensure_demo(rt: Runtime) -> None:
    """Prepare the demo catalog once per process, showing the engine's progress and log in an st.status."""
    state = startup_state()
    if state.ready:
        return
    with state.lock:
        if state.ready or not needs_demo(rt):
            state.ready = True
            return
        if state.error is not None:
            st.error(f"The demo catalog could not be prepared: {state.error}. Import a catalog file on the "
                     "Index page, or fix the cause and restart the console.")
            return
        with st.status("Preparing the demo catalog (first start)…", expanded=True) as box:
            bar = st.progress(0, text="starting")
            log_box = st.empty()
            lines: list[str] = []

            def progress(done: int, total: int) -> None:
                bar.progress(min(1.0, done / total) if total else 1.0, text=f"{done:,} of {total:,} products")

            def log(message: str) -> None:
                lines.append(message)
                log_box.code("\n".join(lines[-LOG_LINES:]), language=None)

            try:
                activity().record(prepare_demo(rt, progress=progress, log=log))
            except VitrinaError as e:
                state.error = str(e)
                box.update(label="The demo catalog could not be prepared", state="error")
                st.error(str(e))
                return
            box.update(label="Demo catalog ready", state="complete", expanded=False)
        state.ready = True
