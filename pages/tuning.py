"""Tuning: weigh the reranking factors of a strategy, switch MMR and variant collapse, and see the effect at once —
one product's similar items before (saved config) and after (working config) with rank changes, and what-if
numbers over a fixed sample — then save the strategy, export the working config (a version is kept in the data
folder's configs/), import one, or compare exported versions.

The working config lives in st.session_state["working_config"]: the Rules and Complete-the-look pages edit
and preview the same object."""
from copy import deepcopy
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from console.errors import attempt
from console.grid import preview_list
from console.picker import product_picker
from console.runtime import WORKING, get_runtime, working_config
from console.state import kept, put
from engine.merchandising.history import diff
from engine.recommend.config import RecoConfig
from engine.errors import ConfigError, VitrinaError
from engine.recommend.rerank import BUILTIN_STRATEGIES, FACTORS
from engine.merchandising.edits import FACTOR_HELP, export_text, history_for, import_config, with_default_strategy, with_strategy
from engine.merchandising.previews import preview, resolve_strategy
from engine.merchandising.snapshot import default_sample, snapshot
from engine.merchandising.whatif import MetricSpec, WHAT_IF_METRICS, WhatIf, what_if

NOTICE, ERRORS = "tuning_notice", "tuning_errors"  # what the last action said, shown on the next run
IMPORT_ERRORS = "tuning_import_errors"
WEIGHT_STEP, DEFAULT_LAMBDA, MAX_COLLAPSE = 0.05, 0.7, 5
K = 10
DELTA_COLOURS = {"higher": "normal", "lower": "inverse", "neither": "off"}

rt = get_runtime()
ss = st.session_state
saved_config = rt.config
working_config()  # creates the session's working copy on first visit
history = history_for(rt.settings)
st.title("Tuning", anchor=False)
st.caption("Before = the saved config the service loads; after = the working config these controls edit. The "
           "Rules and Complete-the-look pages preview with the same working config.")


# ---- actions (callbacks run before the page is drawn again) ----------------------------------------------------
def slider_values() -> tuple[dict[str, float], float | None, int | None]:
    weights = {f: float(ss[f"w_{f}"]) for f in FACTORS}
    mmr = float(ss["mmr_lambda"]) if ss["mmr_on"] else None
    collapse = int(ss["collapse_k"]) if ss["collapse_on"] else None
    return weights, mmr, collapse


def retune() -> None:
    """A slider or switch moved: the working config takes the new values, or keeps the old ones when invalid."""
    try:
        ss[WORKING] = with_strategy(ss[WORKING], ss["tuning_strategy"], *slider_values())
        ss.pop(ERRORS, None)
    except ConfigError as e:
        ss[ERRORS] = e.errors


def save_as() -> None:
    name = ss["tuning_new_name"].strip()
    try:
        ss[WORKING] = with_strategy(ss[WORKING], name, *slider_values(),
                                    description=f"Tuned in the console from {ss['tuning_strategy']}.")
    except ConfigError as e:
        ss[ERRORS] = e.errors
        return
    ss.pop(ERRORS, None)
    put("tuning_strategy", name)
    ss[NOTICE] = f"Saved strategy {name} in the working config."


def make_default() -> None:
    ss[WORKING] = with_default_strategy(ss[WORKING], ss["tuning_strategy"])
    ss[NOTICE] = f"{ss['tuning_strategy']} is now the default strategy of the working config."


def reset() -> None:
    ss[WORKING] = deepcopy(saved_config)
    ss.pop(ERRORS, None)
    ss[NOTICE] = "The working config is the saved config again."


def export(config: RecoConfig, now: datetime) -> None:
    try:
        version = history.save(config, now=now)
    except ConfigError as e:
        ss[ERRORS] = e.errors
        return
    put("history_a", None)  # the comparison falls back to the new version against the one before
    put("history_b", None)
    ss[NOTICE] = f"Exported version {version.version}, kept as {version.path}."


def imported() -> None:
    upload = ss.get("tuning_import")
    if upload is None:  # the file was removed from the uploader
        ss.pop(IMPORT_ERRORS, None)
        return
    try:
        config = import_config(upload.getvalue(), get_runtime().catalog)
    except ConfigError as e:
        ss[IMPORT_ERRORS] = [str(e).splitlines()[0].rstrip(":")] + e.errors
        return
    ss.pop(IMPORT_ERRORS, None)
    ss[WORKING] = config
    put("tuning_strategy", config.default_strategy)
    ss[NOTICE] = f"Imported {upload.name} (version {config.version}) as the working config."


def restore(name: str) -> None:
    try:
        ss[WORKING] = history.load(name)
    except VitrinaError as e:
        ss[ERRORS] = [str(e)]
        return
    put("tuning_strategy", ss[WORKING].default_strategy)
    ss[NOTICE] = f"Loaded version {name} into the working config."


