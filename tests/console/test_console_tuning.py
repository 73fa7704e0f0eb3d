"""The Tuning pages through Streamlit's AppTest (in this process, on the demo catalog
prepared once per session by tests/console_fixtures.py), plus one real-browser check of a weight slider.

Every test reads what a page shows and checks it against the engine's own answers; the key one publishes the
draft tuned on the Tuning page and ranks with the live version in another process, as production does."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.merchandising.drafts import ConfigWorkflow
from engine.recommend.config import dump, fingerprint
from engine.runtime import shared

from console_fixtures import goto

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
TIMEOUT = 90
PREVIEW_N = 12
# Production: a recommender of the live version, in a process of its own.
LIVE = """
import json, sys
from engine.runtime import Runtime
rt = Runtime()
print(json.dumps([rt.config_version, [r.product.sku for r in rt.recommender().similar(int(sys.argv[1]),
                                                                                   n=int(sys.argv[2]))]]))
"""


@pytest.fixture
def app(console_env) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def grid_skus(at: AppTest, key: str) -> list[str]:
    """The skus of a grid's tiles, in order (the facts caption of each tile starts with the sku)."""
    return [c.value.split(" · ")[0] for c in at.get_by_key(key).caption if "% match" not in c.value]


def badges(at: AppTest, key: str) -> list[str]:
    """The badge text above each tile of a grid (rank and move, or the look relation)."""
    out = []
    for m in at.get_by_key(key).markdown:
        if "-badge[" in m.value:
            out.append(m.value.split("-badge[", 1)[1].rstrip("]"))
    return out


def metrics(at: AppTest, key: str) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.get_by_key(key).metric}


def figures(at: AppTest, key: str) -> dict[str, tuple[str, str]]:
    """The what-if figures once drawn: they are computed off the script (console/whatif_view.py), so the page
    is run again until they are there, as its polling fragment does in a browser."""
    def shown(k: str) -> bool:
        try:
            return at.get_by_key(k) is not None
        except KeyError:
            return False
    deadline = time.monotonic() + TIMEOUT
    while not shown(key):
        assert shown("tuning-whatif-pending"), "neither the figures nor the notice that they are coming"
        assert time.monotonic() < deadline, "the what-if figures never came"
        time.sleep(0.2)
        run(at)
    return metrics(at, key)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def working(at: AppTest):
    """The shared draft the pages edit (in the engine's database, not the session)."""
    return ConfigWorkflow(shared()).draft().config


def skus(recs) -> list[str]:
    return [r.product.sku for r in recs]


# ---- Tuning ----------------------------------------------------------------------------------------------------
def fork(at: AppTest, factor: str, value: float, name: str) -> None:
    """Move a weight of the (built-in) strategy shown and save the weights as a new strategy `name`."""
    at.slider(key=f"w_{factor}").set_value(value).run()
    at.text_input(key="tuning_fork_name").input(name).run()
    at.button(key="tuning_fork_create").click().run()
    assert not at.exception and not errors(at), errors(at)


def test_a_slider_on_a_builtin_asks_for_a_name_and_forks_it(app, runtime):
    goto(app, "tuning")
    name, pid = app.selectbox(key="tuning_strategy").value, app.selectbox(key="tuning_product").value
    assert name == runtime.config.default_strategy == "balanced"
    before, after = grid_skus(app, "tuning-before"), grid_skus(app, "tuning-after")
    assert len(before) == PREVIEW_N and before == after  # the draft starts as the live version
    assert skus(runtime.recommender().similar(pid, n=PREVIEW_N, strategy=name)) == before
    assert set(badges(app, "tuning-after")) == {f"#{i} · same" for i in range(1, PREVIEW_N + 1)}
    shown = figures(app, "tuning-whatif-after")
    assert all(delta == "" for _, delta in shown.values())

    app.slider(key="w_price_up").set_value(0.0).run()
    assert not app.exception and not errors(app)
    assert app.get_by_key("tuning-fork") is not None and app.text_input(key="tuning_fork_name").value == "balanced-2"
    assert working(app) == runtime.config  # nothing saved before the fork has a name
    moved = grid_skus(app, "tuning-after")  # but the preview already shows the new weights
    assert grid_skus(app, "tuning-before") == before and moved != before
    marks = badges(app, "tuning-after")
    assert any("▲" in m or "new" in m for m in marks) and any("▼" in m for m in marks)
    changed = figures(app, "tuning-whatif-after")
    assert changed["Upsell recall@10"][1].startswith("-")  # balanced's upsell factor found those links

    app.text_input(key="tuning_fork_name").input("no_upsell").run()
    app.button(key="tuning_fork_create").click().run()
    assert not errors(app)
    config = working(app)
    assert "price_up" not in config.strategies["no_upsell"].weights
    assert config.strategies["balanced"] == runtime.config.strategies["balanced"]  # the built-in is untouched
    assert app.selectbox(key="tuning_strategy").value == "no_upsell"
    assert grid_skus(app, "tuning-after") == moved == skus(
        runtime.recommender(config).similar(pid, n=PREVIEW_N, strategy="no_upsell"))
    table = app.get_by_key("tuning-changes").dataframe[0].value
    assert list(table["after"]) == moved and list(table["before"]) == before

    # a custom strategy saves every move at once, and a reload (a new session) shows the same draft
    app.slider(key="w_stock").set_value(0.4).run()
    assert working(app).strategies["no_upsell"].weights["stock"] == 0.4
    reloaded = goto(AppTest.from_file(str(APP), default_timeout=TIMEOUT).run(), "tuning")
    reloaded.selectbox(key="tuning_strategy").set_value("no_upsell").run()
    assert reloaded.slider(key="w_stock").value == 0.4
    assert f"Draft differs from live version {runtime.config_version}: 1 change(s)" in reloaded.get_by_key("draft-banner").info[0].value
    assert runtime.config.strategies.keys() == runtime.live.refresh().config.strategies.keys()  # not published


