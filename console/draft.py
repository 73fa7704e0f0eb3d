"""The shared draft as the console pages see it: read from and saved to the engine's database at every edit
(engine/merchandising/drafts.py), never kept in the browser session, so a reload, a second tab or a
colleague's console shows the same work; and the banner every merchandising page shows: what the draft
changes against the live version, with the diff."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from engine.errors import ConfigError, VitrinaError
from engine.merchandising.drafts import ConfigWorkflow, Draft
from engine.merchandising.history import Change
from engine.recommend.config import RecoConfig

from .runtime import get_runtime
from .state import kept, saved

EDITOR = "editor_name"
DEFAULT_EDITOR = "console"
ERRORS = "draft_errors"  # the problems of the last refused edit, shown on the next run


def desk() -> ConfigWorkflow:
    return ConfigWorkflow(get_runtime())


def editor() -> str:
    """Who edits from this browser session: the name typed in the sidebar (kept across pages)."""
    name = saved(EDITOR, DEFAULT_EDITOR)
    return name if isinstance(name, str) and name.strip() else DEFAULT_EDITOR


def editor_input() -> None:
    kept(st.sidebar.text_input, "Your name", key=EDITOR, default=DEFAULT_EDITOR, max_chars=128,
         help="Saved with every change you make to the draft and with what you publish.")


def working_config() -> RecoConfig:
    """The draft every merchandising page edits and every page previews with."""
    return desk().draft().config


def edit(change: Callable[[RecoConfig], RecoConfig], summary: str) -> Draft | None:
    """Apply and save one change to the draft (in a callback). A refused change saves nothing; its problems are
    shown on the next run."""
    try:
        draft = desk().edit(change, editor(), summary)
    except VitrinaError as e:
        st.session_state[ERRORS] = [str(e).splitlines()[0].rstrip(":"), *getattr(e, "errors", [])]
        return None
    st.session_state.pop(ERRORS, None)
    return draft


def edit_errors() -> None:
    """The problems of the last refused edit, shown once (the next run forgets them)."""
    for i, line in enumerate(st.session_state.pop(ERRORS, [])):
        st.error(line if i else f"{line}. Nothing was saved.")


def changes_table(changes: list[Change], key: str) -> None:
    with st.container(key=key):
        st.dataframe(pd.DataFrame([{"setting": c.path, "change": c.kind, "from": _text(c.old), "to": _text(c.new)}
                                   for c in changes], columns=["setting", "change", "from", "to"]),
                     hide_index=True)


def _text(value) -> str:
    return "" if value is None else str(value)


def banner(publishing: bool = False) -> None:
    """Draft against live, on every merchandising page: how many changes, who changed it last, the diff (the
    Publish page, `publishing`, shows the diff itself and does not point to itself)."""
    editor_input()
    d = desk()
    live, draft = d.runtime.live.current(), d.draft()
    changes = d.changes()
    with st.container(key="draft-banner"):
        where = "" if publishing else " on the Publish page"
        if not changes:
            st.caption(f"The draft is the same as live version {live.number}. Changes made on Tuning, Rules and "
                       f"Complete the look are saved at once as the shared draft; publish them{where}.")
            return
        st.info(f"**Draft differs from live version {live.number}: {len(changes)} change(s).** Last saved by "
                f"{draft.updated_by} at {draft.updated_at:%Y-%m-%d %H:%M} UTC." + (
                    "" if publishing else " Publish it on the Publish page."), icon=":material/edit_note:")
        if not publishing:
            with st.expander("What the draft changes", icon=":material/difference:"):
                changes_table(changes, "draft-diff")


def get_recommender():
    """The recommender that ranks with the draft, so every page previews what a publish would serve."""
    return get_runtime().recommender(working_config())


def sidebar_status() -> None:
    """On every page: the live version and whether the draft differs from it. A draft that cannot be read is
    said so, with the one way out (start it again from the live version), instead of breaking every page."""
    d = desk()
    live = d.runtime.live.current()
    try:
        changes = d.changes()
    except ConfigError as e:
        st.sidebar.error(f"The shared draft cannot be read: {e}")
        st.sidebar.button("Start the draft again from the live version", key="draft_reset",
                          on_click=lambda: desk().discard(editor()))
        st.stop()
    st.sidebar.caption(f"Live config: version {live.number} · "
                       + (f"draft: {len(changes)} unpublished change(s)" if changes else "draft = live"))
