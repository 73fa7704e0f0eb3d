"""`python -m engine config ...`: the recommender config's life from a terminal, on the same SQL draft and
versions as the console (engine/merchandising/drafts.py). Only SQL is opened, never the vector store, so
these commands work beside a console or a service that owns the store.

    config status                      what the draft changes against the live version, and its problems
    config import FILE --editor NAME   a YAML document into the draft (never straight to live)
    config export [FILE] [--draft]     the live (or draft) document as YAML, to FILE or stdout
    config publish [--message TEXT]    the draft becomes the next live version
    config history                     the published versions, newest first
    config diff A B                    what changes from A to B (version numbers, live, draft)
    config rollback N                  publish version N's content as a new version
    config discard                     the draft goes back to the live version

`export-config` and `import-config` are the same as `config export` and `config import`."""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import Command
from engine.errors import ValidationError
from engine.merchandising.drafts import ConfigWorkflow, Published
from engine.merchandising.edits import import_config
from engine.merchandising.history import Change, as_records
from engine.recommend.config import dump, read_config_file, save
from engine.runtime import Runtime
from engine.settings import Settings


def _desk() -> ConfigWorkflow:
    return ConfigWorkflow(Runtime(Settings()))


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _print_changes(changes: list[Change], indent: str = "  ") -> None:
    for c in changes:
        print(f"{indent}{c.kind:8} {c.path}: {c.old!r} -> {c.new!r}")


def _ref(text: str) -> int | str:
    """A version number, `live` or `draft`."""
    if text in ("live", "draft"):
        return text
    if text.isdigit() and 0 < len(text) < 10:
        return int(text)
    raise argparse.ArgumentTypeError(f"give a version number, live or draft, got {text!r}")


def _number(text: str) -> int:
    ref = _ref(text)
    if not isinstance(ref, int):
        raise argparse.ArgumentTypeError(f"give a version number, got {text!r}")
    return ref


# ---------------------------------------------------------------- handlers

def status_command(args: argparse.Namespace) -> Any:
    desk = _desk()
    live, draft = desk.runtime.live.current(), desk.draft()
    changes, problems = desk.changes(), desk.problems(draft.config)
    if args.json:
        return {"live_version": live.number, "draft_revision": draft.revision, "draft_base_version": draft.base_version,
                "updated_by": draft.updated_by, "updated_at": draft.updated_at, "changes": as_records(changes),
                "problems": problems}
    print(f"live version {live.number}; draft revision {draft.revision} by {draft.updated_by} at "
          f"{draft.updated_at:%Y-%m-%d %H:%M} UTC")
    print(f"draft differs from live: {len(changes)} change(s)")
    _print_changes(changes)
    for p in problems:
        print(f"  problem: {p}")
    return None


def export_command(args: argparse.Namespace) -> Any:
    desk = _desk()
    config = desk.draft().config if args.draft else desk.runtime.live.current().config
    what = "draft" if args.draft else f"live version {desk.runtime.live.current().number}"
    text = dump(config.validate())
    if args.path:
        save(config, Path(args.path))
        if not args.json:
            print(f"exported the {what} to {args.path}")
    elif not args.json:
        sys.stdout.write(text)
    return {"exported": what, "path": args.path, "document": None if args.path else text} if args.json else None


def import_command(args: argparse.Namespace) -> Any:
    desk = _desk()
    # ConfigError lists every problem (rules naming products the catalog lacks too); the draft is untouched then
    new = import_config(read_config_file(Path(args.path)), desk.runtime.catalog)
    desk.replace(new, args.editor, f"imported {Path(args.path).name}")
    changes = desk.changes()
    if args.json:
        return {"draft_changes": as_records(changes)}
    print(f"imported {args.path} into the draft: {len(changes)} change(s) from the live version; "
          "publish with `python -m engine config publish`")
    _print_changes(changes)
    return None


def _published(result: Published, args: argparse.Namespace, what: str) -> Any:
    v = result.version
    if args.json:
        return {"version": v.number, "author": v.author, "message": v.message, "created_at": v.created_at,
                "restores": v.restores, "changes": as_records(result.changes)}
    print(f"{what}: version {v.number} is live ({len(result.changes)} change(s) from version {v.previous})")
    _print_changes(result.changes)
    return None


