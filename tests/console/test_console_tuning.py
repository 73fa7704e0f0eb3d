"""The Tuning, Rules and Complete-the-look pages through Streamlit's AppTest (in this process, on the demo catalog
prepared once per session by tests/console_fixtures.py), plus one real-browser check of a weight slider.

Every test reads what a page shows and checks it against the engine's own answers; the key one exports the
working config from the Tuning page and starts a recommender from the file, as production does."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.recommend.config import dump, fingerprint, load
from engine.runtime import Runtime
from engine.merchandising.edits import history_for
from engine.merchandising.snapshot import look_sample, snapshot

from console_fixtures import goto

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
TIMEOUT = 90
PREVIEW_N = 12
# Production start-up: a recommender from an exported file, in a process of its own.
FROM_CONFIG = """
import json, sys
from engine.runtime import Runtime
from engine.settings import Settings
rec = Runtime.from_config(sys.argv[1], Settings()).recommender()
print(json.dumps([r.product.sku for r in rec.similar(int(sys.argv[2]), n=int(sys.argv[4]), strategy=sys.argv[3])]))
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


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def working(at: AppTest):
    return at.session_state["working_config"]


def skus(recs) -> list[str]:
    return [r.product.sku for r in recs]


# ---- Tuning ----------------------------------------------------------------------------------------------------
def test_a_weight_slider_reorders_the_after_grid_and_moves_the_figures(app, runtime):
    goto(app, "tuning")
    name, pid = app.selectbox(key="tuning_strategy").value, app.selectbox(key="tuning_product").value
    assert name == runtime.config.default_strategy
    before, after = grid_skus(app, "tuning-before"), grid_skus(app, "tuning-after")
    assert len(before) == PREVIEW_N and before == after  # the working config starts as the saved one
    assert skus(runtime.recommender().similar(pid, n=PREVIEW_N, strategy=name)) == before
    assert set(badges(app, "tuning-after")) == {f"#{i} · same" for i in range(1, PREVIEW_N + 1)}
    figures = metrics(app, "tuning-whatif-after")
    assert all(delta == "" for _, delta in figures.values())

    app.slider(key="w_price_up").set_value(0.0).run()
    assert not app.exception and not errors(app)
    config = working(app)
    assert "price_up" not in config.strategies[name].weights
    moved = grid_skus(app, "tuning-after")
    assert grid_skus(app, "tuning-before") == before and moved != before
    assert moved == skus(runtime.recommender(config).similar(pid, n=PREVIEW_N, strategy=name))
    marks = badges(app, "tuning-after")
    assert any("▲" in m or "new" in m for m in marks) and any("▼" in m for m in marks)
    changed = metrics(app, "tuning-whatif-after")
    assert changed["Upsell recall@10"][0] != figures["Upsell recall@10"][0]
    assert changed["Upsell recall@10"][1].startswith("-")  # balanced's upsell factor found those links
    table = app.get_by_key("tuning-changes").dataframe[0].value
    assert list(table["after"]) == moved and list(table["before"]) == before


def test_weights_that_leave_no_factor_are_refused_and_the_sliders_snap_back(app):
    goto(app, "tuning")
    name = app.selectbox(key="tuning_strategy").value
    weights = dict(working(app).strategies[name].weights)
    *first, last = list(weights)
    for factor in first:
        app.slider(key=f"w_{factor}").set_value(0.0).run()
    assert not errors(app)
    app.slider(key=f"w_{last}").set_value(0.0).run()
    assert not app.exception
    assert any("at least one weight" in e or "non-empty" in e for e in errors(app)), errors(app)
    assert working(app).strategies[name].weights == {last: weights[last]}  # nothing of the bad move applied
    assert app.slider(key=f"w_{last}").value == weights[last]


