"""The product chooser of the preview pages: a search box beside a selectbox of the matches."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from engine.runtime import Runtime
from engine.types import ProductCard

from .state import kept

SEARCH_LIMIT = 50


def product_picker(rt: Runtime, find, chooser, *, prefix: str, label: str,
                   suggestions: Callable[[], list[ProductCard]]) -> ProductCard | None:
    """The chosen product; without a search the selectbox offers `suggestions()`. Widgets are drawn into the
    `find` and `chooser` containers with keys `<prefix>_query` and `<prefix>_product`."""
    with find:
        query = kept(st.text_input, "Find a product", key=f"{prefix}_query", default="",
                     placeholder="sku or words of the title")
    found = rt.catalog.search(query, limit=SEARCH_LIMIT, active_only=True) if query.strip() else suggestions()
    cards = {c.id: c for c in found}
    with chooser:
        product_id = kept(st.selectbox, label, list(cards), key=f"{prefix}_product",
                          default=next(iter(cards), None), valid=lambda v: v in cards,
                          format_func=lambda pid: f"{cards[pid].sku} — {cards[pid].title}",
                          placeholder="no product matches the search")
    return cards.get(product_id)
