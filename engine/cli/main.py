"""`python -m engine <command>`: every command has --help and --json; errors are one clear line, exit 2."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from engine.errors import VitrinaError
from engine.settings import Settings

COMMANDS: dict[str, tuple[Callable, str, Callable | None]] = {}


def command(name: str, help: str, args: Callable[[argparse.ArgumentParser], None] | None = None):
    """Register `python -m engine <name>`; `args` adds the command's own arguments to its parser."""
    def deco(fn):
        COMMANDS[name] = (fn, help, args)
        return fn
    return deco


def _jsonable(o: Any):
    if is_dataclass(o):
        return {k: _jsonable(v) for k, v in asdict(o).items()}
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (datetime, date, Path)):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    return o


class Progress:
    """A tqdm bar on stderr (silent under --json) usable as a (done, total) callback."""

    def __init__(self, desc: str, quiet: bool):
        self.desc, self.quiet, self.bar = desc, quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is not None and (total != self.bar.total or done < self.bar.n):
            self.bar.close()  # a new phase (e.g. import, then index) gets its own bar
            self.bar = None
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.desc, unit="item", file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _runtime(args):
    from engine.runtime import Runtime

    return Runtime(Settings(), config_path=getattr(args, "config", None))


def _filters(args):
    from engine.types import Filters

    return Filters(category_ids=args.category or [], price_min=args.price_min, price_max=args.price_max,
                   colours=args.colour or [], brands=args.brand or [],
                   exclude_ids=args.exclude or [], active_only=True, in_stock=args.in_stock)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", type=int, default=10, help="how many results (default 10)")
    add_filter_args(p)
    p.add_argument("--strategy", help="reranking strategy (default from the config)")


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """The result filters every listing command takes (see `_filters`)."""
    p.add_argument("--category", type=int, action="append", help="category id (repeatable; subtree matches)")
    p.add_argument("--price-min", type=float)
    p.add_argument("--price-max", type=float)
    p.add_argument("--colour", action="append", help="colour name (repeatable)")
    p.add_argument("--brand", action="append", help="brand (repeatable)")
    p.add_argument("--exclude", type=int, action="append", help="product id to leave out (repeatable)")
    p.add_argument("--in-stock", action="store_true", help="only products in stock")


def _print_recs(recs, as_json: bool) -> Any:
    rows = [{"rank": r.rank, "id": r.product.id, "sku": r.product.sku, "title": r.product.title,
             "price": r.product.price, "colour": r.product.colour, "category": r.product.category,
             "score": round(r.score, 4), "similarity": None if r.similarity is None else round(r.similarity, 4),
             "vector": r.vector, "reasons": r.reasons, "relation": r.relation} for r in recs]
    if as_json:
        return rows
    for row in rows:
        print(f"{row['rank']:>3}. {row['sku']:<16} {row['title'][:40]:<40} {row['price']:>8.2f}  "
              f"{(row['colour'] or ''):<8} {row['score']:.3f}  {', '.join(row['reasons'])}")
    return None


def _index_args(p):
    p.add_argument("--full", action="store_true", help="drop all vectors and rebuild")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--limit", type=int, help="handle at most this many products in this run")


def _similar_args(p):
    p.add_argument("product", help="sku or product id")
    p.add_argument("--by", default="combined", choices=["text", "image", "combined"])
    p.add_argument("--exclude-same-brand", action="store_true")
    p.add_argument("--exclude-same-style", action="store_true", help="leave out other colours of the style")
    _add_filters(p)


def _search_text_args(p):
    p.add_argument("query")
    p.add_argument("--space", default="text", choices=["text", "combined", "image"],
                   help="image = photos by text (needs CLIP)")
    _add_filters(p)


def _evaluate_args(p):
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--queries", help="judged query file (JSONL) instead of the Luma ground truth")
    p.add_argument("--strategy")
    p.add_argument("--max-queries", type=int, help="sample this many queries per task (quicker)")


# ---- commands ------------------------------------------------------------------------------------------
@command("import-magento", "import the Magento sample-data layout (the demo catalog)", lambda p: p.add_argument(
    "path", nargs="?", help="Magento sample-data folder (default VITRINA_CATALOG_DIR)"))
def cmd_import_magento(args):
    from engine.catalog.importers import import_magento

    rt = _runtime(args)
    bar = Progress("import", args.json)
    rep = import_magento(rt.db, Path(args.path or rt.settings.catalog_dir), progress=bar)
    bar.close()
    return _report(rep, args)


@command("import", "import a generic CSV / JSONL catalog file", lambda p: p.add_argument(
    "path", help="catalog file (.csv or .jsonl; format in the README)"))
def cmd_import(args):
    from engine.catalog.importers import import_generic

    rt = _runtime(args)
    bar = Progress("import", args.json)
    rep = import_generic(rt.db, Path(args.path), progress=bar)
    bar.close()
    return _report(rep, args)


