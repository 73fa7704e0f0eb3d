"""The console pages driven through Streamlit's AppTest, in this process, on the demo catalog prepared once
per session (tests/console_fixtures.py). Every test reads what the page shows and checks it against the
engine's own answers."""
from __future__ import annotations

import time

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from console.fmt import count
from console.runtime import get_runtime
from console.photos import PLACEHOLDER_GREY, PLACEHOLDER_SIZE, photo_source, placeholder

from console_fixtures import goto
from engine.catalog.importers import import_generic
from engine.catalog.media import record_roots
from engine.runtime import Runtime, shared

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "images"
TIMEOUT = 60


@dataclass
class Tile:
    sku: str
    price: float
    colour: str
    category: str
    match: str | None


def parse_money(text: str) -> float:
    return float(text.replace("\u202f", ""))


def tiles(at: AppTest, key: str) -> list[Tile]:
    """The products a grid shows, read from its captions (facts, then "% match" for results)."""
    block = at.get_by_key(key)
    out: list[Tile] = []
    for c in block.caption:
        if "% match" in c.value:
            out[-1].match = c.value
        else:
            sku, price, colour, category = c.value.split(" · ")
            out.append(Tile(sku, parse_money(price), colour, category, None))
    assert len(out) == len(block.image), "every tile has a photo"
    return out


@pytest.fixture
def app(console_env) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at, key: str | None = None) -> dict[str, str]:
    """Metric values by label, of the whole page or of one keyed container."""
    return {m.label: m.value for m in (at.get_by_key(key) if key else at).metric}


def own_catalog(tmp_path, monkeypatch, console_data, header: str, rows: list[str]) -> Runtime:
    """Point the app at a data folder of its own holding just these catalog rows (not indexed yet)."""
    feed = tmp_path / "feed.csv"
    feed.write_text(header + "\n" + "".join(row + "\n" for row in rows))
    for k, v in {**console_data.env, "VITRINA_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(k, v)
    rt = shared()
    assert import_generic(rt.db, feed).created == len(rows)
    return rt


# ---- first start ---------------------------------------------------------------------------------------------
def test_first_start_indexes_an_empty_index_in_a_status_box_then_starts_at_once(tmp_path, monkeypatch, luma_dir,
                                                                                 console_data):
    """A catalog without vectors: the first run prepares it inside st.status with a progress bar, the
    next run finds everything in place and shows no status at all."""
    photos = sorted((luma_dir / "media").rglob("*_main.jpg"))[:3]
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", [
        f"FIRST-{i},First start item {i},{10 + i}.00,Start/Items,{p}" for i, p in enumerate(photos)])
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.status) == 1 and at.status[0].state == "complete"
        assert at.status[0].label == "Demo catalog ready"
        assert at.status[0].progress[0].value == 100
        assert metrics(at)["Points"] == "3" and rt.store.count() == 3
        assert metrics(at)["Last index run"] != "—"  # the preparation counts as the last indexing
        again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        assert not again.exception and len(again.status) == 0
        assert metrics(again)["Points"] == "3"
    finally:
        rt.close()


def test_missing_photo_gets_a_grey_placeholder(tmp_path, monkeypatch):
    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    im = Image.open(io.BytesIO(placeholder()))
    assert im.size == PLACEHOLDER_SIZE and im.getpixel((2, 2)) == PLACEHOLDER_GREY
    assert len(set(im.getdata())) > 1  # the words "no photo" are drawn on it
    assert photo_source(None) == placeholder() and photo_source(str(tmp_path / "gone.jpg")) == placeholder()
    assert photo_source("https://shop.example/p.jpg") == "https://shop.example/p.jpg"


