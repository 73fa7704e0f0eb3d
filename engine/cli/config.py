"""Commands that move the recommender config (strategies, rules, maps, weights) in and out as YAML: export
the config in use, and import a file as the newest stored version once it validates."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.common import Command, runtime
from engine.merchandising.history import ConfigHistory, diff
from engine.merchandising.edits import import_config
from engine.recommend.config import read_config_file, save
from engine.runtime import Runtime


def _history(rt: Runtime) -> ConfigHistory:
    """The stored config versions live in the data folder, beside the catalog they rank."""
    return ConfigHistory(rt.settings.data_dir / "configs")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="file to write (default: a new version in data/configs)")


def export_config_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    if args.path:
        written, version = save(rt.config, Path(args.path)), rt.config.version
    else:
        v = _history(rt).save(rt.config)
        written, version = v.path, v.version
    if not args.json:
        print(f"exported config {version} to {written}")
        return None
    return {"path": str(written), "version": version}


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="YAML config file")


def import_config_command(args: argparse.Namespace) -> Any:
    rt = runtime(args)
    # ConfigError lists every problem (rules naming products the catalog lacks too); nothing is stored then
    new = import_config(read_config_file(Path(args.path)), rt.catalog)
    changes = diff(rt.config, new)
    v = _history(rt).save(new)
    if args.json:
        return {"path": str(v.path), "version": v.version,
                "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in changes]}
    print(f"imported as {v.path} ({len(changes)} changes vs the config in use); "
          f"run with --config {v.path} or set VITRINA_CONFIG to use it")
    for c in changes:
        print(f"  {c.path}: {c.old!r} -> {c.new!r}")
    return None


COMMANDS = (
    Command("export-config", "write the recommender config (strategies, rules, maps, weights) as YAML",
            export_config_command, _export_args),
    Command("import-config",
            "validate a config file and store it as the newest version (nothing applied if invalid)",
            import_config_command, _import_args),
)
