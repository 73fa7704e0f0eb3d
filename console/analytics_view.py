"""View models of the Analytics and Overview pages: the headline figures of a period against the period
before, the best algorithm of the period, the funnel (by sessions or by events, one frame for the chart and
its table), top movers and catalog health.

Everything reads the engine's counts for a Scope (engine.insights.analytics), so a figure here is the
engine's figure for the period the picker shows (console.period); the pages only draw."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, exists, func, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.catalog.models import Product, ProductImage, VectorSync
from engine.insights.analytics import Scope, funnel, group_counts

FUNNEL_VIEWS = {"sessions": "Sessions (default)", "events": "Events"}
STAGES = {"impression": "Shown", "click": "Clicked", "cart_add": "Added to cart", "purchase": "Purchased"}


# ---- headline figures ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    """One headline number this period and in the period before; `kind` says how it reads and how its delta
    is written: "count", "rate" (a proportion: its delta in percentage points) or "money"."""

    key: str
    label: str
    now: float | None
    before: float | None
    kind: str
    help: str = ""

    def value(self) -> str:
        return _show(self.now, self.kind)

    def delta(self) -> str | None:
        """The change against the period before, or None when either side has no value."""
        if self.now is None or self.before is None:
            return None
        if self.kind == "rate":
            return f"{100 * (self.now - self.before):+.2f} points"
        if self.before == 0:
            return None if self.now == 0 else "new"
        return f"{100 * (self.now / self.before - 1):+.1f}%"


def _show(v: float | None, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "rate":
        return f"{100 * v:.2f}%"
    if kind == "money":
        return f"{v:,.2f}".replace(",", "\u202f")
    return f"{int(v):,}".replace(",", "\u202f")


def totals(db: Database, scope: Scope) -> dict[str, Any]:
    """The engine's counts over `scope` in one group: impressions (the CTR denominator), clicks, carts,
    purchases, revenue and which rows the impressions are (`denominator`)."""
    counts = group_counts(db, [], scope).get((), {})
    out: dict[str, Any] = {k: int(counts.get(k, 0)) for k in ("impressions", "clicks", "carts", "purchases")}
    out["denominator"] = counts.get("denominator")
    return out


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def figures(db: Database, now: Scope, before: Scope) -> list[Figure]:
    """Impressions, clicks, CTR, purchases and conversion this period and the period before."""
    a, b = totals(db, now), totals(db, before)
    per = DENOMINATOR_NOUN.get(a["denominator"], "impression")
    return [
        Figure("impressions", "Impressions", a["impressions"], b["impressions"], "count", DENOMINATOR_HELP),
        Figure("clicks", "Clicks", a["clicks"], b["clicks"], "count"),
        Figure("ctr", "CTR", _rate(a["clicks"], a["impressions"]), _rate(b["clicks"], b["impressions"]), "rate",
               f"Clicks per {per}."),
        Figure("purchases", "Purchases", a["purchases"], b["purchases"], "count"),
        Figure("conversion", "Conversion", _rate(a["purchases"], a["impressions"]),
               _rate(b["purchases"], b["impressions"]), "rate", f"Purchases per {per}."),
    ]


DENOMINATOR_HELP = ("Recommendation tiles shown: the tiles a shopper's browser reported visible, and for lists no "
                    "browser reported on, the tiles the service served.")
DENOMINATOR_NOUN = {"impression": "impression (tile reported visible)", "served": "served tile",
                    "impression+served": "impression (reported visible, else served)"}
DENOMINATOR_TEXT = {
    "impression": "CTR and conversion divide by impressions: tiles shoppers' browsers reported visible.",
    "served": "CTR and conversion divide by served tiles: no browser reported which tiles were seen in this "
              "period.",
    "impression+served": "CTR and conversion divide by impressions: tiles shoppers' browsers reported visible, "
                         "and for lists no browser reported on, the tiles the service served.",
}


def denominator(db: Database, scope: Scope) -> str:
    """Which rows the period's CTR divides by, in words (the engine's `denominator` of the period's counts)."""
    return DENOMINATOR_TEXT.get(totals(db, scope)["denominator"], "No list was shown in this period.")


# ---- revenue ------------------------------------------------------------------------------------------------

REVENUE_GROUPS = {"algorithm": "Algorithm", "strategy": "Strategy", "config_version": "Config version"}
ATTRIBUTION = ("Attribution: a purchase is credited to the recommendation list it names (its algorithm, strategy "
               "and config version); a purchase naming none is credited to the last click in the same session "
               "before it, else shown as “(none)”. Intervals: 95% bootstrap over the period's daily revenue. "
               "Purchases without a price count as purchases, never as revenue.")


@dataclass(frozen=True)
class Money:
    """Revenue figures of one period: all traffic, or the algorithms chosen (their attributed share)."""

    revenue: float
    orders: int
    impressions: int
    without_price: int

    @property
    def aov(self) -> float | None:
        return self.revenue / self.orders if self.orders else None

    @property
    def per_mille(self) -> float | None:
        return 1000 * self.revenue / self.impressions if self.impressions else None