def publish_command(args: argparse.Namespace) -> Any:
    return _published(_desk().publish(args.author, args.message or ""), args, "published")


def rollback_command(args: argparse.Namespace) -> Any:
    return _published(_desk().rollback(args.number, args.author, args.message or ""), args,
                      f"rolled back to version {args.number}")


def history_command(args: argparse.Namespace) -> Any:
    desk = _desk()
    versions = desk.history(args.limit)
    live = versions[0].number if versions else None
    if args.json:
        return [{"version": v.number, "live": v.number == live, "author": v.author, "message": v.message,
                 "created_at": v.created_at, "previous": v.previous, "restores": v.restores,
                 "schema_version": v.schema_version, "changes": v.changes} for v in versions]
    for v in versions:
        mark = "live" if v.number == live else "    "
        again = f" (content of version {v.restores})" if v.restores else ""
        print(f"{mark} {v.number:>4}  {v.created_at:%Y-%m-%d %H:%M} UTC  {v.author}: "
              f"{v.message or '-'}{again}  [{len(v.changes)} change(s)]")
    return None


def diff_command(args: argparse.Namespace) -> Any:
    changes = _desk().compare(args.a, args.b)
    if args.json:
        return as_records(changes)
    print(f"{len(changes)} change(s) from {args.a} to {args.b}")
    _print_changes(changes)
    return None


def discard_command(args: argparse.Namespace) -> Any:
    draft = _desk().discard(args.editor)
    if args.json:
        return {"draft_revision": draft.revision}
    print("the draft is the live version again")
    return None


# ---------------------------------------------------------------- arguments

def _json(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: `config --json publish` and `config publish --json` both work
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="file to write (default: standard output)")
    p.add_argument("--draft", action="store_true", help="the draft instead of the live version")


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="YAML config file")
    p.add_argument("--editor", default=_whoami(), help="who makes the change (default: your user name)")


def _author(p: argparse.ArgumentParser) -> None:
    p.add_argument("--author", default=_whoami(), help="who publishes (default: your user name)")
    p.add_argument("--message", "-m", help="why (shown in the history)")


def _limit(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 100000:
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to 100000, got {text!r}")
    return int(text)


SUBCOMMANDS: tuple[tuple[str, str, Any, Any], ...] = (
    ("status", "what the draft changes against the live version, and what stops it being published",
     status_command, None),
    ("import", "load a YAML document into the draft (validated; never straight to live)", import_command,
     _import_args),
    ("export", "write the live (or --draft) document as YAML", export_command, _export_args),
    ("publish", "make the draft the next live version", publish_command, _author),
    ("history", "the published versions, newest first", history_command,
     lambda p: p.add_argument("--limit", type=_limit, help="show the newest N")),
    ("diff", "what changes from A to B (version numbers, live or draft)", diff_command,
     lambda p: (p.add_argument("a", type=_ref), p.add_argument("b", type=_ref))),
    ("rollback", "publish an earlier version's content as a new version", rollback_command,
     lambda p: (p.add_argument("number", type=_number), _author(p))),
    ("discard", "throw the draft's changes away", discard_command,
     lambda p: p.add_argument("--editor", default=_whoami(), help="who (default: your user name)")),
)


def _group_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="config_command", required=True, metavar="action",
                           parser_class=type(p))
    for name, text, handler, arguments in SUBCOMMANDS:
        sp = sub.add_parser(name, help=text, description=text)
        _json(sp)
        sp.set_defaults(handler=handler)
        if arguments:
            arguments(sp)


def _group_command(args: argparse.Namespace) -> Any:
    raise ValidationError("give an action: " + ", ".join(name for name, *_ in SUBCOMMANDS))


COMMANDS = (
    Command("config", "the recommender config: draft, publish, history, diff, rollback, import, export",
            _group_command, _group_args, ranks=False),
    Command("export-config", "same as `config export`", export_command, _export_args, ranks=False),
    Command("import-config", "same as `config import`", import_command, _import_args, ranks=False),
)
