"""The parts of the Rules page that are more than one widget: the scopes a chosen product offers, in words; the
optional start / end of a rule or boost; the value input of each boost condition; and the table of the draft's
rules and boosts with their status, where what does nothing now is greyed out with why.

A scope is always made from the product chosen on the page at the moment the rule is added, never from a
remembered id, so "this product's category" cannot stay on the product shown before."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from engine.catalog.queries import Catalog
from engine.merchandising.edits import describe_scope, rule_status, scope_text, unknown_rule_products
from engine.recommend.boosts import CONDITION_HELP, Boost
from engine.recommend.config import RecoConfig
from engine.recommend.rules import Rule, parse_time, time_text
from engine.types import ProductCard

from .state import kept

GREY = "color: #9aa0a6; font-style: italic"  # an inactive rule or boost: visibly set apart, still readable
MATCH_LABELS = {"style": "this style (all colours/sizes)", "sku": "this SKU only"}
STALE = "product no longer in the catalog"  # engine.merchandising.edits.rule_status's words for it
COLUMNS = ["id", "kind", "what", "status", "where", "when", "match", "slot", "note"]


# ---- scopes ----------------------------------------------------------------------------------------------------
def scope_choices(page: ProductCard | None) -> dict[str, str]:
    """scope kind → its label, for the product whose lists are shaped (brand only when it has one)."""
    out = {"everywhere": "Everywhere"}
    if page is None:
        return out
    if page.category_id is not None:
        out["category"] = f"This product's category: {page.category_path}"
    if page.brand:
        out["brand"] = f"This product's brand: {page.brand}"
    out["product"] = "Only on this product's own page"
    return out


def scope_meaning(kind: str, page: ProductCard | None) -> str:
    """What a scope means for the shopper, in one sentence."""
    if kind == "category" and page is not None:
        return (f"Acts on the similar items shown on the page of every product in {page.category_path} "
                "(and the categories below it).")
    if kind == "brand" and page is not None:
        return f"Acts on the similar items shown on the page of every {page.brand} product."
    if kind == "product" and page is not None:
        return f"Acts only on the similar items shown on the page of {page.sku} — {page.title}."
    return "Acts on every list: the similar items of every product, and text and photo searches."


def scope_of(kind: str, page: ProductCard | None) -> str:
    """The document's scope text for a kind, made from the chosen product (ValidationError without one)."""
    if kind == "everywhere":
        return scope_text(kind)
    ref = None if page is None else {"category": page.category_id, "brand": page.brand, "product": page.id}.get(kind)
    return scope_text(kind, ref)


def scope_picker(key: str, page: ProductCard | None) -> str:
    """A radio of the scopes the chosen product offers, with what the chosen one means under it."""
    options = scope_choices(page)
    where = f" (from {page.sku})" if page is not None else ""
    kind = kept(st.radio, f"Where{where}", list(options), key=key, default="everywhere",
                valid=lambda v: v in options, format_func=options.__getitem__,
                help="The scopes follow the product chosen at the top of the page.")
    st.caption(scope_meaning(kind, page))
    return kind


# ---- time window -----------------------------------------------------------------------------------------------
def window_inputs(prefix: str) -> None:
    """Optional start and end (`<prefix>_starts`, `<prefix>_ends`), read as UTC: empty means always."""
    starts, ends = st.columns(2)
    starts.datetime_input("Starts (UTC)", value=None, key=f"{prefix}_starts",
                          help="Empty: acts from now on. The start is included.")
    ends.datetime_input("Ends (UTC)", value=None, key=f"{prefix}_ends",
                        help="Empty: acts for ever. The end is excluded, so back-to-back windows never overlap.")


def window(prefix: str) -> tuple[datetime | None, datetime | None]:
    """The start and end the inputs hold (naive datetimes, which the document reads as UTC)."""
    return st.session_state.get(f"{prefix}_starts"), st.session_state.get(f"{prefix}_ends")


def window_text(starts: str | None, ends: str | None) -> str:
    def edge(t: str) -> str:
        try:
            return time_text(parse_time(t))
        except ValueError:
            return str(t)

    if starts is None and ends is None:
        return "always"
    if ends is None:
        return f"from {edge(starts)}"
    if starts is None:
        return f"until {edge(ends)}"
    return f"{edge(starts)} → {edge(ends)}"


