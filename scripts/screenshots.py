"""Screenshots of the storefront and the console for the documentation (docs/screenshots/).

What it does, start to end, in a throwaway data folder (deleted afterwards unless --keep):

1. prepares the demo catalog as the console's first start does (engine.demo.prepare_demo: import the Magento Luma
   sample data from the configured catalog folder, VITRINA_CATALOG_DIR, index it, simulate 14 days of shopper
   traffic);
2. starts the HTTP service (`python -m engine serve`) on a free port, and a plain static page server on another
   free port whose origin is the one allowed by VITRINA_SHOP_ORIGINS; with Chromium it saves the shop's home
   page, a category, a text search (the shop's search box: the service records it), a photo search, a product page with its similar and complete-the-look widgets, the cart,
   and the widget on the plain page of the other origin (the clicks, cart add, purchase and photo searches made
   on the way are real events of the log);
3. stops the service (the embedded vector store admits one process), starts the Streamlit console on a free
   port on the same folder and saves the Analytics page (headline with the period picker and deltas, revenue,
   funnel, search insights), the Experiments page and the Overview page, once their charts are drawn.

Each PNG is reduced to a 256-colour palette (Pillow) to stay small. Chromium is Debian's (/usr/bin/chromium, as
the browser tests use: Playwright's own browser download is not used). Run from the repository root:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 120.0  # seconds a server may take to answer its health check (the machine may be loaded)
LIMIT_BYTES = 400 * 1024
# Text queries a shopper might type, a few that find nothing close in a sports-wear catalog among them, so the
# search insights show top queries, failed ones and unclicked ones.
QUERIES = ("red jacket", "yoga pants", "hoodie", "black tee", "running shorts", "women jacket", "men hoodie",
           "blue bra top", "winter boots", "sunglasses", "red jacket", "hoodie", "hoodie", "yoga pants",
           "green tank", "leather handbag", "purple jacket", "men shorts", "qzxv plorb", "qzxv plorb")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Prepare a throwaway demo data folder, run the HTTP service and the Streamlit console on "
                    "free ports and save PNG screenshots of the shop, the widget on a plain page of another "
                    "origin, and the console's Analytics, Experiments and Overview pages.")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots",
                   help="folder the PNGs are written to (default docs/screenshots)")
    p.add_argument("--catalog-dir", type=Path, default=None,
                   help="Magento Luma sample-data folder (default: the VITRINA_CATALOG_DIR setting)")
    p.add_argument("--image-encoder", default="descriptor",
                   help="VITRINA_IMAGE_ENCODER for the throwaway folder (default descriptor: weight-free and "
                        "quick; `auto` uses CLIP where its weights load)")
    p.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"), help="Chromium executable")
    p.add_argument("--width", type=int, default=1280, help="browser window width in pixels (default 1280)")
    p.add_argument("--keep", action="store_true", help="keep the data folder and the server logs afterwards")
    args = p.parse_args(argv)
    if not 600 <= args.width <= 2560:
        p.error(f"--width must be between 600 and 2560, got {args.width}")
    if not args.chromium.exists():
        p.error(f"{args.chromium} is absent: install Chromium (apt-get install -y chromium, or "
                "scripts/setup.sh dev)")
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, expect: str | None = None) -> None:
    """Poll `url` until it answers 200 (with `expect` in its body when given); fail with the log's tail."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and (expect is None or expect in r.read().decode()):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise SystemExit(f"{url} did not come up within {START_TIMEOUT:.0f}s; log {log}:\n{tail}")


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, health: str, expect: str | None = None
            ) -> Iterator[subprocess.Popen]:
    """A server process for the duration of the block, stopped (terminate, then kill) afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(health, process, log, expect)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def shrink(path: Path) -> int:
    """Reduce a screenshot to a 256-colour palette (screens are mostly flat colour; photos dither) and save it
    optimised; returns its size in bytes."""
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path.stat().st_size


# ---------------------------------------------------------------- 1. the data folder

def prepare(env: dict[str, str]) -> None:
    """Import, index and simulate as the console's first start does."""
    os.environ.update(env)
    from engine.demo import prepare_demo
    from engine.runtime import shared

    rt = shared()
    try:
        done = prepare_demo(rt, log=None)
        print(f"demo catalog: {done}", flush=True)
    finally:
        rt.close()


