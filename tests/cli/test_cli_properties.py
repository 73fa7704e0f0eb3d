"""`python -m engine` called in-process with whatever arguments a hostile user types: the exit code is 0
(done) or 2 (refused, one line saying why) — never 1 (an unexpected failure) and never a traceback."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli.main import main

# Commands that read what they are given. export-config writes wherever it is told (the user's own file, not
# hostile input), so it is left out: a random path must never be written to from a test.
COMMANDS = ["similar", "search-text", "trending", "look", "personalised", "stats", "import", "log-events",
            "import-config", "search-image", "simulate", "check"]
TOKENS = (st.text(max_size=20) | st.integers(-2**70, 2**70).map(str)
          | st.sampled_from(["-n", "--limit", "--category", "--price-max", "--price-min", "--exclude", "--by",
                             "--space", "--json", "--days", "nan", "inf", "/dev/zero", "/etc/passwd", "-1", "0"]))


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in the arguments land here, never in the checkout
    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VITRINA_IMAGE_ENCODER", "descriptor")
    return tmp_path


def _exit(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse refuses an argument (exit 2) or prints --help (exit 0)
        return int(e.code or 0)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], max_examples=40)
@given(command=st.sampled_from(COMMANDS), tokens=st.lists(TOKENS, max_size=5))
def test_any_arguments_are_done_or_refused_never_an_unexpected_failure(empty_data, capsys, command, tokens):
    tokens = [t for t in tokens if "\x00" not in t]  # a real argv cannot hold a NUL
    code = _exit([command, *tokens])
    out, err = capsys.readouterr()
    assert code in (0, 2), (command, tokens, code, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert err.strip() or out.strip(), "a refusal says why"
