"""The merchandisers' loop in a real Chromium, end to end: a weight moved on the Tuning page forks a named
strategy into the shared draft, a reload shows the draft still there, Publish makes it live, and an HTTP
service started here on loopback — its own process and vector store, sharing only the SQL database, as a
production machine does — serves the new ranking and version by itself within 5 s; "make live again" brings
the old ranking back the same way. Screenshots of the draft, publish and history views go to
test-output/screenshots/, the measured publish-to-served times to test-output/publish_latency.json."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from engine.catalog.db import Database
from engine.recommend.versions import VersionTable
from engine.runtime import shared
from engine.settings import Settings
from test_cache import free_port
from test_console_browser import open_page, settle, snapshot

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SERVE_TIMEOUT = 90.0
PICKUP_LIMIT = 5.0  # seconds from the click to the service serving the version, at most
N = 12


def _service(data_dir: Path, sql_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "VITRINA_DATA_DIR": str(data_dir), "DATABASE_URL": sql_url, "QDRANT_URL": "",
           "REDIS_URL": "", "VITRINA_IMAGE_ENCODER": "descriptor", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVE_TIMEOUT
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the service did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)


def _served(base: str, sku: str) -> tuple[int, list[int]]:
    r = httpx.get(f"{base}/api/products/{sku}/similar/", params={"limit": N}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["config_version"], [i["id"] for i in body["items"]]


def _wait_for(base: str, sku: str, version: int, clicked: float) -> tuple[list[int], float]:
    """The ranking once the service serves `version`, and the seconds since the click that published it."""
    while True:
        served, ids = _served(base, sku)
        if served == version:
            return ids, time.monotonic() - clicked
        assert time.monotonic() - clicked < PICKUP_LIMIT, f"still serving {served} after {PICKUP_LIMIT} s"
        time.sleep(0.05)


def _click(page: Page, key: str) -> None:
    page.locator(f".st-key-{key} button").click()
    settle(page)


def _nav(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_tune_reload_publish_serve_and_roll_back(page: Page, console_server, console_data, screenshots,
                                                 tmp_path):
    rt = shared(Settings(data_dir=console_data.data_dir))
    rt.store.flush()
    vectors = tmp_path / "service-data"  # the service's own copy of the vectors; the SQL is the console's
    shutil.copytree(console_data.data_dir, vectors)
    sql_url = f"sqlite:///{console_server.data_dir / 'vitrina.db'}"
    versions = VersionTable(Database(sql_url))
    proc, base = _service(vectors, sql_url, tmp_path / "serve.log")
    try:
        open_page(page, console_server)
        _nav(page, "Tuning")
        expect(page.locator(".st-key-tuning-after [data-testid='stImage']")).to_have_count(N, timeout=90_000)
        sku = page.locator(".st-key-tuning_product input").input_value().split(" — ")[0].strip()
        live = versions.latest_number()
        before_version, before = _served(base, sku)
        assert before_version == live

        thumb = page.locator(".st-key-w_price_up").get_by_role("slider")
        thumb.focus()
        thumb.press("Home")  # the upsell weight of the built-in balanced to 0: asks for a name
        settle(page)
        expect(page.locator(".st-key-tuning-fork")).to_be_visible()
        page.locator(".st-key-tuning_fork_name input").fill("no_upsell")
        page.locator(".st-key-tuning_fork_name input").press("Enter")
        settle(page)
        _click(page, "tuning_fork_create")
        _click(page, "tuning_make_default")

        page.reload()  # the draft lives in the database, not in the browser session
        settle(page)
        _nav(page, "Tuning")
        banner = page.locator(".st-key-draft-banner")
        expect(banner).to_contain_text(f"Draft differs from live version {live}: 2 change(s)")
        page.locator(".st-key-draft-banner").get_by_text("What the draft changes").click()
        snapshot(page, screenshots, "draft")

        _nav(page, "Publish")
        page.locator(".st-key-publish_message input").fill("no upsell factor by default")
        page.locator(".st-key-publish_message input").press("Enter")
        settle(page)
        snapshot(page, screenshots, "publish")
        clicked = time.monotonic()
        page.locator(".st-key-publish_go button").click()
        published, publish_seconds = _wait_for(base, sku, live + 1, clicked)
        settle(page)
        expect(page.get_by_text(f"Version {live + 1} is live")).to_be_visible()
        config = versions.get(live + 1).config()
        assert config.default_strategy == "no_upsell"
        assert published == [r.product.id for r in rt.recommender(config).similar(sku, n=N)] != before

        page.locator(".st-key-publish_version input").click()
        page.get_by_role("option", name=f"version {live}", exact=True).click()
        settle(page)
        snapshot(page, screenshots, "history")
        clicked = time.monotonic()
        page.locator(".st-key-publish_rollback button").click()
        restored, rollback_seconds = _wait_for(base, sku, live + 2, clicked)
        assert restored == before
        (screenshots.parent / "publish_latency.json").write_text(json.dumps(
            {"publish_to_served_s": round(publish_seconds, 3), "rollback_to_served_s": round(rollback_seconds, 3)}))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
