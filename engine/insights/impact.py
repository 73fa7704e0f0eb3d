"""The impact of a published config version: did CTR and conversion move when it went live?

Every event carries the live `config_version` that served its list, so "before" and "after" are the events
logged under the previous version and under this one: no guess about when a process picked a publish up, and a
rollback (a new version number) is compared like any other publish.

Rates, as the dashboards define them (engine.insights.analytics.RATES):

* CTR = clicks / impressions;
* conversion = purchases / impressions, the "Conversion" of the Analytics page and of the experiments, so the
  impact speaks of the number the dashboards show;
* conversion_click = purchases / clicks, for "of those who clicked, did more buy".

Each rate has its Wilson score 95% interval (statsmodels `proportion_confint(method="wilson")`, via
analytics.wilson); the difference after − before is tested with statsmodels' pooled two-proportion z-test
(`proportions_ztest`, two-sided). Where a side has no trials (no impressions, or no clicks for
conversion_click) or more successes than trials (imported clicks without impressions) the rate, its interval
and the test are reported as not available (None), never NaN. When both sides are all failures or all
successes the pooled standard error is 0: the rates are equal, so z = 0 and p = 1, as in the experiments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from statsmodels.stats.proportion import proportions_ztest

from engine.catalog.db import Database, distinct_values
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights.analytics import RATES, Scope, empty_counts, group_counts, wilson
from engine.insights.events import MAX_INT, whole_number
from engine.insights.gaps import incomplete, warning as gap_warning

INTERVAL_METHOD = "Wilson score 95%"
TEST_METHOD = "two-sided two-proportion z-test (pooled standard error, statsmodels proportions_ztest)"
COMPARED = {"ctr": "CTR", "conversion": "Conversion", "conversion_click": "Conversion per click"}
_SOURCES = {"ctr": "ctr", "conversion": "conversion_impression", "conversion_click": "conversion_click"}


@dataclass(frozen=True)
class Rate:
    """successes / trials with its Wilson 95% interval; value, low and high are None when there is no
    proportion (no trials, or more successes than trials)."""

    successes: int
    trials: int

    @property
    def available(self) -> bool:
        return self.trials > 0 and 0 <= self.successes <= self.trials

    @property
    def value(self) -> float | None:
        return self.successes / self.trials if self.available else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.successes, self.trials) if self.available else None

    @property
    def low(self) -> float | None:
        return None if (i := self.interval) is None else i[0]

    @property
    def high(self) -> float | None:
        return None if (i := self.interval) is None else i[1]


@dataclass(frozen=True)
class RateChange:
    """One rate under the previous version (before) and under this one (after); difference = after − before,
    with the z statistic and two-sided p-value of the test of "no difference" (None where not available)."""

    name: str  # ctr, conversion, conversion_click
    label: str
    numerator: str  # the count columns it divides: clicks / impressions ...
    denominator: str
    before: Rate
    after: Rate
    difference: float | None
    z: float | None
    p_value: float | None

    def significant(self, alpha: float = 0.05) -> bool | None:
        """p < alpha; None when there is nothing to test."""
        return None if self.p_value is None else self.p_value < alpha


def compare(before: Rate, after: Rate) -> tuple[float | None, float | None, float | None]:
    """(after − before, z, two-sided p) of the pooled two-proportion z-test, or Nones without two rates."""
    if not (before.available and after.available):
        return None, None, None
    diff = after.successes / after.trials - before.successes / before.trials
    if after.successes + before.successes in (0, after.trials + before.trials):
        return diff, 0.0, 1.0
    z, p = proportions_ztest([after.successes, before.successes], [after.trials, before.trials], value=0,
                             alternative="two-sided", prop_var=False)
    return diff, float(z), float(p)


@dataclass(frozen=True)
class VersionImpact:
    """Counts and rates of the events logged under `previous` (before) and `version` (after)."""

    version: int
    previous: int | None  # None: no earlier version has events, nothing to compare with
    include_simulated: bool
    before: dict[str, int]  # impressions, clicks, carts, purchases
    after: dict[str, int]
    ctr: RateChange
    conversion: RateChange  # purchases per impression
    conversion_click: RateChange  # purchases per click
    interval_method: str = INTERVAL_METHOD
    test: str = TEST_METHOD
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[RateChange]:
        return [self.ctr, self.conversion, self.conversion_click]

    def as_frame(self) -> pd.DataFrame:
        """One row per rate: before and after with their intervals, the difference and its p-value (None
        where not available), for the console's table and its CSV."""
        rows = [{"metric": c.label, "before": c.before.value, "before_low": c.before.low,
                 "before_high": c.before.high, "after": c.after.value, "after_low": c.after.low,
                 "after_high": c.after.high, "difference": c.difference, "p_value": c.p_value,
                 "before_trials": c.before.trials, "after_trials": c.after.trials} for c in self.changes]
        return pd.DataFrame(rows).astype(object).where(lambda df: df.notna(), None)


