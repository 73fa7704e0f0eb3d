"""Product tiles and grids: photo, title, price, colour, category and, for results, "% match" and reasons.

Every grid lives in a keyed container (`st-key-<key>` in the page's HTML), so tests and browser checks can
find one grid among several."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import streamlit as st

from engine.types import ProductCard, Recommendation

if TYPE_CHECKING:
    from engine.merchandising.previews import PreviewRow

from .fmt import category_of, facts, match, money
from .photos import photo_source

Pick = Callable[[int], None]


def md(text: str) -> str:
    """Text shown through st.markdown literally (titles may hold markdown characters)."""
    for ch in "\\`*_{}[]<>()#+-.!|~$":
        text = text.replace(ch, "\\" + ch)
    return text


@dataclass(frozen=True)
class Action:
    """A button under each tile; `act(product id)` runs on click; button keys are `<key>.<product id>`."""

    label: str
    act: Callable[[int], None]
    key: str
    icon: str | None = None
    help: str | None = None


def tile(card: ProductCard, rec: Recommendation | None = None, *, action: Action | None = None) -> None:
    with st.container(border=True):
        st.image(photo_source(card.image), width="stretch")
        st.markdown(f"**{md(card.title)}**")
        st.caption(facts(card))
        if rec is not None:
            st.caption(match(rec))
        if action is not None:
            st.button(action.label, key=f"{action.key}.{card.id}", icon=action.icon, on_click=action.act,
                      args=(card.id,), width="stretch", help=action.help)


def tile_grid(items: Sequence[ProductCard | Recommendation], *, key: str, per_row: int, empty: str | None,
              action: Action | None = None) -> None:
    """Products or ranked results, `per_row` tiles a row, in a keyed container; `empty` is said when there
    are none (None: nothing is shown)."""
    with st.container(key=key):
        if not items:
            if empty:
                st.info(empty)
            return
        items = list(items)
        for start in range(0, len(items), per_row):
            for col, item in zip(st.columns(per_row), items[start:start + per_row]):
                with col:
                    if isinstance(item, Recommendation):
                        tile(item.product, item, action=action)
                    else:
                        tile(item, action=action)


def result_grid(recs: Sequence[Recommendation], *, key: str, per_row: int = 4, empty: str = "No results.") -> None:
    """Ranked results, `per_row` tiles a row."""
    tile_grid(recs, key=key, per_row=per_row, empty=empty)


def product_grid(cards: Sequence[ProductCard], *, key: str, per_row: int = 6, pick: Pick | None = None,
                 empty: str = "No products.") -> None:
    """Catalog products (no scores), each with a "Pick" button when `pick` is given."""
    tile_grid(cards, key=key, per_row=per_row, empty=empty,
              action=Action("Pick", pick, f"{key}.pick") if pick is not None else None)


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


CHANGE_COLOURS = {"new": "blue", "up": "green", "down": "orange", "same": "gray", "out": "red"}


def preview_list(rows: Sequence["PreviewRow"], side: str, key: str) -> None:
    """One side of the preview, a compact line per item: rank and move, photo, title, facts and match."""
    items = [(getattr(r, side), getattr(r, f"{side}_change")) for r in rows if getattr(r, side) is not None]
    with st.container(key=key):
        if not items:
            st.info("Nothing to show for this product.")
        for rec, change in items:
            with st.container(border=True):
                photo, text = st.columns([1, 3], vertical_alignment="center")
                photo.image(photo_source(rec.product.image), width="stretch")
                with text:
                    st.badge(f"#{rec.rank} · {change.label}", color=CHANGE_COLOURS[change.kind])
                    st.markdown(f"**{md(rec.product.title)}**")
                    st.caption(facts(rec.product))
                    st.caption(match(rec))