def test_save_as_a_new_strategy_and_make_it_the_default(app, runtime):
    goto(app, "tuning")
    app.slider(key="w_price").set_value(0.5).run()
    app.text_input(key="tuning_new_name").input("bad name!").run()
    app.button(key="tuning_save_as").click().run()
    assert any("bad name!" in e for e in errors(app)) and "bad name!" not in working(app).strategies
    app.text_input(key="tuning_new_name").input("summer_sale").run()
    app.button(key="tuning_save_as").click().run()
    assert not errors(app)
    config = working(app)
    assert config.strategies["summer_sale"].weights["price"] == 0.5
    assert app.selectbox(key="tuning_strategy").value == "summer_sale"
    assert "summer_sale" in app.selectbox(key="tuning_strategy").options[-1]
    app.button(key="tuning_make_default").click().run()
    assert working(app).default_strategy == "summer_sale"
    assert "summer_sale" not in runtime.config.strategies  # the saved config is left alone
    assert runtime.config.default_strategy == "balanced"


def test_the_exported_config_ranks_exactly_as_the_after_preview(app, runtime, console_env, tmp_path):
    """Export from the Tuning page, then start recommenders from the file with Runtime.from_config: in this
    process (its Runtime shares the open store) and, as production does, in a process of its own on a copy of the
    data folder."""
    goto(app, "tuning")
    app.slider(key="w_price").set_value(0.35).run()
    app.slider(key="w_category").set_value(0.1).run()
    app.toggle(key="mmr_on").set_value(True).run()
    app.slider(key="mmr_lambda").set_value(0.6).run()
    assert not errors(app)
    name, pid = app.selectbox(key="tuning_strategy").value, app.selectbox(key="tuning_product").value
    after = grid_skus(app, "tuning-after")
    assert after != grid_skus(app, "tuning-before")
    shown_yaml = app.code[0].value
    history = history_for(runtime.settings)
    known = {v.name for v in history.list()}

    app.download_button(key="tuning_export").click().run()
    assert not app.exception
    new = [v for v in history.list() if v.name not in known]
    assert len(new) == 1 and new[0].path.parent == console_env.data_dir / "configs"
    # the download is the saved version (st.code drops the document's final newline)
    assert new[0].path.read_text(encoding="utf-8") == shown_yaml + "\n"
    assert any(new[0].version in s.value for s in app.success)
    exported = load(new[0].path)
    assert fingerprint(exported) == fingerprint(working(app))
    assert exported.diversity.mmr_lambda == 0.6

    served = Runtime.from_config(new[0].path, runtime.settings).recommender()
    assert served.config.version == new[0].version
    assert skus(served.similar(pid, n=PREVIEW_N, strategy=name)) == after

    runtime.store.flush()
    copy = tmp_path / "data"
    shutil.copytree(console_env.data_dir, copy)
    done = subprocess.run([sys.executable, "-c", FROM_CONFIG, str(new[0].path), str(pid), name, str(PREVIEW_N)],
                          cwd=ROOT, env={**os.environ, "VITRINA_DATA_DIR": str(copy)}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == after


def test_history_compares_two_exported_versions(app, runtime):
    goto(app, "tuning")
    app.download_button(key="tuning_export").click().run()
    app.slider(key="w_stock").set_value(0.4).run()
    app.download_button(key="tuning_export").click().run()
    assert not app.exception
    versions = history_for(runtime.settings).list()
    assert app.selectbox(key="history_a").value == versions[1].name
    assert app.selectbox(key="history_b").value == versions[0].name
    table = app.get_by_key("tuning-diff").dataframe[0].value
    name = app.selectbox(key="tuning_strategy").value
    row = table[table["setting"] == f"strategies.{name}.weights.stock"]
    assert len(row) == 1 and row["to"].iloc[0] == "0.4"
    assert set(table["setting"]) - {"version", "created_at"} == {f"strategies.{name}.weights.stock"}
    app.selectbox(key="history_restore").set_value(versions[1].name).run()
    app.button(key="history_load").click().run()
    assert fingerprint(working(app)) == fingerprint(load(versions[1].path))
    assert app.slider(key="w_stock").value == runtime.config.strategies[name].weights.get("stock", 0.0)


def test_importing_a_bad_config_lists_every_problem_and_applies_nothing(app, runtime):
    goto(app, "tuning")
    app.slider(key="w_price").set_value(0.25).run()
    kept = fingerprint(working(app))
    text = dump(runtime.config)
    bad = (text.replace("default_strategy: balanced", "default_strategy: nowhere")
           .replace("similarity: 0.45", "similarity: 0.45\n      colour: 1.0")
           .replace("mmr_lambda: null", "mmr_lambda: 2"))
    app.file_uploader(key="tuning_import").upload("bad.yaml", bad.encode(), "application/x-yaml").run()
    assert not app.exception
    shown = errors(app)
    assert shown[0] == "config is invalid. Nothing was applied."
    assert any("$.default_strategy" in e and "nowhere" in e for e in shown)
    assert any("colour" in e for e in shown) and any("$.diversity.mmr_lambda" in e for e in shown)
    assert len(shown) == 4
    assert fingerprint(working(app)) == kept

    good = text.replace("default_strategy: balanced", "default_strategy: upsell")
    app.file_uploader(key="tuning_import").upload("good.yaml", good.encode(), "application/x-yaml").run()
    assert not errors(app)
    assert fingerprint(working(app)) == fingerprint(load(good))
    assert app.selectbox(key="tuning_strategy").value == "upsell"


# ---- Rules -----------------------------------------------------------------------------------------------------
def test_a_hide_rule_removes_the_product_from_the_preview_until_removed(app, runtime):
    goto(app, "rules")
    pid = app.selectbox(key="rules_product").value
    before = grid_skus(app, "rules-before")
    assert before == grid_skus(app, "rules-after") == skus(runtime.recommender().similar(pid, n=PREVIEW_N))
    target = before[2]
    app.text_input(key="rule_sku").input(target).run()
    app.radio(key="rule_action").set_value("hide").run()
    app.radio(key="rule_scope").set_value("everywhere").run()
    app.button(key="rule_add").click().run()
    assert not app.exception and not errors(app)
    assert [(r.action, r.product_id, r.scope) for r in working(app).rules] == [
        ("hide", runtime.catalog.get(target).id, "global")]
    after = grid_skus(app, "rules-after")
    assert target not in after and grid_skus(app, "rules-before") == before
    assert after == [s for s in before if s != target] + after[-1:]  # the next item fills the list
    assert badges(app, "rules-before")[2] == "#3 · out"
    table = app.get_by_key("rules-table").dataframe[0].value
    assert list(table["where"]) == ["everywhere"] and table["product"][0].startswith(target)

    app.multiselect(key="rules_remove").set_value(["hide-1"]).run()
    app.button(key="rules_remove_run").click().run()
    assert working(app).rules == [] and grid_skus(app, "rules-after") == before


def test_a_category_pin_takes_its_slot_and_a_second_pin_on_it_is_refused(app, runtime):
    goto(app, "rules")
    pid = app.selectbox(key="rules_product").value
    source = runtime.catalog.card(runtime.catalog.get(pid))
    before = grid_skus(app, "rules-before")
    outsider = next(c for c in runtime.catalog.list_products(active_only=True, limit=200).items
                    if c.sku not in before and c.id != pid and c.category_id != source.category_id)
    app.radio(key="rule_action").set_value("pin").run()
    app.text_input(key="rule_sku").input(outsider.sku).run()
    app.number_input(key="rule_slot").set_value(2).run()
    app.radio(key="rule_scope").set_value("category").run()
    app.selectbox(key="rule_category").set_value(source.category_id).run()
    app.button(key="rule_add").click().run()
    assert not errors(app)
    after = grid_skus(app, "rules-after")
    assert after[1] == outsider.sku and badges(app, "rules-after")[1] == "#2 · new"
    assert after[0] == before[0] and after[2:] == before[1:-1]
    assert app.get_by_key("rules-table").dataframe[0].value["where"][0] == f"category {source.category_path}"

    app.text_input(key="rule_sku").input(before[5]).run()
    app.button(key="rule_add").click().run()
    assert any("already pinned" in e for e in errors(app))
    assert len(working(app).rules) == 1
    app.text_input(key="rule_sku").input("NO-SUCH-SKU").run()
    app.button(key="rule_add").click().run()
    assert any("no product with sku 'NO-SUCH-SKU'" in e for e in errors(app)) and len(working(app).rules) == 1


# ---- Complete the look -----------------------------------------------------------------------------------------
def pick_mens_top(at: AppTest, runtime) -> int:
    """A men's top other than a jacket (jackets have a map entry of their own), from the looks the page offers."""
    snap = snapshot(runtime)
    pid = next(p for p in look_sample(snap) if (snap.cards[p].category_path or "").startswith("Men / Tops /")
               and "Jackets" not in snap.cards[p].category_path)
    at.selectbox(key="looks_product").set_value(pid)
    run(at)
    return pid


def editor(at: AppTest):
    return at.data_editor[0]


def test_editing_the_look_map_changes_the_preview(app, runtime):
    goto(app, "looks")
    pid = pick_mens_top(app, runtime)
    assert badges(app, "looks-preview") == ["bottom", "bottom", "layer", "bag", "accessories"]
    assert grid_skus(app, "looks-preview") == skus(runtime.recommender().complete_the_look(pid))
    rows = editor(app).value
    bag = int(rows.index[(rows["category"] == "Men/Tops") & (rows["complementary"] == "Gear/Bags")][0])
    watches = int(rows.index[(rows["category"] == "Men/Tops") & (rows["complementary"] == "Gear/Watches")][0])
    linked_before = metrics(app, "looks-evaluation")["Linked look items"][0]

    app.session_state[editor(app).key] = {"edited_rows": {bag: {"relation": "carryall"}}, "added_rows": [],
                                          "deleted_rows": [watches]}
    run(app)
    app.button(key="looks_apply").click().run()
    assert not app.exception and not errors(app)
    config = working(app)
    assert [(t.category, t.relation) for t in config.complementary["Men/Tops"]] == [
        ("Men/Bottoms", "bottom"), ("Men/Tops/Jackets", "layer"), ("Gear/Bags", "carryall")]
    assert badges(app, "looks-preview") == ["bottom", "bottom", "layer", "carryall"]
    assert grid_skus(app, "looks-preview") == skus(runtime.recommender(config).complete_the_look(pid))
    assert any("Applied the map" in s.value for s in app.success)
    assert editor(app).key != "looks_map_0"  # the editor starts again from the applied map
    assert len(editor(app).value) == len(rows) - 1
    figures = metrics(app, "looks-evaluation")
    assert figures["Linked look items"][0] != linked_before or figures["Linked look items"][1] != ""


def test_a_bad_look_map_is_listed_and_not_applied(app, runtime):
    goto(app, "looks")
    pid = pick_mens_top(app, runtime)
    shown = grid_skus(app, "looks-preview")
    kept = fingerprint(working(app))
    app.session_state[editor(app).key] = {
        "edited_rows": {0: {"complementary": "Gear/Shoes", "max_items": 0}},
        "added_rows": [{"category": "Men/Tops", "complementary": "Men/Tops", "relation": "same", "max_items": 1}],
        "deleted_rows": []}
    run(app)
    app.button(key="looks_apply").click().run()
    assert not app.exception
    shown_errors = errors(app)
    assert shown_errors[0].startswith("The map was not applied: 3 problem(s)")
    assert "row 1: unknown complementary category 'Gear/Shoes'" in shown_errors
    assert any(e.startswith("row 1: max_items must be") for e in shown_errors)
    assert any("cannot complement itself" in e for e in shown_errors)
    assert fingerprint(working(app)) == kept and grid_skus(app, "looks-preview") == shown
    assert app.selectbox(key="looks_product").value == pid


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
