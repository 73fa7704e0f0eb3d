"""Rules: pin a product into a slot or hide it — per style (every colour and size) or per SKU — and boost or bury
every product meeting a condition (low stock, a high margin, new, a brand or a colour), each everywhere or in
the lists of the chosen product's category, brand or own page, optionally between two dates; and see what the
draft does to that product's similar items against the live version.

Every change is saved at once in the shared draft (console/draft.py), which the Publish page makes live. The
product is picked by title or SKU with photos, and the scopes follow it, so a rule is said in the words a
merchandiser uses ("hide this hoodie in this category") rather than typed ids."""
import streamlit as st

from console.draft import banner, edit, edit_errors, working_config
from console.errors import attempt
from console.grid import preview_list
from console.picker import SEARCH_LIMIT, product_finder
from console.rules_view import (MATCH_LABELS, condition_input, condition_value, rules_table, scope_choices,
                                scope_of, scope_picker, window, window_inputs)
from console.runtime import get_runtime
from console.state import MIRROR, kept
from engine.errors import ValidationError
from engine.merchandising.edits import describe_scope, with_boost, with_rule, without_boosts, without_rules
from engine.merchandising.previews import preview, resolve_strategy
from engine.recommend.boosts import CONDITION_HELP, CONDITIONS
from engine.recommend.rules import ACTIONS, MATCHES
from engine.types import ProductCard

NOTICE = "rules_notice"
PREVIEW_N = 12
STRENGTH_STEP = 0.05

rt = get_runtime()
ss = st.session_state
SEARCH_QUERY_MAX = 200  # a link's query is shopper text: cut to what the finder's box is for
st.title("Rules", anchor=False)
banner()
st.caption("A hide beats a pin; the most specific pin wins a slot (product page, then category, then brand, then "
           "everywhere). Boosts add their strength to the strategy's score before the rules apply. Before = the "
           "live version; after = the shared draft.")


def card_of(key: str) -> ProductCard | None:
    """The product a picker holds now (read in callbacks, before the page is drawn again)."""
    pid = ss.get(key)
    return rt.catalog.cards([pid]).get(pid) if pid is not None else None


# ---- actions (callbacks run before the page is drawn again) ----------------------------------------------------
def add_rule() -> None:
    action, match, kind = ss["rule_action"], ss["rule_match"], ss["rule_scope"]
    item, page = card_of("rule_item_product"), card_of("rules_product")
    slot = int(ss["rule_slot"]) if action == "pin" else None
    starts, ends = window("rule")
    where = scope_choices(page).get(kind, kind)

    def change(config):
        if item is None:
            raise ValidationError("choose the product to pin or hide")
        return with_rule(config, action, item.id, slot, scope_of(kind, page), ss.get("rule_note", "").strip(),
                         match=match, starts=starts, ends=ends)

    what = f"{action} {item.sku if item else '?'} ({MATCH_LABELS[match]})" + (f" at slot {slot}" if slot else "")
    draft = edit(change, f"{what}, {where.lower()}")
    if draft is not None:
        rule = draft.config.rules[-1]
        ss[NOTICE] = f"Added {rule.id}: {what} — {describe_scope(rule.scope, rt.catalog)}."


def add_boost() -> None:
    condition, strength, kind = ss["boost_condition"], float(ss["boost_strength"]), ss["boost_scope"]
    value, page = condition_value(condition), card_of("rules_product")
    starts, ends = window("boost")
    draft = edit(lambda c: with_boost(c, condition, value, strength, scope=scope_of(kind, page), starts=starts,
                                      ends=ends, note=ss.get("boost_note", "").strip()),
                 f"{'bury' if strength < 0 else 'boost'} {condition} {value} ({strength:+.2f})")
    if draft is not None:
        boost = draft.config.boosts[-1]
        ss[NOTICE] = f"Added {boost.id}: {boost.describe()} — {describe_scope(boost.scope, rt.catalog)}."


def remove() -> None:
    chosen = ss.get("rules_remove", [])
    rules = [v.split(":", 1)[1] for v in chosen if v.startswith("rule:")]
    boosts = [v.split(":", 1)[1] for v in chosen if v.startswith("boost:")]
    names = ", ".join(rules + boosts)
    if edit(lambda c: without_boosts(without_rules(c, rules), boosts), f"removed {names}") is not None:
        ss[NOTICE] = f"Removed {names}."
        ss["rules_remove"] = []


# ---- the product whose lists are shaped ------------------------------------------------------------------------
if NOTICE in ss:
    st.success(ss.pop(NOTICE), icon=":material/check_circle:")
edit_errors()
draft = working_config()

st.subheader("Product page", anchor=False)
page = product_finder(rt, prefix="rules", label="Product whose similar items you shape",
                      suggestions=lambda: rt.catalog.list_products(active_only=True, limit=SEARCH_LIMIT).items,
                      help="The preview shows its similar items; the scopes below follow it.")

# ---- the rules and boosts of the draft -------------------------------------------------------------------------
st.subheader("Rules and boosts of the draft", anchor=False)
if not draft.rules and not draft.boosts:
    st.info("No rules or boosts yet: add one below.")
