"""Shared fixtures. The Luma catalog is read from ../shared/datasets (or VITRINA_CATALOG_DIR); where it is
absent, tests that need it skip with the reason, except under CI, where its absence fails the run.
VITRINA_EVENTS_FILE points the tests at another OTTO-format event file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The console serves its HTTP API only in the tests that ask for it (on a free port), never on the default one.
os.environ.setdefault("VITRINA_API_PORT", "0")

# Property tests: a small derandomised run under CI (same examples every run, no timing deadline: the
# machine is shared), a larger random one by hand with HYPOTHESIS_PROFILE=deep. The worst cases found are
# kept as files in tests/corpus/, not in hypothesis' own database.
hypothesis_settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True, database=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("deep", max_examples=2000, deadline=None, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _dataset(env: str, default: Path) -> Path:
    path = Path(os.environ.get(env, default))
    if not path.exists():
        msg = f"dataset folder {path} is absent (set {env} to its location)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " — required under CI", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def luma_dir() -> Path:
    return _dataset("VITRINA_CATALOG_DIR", ROOT.parent / "shared" / "datasets" / "magento-luma")


@pytest.fixture(scope="session")
def otto_file() -> Path:
    return _dataset("VITRINA_EVENTS_FILE", ROOT.parent / "shared" / "datasets" / "otto-sample" / "train_sample.jsonl")

# The console's fixtures (one demo catalog prepared per session, browser launch settings), registered once.
pytest_plugins = ["console_fixtures"]
