"""`python -m engine import SOURCE` with a URL (issue 15, item 5): an allow-listed host on loopback is
downloaded and imported with a progress bar on stderr; a refused URL is one line naming the setting and exit
2 (a JSON object under --json), with nothing imported. A path is still read as its user gives it."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_feeds import GOOD, FeedServer  # tests/catalog, on the pytest pythonpath

from engine.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _environment(data_dir: Path) -> dict[str, str]:
    return {"VITRINA_DATA_DIR": str(data_dir), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
            "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_IMPORT_HOSTS": "127.0.0.1",
            "VITRINA_IMPORT_ROOTS": str(data_dir / "imports"), "HTTP_PROXY": "", "http_proxy": "",
            "ALL_PROXY": "", "all_proxy": ""}


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data"
    for name, value in _environment(path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # nothing a command writes by mistake lands in the repository
    return path


@pytest.fixture
def server():
    s = FeedServer()
    s.routes["/feeds/shop.csv"] = (200, {"Content-Type": "text/csv"}, GOOD)
    yield s
    s.close()


def _products(capsys) -> int:
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["catalog"]["products"]


def test_a_url_is_imported_with_its_report_and_a_progress_bar(data_dir, server, capsys):
    assert main(["import", server.url("/feeds/shop.csv"), "--json"]) == 0
    captured = capsys.readouterr()
    rep = json.loads(captured.out)
    assert (rep["created"], rep["files"]) == (2, ["127.0.0.1/shop.csv"]) and captured.err == ""
    assert [(r["line"], "price" in r["message"]) for r in rep["rejected"]] == [(3, True)]

    assert main(["import", server.url("/feeds/shop.csv")]) == 0  # again, as text: nothing new
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "created: 0" in lines[0] and "unchanged: 2" in lines[0]
    assert lines[1].startswith("  rejected 127.0.0.1/shop.csv:3:")
    assert "import" in captured.err and "100%" in captured.err  # tqdm on stderr
    assert not (data_dir / "downloads").exists() or not any((data_dir / "downloads").iterdir())


@pytest.mark.parametrize("path, host, message", [
    ("/feeds/shop.csv", "localhost", "is on host localhost, which is not in VITRINA_IMPORT_HOSTS"),
    ("/big.csv", "127.0.0.1", "over the 1,048 bytes of VITRINA_MAX_FEED_MB"),
])
def test_a_refused_url_exits_2_with_one_line_and_imports_nothing(data_dir, server, capsys, monkeypatch, path,
                                                                 host, message):
    monkeypatch.setenv("VITRINA_MAX_FEED_MB", "0.001")  # 1,048 bytes
    server.routes["/big.csv"] = (200, {"Content-Type": "text/csv"}, GOOD + b"F-9,More,1,red\n" * 100)
    url = server.url(path, host=host)
    assert main(["import", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("error: ") and message in captured.err
    assert main(["import", url, "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"] == "ValidationError" and message in out["message"]
    assert _products(capsys) == 0


def test_other_schemes_and_a_missing_feed_exit_2(data_dir, server, capsys):
    for source, message in (("file:///etc/passwd", "only http and https"),
                            (server.url("/absent.csv"), "answered 404")):
        assert main(["import", source, "--json"]) == 2
        assert message in json.loads(capsys.readouterr().out)["message"]
    assert _products(capsys) == 0


def test_a_path_is_read_as_its_user_gives_it(data_dir, tmp_path, capsys):
    """The roots guard what a console user names; whoever runs the CLI can read the file anyway."""
    feed = tmp_path / "anywhere.csv.gz"
    feed.write_bytes(gzip.compress(GOOD))
    assert main(["import", str(feed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["created"] == 2


def test_the_command_as_a_user_runs_it(data_dir, server):
    env = {**os.environ, **_environment(data_dir)}
    done = subprocess.run([sys.executable, "-m", "engine", "import", server.url("/feeds/shop.csv")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "created: 2" in done.stdout and "rejected 127.0.0.1/shop.csv:3" in done.stdout
    refused = subprocess.run([sys.executable, "-m", "engine", "import", server.url("/feeds/shop.csv", "localhost")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        "error: the feed URL is on host localhost, which is not in VITRINA_IMPORT_HOSTS (127.0.0.1)"]
