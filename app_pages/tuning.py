"""Tuning: weigh the reranking factors of a strategy, switch MMR and variant collapse, and see the effect at once —
one product's similar items before (the live version) and after (the draft) with rank changes, and what-if
numbers over a fixed sample (computed off the script by console/whatif_view.py: the page never waits for them).

Every change is saved at once in the shared draft (console/draft.py); the Publish page makes it live. The
built-in strategies are read-only: the first slider moved on one asks for a name and forks a custom strategy
with the new weights (until then the preview shows the unsaved weights). Custom strategies can be renamed and
deleted, except the live default and those a running experiment serves."""
from dataclasses import replace

import pandas as pd
import streamlit as st

from console.api import ensure_api
from console.draft import banner, edit, edit_errors, working_config
from console.errors import attempt
from console.grid import preview_list
from console.picker import product_picker
from console.runtime import get_runtime
from console.state import kept, put
from console.whatif_view import whatif_panel
from engine.errors import VitrinaError
from engine.insights.experiments import running_strategies
from engine.merchandising.edits import FACTOR_HELP
from engine.merchandising.previews import preview, resolve_strategy
from engine.merchandising.snapshot import default_sample, snapshot
from engine.merchandising.strategies import (delete_strategy, fork_strategy, is_builtin, rename_strategy,
                                             set_default_strategy, update_strategy)
from engine.merchandising.whatif import MetricSpec, WHAT_IF_METRICS, WhatIf
from engine.recommend.config import DiversityConfig
from engine.recommend.rerank import FACTORS
from engine.service.shop.tokens import shop_links

NOTICE = "tuning_notice"  # what the last action said, shown on the next run
FORK = "tuning_fork"  # slider values moved on a built-in, waiting for a name: {"base", "weights"}
WEIGHT_STEP, DEFAULT_LAMBDA, MAX_COLLAPSE = 0.05, 0.7, 5
K = 10
DELTA_COLOURS = {"higher": "normal", "lower": "inverse", "neither": "off"}

rt = get_runtime()
ss = st.session_state
live_config = rt.config
st.title("Tuning", anchor=False)
banner()
st.caption("Before = the live version the service serves; after = the shared draft these controls edit. The "
           "Rules and Complete-the-look pages edit the same draft.")


# ---- actions (callbacks run before the page is drawn again) ----------------------------------------------------
def slider_weights() -> dict[str, float]:
    return {f: float(ss[f"w_{f}"]) for f in FACTORS}


def retune() -> None:
    """A weight moved: a custom strategy saves it at once; a built-in keeps it aside until it is given a name."""
    name = ss["tuning_strategy"]
    if is_builtin(name):
        ss[FORK] = {"base": name, "weights": slider_weights()}
        return
    edit(lambda c: update_strategy(c, name, slider_weights()), f"weights of {name}")


def rediversify() -> None:
    """MMR and variant collapse belong to the whole config, not to a strategy: saved at once."""
    mmr = float(ss["mmr_lambda"]) if ss["mmr_on"] else None
    collapse = int(ss["collapse_k"]) if ss["collapse_on"] else None
    edit(lambda c: replace(c, diversity=DiversityConfig(mmr, collapse)).validate(),
         f"diversity: MMR {mmr if mmr is not None else 'off'}, variants per style {collapse or 'all'}")


def fork() -> None:
    pending, name = ss.get(FORK), ss.get("tuning_fork_name", "").strip()
    if not pending:
        return
    if edit(lambda c: fork_strategy(c, pending["base"], name, pending["weights"]),
            f"new strategy {name} from {pending['base']}") is not None:
        ss.pop(FORK, None)
        ss.pop("tuning_fork_name", None)
        put("tuning_strategy", name)
        ss[NOTICE] = f"Saved your weights as strategy {name} in the draft."


def cancel_fork() -> None:
    ss.pop(FORK, None)
    ss.pop("tuning_fork_name", None)


def make_default() -> None:
    name = ss["tuning_strategy"]
    if edit(lambda c: set_default_strategy(c, name), f"{name} is the default strategy") is not None:
        ss[NOTICE] = f"{name} is now the default strategy of the draft."


