"""Complete the look: edit which categories complete which (the complementary map of the working config), see a
product's look, and judge the map by the catalog's own related and cross-sell links against random picks from
the same target categories.

The map is part of the working config (st.session_state["working_config"]), which the Tuning page exports."""

import pandas as pd
import streamlit as st

from console.errors import attempt
from console.grid import tile
from console.picker import product_picker
from console.runtime import WORKING, get_runtime, working_config
from engine.merchandising.history import diff
from engine.errors import ConfigError
from engine.recommend.looks import MAX_ITEMS_LIMIT, ROW_COLUMNS, mapping_to_rows, relation_label
from engine.merchandising.edits import with_look_map
from engine.merchandising.looks import evaluate_looks, judge_product_look
from engine.merchandising.snapshot import look_sample, snapshot

NOTICE = "looks_notice"
EDITS = "looks_edits"  # bumped after an apply or a reset, so the editor starts again from the working map
PER_ROW = 5

rt = get_runtime()
ss = st.session_state
working_config()  # creates the session's working copy on first visit
st.title("Complete the look", anchor=False)
st.caption("A product's look takes the best items of the complementary categories of its deepest mapped "
           "category, in map order. The map joins the working config: export it on the Tuning page.")

working = ss[WORKING]
if NOTICE in ss:
    st.success(ss.pop(NOTICE), icon=":material/check_circle:")

# ---- the map ---------------------------------------------------------------------------------------------------
st.subheader("Complementary categories", anchor=False)
nodes = rt.catalog.categories()
paths = [n.path for n in nodes]
rows = mapping_to_rows(working.complementary)
options = list(dict.fromkeys(paths + [r[c] for r in rows for c in ("category", "complementary")]))
editor_key = f"looks_map_{ss.get(EDITS, 0)}"
edited = st.data_editor(
    pd.DataFrame(rows, columns=list(ROW_COLUMNS)), key=editor_key, num_rows="dynamic", hide_index=True,
    column_config={
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
apply = apply_col.button("Apply the map", key="looks_apply", type="primary", icon=":material/check:",
                         width="stretch")
reset = reset_col.button("Back to the saved map", key="looks_reset", icon=":material/undo:", width="stretch",
                         disabled=working.complementary == rt.config.complementary)
if apply:
    try:
        ss[WORKING] = with_look_map(working, edited.to_dict("records"), paths, [n.id for n in nodes])
    except ConfigError as e:
        st.error(f"The map was not applied: {len(e.errors)} problem(s).")
        for problem in e.errors:
            st.error(problem)
    else:
        changes = diff(working, ss[WORKING])
        ss[NOTICE] = f"Applied the map ({len(changes)} change(s))." if changes else "The map is unchanged."
        ss[EDITS] = ss.get(EDITS, 0) + 1
        st.rerun()
if reset:
    ss[WORKING] = with_look_map(working, mapping_to_rows(rt.config.complementary))
    ss[NOTICE] = "The map is the saved map again."
    ss[EDITS] = ss.get(EDITS, 0) + 1
    st.rerun()

# ---- evaluation over the sample --------------------------------------------------------------------------------
st.subheader("Judged by the catalog's links", anchor=False)
with st.spinner("Completing the looks of the sample products…"):
    judged = attempt(evaluate_looks, rt, working)
    saved = attempt(evaluate_looks, rt, rt.config)
if judged is not None:
    with st.container(key="looks-evaluation", horizontal=True):
        st.metric("Linked look items", f"{100 * judged.rate:.1f}%", border=True,
                  delta=f"{100 * (judged.rate - saved.rate):+.1f} pp vs the saved map"
                  if saved is not None and judged.rate != saved.rate else None,
                  help="Share of look items whose style the source's related or cross-sell links name.")
        st.metric("Random in the target categories", f"{100 * judged.baseline:.1f}%", border=True,
                  help="The share expected when every look item is a random product of its target category.")
        st.metric("Looks judged", str(judged.queries), border=True,
                  help=f"Products with related or cross-sell links, {judged.items} look items in all.")
    st.caption(f"{judged.linked} of {judged.items} items linked over {judged.queries} sample looks, "
               + ("from the cache." if judged.cached else f"computed in {judged.seconds:.1f} s."))

# ---- one product's look ----------------------------------------------------------------------------------------
st.subheader("Preview", anchor=False)
find, chooser = st.columns([2, 3], vertical_alignment="bottom")
picked = product_picker(rt, find, chooser, prefix="looks", label="Product",
                        suggestions=lambda: list(rt.catalog.cards(list(look_sample(snapshot(rt)))).values()))
product_id = picked.id if picked is not None else None
if product_id is not None:
    result = attempt(judge_product_look, rt, ss[WORKING], product_id)
    if result is not None:
        look, judgement = result
        source = picked
        st.caption(f"{source.sku} in {source.category_path or 'no category'}: "
                   f"{judgement.linked} of {judgement.items} items linked to it "
                   f"(random picks: {judgement.expected:.1f} expected).")
        with st.container(key="looks-preview"):
            if not look:
                st.info("No map entry covers this product's category, or its target categories are empty.")
            for start in range(0, len(look), PER_ROW):
                for col, rec in zip(st.columns(PER_ROW), look[start:start + PER_ROW]):
                    with col:
                        st.badge(relation_label(rec.relation or "", rec.product.language or "en"), color="violet")
                        tile(rec.product, rec)
