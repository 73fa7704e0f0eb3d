"""Complete the look: edit which categories complete which (the complementary map of the shared draft), see a
product's look, and judge the map by the catalog's own related and cross-sell links against random picks from
the same target categories — the draft beside the live version.

"Apply" saves the map in the shared draft at once (console/draft.py), as every merchandising page does; the
Publish page makes it live. Nothing is kept in the browser session, so a reload shows the same map."""

import pandas as pd
import streamlit as st

from console.draft import banner, edit, edit_errors, working_config
from console.errors import attempt
from console.grid import tile
from console.picker import product_finder
from console.runtime import get_runtime
from engine.merchandising.edits import with_look_map
from engine.merchandising.history import diff
from engine.merchandising.looks import evaluate_looks, judge_product_look
from engine.merchandising.snapshot import look_sample, snapshot
from engine.recommend.looks import MAX_ITEMS_LIMIT, ROW_COLUMNS, mapping_to_rows, relation_label

NOTICE = "looks_notice"
EDITS = "looks_edits"  # bumped after a saved map, so the editor starts again from the draft's map
PER_ROW = 5

rt = get_runtime()
ss = st.session_state
live = rt.config
st.title("Complete the look", anchor=False)
banner()
st.caption("A product's look takes the best items of the complementary categories of its deepest mapped "
           "category, in map order. Before = the live version; the map you apply is saved in the shared draft.")

if NOTICE in ss:
    st.success(ss.pop(NOTICE), icon=":material/check_circle:")
edit_errors()
draft = working_config()


def look_row(look, key: str) -> None:
    """A look's items in rows of tiles, each under its relation to the source."""
    with st.container(key=key):
        if not look:
            st.info("No map entry covers this product's category, or its target categories are empty.")
        for start in range(0, len(look), PER_ROW):
            for col, rec in zip(st.columns(PER_ROW), look[start:start + PER_ROW]):
                with col:
                    st.badge(relation_label(rec.relation or "", rec.product.language or "en"), color="violet")
                    tile(rec.product, rec)


# ---- the map ---------------------------------------------------------------------------------------------------
st.subheader("Complementary categories", anchor=False)
nodes = rt.catalog.categories()
paths = [n.path for n in nodes]
rows = mapping_to_rows(draft.complementary)
options = list(dict.fromkeys(paths + [r[c] for r in rows for c in ("category", "complementary")]))
edited = st.data_editor(
    pd.DataFrame(rows, columns=list(ROW_COLUMNS)), key=f"looks_map_{ss.get(EDITS, 0)}", num_rows="dynamic",
    hide_index=True, column_config={
        "category": st.column_config.SelectboxColumn("Category", options=options, required=True,
                                                     help="The source product's category (its subtree too)."),
        "complementary": st.column_config.SelectboxColumn("Complementary", options=options, required=True,
                                                          help="Where the look's items come from."),
        "relation": st.column_config.TextColumn("Relation", required=True,
                                                help="What the item is to the source: bottom, bag, layer…"),
        "max_items": st.column_config.NumberColumn("Items", min_value=1, max_value=MAX_ITEMS_LIMIT, step=1,
                                                   default=1, help="How many items of this category a look shows."),
    })
apply_col, reset_col = st.columns(2)
apply = apply_col.button("Apply the map to the draft", key="looks_apply", type="primary", icon=":material/check:",
                         width="stretch")
reset = reset_col.button("Back to the live map", key="looks_reset", icon=":material/undo:", width="stretch",
                         disabled=draft.complementary == live.complementary)
if apply or reset:
    # The editor's rows exist only in this run, so the save happens here rather than in a callback; the page
    # runs again to show the saved map (or, when refused, the problems, with the edits still in the editor).
    saved = (edit(lambda c: with_look_map(c, edited.to_dict("records"), paths, [n.id for n in nodes]),
                  "complete-the-look map") if apply else
             edit(lambda c: with_look_map(c, mapping_to_rows(live.complementary)),
                  f"complete-the-look map back to live version {rt.config_version}"))
    if saved is not None:
        changes = diff(draft, saved.config)
        ss[NOTICE] = ("The map is the live map again." if reset else "The map is unchanged." if not changes else
                      f"Applied the map to the draft ({len(changes)} change(s)).")
        ss[EDITS] = ss.get(EDITS, 0) + 1
    st.rerun()

# ---- evaluation over the sample --------------------------------------------------------------------------------
st.subheader("Judged by the catalog's links", anchor=False)
with st.spinner("Completing the looks of the sample products…"):
    judged = attempt(evaluate_looks, rt, draft)
    before = attempt(evaluate_looks, rt, live)
if judged is not None:
    with st.container(key="looks-evaluation", horizontal=True):
        st.metric("Linked look items", f"{100 * judged.rate:.1f}%", border=True,
                  delta=f"{100 * (judged.rate - before.rate):+.1f} pp vs the live version"
                  if before is not None and judged.rate != before.rate else None,
                  help="Share of look items whose style the source's related or cross-sell links name.")
        st.metric("Random in the target categories", f"{100 * judged.baseline:.1f}%", border=True,
                  help="The share expected when every look item is a random product of its target category.")
        st.metric("Looks judged", str(judged.queries), border=True,
                  help=f"Products with related or cross-sell links, {judged.items} look items in all.")
    st.caption(f"The draft's map: {judged.linked} of {judged.items} items linked over {judged.queries} sample "
               "looks, " + ("from the cache." if judged.cached else f"computed in {judged.seconds:.1f} s."))

# ---- one product's look ----------------------------------------------------------------------------------------
st.subheader("Preview", anchor=False)
picked = product_finder(rt, prefix="looks", label="Product",
                        suggestions=lambda: list(rt.catalog.cards(list(look_sample(snapshot(rt)))).values()))
if picked is not None:
    result = attempt(judge_product_look, rt, draft, picked.id)
    if result is not None:
        look, judgement = result
        st.caption(f"{picked.sku} in {picked.category_path or 'no category'}: "
                   f"{judgement.linked} of {judgement.items} items linked to it "
                   f"(random picks: {judgement.expected:.1f} expected).")
        look_row(look, "looks-preview")
    if draft.complementary != live.complementary:
        live_look = attempt(judge_product_look, rt, live, picked.id)
        if live_look is not None:
            with st.expander(f"Before: the look of live version {rt.config_version}", icon=":material/history:"):
                look_row(live_look[0], "looks-live")