def test_photos_are_shown_only_from_the_media_roots_and_only_when_they_decode(tmp_path, monkeypatch):
    catalog, outside = tmp_path / "catalog", tmp_path / "elsewhere"
    catalog.mkdir()
    outside.mkdir()
    monkeypatch.setenv("VITRINA_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("VITRINA_DATA_DIR", str(tmp_path / "data"))
    Image.new("RGB", (800, 992), (200, 30, 30)).save(catalog / "red.jpg")
    Image.new("RGB", (8, 8)).save(outside / "secret.jpg")
    (catalog / "link-out.jpg").symlink_to(outside / "secret.jpg")
    os.mkfifo(catalog / "pipe.jpg")
    for name in ("truncated.jpg", "bomb-100000x100000.png", "greyscale-16-bit.png"):
        shutil.copy(CORPUS / name, catalog / name)
    shown = Image.open(io.BytesIO(photo_source(str(catalog / "red.jpg"))))
    assert shown.size == (400, 496) and shown.getpixel((200, 248))[0] > 150  # decoded, scaled, upright
    assert photo_source(str(catalog / "greyscale-16-bit.png")) != placeholder()
    for hostile in (outside / "secret.jpg", catalog / "link-out.jpg", catalog / "pipe.jpg", "/etc/passwd",
                    "/dev/zero", catalog / "truncated.jpg", catalog / "bomb-100000x100000.png",
                    f"{catalog}/../elsewhere/secret.jpg", "~/.bashrc", "bad\x00path.jpg"):
        assert photo_source(str(hostile)) == placeholder(), hostile
    record_roots(get_runtime().db, [outside])  # an import took photos from there: they are shown from now on
    assert photo_source(str(outside / "secret.jpg")) != placeholder()
    assert photo_source(str(catalog / "link-out.jpg")) != placeholder()  # its target is in a recorded folder


def test_a_grid_with_unusable_photos_shows_placeholders_not_an_error(tmp_path, monkeypatch, luma_dir, console_data):
    photos = sorted((luma_dir / "media").rglob("*_main.jpg"))[:3]
    rows = [f"PH-{i},Photo item {i},{10 + i}.00,Photo/Items,{p}" for i, p in enumerate(photos)]
    rows += ["PH-7,Passwd item,17.00,Photo/Items,/etc/passwd", f"PH-8,Cut item,18.00,Photo/Items,{CORPUS / 'truncated.jpg'}"]
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", rows)
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        assert not at.exception, [e.value for e in at.exception]
        goto(at, "similar")
        at.selectbox(key="similar_product").set_value(rt.catalog.get("PH-0").id).run()
        assert not at.exception, [e.value for e in at.exception]
        shown = {t.sku for t in tiles(at, "grid-similar-text")}
        assert {"PH-7", "PH-8"} <= shown  # the products are listed; their photos are the placeholder
    finally:
        rt.close()


# ---- Overview ------------------------------------------------------------------------------------------------
def test_overview_shows_catalog_coverage_encoders_and_drift(app, runtime):
    from engine.insights.analytics import coverage

    stats, cov = runtime.catalog.stats(), coverage(runtime.db)
    shown = metrics(app)
    assert shown["Products"] == count(stats.products) and stats.products > 400
    assert shown["Active"] == count(stats.active)
    assert shown["Text vectors"] == f"{100 * cov.with_text / cov.active:.1f}%"
    assert shown["Image vectors"] == f"{100 * cov.with_image / cov.active:.1f}%"
    assert shown["Points"] == count(runtime.store.count())
    assert shown["Backend"] == runtime.store.backend
    table = app.table[0].value
    assert any("descriptor" in str(v) for v in table.iloc[1]), table
    assert not app.warning or all("encoders or weights" not in w.value for w in app.warning)

    from engine.jobs.checks import latest_check

    before = latest_check(runtime.db)
    app.button(key="overview_check").click().run()
    assert not app.exception
    job = latest_check(runtime.db)  # queued for the background runner, not run by the page
    assert job is not None and (before is None or job.id > before.id) and job.kind == "check"
    assert _finished(runtime, job.id, TIMEOUT).status == "done"
    app.run()
    drift = metrics(app, "overview-drift")
    assert drift["Missing"] == "0" and drift["Orphans"] == "0" and drift["Stale"] == "0"
    assert any("No drift" in s.value and f"job {job.id}" in s.value for s in app.success)


# ---- Similar items -------------------------------------------------------------------------------------------
def test_similar_pick_from_the_catalog_shows_three_grids_without_the_product(app, runtime):
    goto(app, "similar")
    browse = tiles(app, "grid-browse")
    assert len(browse) == 12
    chosen = runtime.catalog.get(browse[3].sku)
    app.button(key=f"grid-browse.pick.{chosen.id}").click().run()
    assert not app.exception
    assert app.selectbox(key="similar_product").value == chosen.id
    for kind in ("combined", "text", "image"):
        grid = tiles(app, f"grid-similar-{kind}")
        assert len(grid) == 12, kind
        assert chosen.sku not in {t.sku for t in grid}, kind
        assert all(t.match and t.match.split("%")[0].isdigit() for t in grid), kind
    expected = runtime.recommender().similar(chosen.id, by="combined", n=12)
    assert [t.sku for t in tiles(app, "grid-similar-combined")] == [r.product.sku for r in expected]


def test_similar_tabs_layout_shows_one_grid_per_tab(app):
    goto(app, "similar")
    app.button_group(key="similar_layout").set_value("Tabs").run()
    assert not app.exception
    assert [t.label for t in app.tabs] == ["Combined", "Text", "Image"]
    for tab, kind in zip(app.tabs, ("combined", "text", "image")):
        assert len(tab.get_by_key(f"grid-similar-{kind}").image) == 12
    goto(app, "overview")
    goto(app, "similar")
    assert [t.label for t in app.tabs] == ["Combined", "Text", "Image"]  # the layout choice is kept


def test_similar_search_by_sku_picks_the_product(app, runtime):
    goto(app, "similar")
    target = runtime.catalog.list_products(active_only=True, limit=40).items[-1]
    app.text_input(key="similar_query").input(target.sku).run()
    box = app.selectbox(key="similar_product")
    assert box.value == target.id  # the exact sku ranks first
    app.selectbox(key="similar_product").set_value(target.id).run()
    assert target.sku not in {t.sku for t in tiles(app, "grid-similar-text")}


def test_price_filter_keeps_every_shown_price_in_range(app, runtime):
    goto(app, "similar")
    low, high = 30.0, 60.0
    app.slider(key="f_price").set_value((low, high)).run()
    app.number_input(key="f_n").set_value(20).run()
    assert not app.exception
    for kind in ("combined", "text", "image"):
        grid = tiles(app, f"grid-similar-{kind}")
        assert grid, kind
        assert all(low <= t.price <= high for t in grid), (kind, [t.price for t in grid])


def test_filters_and_product_survive_page_switches(app, runtime):
    goto(app, "similar")
    product = runtime.catalog.list_products(active_only=True, limit=10).items[7]
    app.selectbox(key="similar_product").set_value(product.id).run()
    app.slider(key="f_price").set_value((20.0, 80.0)).run()
    app.checkbox(key="f_in_stock").check().run()
    goto(app, "overview")
    goto(app, "text_search")
    assert app.slider(key="f_price").value == (20.0, 80.0)  # the search pages share their filters
    assert app.checkbox(key="f_in_stock").value is True
    goto(app, "similar")
    assert app.selectbox(key="similar_product").value == product.id
    assert app.slider(key="f_price").value == (20.0, 80.0)


def test_exclude_same_style_leaves_out_other_colours(app, runtime):
    goto(app, "similar")
    styled = next(c for c in runtime.catalog.list_products(active_only=True, limit=200).items
                  if c.group_key and c.group_key != c.sku)
    app.selectbox(key="similar_product").set_value(styled.id).run()
    app.checkbox(key="f_same_style").check().run()
    shown = {t.sku for t in tiles(app, "grid-similar-image")}
    groups = {c.group_key for c in runtime.catalog.cards([runtime.catalog.get(s).id for s in shown]).values()}
    assert styled.group_key not in groups


def test_exclude_same_brand_leaves_out_the_source_brand(tmp_path, monkeypatch, luma_dir, console_data):
    """A catalog of two brands: with "Exclude the same brand" ticked the grids hold only the other brand, and
    they are the engine's own list for exclude_same_brand=True."""
    photos = sorted((luma_dir / "media").rglob("*_main.jpg"))[:10]
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,brand,category,images", [
        f"BR-{i},Trail jacket {i},{20 + i}.00,{'Acme' if i % 2 else 'Zeta'},Outdoor/Jackets,{p}"
        for i, p in enumerate(photos)])
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        assert not at.exception, [e.value for e in at.exception]
        goto(at, "similar")
        source = rt.catalog.get("BR-1")
        at.selectbox(key="similar_product").set_value(source.id).run()
        assert "Acme" in {c.brand for c in rt.catalog.cards([rt.catalog.get(t.sku).id
                                                              for t in tiles(at, "grid-similar-combined")]).values()}
        at.checkbox(key="f_same_brand").check().run()
        assert not at.exception, [e.value for e in at.exception]
        shown = [t.sku for t in tiles(at, "grid-similar-combined")]
        brands = {c.brand for c in rt.catalog.cards([rt.catalog.get(s).id for s in shown]).values()}
        assert shown and brands == {"Zeta"}
        expected = rt.recommender().similar(source.id, n=len(shown), exclude_same_brand=True)
        assert shown == [r.product.sku for r in expected]
    finally:
        rt.close()