# ---------------------------------------------------------------- 2. the shop and the widget

def plain_page(folder: Path, api: str, similar_sku: str, look_sku: str) -> str:
    """A static page of someone else's shop: one script tag (the similar carousel) and one element the loaded
    script fills too (complete the look); nothing else of ours."""
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A plain page</title></head>'
        '<body style="font-family:Georgia,serif;max-width:1100px;margin:2em auto;color:#222">'
        "<h1>Another shop's product page</h1><p>A plain static HTML page on another origin; each widget below is "
        "the recommendation service's script tag or an element it fills.</p>"
        f'<script src="{api}/widget.js" data-vitrina="similar" data-product="{similar_sku}" data-limit="6" async>'
        "</script>"
        f'<div data-vitrina="look" data-product="{look_sku}" data-limit="3"></div></body></html>',
        encoding="utf-8")
    return "index.html"


def ready(page, kind: str, timeout: float = 60_000) -> int:
    box = page.locator(f'[data-vitrina="{kind}"][data-vitrina-ready]').first
    box.wait_for(state="attached", timeout=timeout)
    return int(box.get_attribute("data-vitrina-ready") or 0)


def pick_products(api: str) -> tuple[str, str]:
    """A product whose similar list and complete-the-look list are both non-empty (a jacket when one fits)."""
    import json

    def get(path: str) -> dict:
        with urllib.request.urlopen(api + path, timeout=60) as r:
            return json.load(r)

    trending = get("/api/recommendations/trending/?limit=60")["items"]
    candidates = sorted(trending, key=lambda i: "jacket" not in i["title"].lower())
    for item in candidates:
        look = get(f"/api/recommendations/complete_the_look/?product_id={item['sku']}")["items"]
        if len(look) >= 2:
            return item["sku"], candidates[-1]["sku"]
    raise SystemExit("no trending product has a complete-the-look list: the screenshots would show empty widgets")


