"""`python -m engine`: the parser offers exactly the commands of the listed groups, and real commands against
a temporary data folder answer with the promised exit codes: 0 done, 2 and one line when the engine refuses,
1 and one line (the traceback only with -v) when something unexpected breaks. Every command's --help is
checked in tests/indexing/test_pipeline.py."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine.cli
from engine.cli.common import Command
from engine.cli.main import GROUPS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {"import-magento", "import", "index", "check", "demo", "stats", "similar", "search-image",
            "search-text", "trending", "look", "personalised", "config", "export-config", "import-config", "log-events",
            "simulate", "evaluate", "serve", "jobs", "worker"}


def _environment(data_dir: Path) -> dict[str, str]:
    """Everything that could point a command at the real data: the SQLite file and embedded store in
    `data_dir`, no servers, no exported config."""
    return {"VITRINA_DATA_DIR": str(data_dir), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
            "VITRINA_IMAGE_ENCODER": "descriptor"}


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data"
    for name, value in _environment(path).items():
        monkeypatch.setenv(name, value)
    return path


def _run(*argv: str, data_dir: Path) -> subprocess.CompletedProcess:
    """The command as a user runs it, so what reaches the terminal is what is checked."""
    return subprocess.run([sys.executable, "-m", "engine", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **_environment(data_dir)}, timeout=120)


def test_the_parser_offers_exactly_the_commands_of_the_groups():
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    names = [c.name for group in GROUPS for c in group]
    assert len(names) == len(set(names))  # a name in two groups would hide one of the commands
    assert set(sub.choices) == set(names) == EXPECTED
    assert all(isinstance(group, tuple) and all(isinstance(c, Command) for c in group) for group in GROUPS)


def test_every_group_module_of_the_cli_is_listed():
    modules = [importlib.import_module(f"engine.cli.{m.name}") for m in pkgutil.iter_modules(engine.cli.__path__)]
    groups = [m.COMMANDS for m in modules if hasattr(m, "COMMANDS") and m.__name__ != "engine.cli.main"]
    assert len(groups) == 7
    assert {id(g) for g in groups} == {id(g) for g in GROUPS}


def test_stats_on_an_empty_data_dir(data_dir, capsys):
    assert main(["stats", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["catalog"]["products"] == 0 and out["coverage"]["with_combined"] == 0 and out["algorithms"] == []
    assert main(["stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("products 0 (active 0") and lines[1].startswith("coverage: products 0")
    assert out["incomplete"] == [] and not any("not logged" in line for line in lines)


def test_stats_says_when_the_service_could_not_log_served_lists(data_dir, capsys):
    from datetime import datetime

    from engine.catalog.db import Database
    from engine.insights.gaps import record_gap
    from engine.settings import Settings

    record_gap(Database(Settings().sql_url), datetime(2026, 5, 1, 12), datetime(2026, 5, 1, 12, 3), 77)
    assert main(["stats", "--json"]) == 0
    (gap,) = json.loads(capsys.readouterr().out)["incomplete"]
    assert gap["dropped"] == 77 and gap["start"].startswith("2026-05-01")
    assert main(["stats"]) == 0
    assert "Incomplete period: 77 served list(s) were not logged" in capsys.readouterr().out


def test_a_catalog_file_without_the_required_columns_is_refused_with_exit_2(data_dir, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,colour\nBlue jacket,blue\n", encoding="utf-8")
    assert main(["import", str(bad)]) == 2
    message = "bad.csv: missing required column(s) sku, price (the header has name, colour)"
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [f"error: {message}"]
    assert main(["import", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": "ValidationError", "message": message} and captured.err == ""
    assert main(["stats", "--json"]) == 0  # refused means nothing was written
    assert json.loads(capsys.readouterr().out)["catalog"]["products"] == 0


def test_an_unexpected_error_is_one_line_with_exit_1_and_its_traceback_only_with_verbose(tmp_path):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be", encoding="utf-8")
    line = f"error: FileExistsError: [Errno 17] File exists: '{not_a_folder}'"
    quiet = _run("stats", data_dir=not_a_folder)
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert quiet.stderr.splitlines() == [line]
    verbose = _run("-v", "stats", data_dir=not_a_folder)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == line


def test_an_unexpected_error_under_json_is_an_error_object(tmp_path, monkeypatch, capsys):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("", encoding="utf-8")
    for name, value in _environment(not_a_folder).items():
        monkeypatch.setenv(name, value)
    assert main(["stats", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "FileExistsError" and "Traceback" not in captured.err
