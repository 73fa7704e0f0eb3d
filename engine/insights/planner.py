"""Planning and reading an A/B experiment: how much traffic it needs, whether its split is healthy, and what its
results say in words an analyst reads right.

* The planner turns a minimum detectable effect into a sample size per variant (statsmodels' NormalIndPower on
  Cohen's h from `proportion_effectsize`, two-sided) and into days at the current traffic. The sample is counted
  in the unit the results compare: impressions for CTR and conversion (engine.insights.experiments). Shoppers
  see several tiles, so impressions are not fully independent; the days are therefore a lower bound.
* The sample-ratio-mismatch check compares the shoppers each variant received with the designed shares
  (chi-square goodness of fit, statsmodels.stats.gof.chisquare). A mismatch means assignment or logging is
  broken, so the results cannot be trusted whatever their p-values say. Its threshold is p < 0.001, stricter
  than the results' alpha, as a check run on every look must rarely cry wolf.
* Verdicts: a significant difference says which way; no significant difference before the planned sample says
  "keep it running"; none after it says "no difference as large as the one planned for" — never "not shown".
* Peeking: stopping the first time p dips below 0.05 inflates false winners; PEEKING says so where results
  are read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping, Sequence

from sqlalchemy import func, select
from statsmodels.stats.gof import chisquare
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from engine.catalog.db import Database
from engine.catalog.events import EventRow
from engine.errors import ValidationError
from engine.insights.analytics import RETIRED, Scope, group_counts
from engine.insights.experiments import Experiment, ExperimentResults

DEFAULT_ALPHA, DEFAULT_POWER = 0.05, 0.8
SRM_ALPHA = 0.001
METRICS = {"ctr": ("CTR", "clicks"), "conversion": ("conversion", "purchases")}  # results column: noun, numerator
PEEKING = ("Decide once, at the planned sample size. Looking at the p-value every day and stopping the first "
           "time it falls below 5% makes a false winner several times more likely than 5%: a difference that is "
           "significant before the planned sample is reached is a reason to keep watching, not to stop.")


def _fraction(v: object, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v < 1:
        raise ValidationError(f"{name} must be a number between 0 and 1 (exclusive), got {v!r}")
    return float(v)


def _shares(shares: Sequence[float]) -> list[float]:
    if isinstance(shares, (str, bytes)) or len(shares) < 2:
        raise ValidationError(f"an experiment has at least 2 variants, got shares {shares!r}")
    out = [_fraction(s, "a variant's share") for s in shares]
    if abs(math.fsum(out) - 1.0) > 1e-6:
        raise ValidationError(f"variant shares must sum to 1, they sum to {math.fsum(out):g}")
    return out


# ---- the planner ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What an experiment needs to detect a change from `baseline` to `target` (rates per impression)."""

    baseline: float
    target: float
    alpha: float
    power: float
    shares: tuple[float, ...]
    per_variant: tuple[int, ...]  # impressions each variant needs (control first)
    total: int  # impressions the whole experiment needs
    daily: float | None  # impressions per day at current traffic (None: unknown)

    @property
    def mde(self) -> float:
        """The absolute change planned for, in rate units (0.005 = half a point)."""
        return self.target - self.baseline

    @property
    def days(self) -> int | None:
        """Whole days at current traffic; None without traffic."""
        if not self.daily:
            return None
        return max(1, math.ceil(self.total / self.daily))

    def sentence(self, metric: str = "CTR") -> str:
        rel = self.mde / self.baseline
        text = (f"To detect a change of {metric} from {100 * self.baseline:.2f}% to {100 * self.target:.2f}% "
                f"({100 * rel:+.0f}% relative) with {100 * self.power:.0f}% power at a {100 * self.alpha:g}% "
                f"significance level, each variant needs {self.per_variant[0]:,} impressions"
                if len(set(self.per_variant)) == 1 else
                f"To detect a change of {metric} from {100 * self.baseline:.2f}% to {100 * self.target:.2f}% "
                f"({100 * rel:+.0f}% relative) with {100 * self.power:.0f}% power at a {100 * self.alpha:g}% "
                f"significance level, the variants need " + ", ".join(f"{n:,}" for n in self.per_variant)
                + " impressions")
        text += f" ({self.total:,} in all)"
        if self.days is None:
            return text + "; the log holds no recent traffic to say how long that takes."
        return text + (f": about {self.days} day{'s' if self.days != 1 else ''} at the current "
                       f"{self.daily:,.0f} impressions a day.")


