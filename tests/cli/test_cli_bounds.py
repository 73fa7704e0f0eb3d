"""The command line refuses what no command can serve before doing any work: product and category ids past
2^63-1 (they used to reach SQLite as OverflowError tracebacks), counts below 1, text that is not UTF-8, and a
search text of nothing but whitespace, NUL and bidi marks. Each refusal is exit 2 and one line naming the
argument."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.recommend.config import RecoConfig, save
from engine.recommend.rules import Rule
from engine.text import MAX_ID

ROOT = Path(__file__).resolve().parents[2]
TOO_BIG = "99999999999999999999999"


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty data folder, so a command that slipped through would find nothing rather than real data."""
    path = tmp_path / "data"
    for name, value in {"VITRINA_DATA_DIR": str(path), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
                        "VITRINA_IMAGE_ENCODER": "descriptor"}.items():
        monkeypatch.setenv(name, value)
    return path


def _refusal(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    return captured.err.strip()


@pytest.mark.parametrize("argv, message", [
    (["similar", TOO_BIG], f"argument product: must be a product id between 1 and {MAX_ID}, got {TOO_BIG}"),
    (["similar", str(MAX_ID + 1)], f"argument product: must be a product id between 1 and {MAX_ID}, got "
                                   f"{MAX_ID + 1}"),
    (["similar", "0"], "argument product: must be a product id between 1 and"),
    (["look", TOO_BIG], "argument product: must be a product id between 1 and"),
    (["personalised", "u", "--not-like", TOO_BIG], "argument --not-like: must be a product id between 1 and"),
    (["personalised", "u", "--dislike", TOO_BIG], "argument --dislike: must be a product id between 1 and"),
    (["similar", "MJ01", "--exclude", TOO_BIG], f"argument --exclude: must be an id between 1 and {MAX_ID}"),
    (["similar", "MJ01", "--category", TOO_BIG], "argument --category: must be an id between 1 and"),
    (["trending", "--category", TOO_BIG], "argument --category: must be an id between 1 and"),
    (["similar", "MJ01", "-n", "0"], f"argument -n: must be between 1 and {MAX_ID}, got 0"),
    (["trending", "-n", TOO_BIG], f"argument -n: must be between 1 and {MAX_ID}, got {TOO_BIG}"),
    (["index", "--limit", "-1"], "argument --limit: must be between 1 and"),
    (["simulate", "--days", "0"], "argument --days: must be between 1 and"),
    (["similar", "MJ01", "--price-max", "nan"], "argument --price-max: must be a finite number of at least 0"),
    (["search-text", " \t\u200e\u202e\u2066 "], "argument query: the search text is empty"),
    (["search-text", "\u200f\x00"], "argument query: contains a NUL character"),
    (["similar", "MJ\udced\udca0\udc80"], "argument product: is not valid Unicode: it holds a lone surrogate"),
    (["personalised", "\udcff"], "argument user: is not valid Unicode"),
    (["similar", "MJ01", "--colour", "re\udcc0d"], "argument --colour: is not valid Unicode"),
])
def test_out_of_range_and_malformed_arguments_exit_2_with_one_line(data_dir, capsys, argv, message):
    line = _refusal(argv, capsys)
    assert line.startswith(f"python -m engine {argv[0]}: error: {message}"), line
    assert line.endswith(f"(see python -m engine {argv[0]} --help)")
    assert not data_dir.exists()  # refused before the runtime opened anything


def test_a_huge_id_and_bytes_that_are_not_utf8_as_a_user_types_them(data_dir):
    """Through the real interpreter: the shell hands Python bytes, and what reaches the terminal is checked."""
    env = {**os.environ, "VITRINA_DATA_DIR": str(data_dir)}
    for arg, message in ((TOO_BIG.encode(), f"must be a product id between 1 and {MAX_ID}, got {TOO_BIG}"),
                         (b"\xed\xa0\x80", "is not valid Unicode: it holds a lone surrogate")):
        run = subprocess.run([sys.executable.encode(), b"-m", b"engine", b"similar", arg], cwd=ROOT, env=env,
                             capture_output=True, timeout=120)
        err = run.stderr.decode("utf-8", "replace")
        assert run.returncode == 2 and run.stdout == b"" and "Traceback" not in err, err
        assert err.splitlines() == [err.strip()] and message in err


def test_a_valid_id_still_reaches_the_engine(data_dir, capsys):
    """The bounds refuse only the impossible: the largest id is looked up (and, in an empty catalog, not found)."""
    assert main(["similar", str(MAX_ID)]) == 2
    assert capsys.readouterr().err.strip() == f"error: no product with id {MAX_ID}"


def test_import_config_refuses_a_fifo_and_rules_naming_unknown_products(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    pipe = tmp_path / "config.yaml"
    os.mkfifo(pipe)
    assert main(["import-config", str(pipe)]) == 2  # no writer ever opens it: reading it would hang
    assert "config file is not a regular file" in capsys.readouterr().err
    stale = tmp_path / "stale.yaml"
    save(replace(RecoConfig.default(), rules=[Rule("pin-gone", "pin", 424242, 1)]), stale)
    assert main(["import-config", str(stale)]) == 2
    err = capsys.readouterr().err
    assert "$.rules[0].product_id: no product with id 424242 in the catalog (rule pin-gone)" in err
    capsys.readouterr()
    assert main(["config", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []  # the draft is untouched
