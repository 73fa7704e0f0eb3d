"""The console at catalog scale, in a real browser: page and interaction times and the server's memory.

    python bench/bench_console.py --data /tmp/vitrina-100k [--out results.json] [--keep]

The data folder is copied first (opening a folder writes to it: migrations, the search index, jobs), then
`streamlit run app.py` serves the copy and Debian's Chromium, driven by Playwright, does what a merchandiser
does: open every page (the first visit loads the encoders; every page is visited twice) and each section of
Analytics, pick a product, change a filter, move a Tuning slider, upload a photo, run a text search, run a
drift check. An interaction ends when the page's script state is "notRunning", nothing is stale and no spinner
is left; the drift check is also timed until its report is on the page (it runs as a job, outside the script).
The console's RSS (VmRSS of the server process, and its peak VmHWM) is read after every step. Each time is
printed beside the targets of the issue: every interaction ≤ 1.5 s, RSS ≤ 1.5 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {"": "Overview", "similar": "Similar items", "visual_search": "Visual search", "text_search": "Text search",
         "tuning": "Tuning", "looks": "Complete the look", "rules": "Rules", "publish": "Publish",
         "analytics": "Analytics", "experiments": "Experiments", "personalisation": "Personalisation",
         "index": "Index"}
TARGET_SECONDS, TARGET_RSS_MB = 1.5, 1536
FOLLOWED = ("runs as a job, outside the script", "computed off the script")  # not a page's own interaction
TIMEOUT_MS = 300_000  # a cold first visit at 100k loads encoders and the store


@dataclass
class Step:
    name: str
    seconds: float
    rss_mb: float
    peak_mb: float
    cpu: float = 0.0  # CPU seconds the console process used meanwhile
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.seconds <= TARGET_SECONDS


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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used: what an interaction cost the console
    itself, whatever else the machine's cores were busy with."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    got = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            got[key] = int(value.split()[0]) / 1024
    return got.get("VmRSS", 0.0), got.get("VmHWM", 0.0)


def catalog_photo(db: Path) -> Path | None:
    """A product photo of the catalog that exists on disk (the upload a merchandiser would make)."""
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for (path,) in conn.execute("SELECT path FROM product_images ORDER BY id LIMIT 200"):
            if path and Path(path).is_file():
                return Path(path)
    return None


def start_server(data: Path, port: int, log_path: Path, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "VITRINA_DATA_DIR": str(data), **env_extra}
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the console did not start: see {log_path}")
        time.sleep(0.2)
    return proc


class Bench:
    def __init__(self, page, url: str, pid: int):
        self.page, self.url, self.pid = page, url, pid
        self.steps: list[Step] = []

    def settle(self) -> None:
        from playwright.sync_api import expect

        expect(self.page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                                    timeout=TIMEOUT_MS)
        expect(self.page.locator('[data-stale="true"]')).to_have_count(0, timeout=TIMEOUT_MS)
        expect(self.page.get_by_test_id("stSpinner")).to_have_count(0, timeout=TIMEOUT_MS)

    def timed(self, name: str, action, done=None, note: str = "") -> float:
        """Run `action`, wait until the page settled (and `done`, when given); record the time."""
        t0, c0 = time.perf_counter(), cpu_seconds(self.pid)
        action()
        self.page.wait_for_timeout(50)  # the rerun request reaches the server and the state flips to running
        self.settle()
        if done is not None:
            done()
        seconds, cpu = time.perf_counter() - t0, cpu_seconds(self.pid) - c0
        errors = self.page.get_by_test_id("stException").count()
        rss, peak = memory_mb(self.pid)
        self.steps.append(Step(name, seconds, rss, peak, cpu,
                               note + (f" ({errors} exception(s) shown)" if errors else "")))
        print(f"{name:<44} {seconds:7.2f} s  cpu {cpu:6.2f} s  RSS {rss:6.0f} MB  peak {peak:6.0f} MB  "
              f"{self.steps[-1].note}", flush=True)
        return seconds

    def followed(self, name: str, done, note: str) -> None:
        """What the last interaction set going outside the script, until `done`: timed from that interaction's
        start (its own time included)."""
        t0, c0 = time.perf_counter(), cpu_seconds(self.pid)
        done()
        last = self.steps[-1]
        rss, peak = memory_mb(self.pid)
        step = Step(name, last.seconds + time.perf_counter() - t0, rss, peak, last.cpu + cpu_seconds(self.pid) - c0,
                    note)
        self.steps.append(step)
        print(f"{name:<44} {step.seconds:7.2f} s  cpu {step.cpu:6.2f} s  RSS {rss:6.0f} MB  peak {peak:6.0f} MB  "
              f"{note}", flush=True)

    def load(self, path: str, label: str) -> None:
        """A fresh browser load of the page (a new session: the frontend and every widget made anew)."""
        self.timed(label, lambda: self.page.goto(f"{self.url}/{path}"))

    def open(self, path: str, label: str) -> None:
        """The page from the sidebar's navigation, as a merchandiser moves between pages."""
        link = self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=PAGES[path], exact=True)
        self.timed(label, lambda: link.click())