else:
    rules_table(draft, rt.catalog, "rules-table")
    ids = [f"rule:{r.id}" for r in draft.rules] + [f"boost:{b.id}" for b in draft.boosts]
    ss["rules_remove"] = [v for v in ss.get("rules_remove", []) if v in ids]  # another tab may have removed one
    remove_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
    with remove_col:
        st.multiselect("To remove", ids, key="rules_remove", format_func=lambda v: v.split(":", 1)[1])
    with button_col:
        st.button("Remove", key="rules_remove_run", on_click=remove, disabled=not ss.get("rules_remove"),
                  icon=":material/delete:", width="stretch")


def shown_items() -> list[ProductCard]:
    """What a merchandiser most often pins or hides: the items the draft shows for the product above."""
    if page is None:
        return rt.catalog.list_products(active_only=True, limit=SEARCH_LIMIT).items
    return [r.product for r in attempt(rt.recommender(draft).similar, page.id, n=PREVIEW_N) or []]


asked = st.query_params.get("query", "").strip()[:SEARCH_QUERY_MAX]
if asked:  # arrived from Analytics' failed searches: the product finder starts with the shoppers' words
    if ss.get("rules_asked") != asked:
        ss["rules_asked"] = ss[MIRROR + "rule_item_query"] = asked
    st.info(f"Shoppers searched “{asked}” without a good answer: find the products that answer it below, then "
            "pin or boost them.", icon=":material/search_insights:")

pin_tab, boost_tab = st.tabs(["Pin or hide a product", "Boost or bury by condition"])
with pin_tab:
    item = product_finder(rt, prefix="rule_item", label="Product to pin or hide", suggestions=shown_items,
                          help="Without a search: the similar items the draft shows for the product above.")
    action_col, match_col, slot_col = st.columns([2, 3, 1], vertical_alignment="bottom")
    with action_col:
        action = kept(st.radio, "Action", list(ACTIONS), key="rule_action", default="pin", horizontal=True,
                      valid=lambda v: v in ACTIONS, format_func=str.title)
    with match_col:
        match = kept(st.radio, "Applies to", list(MATCHES)[::-1], key="rule_match", default="style",
                     horizontal=True, valid=lambda v: v in MATCHES, format_func=MATCH_LABELS.__getitem__,
                     help="A style rule acts on every colour and size of the product's style (its variant group).")
    with slot_col:
        kept(st.number_input, "Slot", key="rule_slot", default=1, min_value=1, max_value=rt.settings.max_results,
             step=1, valid=lambda v: isinstance(v, int) and v >= 1, disabled=action != "pin",
             help="1 = the first position.")
    if item is not None:
        st.caption(f"Every colour and size of style {item.group_key} ({item.title})."
                   if match == "style" and item.group_key else f"Only {item.sku} ({item.title}).")
    scope_picker("rule_scope", page)
    window_inputs("rule")
    kept(st.text_input, "Note", key="rule_note", default="", placeholder="why the rule exists (for the team)")
    st.button("Add the rule", key="rule_add", on_click=add_rule, type="primary", icon=":material/add:",
              disabled=item is None)

with boost_tab:
    condition_col, value_col = st.columns(2, vertical_alignment="bottom")
    with condition_col:
        condition = kept(st.selectbox, "Condition", list(CONDITIONS), key="boost_condition",
                         default=CONDITIONS[0], valid=lambda v: v in CONDITIONS,
                         format_func=lambda c: CONDITION_HELP[c][:1].upper() + CONDITION_HELP[c][1:])
    with value_col:
        condition_input(condition, rt.catalog)
    strength = kept(st.slider, "Strength", key="boost_strength", default=0.3, min_value=-1.0, max_value=1.0,
                    step=STRENGTH_STEP, valid=lambda v: isinstance(v, float) and -1 <= v <= 1,
                    help="Added to the score (0 to 1) of every matching product: 1 beats any difference the "
                         "strategy makes, a small one only breaks near ties. Negative buries.")
    st.caption(f"Boost: matching products move up (+{strength:.2f})." if strength > 0 else
               f"Bury: matching products move down ({strength:.2f})." if strength < 0 else
               "A strength of 0 does nothing: move the slider right to boost, left to bury.")
    scope_picker("boost_scope", page)
    window_inputs("boost")
    kept(st.text_input, "Note", key="boost_note", default="", placeholder="why (for the team)")
    st.button("Add the bury" if strength < 0 else "Add the boost", key="boost_add", on_click=add_boost,
              type="primary", icon=":material/trending_down:" if strength < 0 else ":material/trending_up:")

# ---- preview ---------------------------------------------------------------------------------------------------
st.subheader("Effect on similar items", anchor=False)
if page is None:
    st.info("Find a product at the top of the page to preview its similar items.")
else:
    strategies = list(draft.strategies)
    strategy = kept(st.selectbox, "Strategy", strategies, key="rules_strategy", default=draft.default_strategy,
                    valid=lambda v: v in draft.strategies)
    after_rec = attempt(rt.recommender, draft)
    rows = attempt(preview, rt.recommender(rt.config), after_rec, page.id, strategy, PREVIEW_N) if after_rec else None
    if rows is not None:
        before_col, after_col = st.columns(2)
        with before_col:
            st.markdown(f"**Before** — live version {rt.config_version}, strategy "
                        f"{resolve_strategy(rt.config, strategy)}")
            preview_list(rows, "before", "rules-before")
        with after_col:
            st.markdown(f"**After** — draft, strategy {strategy}")
            preview_list(rows, "after", "rules-after")
        with st.expander("Rank changes as a table", icon=":material/table:"):
            with st.container(key="rules-changes"):
                st.dataframe([r.record() for r in rows], hide_index=True)