def money(summary: Any, algorithms: Sequence[str] = ()) -> Money:
    """The Money of a RevenueSummary (engine.insights.revenue); with `algorithms`, the revenue attributed to
    them, their orders and impressions."""
    if not algorithms:
        return Money(float(summary.revenue), int(summary.orders), int(summary.impressions),
                     int(summary.purchases_without_price))
    g = summary.by_group
    rows = g[(g["group_kind"] == "algorithm") & g["group"].isin(list(algorithms))]
    return Money(float(rows["revenue"].sum()), int(rows["orders"].sum()), int(rows["impressions"].sum()),
                 int(summary.purchases_without_price))


def money_figures(now: Money, before: Money) -> list[Figure]:
    return [
        Figure("revenue", "Revenue", now.revenue, before.revenue, "money",
               "Price × quantity of the purchases with a price, credited to recommendations."),
        Figure("aov", "Average order", now.aov, before.aov, "money", "Revenue per priced purchase."),
        Figure("rpm", "Revenue per 1,000 impressions", now.per_mille, before.per_mille, "money"),
    ]


def revenue_bars(summary: Any, by: str) -> pd.DataFrame:
    """Revenue per `by` value with its bootstrap interval as bar error lengths (plus / minus), and the group's
    orders, AOV and revenue per mille; machine-named columns (the CSV keeps them)."""
    g = summary.by_group
    rows = g[g["group_kind"] == by].drop(columns=["group_kind"]).reset_index(drop=True)
    rows = rows.rename(columns={"group": by})
    rows["plus"] = rows["ci_high"] - rows["revenue"]
    rows["minus"] = rows["revenue"] - rows["ci_low"]
    return rows


# ---- the best algorithm of the period ------------------------------------------------------------------------

# ---- funnel ---------------------------------------------------------------------------------------------------

def funnel_view(db: Database, scope: Scope, by: str = "sessions") -> pd.DataFrame:
    """One row per stage with its sessions and events (the engine's funnel: the first stage is what shoppers
    were shown, reported impressions else served tiles) and each stage's share of the stage before counted by
    sessions (`session_rate`) and by events (`event_rate`). `by` names the column the chart draws; chart and
    table read this one frame."""
    if by not in FUNNEL_VIEWS:
        raise ValueError(f"funnel by {by!r}")
    f = funnel(db, scope)
    out = pd.DataFrame({"stage": [STAGES.get(s, s) for s in f["stage"]], "sessions": f["sessions"].astype("int64"),
                        "events": f["events"].astype("int64")})
    for col, rate in (("sessions", "session_rate"), ("events", "event_rate")):
        cur = out[col].to_numpy(dtype=float)
        prev = np.concatenate([[np.nan], cur[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rate] = np.where(prev > 0, cur / np.where(prev > 0, prev, 1.0), np.nan)
    return out


# ---- top movers -----------------------------------------------------------------------------------------------

def _per_product(db: Database, scope: Scope, kind: str) -> dict[int, int]:
    q = (select(EventRow.product_id, func.count()).where(*scope.conditions(), EventRow.kind == kind)
         .group_by(EventRow.product_id))
    with db.engine.connect() as conn:
        return {int(p): int(n) for p, n in conn.execute(q)}


def movers(db: Database, now: Scope, before: Scope, kind: str = "click", n: int = 5) -> pd.DataFrame:
    """The products whose `kind` count (click or purchase) rose and fell most against the period before:
    product_id, before, after, change; the n biggest rises first, then the n biggest falls."""
    a, b = _per_product(db, now, kind), _per_product(db, before, kind)
    rows = [(p, b.get(p, 0), a.get(p, 0), a.get(p, 0) - b.get(p, 0)) for p in set(a) | set(b)]
    df = pd.DataFrame(rows, columns=["product_id", "before", "after", "change"]).astype("int64")
    ups = df[df["change"] > 0].sort_values(["change", "product_id"], ascending=[False, True]).head(n)
    downs = df[df["change"] < 0].sort_values(["change", "product_id"], ascending=[True, True]).head(n)
    return pd.concat([ups, downs], ignore_index=True)


# ---- catalog health -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Health:
    """Active products a shopper may be recommended, and those missing what recommending them well needs."""

    active: int
    without_photo: int
    without_vector: int
    out_of_stock: int

    def rows(self) -> list[tuple[str, int, str]]:
        return [("Without a photo", self.without_photo, "shown as a grey tile; found by text only"),
                ("Without vectors", self.without_vector, "never recommended until indexed (Index page)"),
                ("Out of stock", self.out_of_stock, "recommended only where rules allow it")]


def catalog_health(db: Database) -> Health:
    active = Product.is_active.is_(True)
    has_photo = exists().where(ProductImage.product_id == Product.id)
    has_vector = exists().where(VectorSync.product_id == Product.id)
    one = lambda cond: func.coalesce(func.sum(case((cond, 1), else_=0)), 0)  # noqa: E731
    q = select(one(active), one(and_(active, ~has_photo)), one(and_(active, ~has_vector)),
               one(and_(active, Product.stock_qty <= 0))).select_from(Product)
    with db.engine.connect() as conn:
        return Health(*(int(v) for v in conn.execute(q).one()))


def share(part: int, whole: int) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


__all__ = ["ATTRIBUTION", "FUNNEL_VIEWS", "Figure", "Health", "Money", "REVENUE_GROUPS", "money", "money_figures",
           "revenue_bars", "STAGES", "catalog_health", "denominator", "figures", "finite",
           "funnel_view", "movers", "share", "totals"]