def rename() -> None:
    old, new = ss["tuning_strategy"], ss.get("tuning_rename", "").strip()
    running = running_strategies(rt.db)
    if edit(lambda c: rename_strategy(c, old, new, live=rt.config, running=running),
            f"renamed strategy {old} to {new}") is not None:
        put("tuning_strategy", new)
        ss["tuning_rename"] = ""
        ss[NOTICE] = f"Renamed {old} to {new}."


def delete() -> None:
    name = ss["tuning_strategy"]
    running = running_strategies(rt.db)
    if edit(lambda c: delete_strategy(c, name, live=rt.config, running=running),
            f"deleted strategy {name}") is not None:
        put("tuning_strategy", working_config().default_strategy)
        ss[NOTICE] = f"Deleted strategy {name}."


def notices() -> None:
    if NOTICE in ss:
        st.success(ss.pop(NOTICE), icon=":material/check_circle:")
    edit_errors()


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
    st.caption(f"Strategy {result.strategy}: similar items of {result.queries} of a fixed sample of "
               f"{result.sample:,} products ({result.upsell_queries} with upsell links) drawn from "
               f"{result.active:,} active products; {result.distinct:,} distinct of {result.shown:,} items shown, "
               + ("from the cache." if result.cached else f"computed in {result.seconds:.1f} s."))


notices()
draft = working_config()
try:
    running = running_strategies(rt.db)
except VitrinaError:
    running = set()

controls_col, results_col = st.columns([1, 2], gap="large")

# ---- strategy and its controls ---------------------------------------------------------------------------------
with controls_col:
    names = list(draft.strategies)
    name = kept(st.selectbox, "Strategy", names, key="tuning_strategy", default=draft.default_strategy,
                valid=lambda v: v in draft.strategies, on_change=cancel_fork,
                format_func=lambda n: n + (" (built-in, read-only)" if is_builtin(n) else "")
                + (" · default" if n == draft.default_strategy else ""))
    strategy = draft.strategies[name]
    if strategy.description:
        st.caption(strategy.description)
    pending = ss.get(FORK) if ss.get(FORK, {}).get("base") == name else None
    working = draft
    if pending:  # the unsaved weights preview under a provisional name until the fork is named
        provisional = next(f"{name}-{i}" for i in range(2, 1000) if f"{name}-{i}" not in draft.strategies)
        working = attempt(fork_strategy, draft, name, provisional, pending["weights"]) or draft
        name = provisional if working is not draft else name
        with st.container(key="tuning-fork", border=True):
            st.markdown(f"**{pending['base']} is a built-in strategy and read-only.** Name your strategy to keep "
                        "these weights (the preview already shows them).")
            if not ss.get("tuning_fork_name"):
                ss["tuning_fork_name"] = provisional
            st.text_input("New strategy name", key="tuning_fork_name", max_chars=64,
                          placeholder="letters, digits, _ . -")
            ok_col, cancel_col = st.columns(2)
            ok_col.button("Create strategy", key="tuning_fork_create", on_click=fork, type="primary",
                          icon=":material/call_split:", width="stretch")
            cancel_col.button("Discard these weights", key="tuning_fork_cancel", on_click=cancel_fork,
                              width="stretch")

    weights = pending["weights"] if pending else strategy.weights
    for f in FACTORS:  # the widgets show the draft (or the unsaved fork), whatever they showed before
        ss[f"w_{f}"] = float(weights.get(f, 0.0))
    ss["mmr_on"] = draft.diversity.mmr_lambda is not None
    ss["mmr_lambda"] = draft.diversity.mmr_lambda if ss["mmr_on"] else ss.get("mmr_lambda", DEFAULT_LAMBDA)
    ss["collapse_on"] = draft.diversity.collapse_k is not None
    ss["collapse_k"] = draft.diversity.collapse_k if ss["collapse_on"] else ss.get("collapse_k", 1)

    st.subheader("Factor weights", anchor=False)
    st.caption("The score is the weighted mean of the factors: only the ratios between weights matter.")
    for f in FACTORS:
        st.slider(f.replace("_", " "), min_value=0.0, max_value=max(1.0, float(ss[f"w_{f}"])), step=WEIGHT_STEP,
                  key=f"w_{f}", on_change=retune, help=FACTOR_HELP[f])
    st.subheader("Diversity", anchor=False)
    st.toggle("MMR re-ordering", key="mmr_on", on_change=rediversify,
              help="Maximal Marginal Relevance: trades relevance for variety within the list.")
    st.slider("MMR lambda", min_value=0.0, max_value=1.0, step=0.05, key="mmr_lambda", on_change=rediversify,
              disabled=not ss["mmr_on"], help="1 = the relevance order, 0 = only variety.")
    st.toggle("Collapse variants", key="collapse_on", on_change=rediversify,
              help="At most k colours or sizes of one style in a list.")
    st.slider("Variants per style", min_value=1, max_value=MAX_COLLAPSE, step=1, key="collapse_k",
              on_change=rediversify, disabled=not ss["collapse_on"])

    st.subheader("Strategies", anchor=False)
    chosen = ss["tuning_strategy"]
    st.button("Make default", key="tuning_make_default", on_click=make_default,
              disabled=chosen == draft.default_strategy or bool(pending))
    if is_builtin(chosen):
        st.caption("Built-in strategies cannot be renamed or deleted.")
    else:
        guard = ("it is the live default" if chosen == live_config.default_strategy else
                 "a running experiment serves it" if chosen in running else None)
        st.text_input("Rename to", key="tuning_rename", max_chars=64, placeholder="letters, digits, _ . -",
                      disabled=guard is not None)
        rename_col, delete_col = st.columns(2)
        rename_col.button("Rename", key="tuning_rename_go", on_click=rename, width="stretch",
                          disabled=guard is not None or not ss.get("tuning_rename", "").strip())
        delete_col.button("Delete", key="tuning_delete", on_click=delete, width="stretch",
                          disabled=guard is not None or chosen == draft.default_strategy)
        if guard:
            st.caption(f"{chosen} cannot be renamed or deleted: {guard}.")
    st.caption("Publish the draft on the Publish page.")