def run(page, bench: Bench, photo: Path) -> None:
    from playwright.sync_api import expect

    p = page
    for path in PAGES:  # the first visit of each page: loads the encoders, the store, the caches
        bench.load(path, f"load {path or 'overview'} (first)")
    for path in PAGES:
        bench.open(path, f"open {path or 'overview'} (sidebar)")

    # each section of Analytics (only the open one runs), back to the first
    bench.open("analytics", "open analytics (before its sections)")
    for tab in ("Funnel and trends", "Products and search", "Experiments and impact", "Event data",
                "Rates and revenue"):
        chosen = p.get_by_role("tab", name=tab, exact=True)
        bench.timed(f"open the Analytics section {tab.lower()!r}", chosen.click,
                    lambda chosen=chosen: expect(chosen).to_have_attribute("aria-selected", "true"))

    # pick a product (Similar items: browse the catalog, pick the fourth tile)
    bench.open("similar", "open similar (before the pick)")
    p.get_by_text("Browse the catalog").click()
    bench.settle()
    picks = p.locator(".st-key-grid-browse").get_by_role("button", name="Pick")
    bench.timed("pick a product (similar items)", lambda: picks.nth(3).click(),
                lambda: expect(p.locator(".st-key-grid-similar-combined [data-testid='stImage']").first)
                .to_be_visible(timeout=TIMEOUT_MS))
    # change a filter (the sidebar's in-stock checkbox, on the picked product's similar items)
    box = p.get_by_test_id("stSidebar").get_by_text("In stock only")
    bench.timed("change a filter (in stock only)", lambda: box.click())
    bench.timed("change a filter back", lambda: box.click())

    # text search
    bench.open("text_search", "open text_search (before the search)")
    query = p.get_by_label("Search the catalog")

    def search() -> None:
        query.fill("women jacket")
        query.press("Enter")
    bench.timed("run a text search", search,
                lambda: expect(p.locator(".st-key-grid-text [data-testid='stImage']").first)
                .to_be_visible(timeout=TIMEOUT_MS))

    # upload a photo
    bench.open("visual_search", "open visual_search (before the upload)")
    bench.timed("upload a photo", lambda: p.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        str(photo)), lambda: expect(p.locator(".st-key-grid-visual [data-testid='stImage']").first)
        .to_be_visible(timeout=TIMEOUT_MS))

    # move a Tuning slider (the first factor weight, one step by keyboard), then a product pick there
    bench.open("tuning", "open tuning (before the slider)")
    slider = p.get_by_role("slider").first

    def nudge() -> None:
        slider.focus()
        slider.press("ArrowRight")
    bench.timed("move a Tuning slider", nudge)
    bench.followed("what-if figures of the new weights shown", lambda: (
        expect(p.locator(".st-key-tuning-whatif-pending")).to_have_count(0, timeout=TIMEOUT_MS),
        expect(p.locator(".st-key-tuning-whatif-after [data-testid='stMetric']").first)
        .to_be_visible(timeout=TIMEOUT_MS)), "computed off the script")
    bench.timed("move the Tuning slider back", lambda: slider.press("ArrowLeft"))

    # drift check: queued as a job; the page is free at once, the report follows
    bench.open("", "open overview (before the drift check)")
    p.get_by_text("Engineering details").click()  # the drift panel sits in the engineers' expander (no rerun)
    button = p.get_by_role("button", name="Run the drift check")
    expect(button).to_be_enabled(timeout=TIMEOUT_MS)
    p.wait_for_timeout(500)  # the expander's opening animation: a click meanwhile can land beside the button
    bench.timed("run a drift check (page free again)", lambda: button.click())
    bench.followed("drift check report on the page (job)", lambda: expect(
        p.locator(".st-key-overview-drift [data-testid='stMetric']").first).to_be_visible(timeout=TIMEOUT_MS),
        "runs as a job, outside the script")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the data folder to serve (copied first)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument("--photo", type=Path, help="the photo to upload (default: a product photo of the catalog)")
    ap.add_argument("--keep", action="store_true", help="keep the copied folder")
    ap.add_argument("--image-encoder", default="descriptor", help="VITRINA_IMAGE_ENCODER for the server")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="another setting for the server, e.g. VITRINA_HNSW_MIN_POINTS=1000000000 to keep exact "
                         "search (no graph build in the background during the run)")
    args = ap.parse_args(argv)
    if not (args.data / "vitrina.db").exists():
        print(f"{args.data} holds no vitrina.db: make one with bench/synth.py", file=sys.stderr)
        return 2
    photo = args.photo or catalog_photo(args.data / "vitrina.db")
    if photo is None:
        print("no product photo found in the catalog: pass --photo", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="bench-console-"))
    data = scratch / "data"
    t0 = time.perf_counter()
    shutil.copytree(args.data, data)
    print(f"copied {args.data} in {time.perf_counter() - t0:.1f} s", flush=True)
    port = _free_port()
    extra = {"VITRINA_IMAGE_ENCODER": args.image_encoder}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"--env takes NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        extra[name] = value
    proc = start_server(data, port, scratch / "streamlit.log", extra)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            bench = Bench(page, f"http://127.0.0.1:{port}", proc.pid)
            run(page, bench, photo)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    steps = bench.steps
    warm = [s for s in steps if "(first)" not in s.name and s.note not in FOLLOWED]
    build = "exact search kept" if any(e.startswith("VITRINA_HNSW_MIN_POINTS=") for e in args.env) else \
        "a graph build may run in the background"
    peak = max(s.peak_mb for s in steps)
    print(f"\ntargets: every interaction <= {TARGET_SECONDS} s, console RSS <= {TARGET_RSS_MB} MB ({build})")
    print(f"interactions over the target (first visits and work done outside the scripts aside): "
          f"{sum(not s.ok for s in warm)} of {len(warm)}; slowest {max(warm, key=lambda s: s.seconds).name} "
          f"{max(s.seconds for s in warm):.2f} s")
    print(f"machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"RSS at the end {steps[-1].rss_mb:.0f} MB, peak {peak:.0f} MB "
          f"({'within' if peak <= TARGET_RSS_MB else 'over'} the target)")
    if args.out:
        args.out.write_text(json.dumps({"data": str(args.data), "env": extra, "targets": {"seconds": TARGET_SECONDS,
                                        "rss_mb": TARGET_RSS_MB},
                                        "steps": [asdict(s) | {"ok": s.ok} for s in steps]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
