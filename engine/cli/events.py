"""Commands that fill the event log: import a real event file, or simulate shopper traffic for the demo
dashboards (and remove it again).

Simulated traffic speaks of the config the command runs with: its strategy names (the default one is the
simulated experiment's control) and, for the live published config, its version number on every event, so the
dashboards, the experiments and the impact of a version read the simulated events like logged ones."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.common import Command, Progress, count_arg, load, runtime

SIMULATE = "engine.insights.simulate"  # statsmodels and the experiments: loaded by the commands that simulate


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


COMMANDS = (
    Command("log-events", "import an event file (bad rows reported with line numbers; re-import adds nothing)",
            log_events_command, _log_args),
    Command("simulate", "simulate shopper traffic for the demo dashboards (events marked simulated)",
            simulate_command, _simulate_args),
)