with results_col:
    # ---- what-if -----------------------------------------------------------------------------------------------
    st.subheader("What if", anchor=False)
    before_name = resolve_strategy(live_config, name)

    def draw_figures(after_figures: WhatIf | None, before_figures: WhatIf | None) -> None:
        if before_figures is not None:
            st.markdown(f"**Before** — live version {rt.config_version}")
            figures(before_figures, "tuning-whatif-before")
        if after_figures is not None:
            st.markdown("**After** — draft")
            figures(after_figures, "tuning-whatif-after", before_figures)
    whatif_panel(rt, (working, name), (live_config, before_name), K, draw_figures)

    # ---- preview -----------------------------------------------------------------------------------------------
    st.subheader("Preview", anchor=False)
    snap = snapshot(rt)
    sample = default_sample(snap)
    linked = [pid for pid in sample if pid in snap.upsell]
    find, chooser, size = st.columns([2, 3, 1], vertical_alignment="bottom")
    picked = product_picker(rt, find, chooser, prefix="tuning", label="Product",
                            suggestions=lambda: list(rt.catalog.cards(list(linked or sample)).values()))
    product_id = picked.id if picked is not None else None
    with size:
        n = kept(st.number_input, "Items", key="tuning_n", default=12, min_value=1,
                 max_value=rt.settings.max_results, step=1, valid=lambda v: isinstance(v, int) and v >= 1)
    api = ensure_api(rt)
    if picked is not None and api is not None and api.url:  # the demo shop is served beside the API
        live, draft_page = shop_links(rt.settings, api.url, picked.sku)
        st.markdown(f"See it as a shopper: [live config]({live}) · [the draft]({draft_page}) (the link works for "
                    "an hour)")
    if product_id is not None:
        after_rec = attempt(rt.recommender, working)
        rows = (attempt(preview, rt.recommender(live_config), after_rec, product_id, name, n)
                if after_rec else None)
        if rows is not None:
            before_col, after_col = st.columns(2)
            with before_col:
                st.markdown(f"**Before** — live version {rt.config_version}, strategy {before_name}")
                preview_list(rows, "before", "tuning-before")
            with after_col:
                st.markdown(f"**After** — draft, strategy {name}")
                preview_list(rows, "after", "tuning-after")
            with st.expander("Rank changes as a table", icon=":material/table:"):
                table([r.record() for r in rows], "tuning-changes")

