"""`python -m engine config ...` on the SQL draft and versions: import into the draft (never live), status,
publish, history, diff, rollback, discard, export of live or draft, the export-config / import-config
aliases; refusals (an invalid file, an invalid draft, nothing to publish, an unknown version, `serve
--config`) exit 2 and change nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.recommend.config import RecoConfig, dump, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data"
    for name, value in {"VITRINA_DATA_DIR": str(path), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
                        "VITRINA_IMAGE_ENCODER": "descriptor"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # nothing a command writes by mistake lands in the repository
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title,price\nTEE-1,Red tee,10\nCAP-1,Cap,5\n", encoding="utf-8")
    assert main(["import", str(feed), "--json"]) == 0
    return path


def _json(argv: list[str], capsys) -> object:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _refused(argv: list[str], capsys, words: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err


def _file(tmp_path: Path, name: str, similarity: float) -> Path:
    cfg = RecoConfig.default()
    cfg.strategies["balanced"].weights["similarity"] = similarity
    path = tmp_path / name
    path.write_text(dump(cfg), encoding="utf-8")
    return path


def test_the_whole_loop_from_a_terminal(data_dir, tmp_path, capsys):
    assert _json(["config", "history"], capsys)[0]["version"] == 1
    imported = _json(["config", "import", str(_file(tmp_path, "a.yaml", 0.9)), "--editor", "Ann"], capsys)
    assert [c["path"] for c in imported["draft_changes"]] == ["strategies.balanced.weights.similarity"]
    assert _json(["config", "export"], capsys)["document"].count("similarity: 0.45") == 1  # live is untouched
    status = _json(["config", "status"], capsys)
    assert status["live_version"] == 1 and status["updated_by"] == "Ann" and len(status["changes"]) == 1

    published = _json(["config", "publish", "--author", "Ann", "-m", "more similarity"], capsys)
    assert published["version"] == 2 and published["changes"][0]["new"] == 0.9
    history = _json(["config", "history"], capsys)
    assert [(v["version"], v["live"], v["author"], v["message"]) for v in history] == [
        (2, True, "Ann", "more similarity"), (1, False, "vitrina", "the built-in defaults (first run)")]
    assert _json(["config", "diff", "1", "2"], capsys)[0]["path"] == "strategies.balanced.weights.similarity"
    assert _json(["config", "diff", "live", "draft"], capsys) == []

    rolled = _json(["config", "rollback", "1", "--author", "Bob"], capsys)
    assert rolled["version"] == 3 and rolled["restores"] == 1
    out = tmp_path / "live.yaml"
    assert main(["export-config", str(out)]) == 0  # the alias
    assert load(out).strategies["balanced"].weights["similarity"] == 0.45 and load(out).version == "3"

    assert main(["import-config", str(_file(tmp_path, "b.yaml", 0.7))]) == 0  # the alias: into the draft
    assert main(["config", "export", str(tmp_path / "draft.yaml"), "--draft"]) == 0
    assert load(tmp_path / "draft.yaml").strategies["balanced"].weights["similarity"] == 0.7
    assert _json(["config", "discard", "--editor", "Bob"], capsys)["draft_revision"] > 1
    assert _json(["config", "status"], capsys)["changes"] == []


def test_refusals_exit_2_and_change_nothing(data_dir, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nversion: x\ndefault_strategy: nope\ntext_weight: 3\n", encoding="utf-8")
    _refused(["config", "import", str(bad)], capsys, "default_strategy")
    _refused(["config", "publish"], capsys, "nothing to publish")
    _refused(["config", "rollback", "7"], capsys, "no config version 7")
    _refused(["config", "rollback", "1"], capsys, "nothing to roll back")
    ghost = tmp_path / "ghost.yaml"
    cfg = RecoConfig.default()
    cfg.rules = load(dump(cfg)).rules + [load("schema_version: 1\nversion: g\nrules: [{id: g, action: hide, "
                                             "product_id: 424242}]\n").rules[0]]
    ghost.write_text(dump(cfg), encoding="utf-8")
    _refused(["config", "import", str(ghost)], capsys, "no product with id 424242")
    assert _json(["config", "status"], capsys)["changes"] == []
    assert [v["version"] for v in _json(["config", "history"], capsys)] == [1]
    with pytest.raises(SystemExit) as e:
        main(["config", "rollback", "latest"])
    assert e.value.code == 2


def test_serve_refuses_a_config_file_and_says_how_to_publish_it(data_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "engine", "serve", "--config", str(_file(tmp_path, "c.yaml", 0.5)),
                           "--port", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "config import" in proc.stderr and "config publish" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