# ---- Visual search -------------------------------------------------------------------------------------------
def test_visual_search_finds_the_item_of_an_alternative_photo(app, alt_photo):
    sku, path = alt_photo
    goto(app, "visual_search")
    app.file_uploader(key="upload").upload(path.name, path.read_bytes(), "image/jpeg").run()
    assert not app.exception and not app.error
    grid = tiles(app, "grid-visual")
    assert len(grid) == 12
    assert sku in [t.sku for t in grid], (sku, [t.sku for t in grid])
    assert all("% match" in t.match for t in grid)
    goto(app, "overview")
    goto(app, "visual_search")  # the photo and its results are still there
    assert sku in [t.sku for t in tiles(app, "grid-visual")]


def test_visual_search_rejects_a_text_file_with_the_engines_message(app):
    goto(app, "visual_search")
    app.file_uploader(key="upload").upload("notes.jpg", b"shopping list: socks, a jacket\n", "image/jpeg").run()
    assert not app.exception
    assert len(app.error) == 1 and "not an image" in app.error[0].value
    with pytest.raises(KeyError):
        app.get_by_key("grid-visual")


# ---- Text search ---------------------------------------------------------------------------------------------
def test_text_search_in_russian_finds_jackets(app, runtime):
    goto(app, "text_search")
    app.text_input(key="query").input("женская куртка").run()
    assert not app.exception
    grid = tiles(app, "grid-text")
    assert len(grid) == 12
    jackets = [t for t in grid if "Jackets" in t.category]
    assert len(jackets) >= 6, [t.category for t in grid]
    assert "needs a CLIP image encoder" in " ".join(c.value for c in app.caption)  # descriptor: no text tower