def notices() -> None:
    if NOTICE in ss:
        st.success(ss.pop(NOTICE), icon=":material/check_circle:")
    for error in ss.get(ERRORS, []):
        st.error(error)


# ---- views -----------------------------------------------------------------------------------------------------
def table(records: list[dict], key: str, columns: list[str] | None = None) -> None:
    """A read-only table in a keyed container (`st-key-<key>`), so tests and browser checks can find it."""
    with st.container(key=key):
        st.dataframe(pd.DataFrame(records, columns=columns), hide_index=True)


def number(spec: MetricSpec, value: float) -> str:
    if value != value:
        return "—"
    return f"{100 * value:.1f}%" if spec.percent else f"{value:.3f}"


def change(spec: MetricSpec, after: float, before: float) -> str | None:
    if after != after or before != before or after == before:
        return None
    return f"{100 * (after - before):+.1f} pp" if spec.percent else f"{after - before:+.3f}"


def figures(result: WhatIf, key: str, against: WhatIf | None = None) -> None:
    with st.container(key=key, horizontal=True):
        for spec in WHAT_IF_METRICS:
            value = result.value(spec.name)
            st.metric(spec.label.format(k=result.k), number(spec, value), border=True, help=spec.help,
                      delta=change(spec, value, against.value(spec.name)) if against else None,
                      delta_color=DELTA_COLOURS[spec.better])
    st.caption(f"Strategy {result.strategy}: similar items of {result.queries} sample products "
               f"({result.upsell_queries} with upsell links), "
               + ("from the cache." if result.cached else f"computed in {result.seconds:.1f} s."))


notices()
working = ss[WORKING]

controls_col, results_col = st.columns([1, 2], gap="large")

# ---- strategy and its controls ---------------------------------------------------------------------------------
with controls_col:
    names = list(working.strategies)
    name = kept(st.selectbox, "Strategy", names, key="tuning_strategy", default=working.default_strategy,
                valid=lambda v: v in working.strategies,
                format_func=lambda n: n + (" (built-in)" if n in BUILTIN_STRATEGIES else "")
                + (" · default" if n == working.default_strategy else ""))
    strategy = working.strategies[name]
    if strategy.description:
        st.caption(strategy.description)

    for f in FACTORS:  # the widgets show the working config, whatever they showed before
        ss[f"w_{f}"] = float(strategy.weights.get(f, 0.0))
    ss["mmr_on"] = working.diversity.mmr_lambda is not None
    ss["mmr_lambda"] = working.diversity.mmr_lambda if ss["mmr_on"] else ss.get("mmr_lambda", DEFAULT_LAMBDA)
    ss["collapse_on"] = working.diversity.collapse_k is not None
    ss["collapse_k"] = working.diversity.collapse_k if ss["collapse_on"] else ss.get("collapse_k", 1)

    st.subheader("Factor weights", anchor=False)
    st.caption("The score is the weighted mean of the factors: only the ratios between weights matter.")
    for f in FACTORS:
        st.slider(f.replace("_", " "), min_value=0.0, max_value=max(1.0, float(ss[f"w_{f}"])), step=WEIGHT_STEP,
                  key=f"w_{f}", on_change=retune, help=FACTOR_HELP[f])
    st.subheader("Diversity", anchor=False)
    st.toggle("MMR re-ordering", key="mmr_on", on_change=retune,
              help="Maximal Marginal Relevance: trades relevance for variety within the list.")
    st.slider("MMR lambda", min_value=0.0, max_value=1.0, step=0.05, key="mmr_lambda", on_change=retune,
              disabled=not ss["mmr_on"], help="1 = the relevance order, 0 = only variety.")
    st.toggle("Collapse variants", key="collapse_on", on_change=retune,
              help="At most k colours or sizes of one style in a list.")
    st.slider("Variants per style", min_value=1, max_value=MAX_COLLAPSE, step=1, key="collapse_k",
              on_change=retune, disabled=not ss["collapse_on"])
    st.subheader("Strategies", anchor=False)
    st.text_input("New strategy name", key="tuning_new_name", placeholder="letters, digits, _ . -",
                  max_chars=64)
    save_col, default_col = st.columns(2)
    save_col.button("Save as strategy", key="tuning_save_as", on_click=save_as, icon=":material/save:",
                    disabled=not ss.get("tuning_new_name", "").strip(), width="stretch")
    default_col.button("Make default", key="tuning_make_default", on_click=make_default,
                       disabled=name == working.default_strategy, width="stretch")
    changes = diff(saved_config, working)
    st.caption(f"{len(changes)} change(s) from the saved config." if changes else "Same as the saved config.")
    st.button("Reset to the saved config", key="tuning_reset", on_click=reset, disabled=not changes,
              icon=":material/undo:")

