"""Publish: the draft against the live version, what stops it being published, the button that makes it live
(the HTTP service and every console take it within a second), the versions with their diffs and "make live
again", who changed the draft, and the YAML document in and out (an import goes into the draft, never live)."""
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from console.draft import banner, changes_table, desk, edit_errors, editor
from console.runtime import get_runtime
from console.state import kept
from engine.errors import ConfigError, VitrinaError
from engine.merchandising.edits import import_config
from engine.recommend.config import dump

NOTICE, ERRORS = "publish_notice", "publish_errors"

rt = get_runtime()
ss = st.session_state
st.title("Publish", anchor=False)
banner(publishing=True)


# ---- actions (callbacks run before the page is drawn again) ----------------------------------------------------
def _refused(e: VitrinaError) -> None:
    ss[ERRORS] = [str(e).splitlines()[0].rstrip(":"), *getattr(e, "errors", [])]


def publish() -> None:
    try:
        out = desk().publish(editor(), ss.get("publish_message", ""))
    except VitrinaError as e:
        _refused(e)
        return
    ss.pop(ERRORS, None)
    ss["publish_message"] = ""
    ss[NOTICE] = f"Version {out.version.number} is live ({len(out.changes)} change(s)). The service serves it within a second."


def rollback(number: int) -> None:
    try:
        out = desk().rollback(number, editor())
    except VitrinaError as e:
        _refused(e)
        return
    ss.pop(ERRORS, None)
    ss[NOTICE] = f"Version {number} is live again, as version {out.version.number}."


def discard() -> None:
    try:
        desk().discard(editor())
    except VitrinaError as e:
        _refused(e)
        return
    ss[NOTICE] = "The draft is the live version again."


def imported() -> None:
    upload = ss.get("publish_import")
    if upload is None:
        ss.pop(ERRORS, None)
        return
    try:
        config = import_config(upload.getvalue(), rt.catalog)
        desk().replace(config, editor(), f"imported {upload.name}")
    except ConfigError as e:
        _refused(e)
        return
    ss.pop(ERRORS, None)
    ss[NOTICE] = f"Imported {upload.name} into the draft: review the changes, then publish."


if NOTICE in ss:
    st.success(ss.pop(NOTICE), icon=":material/check_circle:")
for i, line in enumerate(ss.get(ERRORS, [])):
    st.error(line if i else f"{line}. Nothing changed.")
edit_errors()

d = desk()
draft, live = d.draft(), rt.live.current()
changes = d.changes()
problems = d.problems(draft.config)

# ---- publish ---------------------------------------------------------------------------------------------------
st.subheader("Publish the draft", anchor=False)
with st.container(key="publish-problems"):
    for p in problems:
        st.error(p)
if changes:
    changes_table(changes, "publish-diff")
st.text_input("Message", key="publish_message", placeholder="why, for the history", max_chars=2000)
left, right = st.columns(2)
left.button(f"Publish as version {(rt.live.table.latest_number() or 0) + 1}", key="publish_go", type="primary",
            on_click=publish, disabled=not changes or bool(problems), icon=":material/publish:", width="stretch")
right.button("Discard the draft's changes", key="publish_discard", on_click=discard, disabled=not changes,
             icon=":material/undo:", width="stretch")
if not changes:
    st.caption("Nothing to publish: the draft is the live version.")
elif problems:
    st.caption("Fix the problems above (on Tuning, Rules or Complete the look) to publish.")

# ---- history ---------------------------------------------------------------------------------------------------
st.subheader("Versions", anchor=False)
versions = d.history()
with st.container(key="publish-history"):
    st.dataframe(pd.DataFrame([{
        "version": v.number, "live": "live" if v.number == live.number else "",
        "published": f"{v.created_at:%Y-%m-%d %H:%M} UTC", "by": v.author, "message": v.message,
        "changes": len(v.changes), "restores": str(v.restores or "")} for v in versions]), hide_index=True)
numbers = [v.number for v in versions]
chosen = kept(st.selectbox, "Version", numbers, key="publish_version", default=numbers[0],
              valid=lambda n: n in numbers, format_func=lambda n: f"version {n}" + (" (live)" if n == live.number else ""))
version = d.version(chosen)
st.caption(f"Published by {version.author} at {version.created_at:%Y-%m-%d %H:%M} UTC"
           + (f": {version.message}" if version.message else "") + (
               f". Its changes from version {version.previous}:" if version.previous else "."))
if version.changes:
    with st.container(key="publish-version-diff"):
        st.dataframe(pd.DataFrame([{"setting": c["path"], "change": c["kind"], "from": str(c["old"] or ""),
                                    "to": str(c["new"] or "")} for c in version.changes]), hide_index=True)
st.button(f"Make version {chosen} live again", key="publish_rollback", on_click=rollback, args=(chosen,),
          disabled=chosen == live.number, icon=":material/history:")
with st.expander("Compare two versions", icon=":material/compare_arrows:"):
    refs = ["draft", "live", *numbers]
    a_col, b_col = st.columns(2)
    with a_col:
        a = kept(st.selectbox, "From", refs, key="publish_a", default=numbers[-1] if len(numbers) > 1 else "live",
                 valid=lambda r: r in refs)
    with b_col:
        b = kept(st.selectbox, "To", refs, key="publish_b", default="draft", valid=lambda r: r in refs)
    compared = d.compare(a, b)
    changes_table(compared, "publish-compare")
    if not compared:
        st.caption("The two rank alike.")

# ---- who changed the draft -------------------------------------------------------------------------------------
with st.expander("Draft edits", icon=":material/manage_history:"):
    edits = d.edits()
    with st.container(key="publish-edits"):
        st.dataframe(pd.DataFrame([{"when": f"{e.at:%Y-%m-%d %H:%M:%S} UTC", "who": e.editor, "what": e.summary}
                                   for e in edits], columns=["when", "who", "what"]), hide_index=True)

# ---- the document ----------------------------------------------------------------------------------------------
st.subheader("The YAML document", anchor=False)
export_col, import_col = st.columns(2)
with export_col:
    now = datetime.now(timezone.utc)
    st.download_button(f"Download live version {live.number} (YAML)", dump(live.config),
                       file_name=f"vitrina-config-v{live.number}.yaml", mime="application/x-yaml",
                       key="publish_export_live", icon=":material/download:")
    st.download_button("Download the draft (YAML)", dump(draft.config),
                       file_name=f"vitrina-config-draft-{now:%Y%m%dT%H%M%S}.yaml", mime="application/x-yaml",
                       key="publish_export_draft", icon=":material/download:")
    st.caption("The same as `python -m engine config export [--draft]`.")
with import_col:
    st.file_uploader("Import a config into the draft (YAML)", type=["yaml", "yml"], key="publish_import",
                     on_change=imported, help="Validated in full: a document with any problem is listed and the "
                                              "draft is left as it was. Publishing is a separate step.")
