"""Product tiles and grids: photo, title, price, colour, category and, for results, "% match" and reasons.

Every grid lives in a keyed container (`st-key-<key>` in the page's HTML), so tests and browser checks can
find one grid among several."""
from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from engine.types import ProductCard, Recommendation

from .fmt import category_of, facts, match, money
from .photos import photo_source

Pick = Callable[[int], None]


def md(text: str) -> str:
    """Text shown through st.markdown literally (titles may hold markdown characters)."""
    for ch in "\\`*_{}[]<>()#+-.!|~$":
        text = text.replace(ch, "\\" + ch)
    return text


def tile(card: ProductCard, rec: Recommendation | None = None, *, pick: Pick | None = None,
         key: str = "") -> None:
    with st.container(border=True):
        st.image(photo_source(card.image), width="stretch")
        st.markdown(f"**{md(card.title)}**")
        st.caption(facts(card))
        if rec is not None:
            st.caption(match(rec))
        if pick is not None:
            st.button("Pick", key=f"{key}.pick.{card.id}", on_click=pick, args=(card.id,), width="stretch")


def _rows(items: Sequence, per_row: int):
    for start in range(0, len(items), per_row):
        yield items[start:start + per_row], st.columns(per_row)


def result_grid(recs: Sequence[Recommendation], *, key: str, per_row: int = 4, empty: str = "No results.") -> None:
    """Ranked results, `per_row` tiles a row."""
    with st.container(key=key):
        if not recs:
            st.info(empty)
            return
        for chunk, cols in _rows(list(recs), per_row):
            for col, rec in zip(cols, chunk):
                with col:
                    tile(rec.product, rec)


def product_grid(cards: Sequence[ProductCard], *, key: str, per_row: int = 6, pick: Pick | None = None,
                 empty: str = "No products.") -> None:
    """Catalog products (no scores), each with a "Pick" button when `pick` is given."""
    with st.container(key=key):
        if not cards:
            st.info(empty)
            return
        for chunk, cols in _rows(list(cards), per_row):
            for col, card in zip(cols, chunk):
                with col:
                    tile(card, pick=pick, key=key)


def product_detail(card: ProductCard, *, key: str) -> None:
    """The picked product: a larger photo beside its facts."""
    with st.container(key=key, border=True):
        photo, text = st.columns([1, 3])
        with photo:
            st.image(photo_source(card.image), width="stretch")
        with text:
            st.subheader(card.title, anchor=False)
            st.markdown(f"**{money(card.price)}** · {md(card.colour or 'no colour')} · {md(category_of(card))}")
            details = [f"sku {card.sku}"]
            if card.brand:
                details.append(f"brand {card.brand}")
            details.append(f"{card.stock_qty} in stock" if card.in_stock else "out of stock")
            if card.group_key:
                details.append(f"style {card.group_key}")
            if not card.is_active:
                details.append("inactive")
            st.caption(" · ".join(details))
            if card.description:
                st.write(card.description[:400] + ("…" if len(card.description) > 400 else ""))
