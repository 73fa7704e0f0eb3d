"""Revenue from recommendations: totals, average order value, revenue per thousand impressions, and revenue
attributed per algorithm / strategy / config version with bootstrap confidence intervals.

Definitions:

* revenue = Σ price × quantity (1 when absent) over purchases with a price; a purchase without a price (the
  OTTO sample, a shop export without prices) counts in `purchases_without_price` and never as revenue;
* an order = one priced purchase event (the log has no basket id; a purchase event is one order line), so
  AOV = revenue / orders;
* revenue per mille = revenue per 1,000 impressions, where impressions follow the analytics' rule (a list's
  client-reported impressions when it has any, else its served rows; engine.insights.analytics), and
  `denominator` says which it was.

Attribution rule: a purchase is credited to the recommendation list it names — the algorithm, strategy and
config version it carries (the API, the storefront and the simulator copy them from the list the shopper bought
from). A purchase that names none (an imported purchase, a checkout that lost the list) is credited to the last
click in the same session at or before it that names one (last click within the session); with no such click
it stays unattributed, shown as the group "(none)".

Confidence intervals: a group's daily revenue over the period is resampled by day (a nonparametric bootstrap
over daily aggregates, BOOTSTRAP resamples, a fixed seed so a figure does not flicker between reloads), and
the 2.5% and 97.5% percentiles of the resampled totals are the 95% interval. Days, not purchases, are the
unit: a handful of days per period keeps it within a dashboard's latency budget, and day-to-day swings are
exactly the noise an analyst needs to see.

Every summary labels its period incomplete with the reasons engine.insights.period gives.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights.analytics import Scope, denominator, group_counts
from engine.insights.period import Period, notes

if TYPE_CHECKING:
    import pandas as pd

GROUPS = ("algorithm", "strategy", "config_version")
BOOTSTRAP = 2000
SEED = 20_240_501
UNATTRIBUTED = "(none)"
GROUP_COLUMNS = ["group_kind", "group", "revenue", "orders", "ci_low", "ci_high", "impressions",
                 "revenue_per_mille", "aov", "denominator"]


@dataclass
class RevenueSummary:
    start: date
    end: date
    revenue: float
    orders: int
    aov: float | None  # None without orders
    revenue_per_mille: float | None  # None without impressions
    denominator: str | None  # "impression" | "served" | "impression+served" (analytics.DENOMINATORS)
    purchases_without_price: int
    by_group: pd.DataFrame | None  # GROUP_COLUMNS, a row per algorithm, strategy, config version (None: not asked)
    impressions: int = 0
    purchases: int = 0
    ci_low: float | None = None  # bootstrap interval of the total revenue
    ci_high: float | None = None
    incomplete: list[str] = field(default_factory=list)  # why the period's log may be short (empty: complete)

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period.as_dict(), "revenue": round(self.revenue, 2), "orders": self.orders,
                "aov": self.aov, "revenue_per_mille": self.revenue_per_mille, "denominator": self.denominator,
                "impressions": self.impressions, "purchases": self.purchases,
                "purchases_without_price": self.purchases_without_price, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "incomplete": self.incomplete}


def _check(start: Any, end: Any, simulated: Any) -> Period:
    period = Period(start, end)
    if simulated is not None and not isinstance(simulated, bool):
        raise ValidationError(f"simulated must be True, False or None, got {simulated!r}")
    return period


def _ratio(x: float, n: float, scale: float = 1.0) -> float | None:
    return None if not n else float(x) / float(n) * scale


def bootstrap(daily: np.ndarray, resamples: int = BOOTSTRAP, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile intervals of the period total of each row of `daily` (groups × days), resampling the
    period's days with replacement; the same draws serve every group, so groups are compared on equal footing.
    How often each day is drawn is one multinomial draw per resample, over the days with any money plus one
    bucket for all the days without: a year-long period costs what its trading days cost."""
    daily = np.atleast_2d(np.asarray(daily, dtype=float))
    n_days = daily.shape[1]
    if n_days == 0:
        nan = np.full(daily.shape[0], np.nan)
        return nan, nan
    active = np.flatnonzero((daily != 0).any(axis=0))
    p = np.full(len(active) + 1, 1.0 / n_days)
    p[-1] = (n_days - len(active)) / n_days
    counts = np.random.default_rng(seed).multinomial(n_days, p, size=resamples)[:, :-1]
    totals = counts @ daily[:, active].T  # resamples × groups
    return np.percentile(totals, 2.5, axis=0), np.percentile(totals, 97.5, axis=0)


def _reattributed(db: Database, by: str, scope: Scope) -> list[tuple[int, Any, float]]:
    """(day, credited value, revenue) of the period's priced purchases that name no `by` value and have an
    earlier click in their session that does (the attribution rule's last click)."""
    col = getattr(EventRow, by)
    click = aliased(EventRow)
    last = (select(getattr(click, by)).where(click.session_id == EventRow.session_id, click.kind == "click",
                                             click.ts <= EventRow.ts, getattr(click, by).is_not(None))
            .order_by(click.ts.desc(), click.id.desc()).limit(1).scalar_subquery())
    q = (select(EventRow.day, last, EventRow.price * func.coalesce(EventRow.quantity, 1))
         .where(*scope.conditions(), EventRow.kind == "purchase", EventRow.price.is_not(None), col.is_(None)))
    with db.engine.connect() as conn:
        return [(int(d), v, float(r)) for d, v, r in conn.execute(q) if v is not None]


