"""The product choosers: a search box beside a selectbox of the matches (`product_picker`), and the same with
photos (`product_finder`): the chosen product's photo beside the selectbox and the matches of a search as
photo tiles with a "Choose" button each, because merchandisers recognise a product by its picture and its
title long before they remember its SKU."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from engine.runtime import Runtime
from engine.types import ProductCard

from .grid import Action, tile_grid
from .photos import photo_source, placeholder
from .state import kept, put

SEARCH_LIMIT = 50
MATCH_TILES = 6  # one row of photo tiles under a search
THUMB_WIDTH = 72


def _matches(rt: Runtime, query: str, suggestions: Callable[[], list[ProductCard]]) -> list[ProductCard]:
    """Products whose SKU or title holds the search text; without a search, `suggestions()`."""
    return rt.catalog.search(query, limit=SEARCH_LIMIT, active_only=True) if query.strip() else suggestions()


def _selectbox(cards: dict[int, ProductCard], *, prefix: str, label: str, help: str | None = None) -> int | None:
    return kept(st.selectbox, label, list(cards), key=f"{prefix}_product", default=next(iter(cards), None),
                valid=lambda v: v in cards, format_func=lambda pid: f"{cards[pid].sku} — {cards[pid].title}",
                placeholder="no product matches the search", help=help)


def product_picker(rt: Runtime, find, chooser, *, prefix: str, label: str,
                   suggestions: Callable[[], list[ProductCard]]) -> ProductCard | None:
    """The chosen product; without a search the selectbox offers `suggestions()`. Widgets are drawn into the
    `find` and `chooser` containers with keys `<prefix>_query` and `<prefix>_product`."""
    with find:
        query = kept(st.text_input, "Find a product", key=f"{prefix}_query", default="",
                     placeholder="sku or words of the title")
    cards = {c.id: c for c in _matches(rt, query, suggestions)}
    with chooser:
        product_id = _selectbox(cards, prefix=prefix, label=label)
    return cards.get(product_id)


def product_finder(rt: Runtime, *, prefix: str, label: str, suggestions: Callable[[], list[ProductCard]],
                   help: str | None = None) -> ProductCard | None:
    """The chosen product, picked by title or SKU with photos: a search box, the chosen product's photo beside
    a selectbox of the matches (without a search: `suggestions()`), and under a search its first matches as
    photo tiles whose "Choose" button selects them.

    Keys: `<prefix>_query`, `<prefix>_product`; the photo in `<prefix>-photo`, the tiles in `<prefix>-matches`
    with buttons `<prefix>-matches.choose.<product id>`."""
    find, photo, chooser = st.columns([3, 1, 6], vertical_alignment="bottom")
    with find:
        query = kept(st.text_input, "Find a product", key=f"{prefix}_query", default="",
                     placeholder="sku or words of the title, e.g. MH07 or hoodie")
    found = _matches(rt, query, suggestions)
    cards = {c.id: c for c in found}
    with chooser:
        chosen = cards.get(_selectbox(cards, prefix=prefix, label=label, help=help))
    with photo, st.container(key=f"{prefix}-photo"):
        st.image(photo_source(chosen.image) if chosen is not None else placeholder(), width=THUMB_WIDTH)
    if query.strip():
        shown = found[:MATCH_TILES]
        more = f" (the first {len(shown)} of {len(found)})" if len(found) > len(shown) else ""
        with st.expander(f"Matches for “{query.strip()}”{more}", expanded=True, icon=":material/photo_library:"):
            tile_grid(shown, key=f"{prefix}-matches", per_row=MATCH_TILES, empty="No product matches the search.",
                      action=Action("Choose", lambda pid: put(f"{prefix}_product", pid), f"{prefix}-matches.choose",
                                    icon=":material/check:"))
    return chosen