def _report(rep, args):
    if args.json:
        return rep
    d = _jsonable(rep)
    rejected = d.pop("rejected", [])
    warnings = d.pop("warnings", [])
    print(", ".join(f"{k}: {v}" for k, v in d.items() if not isinstance(v, (list, dict))))
    for r in rejected:
        print(f"  rejected {r.get('file', '')}:{r.get('line')}: {r.get('message')}")
    if warnings:
        print(f"  {len(warnings)} warnings" + (f", e.g. {warnings[0]}" if warnings else ""))
    return None


@command("index", "embed new and changed products into the vector store (--full rebuilds)", _index_args)
def cmd_index(args):
    rt = _runtime(args)
    if rt.encoder_warning and not args.json:
        print("warning:", rt.encoder_warning, file=sys.stderr)
    bar = Progress("index", args.json)
    rep = rt.indexer.run(full=args.full, batch_size=args.batch_size or rt.settings.batch_size,
                         progress=bar, limit=args.limit)
    bar.close()
    rt.close()
    if args.json:
        return rep
    print(f"{rep.mode}: {rep.candidates} to do, {rep.encoded} encoded, {rep.payload_only} payload-only, "
          f"{rep.text_only} text-only, {rep.removed} removed, {len(rep.errors)} errors in {rep.seconds:.1f}s")
    for e in rep.errors[:20]:
        print(f"  {e.sku}: {e.error}")
    return None


@command("similar", "products similar to a product (sku or id)", _similar_args)
def cmd_similar(args):
    rt = _runtime(args)
    key = int(args.product) if args.product.isdigit() else args.product
    recs = rt.recommender().similar(key, by=args.by, n=args.n, filters=_filters(args), strategy=args.strategy,
                                  exclude_same_style=args.exclude_same_style,
                                  exclude_same_brand=args.exclude_same_brand)
    return _print_recs(recs, args.json)


@command("search-image", "products that look like a photo", lambda p: (p.add_argument("path", help="image file"),
                                                                       _add_filters(p)))
def cmd_search_image(args):
    rt = _runtime(args)
    recs = rt.recommender().search_by_image(Path(args.path), n=args.n, filters=_filters(args), strategy=args.strategy)
    return _print_recs(recs, args.json)


@command("search-text", "products matching a text query (ru / tr / en)", _search_text_args)
def cmd_search_text(args):
    rt = _runtime(args)
    recs = rt.recommender().search_by_text(args.query, n=args.n, filters=_filters(args), space=args.space,
                                         strategy=args.strategy)
    return _print_recs(recs, args.json)


@command("check", "report drift between the SQL catalog and the vector store (--repair fixes it)",
         lambda p: p.add_argument("--repair", action="store_true", help="remove orphans, reindex what is missing"))
def cmd_check(args):
    rt = _runtime(args)
    bar = Progress("check", args.json)
    rep = rt.indexer.check(repair=args.repair, progress=bar)
    bar.close()
    rt.close()
    if args.json:
        return rep
    print(f"active products {rep.active_products}, points {rep.points}: missing {len(rep.missing)}, "
          f"orphans {len(rep.orphans)}, stale {len(rep.stale)}, payload mismatches {len(rep.payload_mismatch)}"
          + (" — repaired" if rep.repaired else "") + (" — clean" if rep.clean else ""))
    return None


@command("evaluate", "offline metrics on the Luma ground truth, or on a judged query file", _evaluate_args)
def cmd_evaluate(args):
    from engine.evaluation import Evaluator, evaluate_queries

    rt = _runtime(args)
    if args.queries:
        rep = evaluate_queries(rt, Path(args.queries), k=args.k, strategy=args.strategy)
    else:
        bar = Progress("evaluate", args.json)
        rep = Evaluator(rt, k=args.k).run(progress=bar, max_queries=args.max_queries)
        bar.close()
    if args.json:
        return rep.to_json()
    print(f"encoders: {rep.encoders}" if rep.encoders else "")
    print(rep.table())
    print(f"({rep.seconds:.1f}s)")
    return None


@command("demo", "import and index the demo catalog, then print a few similar items")
def cmd_demo(args):
    from engine.demo import prepare_demo

    rt = _runtime(args)
    bar = Progress("demo", args.json)
    out = prepare_demo(rt, progress=bar, log=None if args.json else print)
    bar.close()
    if args.json:
        return out
    return None


def build_parser() -> argparse.ArgumentParser:
    from engine.cli import more as cli_more, serve as cli_service  # noqa: F401  (register their commands)
    parser = argparse.ArgumentParser(prog="python -m engine", description="Vitrina recommendation engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (fn, help, add_args) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        p.add_argument("--config", help="exported config (YAML) to load instead of VITRINA_CONFIG")
        p.set_defaults(func=fn)
        if add_args:
            add_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        out = args.func(args)
    except VitrinaError as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        else:
            print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json and out is not None:
        print(json.dumps(_jsonable(out), ensure_ascii=False, indent=2))
    return 0
