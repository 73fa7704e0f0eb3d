"""Rules: pin a product into a slot or hide it — everywhere, in a category, or in one product's lists — and see
what the rules do to a product's similar items (before: the working config without rules; after: with them).

Rules are part of the working config (st.session_state["working_config"]), which the Tuning page exports."""
from dataclasses import replace

import pandas as pd
import streamlit as st

from console.errors import attempt
from console.grid import preview_list
from console.picker import SEARCH_LIMIT, product_picker
from console.runtime import WORKING, get_runtime, working_config
from console.state import kept
from engine.errors import ConfigError, VitrinaError
from engine.recommend.rules import ACTIONS
from engine.merchandising.edits import (SCOPE_KINDS, describe_scope, scope_text, unknown_rule_products, with_rule,
                                        without_rules)
from engine.merchandising.previews import preview

NOTICE, ERRORS = "rules_notice", "rules_errors"
PREVIEW_N = 12
SCOPE_LABELS = {"everywhere": "Everywhere", "category": "In a category", "product": "In the picked product's lists"}

rt = get_runtime()
ss = st.session_state
working_config()  # creates the session's working copy on first visit
st.title("Rules", anchor=False)
st.caption("A hide beats a pin; the most specific pin wins a slot (product, then category, then everywhere). "
           "Rules join the working config: export it on the Tuning page.")


# ---- the product whose lists are previewed ---------------------------------------------------------------------
find, chooser = st.columns([2, 3], vertical_alignment="bottom")
picked = product_picker(rt, find, chooser, prefix="rules", label="Product to preview",
                        suggestions=lambda: rt.catalog.list_products(active_only=True, limit=SEARCH_LIMIT).items)


def table(records: list[dict], key: str) -> None:
    """A read-only table in a keyed container (`st-key-<key>`), so tests and browser checks can find it."""
    with st.container(key=key):
        st.dataframe(pd.DataFrame(records), hide_index=True)


# ---- actions ---------------------------------------------------------------------------------------------------
def add() -> None:
    action, kind = ss["rule_action"], ss["rule_scope"]
    try:
        product = rt.catalog.get(ss["rule_sku"])
        if kind == "product" and picked is None:
            raise VitrinaError("pick the product whose lists the rule is for")
        ref = ss["rule_category"] if kind == "category" else picked.id if kind == "product" else None
        ss[WORKING] = with_rule(ss[WORKING], action, product.id, int(ss["rule_slot"]) if action == "pin" else None,
                                scope_text(kind, ref), ss["rule_note"].strip())
    except ConfigError as e:
        ss[ERRORS] = e.errors
        return
    except VitrinaError as e:
        ss[ERRORS] = [str(e)]
        return
    ss.pop(ERRORS, None)
    ss[NOTICE] = f"Added: {action} {product.sku} ({describe_scope(ss[WORKING].rules[-1].scope, rt.catalog)})."


def remove() -> None:
    try:
        ss[WORKING] = without_rules(ss[WORKING], ss["rules_remove"])
    except VitrinaError as e:
        ss[ERRORS] = [str(e)]
        return
    ss.pop(ERRORS, None)
    ss[NOTICE] = f"Removed {', '.join(ss['rules_remove'])}."
    ss["rules_remove"] = []


working = ss[WORKING]
if NOTICE in ss:
    st.success(ss.pop(NOTICE), icon=":material/check_circle:")
for error in ss.get(ERRORS, []):
    st.error(error)

# ---- the rules -------------------------------------------------------------------------------------------------
st.subheader("Rules of the working config", anchor=False)
stale = unknown_rule_products(working, rt.catalog)
if stale:
    st.warning("These rules name products the catalog no longer holds, so they do nothing; remove them: "
               + "; ".join(stale), icon=":material/link_off:")
products = rt.catalog.cards([r.product_id for r in working.rules])
if not working.rules:
    st.info("No rules yet: add one below.")
else:
    table([{"id": r.id, "action": r.action,
            "product": f"{products[r.product_id].sku} — {products[r.product_id].title}" if r.product_id in products
            else f"{r.product_id} (no longer in the catalog)",
            "slot": r.slot, "where": describe_scope(r.scope, rt.catalog), "note": r.note} for r in working.rules],
          "rules-table")
    ids = [r.id for r in working.rules]
    remove_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    with remove_col:
        st.multiselect("Rules to remove", ids, key="rules_remove")
    with button_col:
        st.button("Remove", key="rules_remove_run", on_click=remove, disabled=not ss.get("rules_remove"),
                  icon=":material/delete:", width="stretch")

st.subheader("Add a rule", anchor=False)
nodes = rt.catalog.categories()
labels = {n.id: n.label for n in nodes}
action_col, sku_col, slot_col = st.columns([2, 3, 1], vertical_alignment="bottom")
with action_col:
    action = kept(st.radio, "Action", list(ACTIONS), key="rule_action", default="pin", horizontal=True,
                  valid=lambda v: v in ACTIONS, format_func=str.title)
with sku_col:
    kept(st.text_input, "Product (sku)", key="rule_sku", default="", placeholder="e.g. MH01-Black")
with slot_col:
    kept(st.number_input, "Slot", key="rule_slot", default=1, min_value=1, max_value=rt.settings.max_results, step=1,
         valid=lambda v: isinstance(v, int) and v >= 1, disabled=action != "pin", help="1 = the first position.")
scope_col, category_col = st.columns([2, 4], vertical_alignment="bottom")
with scope_col:
    scope = kept(st.radio, "Where", list(SCOPE_KINDS), key="rule_scope", default="everywhere",
                 valid=lambda v: v in SCOPE_KINDS, format_func=SCOPE_LABELS.__getitem__)
own_category = picked.category_id if picked is not None and picked.category_id in labels else None
with category_col:
    kept(st.selectbox, "Category", list(labels), key="rule_category", default=own_category or next(iter(labels), None),
         valid=lambda v: v in labels, format_func=labels.__getitem__, disabled=scope != "category",
         help="The rule applies to the lists of every product in this category or below it.")
kept(st.text_input, "Note", key="rule_note", default="", placeholder="why the rule exists (for the team)")
st.button("Add the rule", key="rule_add", on_click=add, type="primary", icon=":material/add:")


# ---- preview ---------------------------------------------------------------------------------------------------
st.subheader("Effect on similar items", anchor=False)
if picked is None:
    st.info("Find a product above to preview its similar items.")
else:
    strategies = list(working.strategies)
    strategy = kept(st.selectbox, "Strategy", strategies, key="rules_strategy", default=working.default_strategy,
                    valid=lambda v: v in working.strategies)
    organic = attempt(rt.recommender, replace(working, rules=[]))
    ruled = attempt(rt.recommender, working)
    rows = attempt(preview, organic, ruled, picked.id, strategy, PREVIEW_N) if organic and ruled else None
    if rows is not None:
        before_col, after_col = st.columns(2)
        with before_col:
            st.markdown("**Without rules**")
            preview_list(rows, "before", "rules-before")
        with after_col:
            st.markdown("**With the rules**")
            preview_list(rows, "after", "rules-after")
        with st.expander("Rank changes as a table", icon=":material/table:"):
            table([r.record() for r in rows], "rules-changes")