def sample_size(baseline: float, target: float, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER,
                ratio: float = 1.0) -> tuple[float, float]:
    """Impressions control and variant need (unrounded) for a two-sided test of `baseline` against `target`, the
    variant getting `ratio` times control's traffic."""
    baseline, target = _fraction(baseline, "the baseline rate"), _fraction(target, "the target rate")
    alpha, power = _fraction(alpha, "alpha"), _fraction(power, "power")
    if target == baseline:
        raise ValidationError("the detectable effect must not be zero")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio <= 0:
        raise ValidationError(f"the traffic ratio must be a positive number, got {ratio!r}")
    h = abs(float(proportion_effectsize(target, baseline)))
    n0 = float(NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=ratio,
                                            alternative="two-sided"))
    return n0, n0 * ratio


def plan(baseline: float, mde: float, *, relative: bool = True, shares: Sequence[float] = (0.5, 0.5),
         alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER, daily: float | None = None) -> Plan:
    """The sample each variant needs to detect `mde` (relative to the baseline: 0.1 = a 10% lift; absolute in
    rate units with relative=False) and the days it takes at `daily` impressions. With unequal shares the
    comparison of control with its least-served variant sets the total."""
    baseline = _fraction(baseline, "the baseline rate")
    if isinstance(mde, bool) or not isinstance(mde, (int, float)) or not math.isfinite(mde) or mde <= 0:
        raise ValidationError(f"the minimum detectable effect must be a positive number, got {mde!r}")
    target = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < target < 1:
        raise ValidationError(f"a change of {mde:g}{' relative' if relative else ''} takes the rate from "
                              f"{baseline:.4g} to {target:.4g}, outside 0–1: plan a smaller effect")
    split = _shares(shares)
    if daily is not None and (isinstance(daily, bool) or not isinstance(daily, (int, float))
                              or not math.isfinite(daily) or daily < 0):
        raise ValidationError(f"daily traffic must be a number ≥ 0, got {daily!r}")
    total = 0.0
    for share in split[1:]:
        n0, _ = sample_size(baseline, target, alpha=alpha, power=power, ratio=share / split[0])
        total = max(total, n0 / split[0])
    per_variant = tuple(math.ceil(total * s - 1e-9) for s in split)
    return Plan(baseline, target, float(alpha), float(power), tuple(split), per_variant, sum(per_variant),
                None if not daily else float(daily))


def current_traffic(db: Database, start: date, end: date, simulated: bool | None = None) -> tuple[float, float | None]:
    """Impressions per day and CTR over [start, end] (whole UTC days): the planner's defaults. CTR is None
    without impressions."""
    if start > end:
        raise ValidationError(f"the traffic window is inverted: {start} after {end}")
    counts = group_counts(db, [], Scope(start=start, end=end, simulated=simulated)).get((), {})
    shown, clicks = counts.get("impressions", 0), counts.get("clicks", 0)
    days = (end - start).days + 1
    return shown / days, (clicks / shown if shown else None)


