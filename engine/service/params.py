"""Query parameters several routes share, declared once as FastAPI dependencies: each route that takes
them lists them in its signature through Depends, so they are validated alike everywhere and every route's
entry in /openapi.json names each of them. The dependencies are coroutines only because they never block:
FastAPI would run a plain function in its thread pool, one hop per dependency per request."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import Query
from pydantic import StringConstraints

from engine.service.models import MAX_TEXT, Clean, ProductText, Values

Stripped = StringConstraints(strip_whitespace=True)
# Every text parameter: no NUL (a URL's invalid UTF-8 never reaches here: engine.service.requests.admit
# refuses it on the raw bytes, as the server would have decoded it into U+FFFD).
Text = (Stripped, Clean)
ProductKey = (Stripped, ProductText)  # a product id or SKU: clean text, and digits within the id range


@dataclass(frozen=True)
class Refine:
    """What a list may be narrowed to besides the category."""

    price_min: float | None = None
    price_max: float | None = None
    color: list[str] | None = None
    in_stock: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def refine(
    price_min: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Lowest price.")] = None,
    price_max: Annotated[float | None, Query(ge=0, allow_inf_nan=False, description="Highest price.")] = None,
    color: Annotated[Values, Query(description="Colour names; any of them matches. Repeat the parameter or "
                                               "separate values with commas.")] = None,
    in_stock: Annotated[bool, Query(description="Only products in stock.")] = False,
) -> Refine:
    return Refine(price_min, price_max, color, in_stock)


async def category(
    category: Annotated[str | None, Query(min_length=1, max_length=256, description=(
        "Category id or path (Men/Tops/Jackets): only products in its subtree.")), *Text] = None,
) -> str | None:
    return category


@dataclass(frozen=True)
class Shopper:
    """Who the list is for: recorded with its impressions, so clicks can be attributed to it."""

    session_id: str | None = None
    user_id: str | None = None


# The shopper's parameters, declared once: the routes check them through `shopper`, and the hit path
# (engine.service.hits) checks the same declarations with pydantic when it answers a cached list by itself.
SessionId = Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT, description=(
    "Shopper session, recorded with the impressions of the list.")), *Text]
UserId = Annotated[str | None, Query(min_length=1, max_length=MAX_TEXT, description=(
    "Signed-in shopper, recorded with the impressions of the list.")), *Text]


async def shopper(session_id: SessionId = None, user_id: UserId = None) -> Shopper:
    return Shopper(session_id, user_id)


async def strategy(
    strategy: Annotated[str | None, Query(min_length=1, max_length=64, description=(
        "Reranking strategy of the config (default: its default_strategy).")), *Text] = None,
) -> str | None:
    return strategy
