"""The storefront in a real browser (Playwright + Chromium): the demo shop and the widget on a plain HTML page
of another origin, against a real uvicorn server on a catalog of Luma photos (one of them titled with markup).
Checks what a shopper's browser does and what lands in the event log: the carousel is the API's list; a tile
below the fold logs no impression until it is scrolled into view, then exactly one; a click, a cart add and a
purchase name their list, position and price; a text search shows the engine's list and is recorded;
a photo search shows results; a disallowed origin gets no CORS
and an empty widget without a script error; markup in a title is shown as text. Screenshots go to
/tmp/shots/shop/."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from engine.catalog.events import EventRow, SearchRow
from engine.insights import analytics
from engine.insights.analytics import Scope
from engine.insights.revenue import revenue_summary
from engine.catalog.importers import import_generic
from engine.runtime import shared
from engine.service.app import create_app
from engine.service.server import server_config
from engine.settings import Settings
from test_cache import free_port

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

SHOTS = Path("/tmp/shots/shop")
XSS = '<img src=x onerror="window.pwned=1">Jacket'
START_SECONDS = 60.0
KINDS = {"wj": ("Women/Jackets", "Jacket"), "wb": ("Women/Bra Tops", "Bra Top"), "mh": ("Men/Hoodies", "Hoodie"),
         "ws": ("Women/Tees", "Tee")}


def _catalog(folder: Path, luma: Path) -> list[str]:
    """Up to eight products of each kind, each with its Luma photo; the first jacket is titled with markup."""
    photos = sorted((luma / "media" / "catalog" / "product").rglob("*_main.jpg"))
    rows, skus = [], []
    (folder / "img").mkdir(parents=True)
    for prefix, (category, noun) in KINDS.items():
        mine = [p for p in photos if p.name.startswith(prefix)][:8]
        for i, photo in enumerate(mine):
            shutil.copy(photo, folder / "img" / photo.name)
            sku = photo.stem.replace("_main", "").upper()
            colour = sku.split("-")[1].lower()
            title = XSS if not rows else f"{colour.title()} {noun} {i + 1}"
            rows.append(f'{sku},"{title.replace(chr(34), chr(34) * 2)}",{20 + 3 * len(rows)},{colour},'
                        f'{category},img/{photo.name},5')
            skus.append(sku)
    (folder / "products.csv").write_text("sku,title,price,colour,category,images,stock\n" + "\n".join(rows) + "\n",
                                         encoding="utf-8")
    return skus


class Served:
    def __init__(self, settings: Settings, url: str, page_origin: str, other_origin: str, skus: list[str],
                 folder: Path):
        self.settings, self.url, self.page_origin, self.other_origin = settings, url, page_origin, other_origin
        self.skus, self.folder = skus, folder

    def rows(self, **where) -> list[EventRow]:
        with shared(self.settings).db.session() as s:
            q = select(EventRow).where(EventRow.kind != "served").order_by(EventRow.id)
            for k, v in where.items():
                q = q.where(getattr(EventRow, k) == v)
            return [r for r in s.scalars(q) if r.request_id is not None or r.kind != "impression"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, luma_dir, browser_type_launch_args):
    folder = tmp_path_factory.mktemp("browser-shop")
    skus = _catalog(folder, luma_dir)
    pages = folder / "pages"
    pages.mkdir()
    api_port, page_port = free_port(), free_port()
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = folder / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.catalog_dir = "descriptor", "use", folder
    s.shop_origins = (f"http://127.0.0.1:{page_port}",)
    rt = shared(s)
    assert import_generic(rt.db, folder / "products.csv").created == len(skus)
    assert rt.indexer.run().encoded == len(skus)
    server = uvicorn.Server(server_config(create_app(s), "127.0.0.1", api_port, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(pages))
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield Served(s, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{page_port}",
                 f"http://localhost:{page_port}", skus, pages)
    plain.shutdown()
    server.should_exit = True
    thread.join(15)


@pytest.fixture
def page(page: Page) -> Page:
    """A page that fails the test on any script error."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    assert not errors, errors


def _ready(page: Page, kind: str) -> str:
    box = page.locator(f'[data-vitrina="{kind}"][data-vitrina-ready]').first
    expect(box).to_have_count(1, timeout=20_000)
    return box.get_attribute("data-vitrina-ready")