def test_the_figures_are_computed_once_off_the_script_and_equal_the_engines(runtime):
    from dataclasses import replace

    from console.whatif_view import request
    from engine.errors import NotFound
    from engine.merchandising.whatif import what_if

    first = request(runtime, runtime.config, "balanced", 10)
    assert request(runtime, runtime.config, "balanced", 10) is first  # asked twice, computed once
    got = first.result(timeout=TIMEOUT)
    assert replace(got, cached=False, seconds=0.0) == replace(what_if(runtime, runtime.config, "balanced", k=10),
                                                              cached=False, seconds=0.0)
    with pytest.raises(NotFound, match="unknown strategy"):
        request(runtime, runtime.config, "no-such-strategy", 10).result(timeout=TIMEOUT)


def test_weights_that_leave_no_factor_are_refused_and_the_sliders_snap_back(app):
    goto(app, "tuning")
    fork(app, "price", 0.5, "mine")
    weights = dict(working(app).strategies["mine"].weights)
    *first, last = list(weights)
    for factor in first:
        app.slider(key=f"w_{factor}").set_value(0.0).run()
    assert not errors(app)
    app.slider(key=f"w_{last}").set_value(0.0).run()
    assert not app.exception
    assert any("at least one weight" in e for e in errors(app)), errors(app)
    assert working(app).strategies["mine"].weights == {last: weights[last]}  # nothing of the bad move applied
    assert app.slider(key=f"w_{last}").value == weights[last]


def test_custom_strategies_are_made_default_renamed_and_deleted_builtins_are_not(app, runtime):
    goto(app, "tuning")
    app.slider(key="w_price").set_value(0.5).run()
    app.text_input(key="tuning_fork_name").input("bad name!").run()
    app.button(key="tuning_fork_create").click().run()
    assert any("bad name!" in e for e in errors(app)) and "bad name!" not in working(app).strategies
    app.text_input(key="tuning_fork_name").input("summer_sale").run()
    app.button(key="tuning_fork_create").click().run()
    assert not errors(app) and working(app).strategies["summer_sale"].weights["price"] == 0.5
    app.button(key="tuning_make_default").click().run()
    assert working(app).default_strategy == "summer_sale"
    assert app.button(key="tuning_delete").disabled  # the draft's default
    app.text_input(key="tuning_rename").input("winter_sale").run()
    app.button(key="tuning_rename_go").click().run()
    assert not errors(app)
    assert "winter_sale" in working(app).strategies and "summer_sale" not in working(app).strategies
    assert working(app).default_strategy == "winter_sale" and app.selectbox(key="tuning_strategy").value == "winter_sale"
    assert "summer_sale" not in runtime.config.strategies and runtime.config.default_strategy == "balanced"
    app.selectbox(key="tuning_strategy").set_value("balanced").run()
    with pytest.raises(KeyError):  # built-ins offer no rename
        app.get_by_key("tuning_rename")
    assert any("cannot be renamed or deleted" in c.value for c in app.caption)


