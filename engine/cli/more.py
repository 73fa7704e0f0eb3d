"""CLI commands for the exported config, the event log, analytics and the non-vector recommendations."""
from __future__ import annotations

from pathlib import Path

from engine.cli.main import Progress, _print_recs, _runtime, command
from engine.errors import ValidationError


def _history(rt):
    from engine.recommend.config import ConfigHistory

    return ConfigHistory(rt.settings.data_dir / "configs")


@command("export-config", "write the recommender config (strategies, rules, maps, weights) as YAML",
         lambda p: p.add_argument("path", nargs="?", help="file to write (default: a new version in data/configs)"))
def cmd_export_config(args):
    from engine.recommend.config import save

    rt = _runtime(args)
    if args.path:
        written, version = save(rt.config, Path(args.path)), rt.config.version
    else:
        v = _history(rt).save(rt.config)
        written, version = v.path, v.version
    out = {"path": str(written), "version": version}
    if not args.json:
        print(f"exported config {version} to {written}")
        return None
    return out


@command("import-config", "validate a config file and store it as the newest version (nothing applied if invalid)",
         lambda p: p.add_argument("path", help="YAML config file"))
def cmd_import_config(args):
    from engine.recommend.config import RecoConfig, diff

    rt = _runtime(args)
    new = RecoConfig.load(Path(args.path))  # ConfigError lists every problem
    changes = diff(rt.config, new)
    v = _history(rt).save(new)
    out = {"path": str(v.path), "version": v.version,
           "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in changes]}
    if args.json:
        return out
    print(f"imported as {v.path} ({len(changes)} changes vs the config in use); "
          f"run with --config {v.path} or set VITRINA_CONFIG to use it")
    for c in changes:
        print(f"  {c.path}: {c.old!r} -> {c.new!r}")
    return None


def _log_args(p):
    p.add_argument("path", help="event file: generic CSV/JSONL or OTTO JSONL (gzip accepted)")
    p.add_argument("--format", default="auto", choices=["auto", "generic", "otto"])


@command("log-events", "import an event file (bad rows reported with line numbers; re-import adds nothing)",
         _log_args)
def cmd_log_events(args):
    from engine.insights.events import import_events

    rt = _runtime(args)
    bar = Progress("events", args.json)
    rep = import_events(rt.db, Path(args.path), format=args.format, progress=bar)
    bar.close()
    if args.json:
        return rep
    print(f"{rep.format}: {rep.rows} rows, {rep.inserted} inserted, {rep.duplicates} already there, "
          f"{len(rep.rejected)} rejected")
    for line, msg in rep.rejected[:20]:
        print(f"  line {line}: {msg}")
    return None


def _simulate_args(p):
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--shoppers", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--remove", action="store_true", help="delete every simulated event instead")


@command("simulate", "simulate shopper traffic for the demo dashboards (events marked simulated)", _simulate_args)
def cmd_simulate(args):
    from engine.insights.simulate import remove_simulated, simulate

    rt = _runtime(args)
    if args.remove:
        n = remove_simulated(rt.db)
        if not args.json:
            print(f"removed {n} simulated events")
            return None
        return {"removed": n}
    bar = Progress("simulate", args.json)
    rep = simulate(rt.db, days=args.days, shoppers=args.shoppers, seed=args.seed, progress=bar)
    bar.close()
    if args.json:
        return rep
    print(f"simulated {rep.events} events from {rep.shoppers} shoppers over {args.days} days")
    return None


@command("stats", "catalog size, vector coverage per kind and event counts")
def cmd_stats(args):
    from engine.insights.analytics import coverage, metrics

    rt = _runtime(args)
    cat = rt.catalog.stats()
    cov = coverage(rt.db)
    by_algo = metrics(rt.db, by="algorithm")
    out = {"catalog": cat, "coverage": cov, "algorithms": by_algo.to_dict(orient="records")}
    if args.json:
        return out
    print(f"products {cat.products} (active {cat.active}, with photos {cat.with_images}), styles {cat.styles}, "
          f"categories {cat.categories}")
    print("coverage:", ", ".join(f"{k} {v}" for k, v in vars(cov).items()))
    if not by_algo.empty:
        cols = [c for c in ("algorithm", "impressions", "clicks", "ctr", "conversion_per_click") if c in by_algo]
        print(by_algo[cols].to_string(index=False))
    return None


def _trending_args(p):
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--category", help="category id or path, e.g. Men/Tops")


@command("trending", "most popular products now (time-decayed events)", _trending_args)
def cmd_trending(args):
    rt = _runtime(args)
    cat = int(args.category) if args.category and args.category.isdigit() else args.category
    return _print_recs(rt.recommender().trending(args.n, category=cat), args.json)


def _look_args(p):
    p.add_argument("product", help="sku or product id")
    p.add_argument("-n", type=int, default=None, help="items per complementary category")


@command("look", "complete the look: the best items of each complementary category", _look_args)
def cmd_look(args):
    rt = _runtime(args)
    if args.n is not None and args.n <= 0:
        raise ValidationError(f"-n must be at least 1, got {args.n}")
    key = int(args.product) if args.product.isdigit() else args.product
    return _print_recs(rt.recommender().complete_the_look(key, n_per_relation=args.n), args.json)