def shoot_shop(browser, api: str, page_origin: str, pages: Path, out: Path, width: int, luma: Path) -> list[Path]:
    shots: list[Path] = []
    look_sku, other_sku = pick_products(api)
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{api}/shop/")
    page.locator('[data-testid="catalog"] li').first.wait_for()
    page.wait_for_load_state("networkidle")
    shots.append(out / "shop-home.png")
    page.screenshot(path=str(shots[-1]))

    page.get_by_role("link", name="Women", exact=True).first.click()
    page.locator("h1", has_text="Women").wait_for()
    page.wait_for_load_state("networkidle")
    shots.append(out / "shop-category.png")
    page.screenshot(path=str(shots[-1]))

    for i, query in enumerate(QUERIES):  # the shop's search box: each search is recorded by the service
        page.goto(f"{api}/shop/?" + urllib.parse.urlencode({"q": query}))
        found = ready(page, "query")
        if i == 0:
            if not found:
                raise SystemExit(f"the shop's search for {query!r} showed nothing")
            page.wait_for_load_state("networkidle")
            shots.append(out / "shop-text-search.png")
            page.screenshot(path=str(shots[-1]))
        if found and i % 3 == 0:  # some searches lead to a click
            page.locator('[data-vitrina="query"] .vitrina-tile a').first.click()
            page.wait_for_url("**/shop/product/*?list=*")

    photos = sorted((luma / "media" / "catalog" / "product").rglob("*_main.jpg"))
    page.goto(f"{api}/shop/")
    page.locator("[data-vitrina-upload]").set_input_files(str(photos[len(photos) // 3]))
    page.locator('[data-vitrina="search"] .vitrina-tile').first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    shots.append(out / "shop-photo-search.png")
    page.screenshot(path=str(shots[-1]))
    for photo in photos[::max(1, len(photos) // 6)][:6]:  # more photo searches for the search insights
        page.locator("[data-vitrina-upload]").set_input_files(str(photo))
        page.wait_for_load_state("networkidle")
        time.sleep(0.5)
    page.locator('[data-vitrina="search"] .vitrina-tile a').first.click()  # a clicked photo search
    page.wait_for_url("**/shop/product/*?list=*")

    page.goto(f"{api}/shop/product/{look_sku}")
    if ready(page, "similar") == 0 or ready(page, "look") == 0:
        raise SystemExit(f"the product page of {look_sku} shows an empty widget")
    ready(page, "fbt")
    page.mouse.wheel(0, 3000)  # the lower widgets' photos load as they come into view
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    shots.append(out / "shop-product.png")
    page.screenshot(path=str(shots[-1]), full_page=True)

    tiles = page.locator('[data-vitrina="similar"] .vitrina-tile')
    clicked = tiles.nth(1).get_attribute("data-sku")
    tiles.nth(1).locator("a").click()
    page.wait_for_url(f"**/shop/product/{clicked}?list=*")
    page.fill('input[name="quantity"]', "2")
    page.get_by_test_id("add-to-cart").click()
    page.get_by_test_id("cart").wait_for()
    page.goto(f"{api}/shop/product/{look_sku}")
    ready(page, "look")
    page.locator('[data-vitrina="look"] .vitrina-tile a').first.click()
    page.wait_for_url("**/shop/product/*?list=*")
    page.get_by_test_id("add-to-cart").click()
    page.get_by_test_id("cart").wait_for()
    shots.append(out / "shop-cart.png")
    page.screenshot(path=str(shots[-1]), full_page=True)
    page.get_by_test_id("checkout").click()
    page.get_by_test_id("thanks").wait_for()

    name = plain_page(pages, api, other_sku, look_sku)
    page.goto(f"{page_origin}/{name}")
    if ready(page, "similar") == 0 or ready(page, "look") == 0:
        raise SystemExit("the widget on the plain page rendered nothing (is its origin in VITRINA_SHOP_ORIGINS?)")
    page.wait_for_load_state("networkidle")
    page.evaluate("Vitrina.flush()")
    shots.append(out / "widget-plain-page.png")
    page.screenshot(path=str(shots[-1]), full_page=True)
    time.sleep(1.0)  # the impressions' beacon
    ctx.close()
    if errors:
        raise SystemExit(f"script errors in the shop pages: {errors}")
    return shots


# ---------------------------------------------------------------- 3. the console

def settle(page, timeout: float = 120_000) -> None:
    """Wait until the script run is over, nothing is stale, and every plotly chart on the page is drawn."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=timeout)
    charts = page.locator('[data-testid="stPlotlyChart"]:visible').count()  # a closed section's are hidden
    if charts:
        expect(page.locator('[data-testid="stPlotlyChart"]:visible .main-svg').first).to_be_visible(timeout=timeout)
        page.wait_for_function(
            "n => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
            ".filter(c => c.offsetParent !== null && c.querySelector('.js-plotly-plot')).length >= n",
            arg=charts, timeout=timeout)
    if page.get_by_test_id("stException").count():
        raise SystemExit(f"{page.url} shows an exception: {page.get_by_test_id('stException').first.inner_text()}")
    page.wait_for_timeout(1500)  # plotly's transitions


def open_tall(page, url: str, width: int, link: str | None = None) -> int:
    """Open the console at its start page (then `link` of the sidebar's navigation, as a user does: a first
    request straight to a page's address is not how the console is entered) and grow the window to the page's
    whole height (Streamlit scrolls inside its own main area, so a full-page screenshot of the document would
    show only one screen); returns that height."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(url)
    settle(page)
    if link is not None:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=link, exact=True).click()
        settle(page)
    return grow(page, width)


def grow(page, width: int) -> int:
    """Grow the window to the page's whole height (after it changed: a section opened); returns that height."""
    height = 0
    for _ in range(5):  # a taller window lays the page out again: repeat until its height holds
        now = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                            " return Math.ceil(m ? m.scrollHeight : document.body.scrollHeight); }")
        if now == height:
            break
        height = now
        page.set_viewport_size({"width": width, "height": max(1000, height + 20)})
        settle(page)
    return height


def top(page, heading: str) -> float:
    box = page.get_by_role("heading", name=heading, exact=True).first.bounding_box()
    if box is None:
        raise SystemExit(f"the heading {heading!r} is not on {page.url}")
    return box["y"]


def end_of_section(page) -> float:
    """The bottom of the open section (the outer tab panel; the window may be taller than what it shows)."""
    box = page.locator("[role='tabpanel']:visible").first.bounding_box()
    if box is None:
        raise SystemExit(f"no open section on {page.url}")
    return box["y"] + box["height"]


def shoot_console(browser, url: str, out: Path, width: int) -> list[Path]:
    shots: list[Path] = []
    ctx = browser.new_context(viewport={"width": width, "height": 1000})
    page = ctx.new_page()

    open_tall(page, url, width, "Analytics")
    side = page.get_by_test_id("stSidebar").bounding_box()
    x0 = side["x"] + side["width"] if side else 0.0  # the sections without the sidebar beside them
    # Parts of the page's sections (tabs) between headings: (file, section, first heading, heading after it;
    # None = the top of the page, or its end).
    sections = (("console-analytics.png", "Rates and revenue", None, "By strategy"),
                ("console-analytics-revenue.png", "Rates and revenue", "Revenue", None),
                ("console-analytics-funnel.png", "Funnel and trends", "Funnel", "CTR by position"),
                ("console-analytics-search.png", "Products and search", "Search", None))
    for name, tab, first, after in sections:
        chosen = page.get_by_role("tab", name=tab, exact=True)
        if chosen.get_attribute("aria-selected") != "true":
            chosen.click()
            settle(page)
            grow(page, width)
        y0 = 0.0 if first is None else top(page, first) - 16
        y1 = end_of_section(page) + 16 if after is None else top(page, after) - 16
        if not 0 <= y0 < y1 <= page.viewport_size["height"]:
            raise SystemExit(f"the Analytics section {first!r}..{after!r} is not where expected: {y0:.0f}..{y1:.0f}")
        left = 0.0 if first is None else x0
        shots.append(out / name)
        page.screenshot(path=str(shots[-1]), clip={"x": left, "y": y0, "width": width - left, "height": y1 - y0})

    for link, name in (("Experiments", "console-experiments.png"), (None, "console-overview.png")):
        height = open_tall(page, url, width, link)
        shots.append(out / name)
        page.screenshot(path=str(shots[-1]), clip={"x": 0, "y": 0, "width": width, "height": height})
    ctx.close()
    return shots


# ---------------------------------------------------------------- main

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The plain page's static server, without a log line per request."""

    def log_message(self, format: str, *args) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from engine.settings import Settings

    luma = args.catalog_dir or Settings().catalog_dir
    if not (Path(luma) / "fixtures").exists():
        raise SystemExit(f"{luma} does not hold the Magento Luma sample data (fixtures/): pass --catalog-dir or "
                         "set VITRINA_CATALOG_DIR")
    work = Path(tempfile.mkdtemp(prefix="vitrina-screenshots-"))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    api_port, page_port, console_port = free_port(), free_port(), free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    env = {"VITRINA_DATA_DIR": str(work / "data"), "VITRINA_CATALOG_DIR": str(luma),
           "VITRINA_IMAGE_ENCODER": args.image_encoder, "VITRINA_SHOP_ORIGINS": page_origin,
           "VITRINA_API_PORT": "0", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    child_env = {**os.environ, **env}
    from playwright.sync_api import sync_playwright

    shots: list[Path] = []
    try:
        started = time.monotonic()
        prepare(env)
        print(f"data folder ready in {time.monotonic() - started:.0f}s: {work / 'data'}", flush=True)
        pages = work / "pages"
        pages.mkdir()
        handler = functools.partial(QuietHandler, directory=str(pages))
        static = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
        threading.Thread(target=static.serve_forever, daemon=True).start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(args.chromium), args=CHROMIUM_ARGS)
            api = f"http://127.0.0.1:{api_port}"
            with running([sys.executable, "-m", "engine", "serve", "--port", str(api_port), "--log-level",
                          "warning"], child_env, work / "service.log", f"{api}/health"):
                shots += shoot_shop(browser, api, page_origin, pages, out, args.width, Path(luma))
            static.shutdown()
            console = f"http://127.0.0.1:{console_port}"
            with running([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                          "--server.port", str(console_port), "--server.address", "127.0.0.1",
                          "--browser.gatherUsageStats", "false"], child_env, work / "console.log",
                         f"{console}/_stcore/health", expect="ok"):
                shots += shoot_console(browser, console, out, args.width)
            browser.close()
    finally:
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    too_big = []
    for path in shots:
        size = shrink(path)
        print(f"{path}  {size / 1024:.0f} kB")
        if size > LIMIT_BYTES:
            too_big.append(path.name)
    if too_big:
        print(f"over {LIMIT_BYTES // 1024} kB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