# ---- boost conditions ------------------------------------------------------------------------------------------
def condition_input(condition: str, catalog: Catalog) -> None:
    """The value input of a condition, keyed `boost_<condition>`."""
    key = f"boost_{condition}"
    if condition == "stock_below":
        st.number_input("Units in stock below", min_value=1, value=100, step=1, key=key)
    elif condition == "margin_above":
        st.number_input("Margin above (0 to 1)", min_value=0.0, max_value=1.0, value=0.3, step=0.05, key=key,
                        help="0.3 = the cost is under 70% of the price. Products without a cost never match.")
    elif condition == "new_within_days":
        st.number_input("Added within the last (days)", min_value=1, value=30, step=1, key=key)
    else:
        names = list(catalog.brands() if condition == "brand_in" else catalog.colours())
        word = "brands" if condition == "brand_in" else "colours"
        st.multiselect(word.title(), names, key=key, placeholder=f"one or more {word} of the catalog",
                       disabled=not names, help=CONDITION_HELP[condition])
        if not names:
            st.caption(f"The catalog has no {word}.")


def condition_value(condition: str) -> Any:
    value = st.session_state.get(f"boost_{condition}")
    return list(value or []) if condition in ("brand_in", "colour_in") else value


# ---- the rules and boosts table --------------------------------------------------------------------------------
def _rule_row(r: Rule, cards: dict[int, ProductCard], catalog: Catalog) -> dict[str, str]:
    card = cards.get(r.product_id)
    what = f"{card.sku} — {card.title}" if card is not None else f"product {r.product_id} (no longer in the catalog)"
    match = MATCH_LABELS.get(r.match, str(r.match))
    if r.match == "style" and card is not None and card.group_key:
        match = f"style {card.group_key} (all colours/sizes)"
    return {"id": r.id, "kind": r.action, "what": what, "match": match, "slot": str(r.slot or ""),
            "where": describe_scope(r.scope, catalog), "when": window_text(r.starts, r.ends), "note": r.note}


def _boost_row(b: Boost, catalog: Catalog) -> dict[str, str]:
    kind, _, words = b.describe().partition(": ")
    return {"id": b.id, "kind": kind, "what": f"{words} (strength {b.strength:+.2f})", "match": "", "slot": "",
            "where": describe_scope(b.scope, catalog), "when": window_text(b.starts, b.ends), "note": b.note}


def listing(config: RecoConfig, catalog: Catalog, now: datetime | None = None) -> tuple[pd.DataFrame, list[bool]]:
    """One row per rule then per boost, every cell text, with its status; and whether each acts now."""
    cards = catalog.cards([r.product_id for r in config.rules])
    rows = [_rule_row(r, cards, catalog) for r in config.rules] + [_boost_row(b, catalog) for b in config.boosts]
    active = []
    for row, status in zip(rows, rule_status(config, catalog, now)):
        row["status"] = f"⚠ {status.why}" if status.why == STALE else status.why
        active.append(status.active)
    return pd.DataFrame(rows, columns=COLUMNS), active


def rules_table(config: RecoConfig, catalog: Catalog, key: str) -> None:
    """The draft's rules and boosts in a keyed container; rows that do nothing now are greyed out, the status
    column says why, and rules whose product left the catalog are flagged above the table."""
    stale = unknown_rule_products(config, catalog)
    if stale:
        with st.container(key=f"{key}-stale"):
            st.warning("These rules name products the catalog no longer holds, so they do nothing and the draft "
                       "cannot be published until they are removed: " + "; ".join(stale), icon=":material/link_off:")
    frame, active = listing(config, catalog)
    styled = frame.style.apply(lambda row: ["" if active[row.name] else GREY] * len(row), axis=1)
    with st.container(key=key):
        st.dataframe(styled, hide_index=True, column_config={
            "status": st.column_config.TextColumn("status", help="Greyed rows do nothing now: this says why."),
            "match": st.column_config.TextColumn("match", help="A style rule acts on every colour and size."),
            "where": st.column_config.TextColumn("where", help="The lists the rule or boost acts on.")})
    if not all(active):
        st.caption("Greyed rows do nothing now: not started yet, ended, or their product left the catalog.")