def test_the_published_draft_ranks_exactly_as_the_after_preview_in_another_process(app, runtime, console_env,
                                                                                     tmp_path):
    """Tune, publish on the Publish page, then a recommender of the live version — in this process and, as
    production does, in a process of its own on a copy of the data folder — ranks as the after preview."""
    was = runtime.live.refresh().number
    goto(app, "tuning")
    fork(app, "price", 0.35, "pricey")
    app.slider(key="w_category").set_value(0.1).run()
    app.toggle(key="mmr_on").set_value(True).run()
    app.slider(key="mmr_lambda").set_value(0.6).run()
    app.button(key="tuning_make_default").click().run()
    assert not errors(app)
    pid = app.selectbox(key="tuning_product").value
    after = grid_skus(app, "tuning-after")
    assert after != grid_skus(app, "tuning-before")

    goto(app, "publish")
    assert app.get_by_key("publish-diff").dataframe[0].value["setting"].tolist() == [
        "default_strategy", "strategies.pricey", "diversity.mmr_lambda"]
    app.text_input(key="publish_message").input("pricier first").run()
    app.button(key="publish_go").click().run()
    assert not app.exception and not errors(app)
    assert any(f"Version {was + 1} is live" in s.value for s in app.success)
    live = runtime.live.refresh()
    assert live.number == was + 1 and fingerprint(live.config) == fingerprint(working(app))
    assert skus(runtime.recommender().similar(pid, n=PREVIEW_N)) == after
    history = app.get_by_key("publish-history").dataframe[0].value
    assert history["version"].tolist()[:2] == [was + 1, was] and history["message"][0] == "pricier first"

    runtime.store.flush()
    copy = tmp_path / "data"
    shutil.copytree(console_env.data_dir, copy)
    done = subprocess.run([sys.executable, "-c", LIVE, str(pid), str(PREVIEW_N)], cwd=ROOT,
                          env={**os.environ, "VITRINA_DATA_DIR": str(copy)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [was + 1, after]


def test_make_live_again_and_a_bad_import_on_the_publish_page(app, runtime):
    was = runtime.live.refresh().number
    goto(app, "tuning")
    fork(app, "stock", 0.4, "stocky")
    goto(app, "publish")
    app.button(key="publish_go").click().run()
    assert runtime.live.refresh().number == was + 1
    app.selectbox(key="publish_version").set_value(was).run()
    app.selectbox(key="publish_a").set_value(was).run()
    diff_rows = app.get_by_key("publish-compare").dataframe[0].value
    assert diff_rows["setting"].tolist() == ["strategies.stocky"]  # from the version before to the draft
    app.button(key="publish_rollback").click().run()
    assert not errors(app) and any(f"Version {was} is live again, as version {was + 2}" in s.value for s in app.success)
    assert "stocky" not in runtime.live.refresh().config.strategies and "stocky" not in working(app).strategies

    kept = fingerprint(working(app))
    text = dump(runtime.config)
    bad = (text.replace("default_strategy: balanced", "default_strategy: nowhere")
           .replace("similarity: 0.45", "similarity: 0.45\n      colour: 1.0")
           .replace("mmr_lambda: null", "mmr_lambda: 2"))
    app.file_uploader(key="publish_import").upload("bad.yaml", bad.encode(), "application/x-yaml").run()
    assert not app.exception
    shown = errors(app)
    assert shown[0] == "config is invalid. Nothing changed."
    assert any("$.default_strategy" in e and "nowhere" in e for e in shown)
    assert any("colour" in e for e in shown) and any("$.diversity.mmr_lambda" in e for e in shown)
    assert fingerprint(working(app)) == kept
    good = text.replace("default_strategy: balanced", "default_strategy: upsell")
    app.file_uploader(key="publish_import").upload("good.yaml", good.encode(), "application/x-yaml").run()
    assert not errors(app) and working(app).default_strategy == "upsell"
    assert runtime.live.refresh().config.default_strategy == "balanced"  # an import never goes live by itself


# ---- real browser ----------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_moving_a_weight_slider_in_the_browser_reorders_the_after_grid(page, console_server, screenshots):
    from playwright.sync_api import expect

    def settle() -> None:
        expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                               timeout=90_000)
        expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=90_000)

    def shown(key: str) -> list[str]:
        captions = page.locator(f".st-key-{key} [data-testid='stCaptionContainer']").all_inner_texts()
        return [c.split(" · ")[0] for c in captions if "% match" not in c]

    page.goto(console_server.url)  # through app.py's navigation: a first visit straight to /tuning on a fresh
    settle()                        # server would run the page file alone, without app.py
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Tuning").click()
    settle()
    expect(page.get_by_role("heading", name="Tuning")).to_be_visible()
    expect(page.locator(".st-key-tuning-after [data-testid='stImage']")).to_have_count(PREVIEW_N, timeout=90_000)
    before = shown("tuning-after")
    assert before == shown("tuning-before")
    thumb = page.locator(".st-key-w_price_up").get_by_role("slider")
    thumb.focus()
    thumb.press("Home")  # the upsell factor's weight to 0
    expect(page.locator(".st-key-tuning-after").get_by_text("▲").first).to_be_visible(timeout=90_000)
    settle()
    expect(thumb).to_have_value("0")
    after = shown("tuning-after")
    assert after != before and shown("tuning-before") == before
    assert len(after) == PREVIEW_N
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(1500, min(8000, height + 120))})  # Streamlit scrolls
    page.wait_for_load_state("networkidle")                                                 # inside its main area
    page.screenshot(path=str(screenshots / "tuning.png"))
