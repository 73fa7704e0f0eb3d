"""A/B experiments: variants with traffic shares, stable assignment, and per-variant results against control.

Assignment hashes experiment name + unit id with BLAKE2b (Python's hash() is salted per process, so it would
move shoppers between variants on every restart) into [0, 1) and walks the variants' cumulative shares. The
same shopper therefore sees the same variant on every server and every day, and different experiments split
traffic independently of each other.

Results compare each variant's CTR and conversion (purchases per impression) with the control variant's: the
difference, its confidence interval (two-proportion normal approximation, unpooled standard error: statsmodels'
`confint_proportions_2indep(method="wald")`) and the two-sided p-value of the pooled two-proportion z-test
(statsmodels' `proportions_ztest`); `significant` means p < alpha.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable, Sequence

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from engine.catalog.db import Database
from engine.catalog.events import ExperimentRow, VariantRow
from engine.errors import NotFound, ValidationError
from engine.insights.analytics import Scope, add_rates, grouped_counts
from engine.insights.events import utc_now
from engine.insights.gaps import incomplete, warning as gap_warning

STATUSES = ("running", "stopped")
SHARE_TOLERANCE = 1e-6
COMPARED = {"ctr": ("clicks", "impressions"), "conversion": ("purchases", "impressions")}


@dataclass(frozen=True)
class Variant:
    name: str
    config: str  # strategy name or config version this variant serves
    share: float  # fraction of traffic


@dataclass
class Experiment:
    name: str
    variants: list[Variant]
    control: str
    status: str = "running"
    winner: str | None = None
    description: str = ""
    simulated: bool = False
    created_at: datetime | None = None
    stopped_at: datetime | None = None

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise NotFound(f"experiment {self.name!r} has no variant {name!r}: it has "
                       f"{', '.join(v.name for v in self.variants)}")


def _text(v: Any, what: str, limit: int) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {v!r}")
    v = v.strip()
    if len(v) > limit:
        raise ValidationError(f"{what} must be at most {limit} characters, got {len(v)}")
    return v


def _variant(v: Any, i: int) -> Variant:
    if isinstance(v, Variant):
        name, config, share = v.name, v.config, v.share
    elif isinstance(v, dict):
        unknown = set(v) - {"name", "config", "share"}
        if unknown:
            raise ValidationError(f"variant {i} has unknown keys {sorted(unknown)}: use name, config, share")
        name, config, share = v.get("name"), v.get("config"), v.get("share")
    elif isinstance(v, (tuple, list)) and len(v) == 3:
        name, config, share = v
    else:
        raise ValidationError(f"variant {i} must be a Variant, a dict or (name, config, share), got {v!r}")
    name = _text(name, f"variant {i} name", 64)
    config = _text(config, f"variant {name!r} config", 200)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share) \
            or not 0 < share <= 1:
        raise ValidationError(f"variant {name!r} share must be a number in (0, 1], got {share!r}")
    return Variant(name, config, float(share))


def define(name: str, variants: Iterable[Any], control: str | None = None, description: str = "",
           known_strategies: Iterable[str] | None = None) -> Experiment:
    """A validated, unsaved experiment: ≥ 2 uniquely named variants whose shares sum to 1; control defaults to
    the first variant. With `known_strategies` (the config's names) every variant must serve one of them: a
    typo or a deleted strategy would otherwise serve the default ranking under a name nobody can tune."""
    name = _text(name, "experiment name", 128)
    if isinstance(variants, (str, bytes)):
        raise ValidationError("variants must be a list")
    vs = [_variant(v, i) for i, v in enumerate(variants)]
    if len(vs) < 2:
        raise ValidationError(f"an experiment needs at least 2 variants, got {len(vs)}")
    names = [v.name for v in vs]
    if len(set(names)) != len(names):
        raise ValidationError(f"variant names repeat: {names}")
    total = math.fsum(v.share for v in vs)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ValidationError(f"variant shares must sum to 1, they sum to {total:g}")
    control = names[0] if control is None else control
    if control not in names:
        raise ValidationError(f"control {control!r} is not a variant: use one of {', '.join(names)}")
    if not isinstance(description, str):
        raise ValidationError("description must be text")
    if known_strategies is not None:
        _check_strategies(vs, known_strategies)
    return Experiment(name, vs, control, description=description)


def _check_strategies(variants: Sequence[Variant], known_strategies: Iterable[str]) -> None:
    if isinstance(known_strategies, str):
        raise ValidationError(f"known strategies must be a list of names, got the text {known_strategies!r}")
    known = list(dict.fromkeys(known_strategies))
    unknown = [f"variant {v.name!r} serves {v.config!r}" for v in variants if v.config not in known]
    if unknown:
        raise ValidationError(f"{'; '.join(unknown)}: not a strategy of the config. Known strategies: "
                              f"{', '.join(known) or '(none)'}")


# ---- assignment ---------------------------------------------------------------------------------------------

def bucket(experiment_name: str, unit_id: str | int) -> float:
    """A stable point in [0, 1) for this unit in this experiment."""
    if isinstance(unit_id, bool) or not isinstance(unit_id, (str, int)) or str(unit_id) == "":
        raise ValidationError(f"unit id must be a non-empty user or session id, got {unit_id!r}")
    digest = hashlib.blake2b(f"{experiment_name}\x1f{unit_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def assign(experiment: Experiment, unit_id: str | int) -> Variant:
    """The variant a user or session sees. Once stopped, everyone gets the winner (or control if none)."""
    if experiment.status == "stopped":
        return experiment.variant(experiment.winner or experiment.control)
    u = bucket(experiment.name, unit_id)
    edge = 0.0
    for v in experiment.variants:
        edge += v.share
        if u < edge:
            return v
    return experiment.variants[-1]  # u within float rounding of 1


# ---- storage ------------------------------------------------------------------------------------------------

def _from_row(r: ExperimentRow) -> Experiment:
    return Experiment(r.name, [Variant(v.name, v.config, v.share) for v in r.variants], r.control, r.status,
                      r.winner, r.description or "", bool(r.simulated), r.created_at, r.stopped_at)


def _load(s, name: str) -> ExperimentRow:
    row = s.scalars(select(ExperimentRow).options(selectinload(ExperimentRow.variants))
                    .where(ExperimentRow.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"unknown experiment {name!r}")
    return row


def create_experiment(db: Database, name: str, variants: Iterable[Any], control: str | None = None,
                      description: str = "", simulated: bool = False,
                      known_strategies: Iterable[str] | None = None) -> Experiment:
    """Define and store a running experiment; a name already in use is an error (names key the events).
    `known_strategies`: see `define`."""
    exp = define(name, variants, control, description, known_strategies)
    with db.session() as s:
        if s.scalar(select(ExperimentRow.id).where(ExperimentRow.name == exp.name)) is not None:
            raise ValidationError(f"an experiment named {exp.name!r} already exists")
        row = ExperimentRow(name=exp.name, description=exp.description, status="running", control=exp.control,
                            simulated=simulated, created_at=utc_now(),
                            variants=[VariantRow(name=v.name, config=v.config, share=v.share, position=i)
                                      for i, v in enumerate(exp.variants)])
        s.add(row)
        s.flush()
        return _from_row(row)


def get_experiment(db: Database, name: str) -> Experiment:
    with db.session() as s:
        return _from_row(_load(s, name))


def list_experiments(db: Database) -> list[Experiment]:
    with db.session() as s:
        rows = s.scalars(select(ExperimentRow).options(selectinload(ExperimentRow.variants))
                         .order_by(ExperimentRow.created_at, ExperimentRow.id)).all()
        return [_from_row(r) for r in rows]


def running_strategies(db: Database) -> set[str]:
    """What the variants of running experiments serve: a strategy in here must keep its name and exist until
    the experiment stops, or its shoppers would be served something else under the same variant."""
    q = (select(VariantRow.config).join(ExperimentRow, VariantRow.experiment_id == ExperimentRow.id)
         .where(ExperimentRow.status == "running").distinct())
    with db.engine.connect() as conn:
        return set(conn.execute(q).scalars())


def stop(db: Database, experiment: str | Experiment, winner: str | None = None) -> Experiment:
    """End the experiment; from now on `assign` sends everyone to the winner (control when none is named)."""
    name = experiment.name if isinstance(experiment, Experiment) else experiment
    with db.session() as s:
        row = _load(s, name)
        if winner is not None and winner not in {v.name for v in row.variants}:
            raise ValidationError(f"winner {winner!r} is not a variant of {name!r}: use one of "
                                  f"{', '.join(v.name for v in row.variants)}")
        row.status, row.winner = "stopped", winner
        row.stopped_at = row.stopped_at or utc_now()
        s.flush()
        return _from_row(row)


def delete_experiment(db: Database, name: str) -> None:
    """Remove the definition; its events stay in the log (they are the history)."""
    with db.session() as s:
        s.delete(_load(s, name))


# ---- statistics ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """Variant rate minus control rate, with its interval and the test of 'no difference'."""

    diff: float
    low: float
    high: float
    z: float
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        return not math.isnan(self.p_value) and self.p_value < alpha


def two_proportion(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05) -> Comparison:
    """p1 − p0 with a (1−alpha) interval from the unpooled standard error and the two-sided p-value of the
    pooled z-test. NaN everywhere when a group has no trials or more successes than trials. When both groups
    are all successes or all failures the pooled standard error is 0 and the z-test would divide by it: the
    rates are identical, so that is z = 0, p = 1 and an interval of width 0."""
    if n1 <= 0 or n0 <= 0 or not (0 <= x1 <= n1) or not (0 <= x0 <= n0):
        return Comparison(math.nan, math.nan, math.nan, math.nan, math.nan)
    diff = x1 / n1 - x0 / n0
    if x1 + x0 in (0, n1 + n0):
        return Comparison(diff, diff, diff, 0.0, 1.0)
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff", alpha=alpha)
    z, p_value = proportions_ztest([x1, x0], [n1, n0], value=0, alternative="two-sided", prop_var=False)
    return Comparison(diff, float(low), float(high), float(z), float(p_value))


@dataclass
class ExperimentResults:
    """One row per variant (control first as defined); `leader` is the variant whose CTR beats control by the
    largest significant margin, or None."""

    experiment: Experiment
    table: pd.DataFrame
    alpha: float
    leader: str | None = None
    notes: list[str] = field(default_factory=list)


def results(db: Database, experiment: str | Experiment, scope: Scope | None = None,
            alpha: float = 0.05) -> ExperimentResults:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must be in (0, 1), got {alpha!r}")
    exp = experiment if isinstance(experiment, Experiment) else get_experiment(db, experiment)
    counts = grouped_counts(db, ["variant"], replace(scope or Scope(), experiment=exp.name))
    by_name = {r["variant"]: r for r in counts.to_dict("records")}
    notes = []
    names = [v.name for v in exp.variants]
    stray = sorted(str(n) for n in by_name if n not in names)
    if stray:
        notes.append(f"events name variants not in the definition: {', '.join(stray)}")
    zero = {"impressions": 0, "clicks": 0, "carts": 0, "purchases": 0}
    rows = []
    for v in exp.variants:
        c = by_name.get(v.name, zero)
        rows.append({"variant": v.name, "config": v.config, "share": v.share, "control": v.name == exp.control,
                     **{k: int(c[k]) for k in zero}})
    for n in stray:
        rows.append({"variant": n, "config": None, "share": math.nan, "control": False,
                     **{k: int(by_name[n][k]) for k in zero}})
    df = pd.DataFrame(rows)
    df = add_rates(df, ("ctr", "conversion_impression")).rename(columns=lambda c: c.replace(
        "conversion_impression", "conversion"))
    ctl = by_name.get(exp.control, zero)
    for metric, (num, den) in COMPARED.items():
        cmp = [two_proportion(int(r[num]), int(r[den]), int(ctl[num]), int(ctl[den]), alpha)
               if not r["control"] else Comparison(*(math.nan,) * 5) for r in rows]
        df[f"{metric}_diff"] = [c.diff for c in cmp]
        df[f"{metric}_diff_low"] = [c.low for c in cmp]
        df[f"{metric}_diff_high"] = [c.high for c in cmp]
        df[f"{metric}_p_value"] = [c.p_value for c in cmp]
        df[f"{metric}_significant"] = [c.significant(alpha) for c in cmp]
    better = df[df["ctr_significant"] & (df["ctr_diff"] > 0)]
    leader = None if better.empty else str(better.sort_values("ctr_diff", ascending=False)["variant"].iloc[0])
    if ctl["impressions"] == 0:
        notes.append(f"control {exp.control!r} has no impressions yet: no comparison possible")
    gap = gap_warning(incomplete(db, exp.created_at, exp.stopped_at))
    if gap is not None:
        notes.append(gap)
    return ExperimentResults(exp, df, float(alpha), leader, notes)


def shares_of(experiment: Experiment, unit_ids: Sequence[str | int]) -> dict[str, float]:
    """Observed fraction of `unit_ids` assigned to each variant (a check that assignment honours the shares)."""
    if not unit_ids:
        raise ValidationError("need at least one unit id")
    counts = dict.fromkeys((v.name for v in experiment.variants), 0)
    for u in unit_ids:
        counts[assign(experiment, u).name] += 1
    return {k: c / len(unit_ids) for k, c in counts.items()}