def revenue_by(db: Database, start: date, end: date, by: str = "algorithm", simulated: bool | None = None
               ) -> pd.DataFrame:
    """Revenue per `by` value (algorithm, strategy or config_version) over [start, end] under the attribution
    rule, with orders, AOV, impressions, revenue per mille and the bootstrap interval of the revenue."""
    if by not in GROUPS:
        raise ValidationError(f"cannot attribute revenue by {by!r}: use one of {', '.join(GROUPS)}")
    period = _check(start, end, simulated)
    scope = Scope(start=period.start, end=period.end, simulated=simulated)
    df = _by(db, period, scope, by, group_counts(db, ["day", by], scope), 1)
    df.attrs["period"] = period.as_dict()
    df.attrs["incomplete"] = notes(db, period.start, period.end)
    return df


def _by(db: Database, period: Period, scope: Scope, by: str, got: dict[tuple, dict[str, Any]], at: int
        ) -> pd.DataFrame:
    """revenue_by's frame from counts keyed by (day, ...) with the `by` value at index `at` of the key."""
    first = (period.start - date(1970, 1, 1)).days
    groups: dict[Any, dict[str, Any]] = {}

    def group(key: Any) -> dict[str, Any]:
        return groups.setdefault(key, {"daily": np.zeros(period.days), "orders": 0, "impressions": 0,
                                       "reported": 0, "unreported": 0})

    for key, c in got.items():
        day, g = key[0], group(key[at])
        g["daily"][int(day) - first] += c["revenue"]
        g["orders"] += c["priced_purchases"]
        g["impressions"] += c["impressions"]
        g["reported"] += c["reported"]
        g["unreported"] += c["impressions"] - c["reported"]
    for day, value, revenue in _reattributed(db, by, scope):
        for key, sign in ((None, -1.0), (value, 1.0)):
            g = group(key)
            g["daily"][day - first] += sign * revenue
            g["orders"] += int(sign)
    keys = sorted(groups, key=lambda k: (k is None, str(k)))
    daily = np.array([groups[k]["daily"] for k in keys]).reshape(len(keys), period.days)
    low, high = bootstrap(daily)
    rows = []
    for i, k in enumerate(keys):
        g = groups[k]
        revenue = float(daily[i].sum())
        rows.append({"group_kind": by, "group": UNATTRIBUTED if k is None else str(k), "revenue": revenue,
                     "orders": int(g["orders"]), "ci_low": float(low[i]), "ci_high": float(high[i]),
                     "impressions": int(g["impressions"]),
                     "revenue_per_mille": _ratio(revenue, g["impressions"], 1000.0),
                     "aov": _ratio(revenue, g["orders"]), "denominator": denominator(g["reported"], g["unreported"])})
    df = importlib.import_module("pandas").DataFrame(rows, columns=GROUP_COLUMNS)
    return df[(df["orders"] != 0) | (df["impressions"] != 0) | (df["revenue"] != 0)].reset_index(drop=True)


def revenue_summary(db: Database, start: date, end: date, simulated: bool | None = None, *, groups: bool = True
                    ) -> RevenueSummary:
    """The period's revenue, orders, AOV, revenue per mille (with its denominator), purchases without price,
    the bootstrap interval of the total, and `by_group`: revenue_by for every one of GROUPS (None with
    groups=False: `python -m engine stats` needs the totals only, and spares itself pandas)."""
    period = _check(start, end, simulated)
    scope = Scope(start=period.start, end=period.end, simulated=simulated)
    fine = group_counts(db, ["day", *GROUPS], scope)  # one read serves the totals and every grouping
    first = (period.start - date(1970, 1, 1)).days
    daily = np.zeros(period.days)
    agg = {"revenue": 0.0, "priced_purchases": 0, "purchases": 0, "impressions": 0, "reported": 0}
    for (day, *_), c in fine.items():
        daily[int(day) - first] += c["revenue"]
        for k in agg:
            agg[k] += c[k]
    low, high = bootstrap(daily[None, :])
    by_group = None
    if groups:
        by_group = importlib.import_module("pandas").concat(
            [_by(db, period, scope, by, fine, 1 + i) for i, by in enumerate(GROUPS)], ignore_index=True)
    revenue = float(agg["revenue"])
    return RevenueSummary(
        period.start, period.end, revenue, int(agg["priced_purchases"]), _ratio(revenue, agg["priced_purchases"]),
        _ratio(revenue, agg["impressions"], 1000.0), denominator(agg["reported"], agg["impressions"] - agg["reported"]),
        int(agg["purchases"] - agg["priced_purchases"]), by_group, int(agg["impressions"]), int(agg["purchases"]),
        float(low[0]) if period.days else None, float(high[0]) if period.days else None,
        notes(db, period.start, period.end))
