"""The engine as a library: its public API and an installable wheel that holds every module and data file."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parent.parent


def test_the_public_api_exports_what_users_import():
    assert {"Runtime", "Recommender", "Filters", "RecoConfig", "Settings", "VitrinaError", "NotFound",
            "ValidationError", "ConfigError", "EncoderMismatch", "InvalidImage"} <= set(engine.__all__)
    for name in engine.__all__:
        assert getattr(engine, name) is not None, name


def test_the_wheel_holds_every_engine_module_and_data_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("vitrina_engine-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*")
                if p.is_file() and p.suffix in (".py", ".json")}
    assert expected and expected <= names
