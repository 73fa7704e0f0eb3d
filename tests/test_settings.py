"""The README documents every setting, and nothing that is not one."""
import os
import re
from pathlib import Path

import pytest

from engine.errors import ValidationError
from engine.settings import SETTINGS, Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_settings_table_matches_the_code():
    section = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.M)
    assert documented == [s.env for s in SETTINGS]
    for s in SETTINGS:
        assert s.help in section, s.env


def test_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VITRINA_TEXT_WEIGHT", "0.3")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = Settings()
    assert s.data_dir == tmp_path and s.text_weight == 0.3
    assert s.sql_url == f"sqlite:///{tmp_path / 'vitrina.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert Settings().sql_url == "postgresql://u@h/db"


def test_bad_setting_values_are_named(monkeypatch):
    monkeypatch.setenv("VITRINA_TEXT_WEIGHT", "heavy")
    with pytest.raises(ValidationError, match="VITRINA_TEXT_WEIGHT"):
        Settings()
    monkeypatch.setenv("VITRINA_TEXT_WEIGHT", "1.5")
    with pytest.raises(ValidationError, match="within"):
        Settings()
    monkeypatch.setenv("VITRINA_TEXT_WEIGHT", "0.5")
    monkeypatch.setenv("VITRINA_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="VITRINA_BATCH_SIZE"):
        Settings()


def test_input_limits_read_the_environment_and_refuse_nonsense(monkeypatch):
    """The hostile-input limits are settings like any other: read at each use, and a value that would turn
    a guard off by accident (a depth of 0) is named, not taken."""
    s = Settings()
    assert (s.max_document_depth, s.max_yaml_aliases, s.max_decompressed_bytes) == (64, 100, 512 * 1024 * 1024)
    monkeypatch.setenv("VITRINA_MAX_DECOMPRESSED_MB", "1.5")
    assert Settings().max_decompressed_bytes == 1536 * 1024
    monkeypatch.setenv("VITRINA_MAX_DOCUMENT_DEPTH", "0")
    with pytest.raises(ValidationError, match="VITRINA_MAX_DOCUMENT_DEPTH"):
        Settings()


def test_media_roots_are_a_path_list_without_empty_pieces(monkeypatch, tmp_path):
    """An empty piece would be the working directory, which must never become a media root by a typo."""
    monkeypatch.delenv("VITRINA_MEDIA_ROOTS", raising=False)
    assert Settings().media_roots == ()
    monkeypatch.setenv("VITRINA_MEDIA_ROOTS", f"{os.pathsep}{tmp_path / 'a'}{os.pathsep}{os.pathsep}{tmp_path / 'b'}")
    assert Settings().media_roots == (tmp_path / "a", tmp_path / "b")