def _version(v: Any, name: str) -> int:
    try:
        return whole_number(v, name, minimum=1, maximum=MAX_INT)
    except ValidationError as e:
        raise ValidationError(f"{e}: config versions are numbered from 1") from None


def _simulated(include_simulated: bool) -> list[Any]:
    return [] if include_simulated else [EventRow.simulated == 0]


def logged_versions(db: Database, include_simulated: bool = False) -> list[int]:
    """The config versions that have events, ascending: the versions whose impact can be shown."""
    with db.engine.connect() as conn:
        return [int(v) for v in distinct_values(conn, EventRow.config_version, *_simulated(include_simulated))]


def previous_version(db: Database, version: int, include_simulated: bool = False) -> int | None:
    """The highest config version below `version` that has events (None when there is none)."""
    version = _version(version, "version")
    q = select(func.max(EventRow.config_version)).where(EventRow.config_version < version,
                                                          *_simulated(include_simulated))
    with db.engine.connect() as conn:
        found = conn.execute(q).scalar_one()
    return None if found is None else int(found)


_KEPT = ("impressions", "clicks", "carts", "purchases")


def _counts(db: Database, versions: list[int], include_simulated: bool) -> dict[int, dict[str, Any]]:
    """Counts per version (impressions by the analytics' rule: reported, else served), rollups first."""
    scope = Scope(simulated=None if include_simulated else False)
    got = group_counts(db, ["config_version"], scope, lambda t: [t.config_version.in_(versions)])
    return {v: {k: got.get((v,), empty_counts())[k] for k in _KEPT} for v in versions}


def _change(name: str, before: dict[str, int], after: dict[str, int]) -> RateChange:
    num, den = RATES[_SOURCES[name]]
    b, a = Rate(before[num], before[den]), Rate(after[num], after[den])
    return RateChange(name, COMPARED[name], num, den, b, a, *compare(b, a))


def version_impact(db: Database, version: int, previous: int | None = None, *,
                   include_simulated: bool = False) -> VersionImpact:
    """CTR and conversion under `version` against `previous` (default: the highest version below it with
    events). Real traffic only unless include_simulated: simulated shoppers say nothing about a publish."""
    version = _version(version, "version")
    if not isinstance(include_simulated, bool):
        raise ValidationError(f"include_simulated must be True or False, got {include_simulated!r}")
    notes: list[str] = []
    if previous is None:
        previous = previous_version(db, version, include_simulated)
        if previous is None:
            notes.append(f"no version before {version} has events: nothing to compare with")
    else:
        previous = _version(previous, "previous")
        if previous == version:
            raise ValidationError(f"compare version {version} with another version, not with itself")
    counts = _counts(db, [version] + ([previous] if previous is not None else []), include_simulated)
    after = counts[version]
    before = counts[previous] if previous is not None else dict.fromkeys(_KEPT, 0)
    for v, c in ((previous, before), (version, after)):
        if v is not None and c["impressions"] == 0:
            notes.append(f"version {v} has no impressions{'' if include_simulated else ' from real traffic'}")
    gap = gap_warning(incomplete(db))  # versions span the whole log: any gap may touch either side
    if gap is not None:
        notes.append(gap[:1].lower() + gap[1:].rstrip("."))
    changes = {name: _change(name, before, after) for name in COMPARED}
    return VersionImpact(version, previous, include_simulated, before, after, changes["ctr"],
                         changes["conversion"], changes["conversion_click"], notes=notes)


def describe(change: RateChange) -> str:
    """One sentence on one rate, naming the interval method and the test."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}%"

    def side(r: Rate) -> str:
        if r.value is None:
            return f"not available ({r.successes} of {r.trials})"
        return f"{pct(r.value)} ({INTERVAL_METHOD} CI {pct(r.low)}–{pct(r.high)}, {r.successes} of {r.trials})"

    text = f"{change.label}: {side(change.before)} before, {side(change.after)} after"
    if change.p_value is None or change.difference is None:
        return text + "; no test: a side has no trials."
    verdict = "significant" if change.p_value < 0.05 else "not significant"
    return (f"{text}; a change of {100 * change.difference:+.2f} points, p = {change.p_value:.3g} "
            f"({verdict} at 5%, {TEST_METHOD}).")


__all__ = ["COMPARED", "INTERVAL_METHOD", "TEST_METHOD", "Rate", "RateChange", "VersionImpact", "compare",
           "describe", "logged_versions", "previous_version", "version_impact"]
