"""Fixtures of the console tests: one demo catalog prepared per test session and shared by every test.

The expensive part (import the Luma catalog, index it with the weight-free photo descriptor) runs once.
AppTest runs the app in this process, so it reaches the very Runtime prepared here through
`engine.runtime.shared`; the browser tests run the app in a server process on a copy of the folder, since
the embedded store admits one opener per folder."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from console.state import MIRROR

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
SERVER_START_TIMEOUT = 60.0


@dataclass
class ConsoleData:
    """The prepared demo catalog: its folder and the environment that points the app at it."""

    data_dir: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def console_data(tmp_path_factory, luma_dir) -> ConsoleData:
    """Import + index the Luma demo catalog once, in a temporary data folder, with the descriptor encoder.

    The variables are set before the Runtime exists (its settings and config are read from them) and put
    back afterwards; `console_env` sets them again around each test."""
    from engine.demo import prepare_demo
    from engine.runtime import shared

    env = {"VITRINA_DATA_DIR": str(tmp_path_factory.mktemp("console-data")),
           "VITRINA_IMAGE_ENCODER": "descriptor", "VITRINA_CATALOG_DIR": str(luma_dir)}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        prepare_demo(shared(), log=None)
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ConsoleData(Path(env["VITRINA_DATA_DIR"]), env)


@pytest.fixture
def console_env(console_data, monkeypatch) -> ConsoleData:
    """The environment of the prepared catalog; afterwards the live config has the content of version 1 again
    and the shared draft is the live version, whatever the test published or edited."""
    for k, v in console_data.env.items():
        monkeypatch.setenv(k, v)
    yield console_data
    reset_config()


def reset_config() -> None:
    from engine.merchandising.drafts import ConfigWorkflow
    from engine.recommend.config import fingerprint
    from engine.runtime import shared

    desk = ConfigWorkflow(shared())
    live = desk.runtime.live.refresh()
    if fingerprint(live.config) != fingerprint(desk.version(1).config()):
        desk.rollback(1, "tests", "back to version 1 for the next test")
    if desk.changes():
        desk.discard("tests")


@pytest.fixture
def runtime(console_env):
    """The Runtime the app under test uses (the same object)."""
    from engine.runtime import shared

    return shared()


@pytest.fixture
def own_data(tmp_path, monkeypatch):
    """A data folder of the test's own (an empty event log), for the pages that write."""
    from engine.runtime import shared

    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    rt = shared()
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def alt_photo(console_data):
    """A product photographed twice: its main photo is indexed, its alternative view is a query the index
    has never seen. The first such product of the catalog (by id)."""
    from engine.catalog.models import Product, ProductImage
    from engine.runtime import shared
    from engine.settings import Settings

    rt = shared(Settings(data_dir=console_data.data_dir))
    with rt.db.session() as s:
        row = s.execute(select(Product.sku, ProductImage.path).join(ProductImage)
                        .where(ProductImage.role == "alt", Product.is_active.is_(True))
                        .order_by(Product.id, ProductImage.position).limit(1)).first()
    assert row is not None, "the demo catalog has no alternative photos"
    return row.sku, Path(row.path)


# ---- real browser --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium (Playwright's own browser download is not available here)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install it with `apt-get install -y chromium` "
                    "(scripts/setup.sh dev does) to run the browser tests")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A tall window: Streamlit scrolls inside its own main area, so screenshots show whole pages."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1500}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
            return r.read().decode().strip() == "ok"
    except OSError:
        return False


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen
    products: int  # in the served copy of the catalog


@pytest.fixture(scope="session")
def console_server(console_data, tmp_path_factory, browser_type_launch_args):
    """`streamlit run app.py` on a copy of the prepared data folder, until the end of the session."""
    from engine.runtime import shared
    from engine.settings import Settings

    rt = shared(Settings(data_dir=console_data.data_dir))
    rt.store.flush()
    products = rt.catalog.stats().products
    copy = tmp_path_factory.mktemp("console-server") / "data"
    shutil.copytree(console_data.data_dir, copy)
    port = _free_port()
    env = {**os.environ, **console_data.env, "VITRINA_DATA_DIR": str(copy)}
    log = (tmp_path_factory.mktemp("console-server-log") / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            pytest.fail(f"the console server did not start: see {log.name}")
        time.sleep(0.2)
    yield Server(url, copy, process, products)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def goto(at: AppTest, page: str) -> AppTest:
    """Switch the running app to a page, as its sidebar link does; the page must run cleanly."""
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def section(at: AppTest, name: str) -> AppTest:
    """Open a section (a lazy tab) of the page, as a click on its tab does: only the open one runs."""
    at.session_state[MIRROR + "an_section"] = at.session_state["an_section"] = name  # as console.state.put
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
