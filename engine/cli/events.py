"""Commands of the event log: import a real event file, simulate shopper traffic for the demo dashboards (and
remove it again), and `stats` — the catalog, its vector coverage and the log's figures for a period.

Simulated traffic speaks of the config the command runs with: its strategy names (the default one is the
simulated experiment's control) and, for the live published config, its version number on every event, so the
dashboards, the experiments and the impact of a version read the simulated events like logged ones."""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from engine.cli.common import Command, Progress, count_arg, load, runtime

SIMULATE = "engine.insights.simulate"  # statsmodels and the experiments: loaded by the commands that simulate
ANALYTICS = "engine.insights.analytics"  # event counts and coverage: loaded by `stats`
GAPS = "engine.insights.gaps"  # stretches the service could not log: `stats` says so
PERIOD = "engine.insights.period"
REVENUE = "engine.insights.revenue"


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="event file: generic CSV/JSONL or OTTO JSONL (gzip accepted)")
    p.add_argument("--format", default="auto", choices=["auto", "generic", "otto"])


def log_events_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    bar = Progress("events", args.json)
    rep = load("engine.insights.event_import").import_events(rt.db, Path(args.path), format=args.format, progress=bar)
    bar.close()
    if args.json:
        return rep
    print(f"{rep.format}: {rep.rows} rows, {rep.inserted} inserted, {rep.duplicates} already there, "
          f"{len(rep.rejected)} rejected")
    for line, msg in rep.rejected[:20]:
        print(f"  line {line}: {msg}")
    return None


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=count_arg, default=14)
    p.add_argument("--shoppers", type=count_arg, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--remove", action="store_true", help="delete every simulated event instead")


def simulate_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    if args.remove:
        n = load(SIMULATE).remove_simulated(rt.db)
        if not args.json:
            print(f"removed {n} simulated events")
            return None
        return {"removed": n}
    config, version = rt.config, rt.config_version  # None: a --config file, which no published version is
    bar = Progress("simulate", args.json)
    rep = load(SIMULATE).simulate(rt.db, days=args.days, shoppers=args.shoppers, seed=args.seed, progress=bar,
                   strategies=list(config.strategies), default_strategy=config.default_strategy,
                   config_version=version)
    bar.close()
    if args.json:
        return rep
    served = "a config file" if version is None else f"config version {version}"
    print(f"simulated {rep.events} events from {rep.shoppers} shoppers over {args.days} days, served by {served} "
          f"(strategies {', '.join(config.strategies)})")
    return None


def _since(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date like 2025-04-01, got {text!r}") from None


def _stats_args(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--days", type=count_arg, help="the last N days, today (UTC) included")
    which.add_argument("--since", type=_since, help="from this date (YYYY-MM-DD) to today (UTC)")


def _period(rt: Any, args: argparse.Namespace) -> Any:
    """The period asked for; by default every day of the log (today alone when it is empty)."""
    period = load(PERIOD)
    today = load("engine.insights.events").utc_now().date()
    if args.days is not None:
        return period.last_days(min(args.days, period.MAX_DAYS), today)
    if args.since is not None:
        if args.since > today:
            raise load("engine.errors").ValidationError(f"--since {args.since} is after today ({today})")
        return period.Period(args.since, today)
    return period.log_span(rt.db) or period.Period(today, today)


def _algorithm_rows(analytics: Any, db: Any, scope: Any) -> list[dict[str, Any]]:
    """Event counts per algorithm with their rates (None where the denominator is 0), from the grouped counts
    alone: the Wilson intervals of the Analytics page would cost this command pandas and statsmodels, over a
    second of its start, for a summary that compares nothing."""
    counts = analytics.group_counts(db, ["algorithm"], scope)
    rows = []
    for (algorithm,), c in sorted(counts.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or "")):
        rates = {name: c[num] / c[den] if c[den] else None for name, (num, den) in analytics.RATES.items()}
        rows.append({"algorithm": algorithm, **c, **rates})
    return rows


def stats_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    cat = rt.catalog.stats()
    analytics = load(ANALYTICS)
    cov = analytics.coverage(rt.db)
    period = _period(rt, args)
    scope = analytics.Scope(start=period.start, end=period.end)
    by_algo = _algorithm_rows(analytics, rt.db, scope)
    gaps = load(GAPS).incomplete(rt.db)  # the counts below undercount any stretch the service could not log
    revenue = load(REVENUE).revenue_summary(rt.db, period.start, period.end, groups=False)
    money = revenue.as_dict()
    money.pop("period")
    out = {"catalog": cat, "coverage": cov, "period": {**period.as_dict(), "incomplete": revenue.incomplete},
           "algorithms": by_algo, "revenue": money, "incomplete": gaps}
    if args.json:
        return out
    print(f"products {cat.products} (active {cat.active}, with photos {cat.with_images}), styles {cat.styles}, "
          f"categories {cat.categories}")
    print("coverage:", ", ".join(f"{k} {v}" for k, v in vars(cov).items()))
    print(f"period {period.start} to {period.end} ({period.days} day{'s' if period.days != 1 else ''}, UTC)")
    for row in by_algo:
        rates = ", ".join(f"{name} {'-' if row[name] is None else f'{row[name]:.4f}'}"
                          for name in ("ctr", "conversion_click"))
        print(f"  {row['algorithm'] or '(no list)'}: {row['impressions']} impressions "
              f"({row['denominator'] or 'none'}), {row['clicks']} clicks, {row['purchases']} purchases; {rates}")
    aov = "-" if revenue.aov is None else f"{revenue.aov:,.2f}"
    rpm = "-" if revenue.revenue_per_mille is None else f"{revenue.revenue_per_mille:,.2f}"
    print(f"revenue {revenue.revenue:,.2f} from {revenue.orders} orders (AOV {aov}, per 1,000 impressions {rpm}); "
          f"{revenue.purchases_without_price} purchases without price")
    note = load(GAPS).warning(gaps)
    if note:
        print(note)
    for line in revenue.incomplete:
        if line != note:
            print(line)
    return None


COMMANDS = (
    Command("log-events", "import an event file (bad rows reported with line numbers; re-import adds nothing)",
            log_events_command, _log_args),
    Command("simulate", "simulate shopper traffic for the demo dashboards (events marked simulated)",
            simulate_command, _simulate_args),
    Command("stats", "catalog size, vector coverage, and the event log's counts and revenue for a period "
            "(--days, --since; default: the whole log)", stats_command, _stats_args),
)
