"""Commands that fill and look after the catalog and its vectors: import (Magento sample data, or a generic
file by path or URL), index, check, the demo, and the catalog statistics."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.jobs import auto_index
from engine.cli.common import Command, Progress, count_arg, jsonable, load, runtime

IMPORTERS = "engine.catalog.importers"  # the file readers: loaded by the import commands


def _report(rep: Any, args: argparse.Namespace) -> Any:
    """An import report: whole under --json; as text, the counts on one line, then each rejected row."""
    if args.json:
        return rep
    d = jsonable(rep)
    rejected = d.pop("rejected", [])
    warnings = d.pop("warnings", [])
    print(", ".join(f"{k}: {v}" for k, v in d.items() if not isinstance(v, (list, dict))))
    for r in rejected:
        print(f"  rejected {r.get('file', '')}:{r.get('line')}: {r.get('message')}")
    if warnings:
        print(f"  {len(warnings)} warnings, e.g. {warnings[0]}")
    return None


def _imported(rt, rep: Any, args: argparse.Namespace) -> Any:
    """The report of an import, after the indexing it queues (engine/cli/jobs.py auto_index): what changed is
    indexed without a manual step, here when this process can take the store, else by whoever holds it."""
    indexing = None
    if not args.no_index and (rep.created or rep.updated):
        indexing = auto_index(rt, f"catalog import {Path(str(rep.files[0] if rep.files else rep.source)).name}",
                              quiet=args.json)
    if args.json:
        return {**jsonable(rep), "indexing": indexing}
    return _report(rep, args)


def _no_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-index", action="store_true", help="import only: do not queue the indexing of the changes")


def _import_magento_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="Magento sample-data folder (default VITRINA_CATALOG_DIR)")
    _no_index(p)


def import_magento_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    bar = Progress("import", args.json)
    rep = load(IMPORTERS).import_magento(rt.db, Path(args.path or rt.settings.catalog_dir), progress=bar)
    bar.close()
    return _imported(rt, rep, args)


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE",
                   help="catalog file (.csv or .jsonl, gzip or not; format in the README), or an http(s) URL on a "
                        "host of VITRINA_IMPORT_HOSTS")
    _no_index(p)


def import_command(args: argparse.Namespace) -> Any:
    """A URL goes through import_feed (allow-listed hosts, size cap, timeouts); a path is read as given, not
    confined to VITRINA_IMPORT_ROOTS: whoever runs the CLI can read that file anyway. Either is streamed."""
    rt = runtime(args)
    bar = Progress("import", args.json)
    try:
        if load("engine.catalog.importers.feeds").is_url(args.source):
            rep = load(IMPORTERS).import_feed(rt.db, args.source, rt.settings, progress=bar)
        else:
            rep = load(IMPORTERS).import_generic(rt.db, Path(args.source), progress=bar, settings=rt.settings)
    finally:
        bar.close()
    return _imported(rt, rep, args)


def _index_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full", action="store_true", help="drop all vectors and rebuild")
    p.add_argument("--batch-size", type=count_arg)
    p.add_argument("--limit", type=count_arg, help="handle at most this many products in this run")


def index_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)  # a CLIP fallback is logged once by the encoder factory, not repeated here
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


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repair", action="store_true", help="remove orphans, reindex what is missing")


def check_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    bar = Progress("check", args.json)
    rep = rt.indexer.check(repair=args.repair, progress=bar)
    # A collection made before lexical search has no lexical vectors: text search runs on the dense vectors
    # alone (and says so) until a full reindex recreates the collection.
    lexical = rt.store.spec() is None or rt.store.has_lexical()
    bar.close()
    rt.close()
    if args.json:
        return {**jsonable(rep), "clean": rep.clean, "lexical_index": lexical}
    print(f"active products {rep.active_products}, points {rep.points}: missing {len(rep.missing)}, "
          f"orphans {len(rep.orphans)}, stale {len(rep.stale)}, payload mismatches {len(rep.payload_mismatch)}"
          + (" — repaired" if rep.repaired else "") + (" — clean" if rep.clean else ""))
    if not lexical:
        print("lexical index: missing (the collection predates lexical search; text search uses the dense "
              "vectors alone): rebuild it with `python -m engine index --full`")
    return None


def demo_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    bar = Progress("demo", args.json)
    out = load("engine.demo").prepare_demo(rt, progress=bar, log=None if args.json else print)
    bar.close()
    return out if args.json else None


COMMANDS = (
    Command("import-magento", "import the Magento sample-data layout (the demo catalog)", import_magento_command,
            _import_magento_args),
    Command("import", "import a generic CSV / JSONL catalog file, from a path or an allow-listed URL", import_command,
            _import_args),
    Command("index", "embed new and changed products into the vector store (--full rebuilds)", index_command,
            _index_args),
    Command("check", "report drift between the SQL catalog and the vector store (--repair fixes it)",
            check_command, _check_args),
    Command("demo", "import and index the demo catalog, then print a few similar items", demo_command),
)