def test_text_search_empty_result_and_error_are_messages(app):
    goto(app, "text_search")
    app.text_input(key="query").input("x" * 3000).run()
    assert not app.exception
    assert len(app.error) == 1 and "characters long" in app.error[0].value


# ---- Index ---------------------------------------------------------------------------------------------------
IMPORT_CSV = (
    "sku,title,price,colour,category\n"
    "CONSOLE-CHECK-1,Vitrina console check parka,149.00,navy,Console Check/Outerwear\n"
    "CONSOLE-CHECK-2,Vitrina console check scarf,not a price,red,Console Check/Accessories\n"
)


def _finished(runtime, job_id: int, timeout: float = 120.0):
    """The job once the console's background runner has finished it."""
    from engine.jobs import Jobs

    jobs = Jobs(runtime)
    deadline = time.monotonic() + timeout
    while (job := jobs.job(job_id)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def test_index_imports_a_file_reports_rejected_lines_and_a_job_indexes_it(app, runtime):
    goto(app, "index")
    app.file_uploader(key="import_file").upload("feed.csv", IMPORT_CSV.encode(), "text/csv").run()
    app.button(key="import_run").click().run()
    assert not app.exception, [e.value for e in app.exception]
    shown = metrics(app, "import-report")
    assert shown["Created"] == "1" and shown["Rejected"] == "1"
    rejected = app.get_by_key("import-report").dataframe[0].value
    assert list(rejected["line"]) == [3] and "price" in rejected["reason"][0]
    job_id = app.session_state["import_job"]
    assert any(f"job {job_id}" in c.value for c in app.caption)
    job = _finished(runtime, job_id)  # indexed in the background, not by the page's script
    assert (job.status, job.reason) == ("done", "catalog upload feed.csv") and job.done >= 1
    added = runtime.catalog.get("CONSOLE-CHECK-1")
    assert runtime.store.retrieve([added.id])
    app.run()
    table = app.get_by_key("jobs-table").dataframe[0].value
    assert table["job"][0] == job_id and table["status"][0] == "done"

    app.radio(key="index_mode").set_value("incremental").run()
    app.button(key="index_run").click().run()
    assert not app.exception
    queued = next(s.value for s in app.success if "Queued indexing as job" in s.value)
    job = _finished(runtime, int(queued.rsplit(" ", 1)[1].rstrip(".")))
    assert (job.status, job.total, job.failed) == ("done", 0, 0)

    goto(app, "similar")  # the imported product has no photo: text and combined work, image says why
    app.text_input(key="similar_query").input("CONSOLE-CHECK-1").run()
    assert app.selectbox(key="similar_product").value == added.id
    assert len(tiles(app, "grid-similar-text")) == 12 and len(tiles(app, "grid-similar-combined")) == 12
    assert len(app.error) == 1 and "no photo vector" in app.error[0].value
    assert not app.exception


def test_a_feed_from_a_path_is_imported_and_indexed_as_a_job_and_one_outside_the_roots_refused(app, runtime,
                                                                                               tmp_path):
    imports = runtime.settings.data_dir / "imports"
    imports.mkdir(parents=True, exist_ok=True)
    (imports / "feed-job.csv").write_text("sku,title,price\nFEED-JOB-1,Feed job test lamp,30\n", encoding="utf-8")
    goto(app, "index")
    app.text_input(key="feed_source").input(str(tmp_path / "elsewhere.csv")).run()
    app.button(key="feed_run").click().run()
    assert any("outside the import roots" in e.value for e in app.error)
    app.text_input(key="feed_source").input(str(imports / "feed-job.csv")).run()
    app.button(key="feed_run").click().run()
    assert not app.exception and not app.error
    queued = next(s.value for s in app.success if "Queued the import" in s.value)
    job = _finished(runtime, int(queued.rsplit(" ", 1)[1].rstrip(".")))
    assert job.status == "done" and "imported 1 new" in job.reason
    assert runtime.store.retrieve([runtime.catalog.get("FEED-JOB-1").id])


def test_index_drift_check_finds_nothing_after_indexing(app, runtime):
    from engine.jobs.checks import latest_check

    goto(app, "index")
    before = latest_check(runtime.db)
    app.button(key="index_check").click().run()
    assert not app.exception
    job = latest_check(runtime.db)  # queued for the background runner: the page did not wait for it
    assert job is not None and (before is None or job.id > before.id)
    assert _finished(runtime, job.id, TIMEOUT).status == "done"
    app.run()
    shown = metrics(app, "index-drift")
    assert shown["Missing"] == "0" and shown["Orphans"] == "0"
    assert any("No drift" in s.value and f"job {job.id}" in s.value for s in app.success)


def test_index_page_shows_the_search_graph_and_how_vectors_are_stored(app, runtime):
    goto(app, "index")
    shown = metrics(app, "graph-status")
    status = runtime.store.graph_status()
    assert shown["Search"] == ("exact" if status.exact else "HNSW graph")
    assert shown["Vectors stored as"] == status.datatype == "float32"  # the demo is below the graph threshold


def test_index_check_and_repair_is_queued_as_a_sync_job(app, runtime):
    goto(app, "index")
    app.button(key="drift_repair").click().run()
    assert not app.exception
    queued = next(s.value for s in app.success if "Queued the repair" in s.value)
    job = _finished(runtime, int(queued.split("job ")[1].split(":")[0]))
    assert job.kind == "sync" and job.status == "done"


def test_index_refuses_a_second_import_while_one_runs(app):
    from console.activity import activity

    goto(app, "index")
    app.file_uploader(key="import_file").upload("feed.csv", IMPORT_CSV.encode(), "text/csv").run()
    with activity().exclusive() as free:  # as if another session were importing right now
        assert free
        app.button(key="import_run").click().run()
    assert not app.exception
    assert any("Another indexing" in w.value for w in app.warning)
    with pytest.raises(KeyError):
        app.get_by_key("import-report")


def test_search_pages_preview_with_the_draft(app, runtime):
    """A hide rule added to the shared draft (as the Rules page does) applies to Similar items at once."""
    from dataclasses import replace

    from engine.merchandising.drafts import ConfigWorkflow
    from engine.recommend.rules import Rule

    goto(app, "similar")
    first = tiles(app, "grid-browse")[0]
    chosen = runtime.catalog.get(first.sku)
    app.button(key=f"grid-browse.pick.{chosen.id}").click().run()
    top = tiles(app, "grid-similar-combined")[0]
    hidden = runtime.catalog.get(top.sku)
    ConfigWorkflow(runtime).edit(lambda c: replace(c, rules=[*c.rules, Rule("hide-top", "hide", hidden.id,
                                                                           match="sku")]), "tests", "hide top")
    app.run()
    shown = [t.sku for t in tiles(app, "grid-similar-combined")]
    assert hidden.sku not in shown and len(shown) == 12
    assert top.sku in [r.product.sku for r in runtime.recommender().similar(chosen.id, n=12)]  # live version unchanged
