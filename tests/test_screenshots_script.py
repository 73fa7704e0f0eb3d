"""scripts/screenshots.py as a command: its help names the output folder, and a bad argument is refused with
exit 2 before anything is prepared or started. (The screenshot run itself is not part of the suite.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "screenshots.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True, timeout=60)


def test_help_exits_0_and_names_the_output_folder():
    r = run("--help")
    assert r.returncode == 0, r.stderr
    assert "--out" in r.stdout and "docs/screenshots" in r.stdout


def test_a_bad_width_or_a_missing_browser_is_refused_with_exit_2(tmp_path):
    r = run("--width", "10", "--out", str(tmp_path))
    assert r.returncode == 2 and "--width must be between 600 and 2560" in r.stderr
    r = run("--chromium", str(tmp_path / "no-such-browser"), "--out", str(tmp_path))
    assert r.returncode == 2 and "is absent" in r.stderr
    assert list(tmp_path.iterdir()) == []
