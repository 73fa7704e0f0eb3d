"""The console in a real Chromium: `streamlit run app.py` serves a copy of the demo catalog prepared once
per session (tests/console_fixtures.py), Playwright clicks through it and screenshots every page it
visits into test-output/screenshots/."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from engine.catalog.db import Database
from engine.jobs import JobQueue

pytestmark = pytest.mark.browser
RUN_TIMEOUT = 60_000  # ms: the first visit of a page loads the encoders in the server
WIDTH, MIN_HEIGHT, MAX_HEIGHT = 1400, 1500, 8000
SETTLE_MS = 500  # lets bars and images finish their CSS transitions before a screenshot


def settle(page: Page, timeout: int = RUN_TIMEOUT) -> None:
    """Wait until the script run triggered by the last action has finished and nothing is stale."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                           timeout=timeout)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=timeout)


def open_page(page: Page, server, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def snapshot(page: Page, folder, name: str) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its main area, so the window is made as tall
    as the content first."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": max(MIN_HEIGHT, min(MAX_HEIGHT, height + 120))})
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(SETTLE_MS)
    page.screenshot(path=str(folder / f"{name}.png"))
    page.set_viewport_size({"width": WIDTH, "height": MIN_HEIGHT})


def grid_skus(page: Page, key: str) -> list[str]:
    captions = page.locator(f".st-key-{key} [data-testid='stCaptionContainer']").all_inner_texts()
    return [c.split(" · ")[0] for c in captions if "% match" not in c]


def test_overview(page: Page, console_server, screenshots):
    open_page(page, console_server)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    products = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text("Products", exact=True))
    expect(products.get_by_test_id("stMetricValue")).to_have_text(f"{console_server.products:,}".replace(",", "\u202f"))
    page.get_by_text("Engineering details").click()  # the encoders sit in the engineers' expander
    expect(page.get_by_text("descriptor").first).to_be_visible()
    snapshot(page, screenshots, "overview")


def test_pick_a_product_and_see_its_similar_items(page: Page, console_server, screenshots):
    open_page(page, console_server, "similar")
    page.get_by_text("Browse the catalog").click()
    picks = page.locator(".st-key-grid-browse").get_by_role("button", name="Pick")
    expect(picks).to_have_count(12)
    chosen = page.locator(".st-key-grid-browse [data-testid='stCaptionContainer']").nth(3).inner_text()
    chosen_sku = chosen.split(" · ")[0]
    picks.nth(3).click()
    settle(page)
    expect(page.locator(".st-key-similar-source")).to_contain_text(chosen_sku)
    for kind in ("combined", "text", "image"):
        expect(page.locator(f".st-key-grid-similar-{kind} [data-testid='stImage']")).to_have_count(12)
        shown = grid_skus(page, f"grid-similar-{kind}")
        assert len(shown) == 12 and chosen_sku not in shown, (kind, shown)
    expect(page.locator(".st-key-grid-similar-combined").get_by_text("% match").first).to_be_visible()
    snapshot(page, screenshots, "similar")


def test_visual_search_finds_the_uploaded_item(page: Page, console_server, alt_photo, screenshots):
    sku, path = alt_photo
    open_page(page, console_server, "visual_search")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    expect(page.locator(".st-key-grid-visual [data-testid='stImage']")).to_have_count(12, timeout=RUN_TIMEOUT)
    settle(page)
    assert sku in grid_skus(page, "grid-visual")
    snapshot(page, screenshots, "visual_search")


def test_text_search_in_turkish(page: Page, console_server, screenshots):
    open_page(page, console_server, "text_search")
    box = page.get_by_label("Search the catalog")
    box.fill("kadın ceket")
    box.press("Enter")
    settle(page)
    expect(page.locator(".st-key-grid-text [data-testid='stImage']")).to_have_count(12, timeout=RUN_TIMEOUT)
    categories = [c.split(" · ")[-1] for c in
                  page.locator(".st-key-grid-text [data-testid='stCaptionContainer']").all_inner_texts()
                  if "% match" not in c]
    assert sum(c == "Jackets" for c in categories) >= 6, categories
    snapshot(page, screenshots, "text_search")


def test_a_full_reindex_runs_in_the_background_and_the_queue_shows_it(page: Page, console_server, screenshots):
    open_page(page, console_server, "index")
    page.get_by_text("Full — rebuild every vector").click()
    settle(page)
    page.get_by_role("button", name="Queue indexing").click()
    settle(page)  # the page is free at once: the job runs in the console's background runner
    expect(page.get_by_text("Queued indexing as job")).to_be_visible()
    counts = page.locator(".st-key-jobs-counts")

    def count(label: str) -> int:
        metric = counts.get_by_test_id("stMetric").filter(
            has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
        return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", "").replace("\u202f", ""))

    queue = JobQueue(Database(f"sqlite:///{console_server.data_dir / 'vitrina.db'}"))
    job_id = queue.jobs(1)[0].id
    running_seen, deadline = False, time.monotonic() + RUN_TIMEOUT / 1000
    while queue.job(job_id).status not in ("done", "failed"):  # the queue redraws itself every two seconds
        assert time.monotonic() < deadline, queue.job(job_id)
        running_seen = running_seen or count("Running") >= 1
        time.sleep(0.2)
    job = queue.job(job_id)
    assert (job.kind, job.status, job.total, job.done) == ("full", "done", console_server.products,
                                                            console_server.products)
    assert running_seen  # the page showed it running, while its own script was free
    expect(counts.get_by_test_id("stMetric").first).to_be_visible()
    page.wait_for_timeout(2500)  # one more redraw of the queue
    assert count("Running") == 0 and count("Done") >= 1
    snapshot(page, screenshots, "index")
