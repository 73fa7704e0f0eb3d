"""Formatting of numbers, prices, dates and product facts for display."""
from __future__ import annotations

from datetime import datetime

from engine.types import ProductCard, Recommendation

DASH = "—"


def money(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:,.2f}".replace(",", "\u202f")


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}".replace(",", "\u202f")


def percent(part: int, whole: int) -> str:
    if not whole:
        return DASH
    return f"{100.0 * part / whole:.1f}%"


def when(value: datetime | None) -> str:
    return DASH if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def category_of(card: ProductCard) -> str:
    return card.category_path or card.category or DASH


def facts(card: ProductCard) -> str:
    """The one-line description under a product's title: sku, price, colour, category."""
    return " · ".join([card.sku, money(card.price), card.colour or "no colour", card.category or DASH])


def match(rec: Recommendation) -> str:
    """The score line of a result: "87% match · same category, similar price"."""
    line = f"{rec.match_percent}% match"
    if rec.reasons:
        line += " · " + ", ".join(rec.reasons)
    return line


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"