# ---- sample ratio mismatch ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RatioCheck:
    """Shoppers per variant against the designed shares."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    alpha: float = SRM_ALPHA

    @property
    def total(self) -> int:
        return sum(self.observed.values())

    @property
    def mismatch(self) -> bool:
        return self.total > 0 and self.p_value < self.alpha

    def sentence(self) -> str:
        if self.total == 0:
            return "No shopper has been assigned yet: the split cannot be checked."
        split = ", ".join(f"{name} {n:,} ({100 * n / self.total:.1f}%, designed "
                          f"{100 * self.expected[name] / self.total:.0f}%)" for name, n in self.observed.items())
        if self.mismatch:
            return (f"Sample ratio mismatch: the shoppers split {split}; a split this far from the design happens "
                    f"by chance with probability {self.p_value:.2g}. Assignment or logging is broken, so do not "
                    "trust these results until the cause is found.")
        return (f"The split matches the design: {split} (chi-square p = {self.p_value:.2g}; a mismatch is "
                f"flagged below {self.alpha:g}).")


def ratio_check(observed: Mapping[str, int], shares: Mapping[str, float], alpha: float = SRM_ALPHA) -> RatioCheck:
    """Chi-square test of the observed units per variant against the designed shares."""
    if set(observed) != set(shares):
        raise ValidationError(f"the observed variants {sorted(observed)} are not the designed {sorted(shares)}")
    names = list(shares)
    _shares([shares[n] for n in names])
    counts = []
    for n in names:
        c = observed[n]
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise ValidationError(f"variant {n!r} count must be a whole number ≥ 0, got {c!r}")
        counts.append(c)
    total = sum(counts)
    expected = {n: total * shares[n] for n in names}
    if total == 0:
        return RatioCheck(dict(zip(names, counts)), expected, math.nan, math.nan, alpha)
    chi2, p = chisquare(counts, [expected[n] for n in names])
    return RatioCheck(dict(zip(names, counts)), expected, float(chi2), float(p), alpha)


def assigned_units(db: Database, experiment: Experiment, scope: Scope | None = None) -> dict[str, int]:
    """Distinct shoppers (user id, else session id: the unit `assign` splits) seen per variant of the
    experiment; every designed variant appears, with 0 when it has no events."""
    unit = func.coalesce(EventRow.user_id, EventRow.session_id)
    conds = (scope or Scope()).conditions() + [EventRow.experiment == experiment.name, EventRow.variant.is_not(None)]
    q = select(EventRow.variant, func.count(func.distinct(unit))).where(*conds).group_by(EventRow.variant)
    with db.engine.connect() as conn:
        got = {v: int(n) for v, n in conn.execute(q)}
    return {v.name: got.get(v.name, 0) for v in experiment.variants}


def experiment_check(db: Database, experiment: Experiment, scope: Scope | None = None) -> RatioCheck:
    return ratio_check(assigned_units(db, experiment, scope), {v.name: v.share for v in experiment.variants})


# ---- verdicts -------------------------------------------------------------------------------------------------

def served_label(served: str | None, strategies: Iterable[str]) -> str:
    """What a variant serves, as the dashboards name it: a live strategy's name, "config version 3" for a
    version number, "similar (retired)" for a strategy the config no longer has (the analytics' RETIRED)."""
    if served is None:
        return "not in the definition"
    if served in set(strategies):
        return served
    if served.isdigit():
        return f"config version {served}"
    return f"{served}{RETIRED}"


def variant_label(name: str, served: str | None, strategies: Iterable[str]) -> str:
    """"B: upsell", "B: config version 3", "B: similar (retired)"."""
    return f"{name}: {served_label(served, strategies)}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _pts(x: float) -> str:
    return f"{100 * x:+.2f}".replace("-", "\u2212") + " points"


@dataclass(frozen=True)
class Verdict:
    variant: str
    metric: str  # "ctr" or "conversion"
    outcome: str  # "better", "worse", "keep running", "no difference", "no data"
    text: str


def needed_by_variant(experiment: Experiment, p: Plan) -> dict[str, int]:
    """A plan's sample per variant of `experiment` (the plan made with the experiment's shares, in order)."""
    if len(p.per_variant) != len(experiment.variants):
        raise ValidationError(f"the plan has {len(p.per_variant)} variants, the experiment "
                              f"{len(experiment.variants)}")
    return {v.name: n for v, n in zip(experiment.variants, p.per_variant)}


Needed = int | Mapping[str, int]  # a plan's impressions per variant: one number, or one per variant name


def verdicts(res: ExperimentResults, needed: Needed | None = None, *,
             by_metric: Mapping[str, Needed] | None = None) -> list[Verdict]:
    """For each variant against control and each rate, a sentence: which way and by how much when significant;
    otherwise whether the planned sample is reached yet on both sides of the comparison. `needed` applies to
    every rate; `by_metric` ({"ctr": ..., "conversion": ...}) gives each rate its own plan, since a rarer event
    needs more impressions to show the same relative lift."""
    if by_metric is not None and not set(by_metric) <= set(METRICS):
        raise ValidationError(f"plans are per rate: {', '.join(METRICS)}, got {sorted(by_metric)}")
    rows = res.table.to_dict("records")
    control = next((r for r in rows if r["control"]), None)
    level = f"{100 * (1 - res.alpha):g}%"
    out: list[Verdict] = []
    for r in rows:
        if r["control"]:
            continue
        v, c = str(r["variant"]), res.experiment.control
        for col, (noun, _) in METRICS.items():
            p = float(r[f"{col}_p_value"])
            if control is None or math.isnan(p):
                out.append(Verdict(v, col, "no data", f"{noun}: no answer yet, because {v} or {c} has no "
                                                      "impressions."))
                continue
            facts = (f"{v} {_pct(float(r[col]))} against {c} {_pct(float(control[col]))}, "
                     f"{_pts(float(r[f'{col}_diff']))} ({level} CI {_pts(float(r[f'{col}_diff_low']))} to "
                     f"{_pts(float(r[f'{col}_diff_high']))}, p = {p:.2g})")
            plan_ = by_metric.get(col) if by_metric is not None else needed
            need_v, need_c = ((None, None) if plan_ is None else (plan_, plan_) if isinstance(plan_, int)
                              else (plan_.get(v, 0), plan_.get(c, 0)))
            shown, need = int(r["impressions"]), need_v
            reached = need is not None and shown >= need_v and int(control["impressions"]) >= need_c
            if bool(r[f"{col}_significant"]):
                better = float(r[f"{col}_diff"]) > 0
                text = f"{noun}: {v} is {'better' if better else 'worse'} than {c}: {facts}."
                if need is not None and not reached:
                    text += (f" Only {shown:,} of the {need:,} impressions planned for {v} are in: "
                             "an early difference often shrinks, so keep it running to the planned size.")
                out.append(Verdict(v, col, "better" if better else "worse", text))
            elif reached:
                out.append(Verdict(v, col, "no difference",
                                   f"{noun}: no difference as large as planned for: {facts}. The planned "
                                   f"impressions are in ({need:,} for {v}), so {v} and {c} perform alike "
                                   "on this rate."))
            else:
                more = (f" {shown:,} of the {need:,} impressions planned for {v} are in: keep it running."
                        if need is not None else
                        " Plan its sample size to know how long to keep it running.")
                out.append(Verdict(v, col, "keep running",
                                   f"{noun}: no significant difference yet: {facts}; the difference may be "
                                   f"chance.{more}"))
    return out


def answer(vs: Sequence[Verdict], variant: str, control: str) -> str:
    """One sentence over both rates: better only when better on one and not worse on the other."""
    mine = [v for v in vs if v.variant == variant]
    outcomes = {v.outcome for v in mine}
    nouns = {v.metric: METRICS[v.metric][0] for v in mine}
    if "worse" in outcomes:
        return f"{variant} is worse than {control} on " + " and ".join(
            nouns[v.metric] for v in mine if v.outcome == "worse") + "."
    if "better" in outcomes:
        return f"{variant} is better than {control} on " + " and ".join(
            nouns[v.metric] for v in mine if v.outcome == "better") + "."
    if not mine or outcomes == {"no data"}:
        return f"No answer yet: {variant} or {control} has no impressions."
    if outcomes <= {"no difference"}:
        return f"{variant} and {control} perform alike: no difference as large as planned for."
    return f"Too early to tell whether {variant} beats {control}: no significant difference so far."


__all__ = ["DEFAULT_ALPHA", "DEFAULT_POWER", "PEEKING", "Plan", "RatioCheck", "SRM_ALPHA", "Verdict", "answer",
           "assigned_units", "current_traffic", "experiment_check", "needed_by_variant", "plan", "ratio_check",
           "sample_size", "served_label", "variant_label", "verdicts"]
