"""The sidebar filters of the search pages, turned into the engine's `Filters`.

Their widgets are kept (see state.py) under the same keys on every page that draws them, so a choice made
on Similar items still holds on Visual search and Text search, and after a visit to another page."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import streamlit as st

from engine.runtime import Runtime
from engine.types import Filters

from .draft import working_config
from .state import kept

DEFAULT_RESULTS = 12


@dataclass
class FilterChoice:
    """What the sidebar asks for, before it becomes `Filters` and recommender arguments."""

    category_ids: list[int] = field(default_factory=list)
    price: tuple[float, float] | None = None  # None: the whole price range
    colours: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    in_stock: bool = False
    exclude_same_brand: bool = False  # recommender arguments, not filters: they depend on the source product
    exclude_same_style: bool = False
    n: int = DEFAULT_RESULTS
    strategy: str | None = None

    def filters(self) -> Filters:
        lo, hi = self.price if self.price is not None else (None, None)
        return Filters(category_ids=list(self.category_ids), price_min=lo, price_max=hi,
                       colours=list(self.colours), brands=list(self.brands), in_stock=self.in_stock)


def _subset(options: Iterable[Any]) -> Callable[[Any], bool]:
    allowed = set(options)
    return lambda v: isinstance(v, list) and all(x in allowed for x in v)


def price_bounds(rt: Runtime) -> tuple[float, float] | None:
    """The slider's ends: the catalog's price range widened to whole units."""
    rng = rt.catalog.price_range()
    if rng is None:
        return None
    lo, hi = float(math.floor(rng[0])), float(math.ceil(rng[1]))
    return (lo, hi) if hi > lo else None


def sidebar_filters(rt: Runtime, *, source_product: bool = False) -> FilterChoice:
    """Draw the filters in the sidebar. `source_product`: the page recommends from a product, so the
    "same brand" and "same style" exclusions apply."""
    bar = st.sidebar
    bar.header("Filters", anchor=False)
    choice = FilterChoice()

    nodes = rt.catalog.categories()
    labels = {n.id: f"{n.label} ({n.total})" for n in nodes}
    choice.category_ids = kept(bar.multiselect, "Category", list(labels), key="f_category", default=[],
                               valid=_subset(labels), format_func=labels.__getitem__,
                               help="A parent category includes its whole subtree.")

    bounds = price_bounds(rt)
    if bounds is not None:
        lo, hi = bounds
        picked = kept(bar.slider, "Price", lo, hi, key="f_price", default=(lo, hi), step=1.0,
                      valid=lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and lo <= v[0] <= v[1] <= hi)
        choice.price = None if tuple(picked) == (lo, hi) else (float(picked[0]), float(picked[1]))

    colours = list(rt.catalog.colours())
    choice.colours = kept(bar.multiselect, "Colour", colours, key="f_colour", default=[], valid=_subset(colours))
    brands = list(rt.catalog.brands())
    if brands:
        choice.brands = kept(bar.multiselect, "Brand", brands, key="f_brand", default=[], valid=_subset(brands))
    choice.in_stock = kept(bar.checkbox, "In stock only", key="f_in_stock", default=False)
    if source_product:
        choice.exclude_same_brand = kept(bar.checkbox, "Exclude the same brand", key="f_same_brand", default=False)
        choice.exclude_same_style = kept(bar.checkbox, "Exclude other colours of the same style",
                                         key="f_same_style", default=False)

    bar.divider()
    limit = rt.settings.max_results
    choice.n = kept(bar.number_input, "How many results", key="f_n", default=min(DEFAULT_RESULTS, limit),
                    min_value=1, max_value=limit, step=1,
                    valid=lambda v: isinstance(v, int) and 1 <= v <= limit)
    config = working_config()
    strategies = config.strategies
    names = list(strategies)
    choice.strategy = kept(bar.selectbox, "Ranking strategy", names, key="f_strategy",
                           default=config.default_strategy, valid=lambda v: v in strategies,
                           help="\n\n".join(f"**{k}** — {s.description}" for k, s in strategies.items()
                                            if s.description) or None)
    return choice
