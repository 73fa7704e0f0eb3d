"""What the Personalisation page shows: the shoppers to choose from, a shopper's recent events, their interest
per category, and result tiles with a "Not like this" button.

The shopper list, the event history, the profile and the recommendations all come from `engine.recommend.personal`."""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from engine.insights.shoppers import HistoryEvent
from engine.recommend.profiles import Profile
from engine.types import ProductCard, Recommendation

from .grid import Action, tile_grid

HISTORY_ROWS = 50  # latest events of a shopper the page lists
HISTORY_COLUMNS = ("time", "kind", "product", "algorithm")

Act = Callable[[int], None]


def product_label(product_id: int, cards: dict[int, ProductCard]) -> str:
    card = cards.get(product_id)
    return f"{card.sku} — {card.title}" if card else f"#{product_id} (not in the catalog)"


def history_frame(events: Sequence[HistoryEvent], cards: dict[int, ProductCard]) -> pd.DataFrame:
    return pd.DataFrame([{"time": e.ts, "kind": e.kind, "product": product_label(e.product_id, cards),
                          "algorithm": e.algorithm or ""} for e in events], columns=list(HISTORY_COLUMNS))


def interest_frame(profile: Profile) -> pd.DataFrame:
    """The profile's share of interest per leaf category, largest first, labelled as the engine labels them."""
    ids = profile.top_categories(len(profile.categories))
    return pd.DataFrame({"category": [profile.category_labels.get(c, f"category {c}") for c in ids],
                         "share": [profile.categories[c] for c in ids]})


def price_band(profile: Profile | None) -> str | None:
    if profile is None or profile.price_band is None:
        return None
    lo, hi = profile.price_band
    return f"{lo:,.2f} – {hi:,.2f}".replace(",", "\u202f")


def disliking_grid(recs: Sequence[Recommendation], *, key: str, not_like: Act, per_row: int = 4,
                   empty: str = "No results.") -> None:
    """Ranked results, each tile with a "Not like this" button (button keys `<key>.not_like.<product id>`)."""
    tile_grid(recs, key=key, per_row=per_row, empty=empty,
              action=Action("Not like this", not_like, f"{key}.not_like", icon=":material/thumb_down:"))


def disliked_grid(cards: Sequence[ProductCard], *, key: str, show_again: Act, per_row: int = 6) -> None:
    """Products marked "not like this", each with an "Undo" button that takes the mark back
    (button keys `<key>.show_again.<product id>`)."""
    tile_grid(cards, key=key, per_row=per_row, empty=None,
              action=Action("Undo", show_again, f"{key}.show_again", icon=":material/undo:",
                            help="Take the mark back: show this product again."))