def _wait_rows(served: Served, want, timeout: float = 10.0, **where) -> list[EventRow]:
    deadline = time.monotonic() + timeout
    while True:
        rows = served.rows(**where)
        if want(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_product_page_carousel_is_the_api_list_and_logs_what_is_seen(served: Served, page: Page):
    page.set_viewport_size({"width": 1200, "height": 600})
    sku = served.skus[1]
    page.goto(f"{served.url}/shop/product/{sku}")
    assert int(_ready(page, "similar")) > 0
    tiles = page.locator('[data-vitrina="similar"] .vitrina-tile')
    section = page.locator('[data-vitrina="similar"] section')
    rid = section.get_attribute("data-request-id")
    api = page.request.get(f"{served.url}/api/products/{sku}/similar/?limit=12").json()
    assert tiles.evaluate_all("ts => ts.map(t => t.dataset.sku)") == [i["sku"] for i in api["items"]]
    assert page.locator('[data-vitrina="similar"] .vitrina-name').all_text_contents() == [
        i["title"] for i in api["items"]]
    assert page.locator('[data-vitrina="similar"] .vitrina-photo').first.get_attribute("src").startswith(
        f"{served.url}/media/img/")
    # Below the fold: nothing is logged, even when the queue is flushed.
    assert not tiles.first.evaluate("t => t.getBoundingClientRect().top < innerHeight")
    page.evaluate("Vitrina.flush()")
    time.sleep(1.0)
    assert served.rows(request_id=rid, kind="impression") == []
    tiles.first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    visible = tiles.evaluate_all("ts => ts.filter(t => { const r = t.getBoundingClientRect(); "
                                 "return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && "
                                 "r.right <= innerWidth; }).map(t => +t.dataset.position)")
    assert 0 in visible and len(visible) < tiles.count()
    page.evaluate("Vitrina.flush()")
    rows = _wait_rows(served, lambda r: len(r) >= len(visible), request_id=rid, kind="impression")
    assert sorted(r.position for r in rows) == sorted(visible)
    assert {(r.algorithm, r.config_version) for r in rows} == {(api["algorithm"], api["config_version"])}
    page.mouse.wheel(0, -2000)
    tiles.first.scroll_into_view_if_needed()
    page.evaluate("Vitrina.flush()")
    time.sleep(0.5)
    assert len(served.rows(request_id=rid, kind="impression")) == len(visible)  # one per tile per page view
    page.screenshot(path=str(SHOTS / "product-page.png"), full_page=True)

    # A click on the second tile: logged as it navigates away; the cart add and the purchase name the list.
    target = tiles.nth(1)
    clicked_sku, price = target.get_attribute("data-sku"), api["items"][1]["price"]
    target.locator("a").click()
    page.wait_for_url(f"**/shop/product/{clicked_sku}?list={rid}&pos=1")
    clicks = _wait_rows(served, lambda r: len(r) == 1, request_id=rid, kind="click")
    assert [(r.position, r.algorithm) for r in clicks] == [(1, api["algorithm"])]
    page.fill('input[name="quantity"]', "2")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart")).to_be_visible()
    page.screenshot(path=str(SHOTS / "cart.png"), full_page=True)
    page.get_by_test_id("checkout").click()
    expect(page.get_by_test_id("thanks")).to_be_visible()
    bought = _wait_rows(served, lambda r: len(r) == 1, request_id=rid, kind="purchase")
    assert [(r.position, r.price, r.quantity) for r in bought] == [(1, price, 2)]
    assert [(r.price, r.quantity) for r in served.rows(request_id=rid, kind="cart_add")] == [(price, 2)]

    # Analytics then shows those numbers, today's events included before any rollup: the shopper's click, cart
    # add and purchase (the only ones so far), its revenue, and every impression a browser reported.
    db, today = shared(served.settings).db, datetime.now(timezone.utc).date()
    period = Scope(start=today, end=today, simulated=False)
    row = analytics.metrics(db, "algorithm", period).set_index("algorithm").loc[api["algorithm"]]
    reported = [r for r in served.rows(kind="impression", algorithm=api["algorithm"])]
    assert (row.reported, row.clicks, row.carts, row.purchases) == (len(reported), 1, 1, 1)
    assert len(reported) >= len(visible)
    money = revenue_summary(db, today, today, simulated=False)
    assert (money.orders, money.purchases_without_price) == (1, 0)
    assert money.revenue == pytest.approx(2 * price)


def test_catalog_navigation_search_and_photo_search(served: Served, page: Page):
    page.set_viewport_size({"width": 1300, "height": 1000})
    page.goto(f"{served.url}/shop/")
    page.get_by_role("link", name="Men", exact=True).first.click()
    expect(page.locator("h1")).to_have_text("Men")
    expect(page.locator('[data-testid="catalog"] li')).to_have_count(8)  # the hoodies
    # The shop's search is the engine's text search: the widget shows the API's list, the search is recorded,
    # and a click on a result makes it a clicked search.
    page.fill('input[name="q"]', "black hoodie")
    page.keyboard.press("Enter")
    assert int(_ready(page, "query")) > 0
    tiles = page.locator('[data-vitrina="query"] .vitrina-tile')
    rid = page.locator('[data-vitrina="query"] section').get_attribute("data-request-id")
    api = page.request.get(f"{served.url}/api/recommendations/search/?q=black+hoodie&limit=24").json()
    shown = tiles.evaluate_all("ts => ts.map(t => t.dataset.sku)")
    assert shown == [i["sku"] for i in api["items"]] and shown[0].startswith("MH")
    with shared(served.settings).db.session() as s:
        assert [(r.kind, r.query) for r in s.scalars(select(SearchRow).where(SearchRow.request_id == rid))] == [
            ("text", "black hoodie")]
    tiles.first.locator("a").click()
    page.wait_for_url(f"**/shop/product/{shown[0]}?list={rid}&pos=0")
    assert [r.position for r in _wait_rows(served, lambda r: len(r) == 1, request_id=rid, kind="click")] == [0]
    page.goto(f"{served.url}/shop/")
    photo = served.folder.parent / "img" / f"{served.skus[9].lower()}_main.jpg"
    page.locator("[data-vitrina-upload]").set_input_files(str(photo))
    results = page.locator('[data-vitrina="search"] .vitrina-tile')
    expect(results.first).to_be_visible(timeout=30_000)
    assert results.count() > 0 and served.skus[9] in results.evaluate_all("ts => ts.map(t => t.dataset.sku)")
    page.screenshot(path=str(SHOTS / "shop-catalog.png"), full_page=True)


def test_markup_in_a_title_is_text_in_the_shop_and_the_widget(served: Served, page: Page):
    page.goto(f"{served.url}/shop/product/{served.skus[0]}")
    expect(page.get_by_test_id("product-title")).to_have_text(XSS)
    page.goto(f"{served.url}/shop/product/{served.skus[1]}")
    _ready(page, "similar")
    names = page.locator('[data-vitrina="similar"] .vitrina-name').all_text_contents()
    assert XSS in names
    assert page.evaluate("window.pwned") is None and page.locator('img[src="x"]').count() == 0


def _plain_page(served: Served, name: str, sku: str, lang: str) -> str:
    (served.folder / name).write_text(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>A plain page</title></head>'
        f'<body style="font-family:sans-serif;max-width:900px;margin:2em auto"><h1>Someone else\'s shop</h1>'
        f'<p>One script tag:</p><script src="{served.url}/widget.js" data-vitrina="similar" '
        f'data-product="{sku}" data-limit="6" async></script></body></html>', encoding="utf-8")
    return name


def test_widget_on_a_plain_page_of_an_allowed_origin(served: Served, page: Page):
    name = _plain_page(served, "allowed.html", served.skus[17], "ru")
    page.goto(f"{served.page_origin}/{name}")
    assert _ready(page, "similar") == "6"
    expect(page.locator(".vitrina-title")).to_have_text("Похожие товары")
    rid = page.locator("section.vitrina").get_attribute("data-request-id")
    page.evaluate("Vitrina.flush()")
    rows = _wait_rows(served, lambda r: len(r) > 0, request_id=rid, kind="impression")
    assert 0 in {r.position for r in rows}  # the beacon crossed origins
    page.screenshot(path=str(SHOTS / "widget-plain-page.png"), full_page=True)


def test_widget_on_a_disallowed_origin_gets_no_cors_and_renders_nothing(served: Served, page: Page):
    name = _plain_page(served, "disallowed.html", served.skus[17], "en")
    blocked = []
    page.on("requestfailed", lambda r: blocked.append(r.url) if "/api/products/" in r.url else None)
    page.goto(f"{served.other_origin}/{name}")
    assert _ready(page, "similar") == "0"
    assert page.locator(".vitrina-tile").count() == 0
    assert len(blocked) == 1  # the browser refused the answer: it carried no CORS header for this origin
    url = f"{served.url}/api/products/{served.skus[17]}/similar/"
    assert "access-control-allow-origin" not in page.request.get(url, headers={"Origin": served.other_origin}).headers
    assert page.request.get(url, headers={"Origin": served.page_origin}).headers[
        "access-control-allow-origin"] == served.page_origin
    for sku in ("NO-SUCH-SKU",):  # an unknown product on the shop itself: an empty widget, no error
        (served.folder / "unknown.html").write_text(
            f'<!doctype html><script src="{served.url}/widget.js" data-vitrina="similar" data-product="{sku}">'
            '</script>', encoding="utf-8")
        page.goto(f"{served.page_origin}/unknown.html")
        assert _ready(page, "similar") == "0"