with results_col:
    # ---- what-if -----------------------------------------------------------------------------------------------
    st.subheader("What if", anchor=False)
    before_name = resolve_strategy(saved_config, name)
    with st.spinner("Ranking the sample products…"):
        after_figures = attempt(what_if, rt, working, name, k=K)
        before_figures = attempt(what_if, rt, saved_config, before_name, k=K)
    if before_figures is not None:
        st.markdown("**Before** — saved config")
        figures(before_figures, "tuning-whatif-before")
    if after_figures is not None:
        st.markdown("**After** — working config")
        figures(after_figures, "tuning-whatif-after", before_figures)

    # ---- preview -----------------------------------------------------------------------------------------------
    st.subheader("Preview", anchor=False)
    sample = default_sample(snapshot(rt))
    linked = [pid for pid in sample if pid in snapshot(rt).upsell]
    find, chooser, size = st.columns([2, 3, 1], vertical_alignment="bottom")
    picked = product_picker(rt, find, chooser, prefix="tuning", label="Product",
                            suggestions=lambda: list(rt.catalog.cards(list(linked or sample)).values()))
    product_id = picked.id if picked is not None else None
    with size:
        n = kept(st.number_input, "Items", key="tuning_n", default=12, min_value=1,
                 max_value=rt.settings.max_results, step=1, valid=lambda v: isinstance(v, int) and v >= 1)
    if product_id is not None:
        after_rec = attempt(rt.recommender, working)
        rows = (attempt(preview, rt.recommender(saved_config), after_rec, product_id, name, n)
                if after_rec else None)
        if rows is not None:
            before_col, after_col = st.columns(2)
            with before_col:
                st.markdown(f"**Before** — saved config, strategy {before_name}")
                preview_list(rows, "before", "tuning-before")
            with after_col:
                st.markdown(f"**After** — working config, strategy {name}")
                preview_list(rows, "after", "tuning-after")
            with st.expander("Rank changes as a table", icon=":material/table:"):
                table([r.record() for r in rows], "tuning-changes")

# ---- export, import, history -----------------------------------------------------------------------------------
st.subheader("Export and import", anchor=False)
now = datetime.now(timezone.utc)
text = attempt(export_text, working, now)
export_col, import_col = st.columns(2)
with export_col:
    if text is not None:
        st.download_button("Export the working config (YAML)", text,
                           file_name=f"vitrina-config-{now:%Y%m%dT%H%M%S}.yaml", mime="application/x-yaml",
                           key="tuning_export", on_click=export, args=(working, now), icon=":material/download:")
        st.caption(f"Each export is also kept as a version in {history.folder}.")
        with st.expander("The YAML", icon=":material/code:"):
            st.code(text, language="yaml")
with import_col:
    st.file_uploader("Import a config (YAML)", type=["yaml", "yml"], key="tuning_import", on_change=imported,
                     help="Validated in full: a config with any problem is listed and nothing is applied.")
    if ss.get(IMPORT_ERRORS):
        headline, *problems = ss[IMPORT_ERRORS]
        st.error(f"{headline}. Nothing was applied.")
        for problem in problems:
            st.error(problem)

st.subheader("History", anchor=False)
versions = history.list()
if not versions:
    st.info("No exported version yet.")
else:
    table([{"file": v.name, "version": v.version, "created": v.created_at, "fingerprint": (v.fingerprint or "")[:12],
            "problem": v.error} for v in versions], "tuning-history")
    loadable = [v.name for v in versions if v.error is None]
    if len(loadable) < 2:
        st.caption("Export another version to compare two.")
    else:
        a_col, b_col = st.columns(2)
        with a_col:
            a = kept(st.selectbox, "From version", loadable, key="history_a", default=loadable[1],
                     valid=lambda v: v in loadable)
        with b_col:
            b = kept(st.selectbox, "To version", loadable, key="history_b", default=loadable[0],
                     valid=lambda v: v in loadable)
        changed = diff(history.load(a), history.load(b))
        table([{"setting": c.path, "change": c.kind, "from": str(c.old), "to": str(c.new)} for c in changed],
              "tuning-diff", columns=["setting", "change", "from", "to"])
        if all(c.path in ("version", "created_at") for c in changed):
            st.caption("The two versions rank alike: only their labels differ.")
    if loadable:
        restore_name = kept(st.selectbox, "Version to load into the working config", loadable,
                            key="history_restore", default=loadable[0], valid=lambda v: v in loadable)
        st.button("Load this version", key="history_load", on_click=restore, args=(restore_name,),
                  icon=":material/history:")
