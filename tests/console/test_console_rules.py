"""The Rules and Complete-the-look pages through Streamlit's AppTest (in this process, on the demo catalog
prepared once per session by tests/console_fixtures.py).

Every test reads what a page shows and checks it against the engine's own answer for the shared draft the page
saved (`runtime.recommender(working(app))`): hides per style and per SKU, a pin whose category scope follows
the chosen product, a rule that has not started yet, a boost and a bury, a rule whose product left the
catalog, and the complete-the-look map."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.merchandising.drafts import ConfigWorkflow
from engine.merchandising.edits import with_rule
from engine.merchandising.snapshot import look_sample, snapshot
from engine.recommend.config import fingerprint
from engine.recommend.rules import time_text
from console.picker import MATCH_TILES, SEARCH_LIMIT
from engine.runtime import shared

from console_fixtures import goto
from test_console_tuning import badges, errors, grid_skus, metrics, run, skus, working

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
TIMEOUT = 90
PREVIEW_N = 12
GONE = 10**9  # a product id the demo catalog does not hold


@pytest.fixture
def app(console_env) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def draft_list(runtime, pid: int) -> list[str]:
    """What the engine ranks for the product with the draft the page saved: the after preview must match it."""
    return skus(runtime.recommender(ConfigWorkflow(shared()).draft().config).similar(pid, n=PREVIEW_N))


def table(at: AppTest):
    return at.get_by_key("rules-table").dataframe[0]


def greyed_rows(at: AppTest) -> set[int]:
    """The rows of the rules table the page styled grey (pandas Styler CSS sent with the table)."""
    css = table(at).proto.arrow_data.styler.styles
    return {int(m) for m in re.findall(r"_row(\d+)_col\d+\s*\{[^}]*color: #9aa0a6", css)}


def choose(at: AppTest, prefix: str, query: str, sku: str) -> int:
    """Search a picker and press "Choose" on the tile of `sku`, as a merchandiser does."""
    at.text_input(key=f"{prefix}_query").input(query).run()
    pid = shared().catalog.get(sku).id
    at.button(key=f"{prefix}-matches.choose.{pid}").click()
    run(at)
    assert at.selectbox(key=f"{prefix}_product").value == pid
    return pid


def add_rule(at: AppTest, action: str, match: str = "style", slot: int | None = None, scope: str = "everywhere",
             starts: datetime | None = None) -> None:
    at.radio(key="rule_action").set_value(action).run()
    at.radio(key="rule_match").set_value(match).run()
    if slot is not None:
        at.number_input(key="rule_slot").set_value(slot).run()
    at.radio(key="rule_scope").set_value(scope).run()
    if starts is not None:
        at.datetime_input(key="rule_starts").set_value(starts).run()
    at.button(key="rule_add").click()
    run(at)


def styles(runtime, shown: list[str]) -> list[str | None]:
    return [runtime.catalog.get(s).group_key for s in shown]


# ---- pin and hide ----------------------------------------------------------------------------------------------
def test_the_picker_finds_by_title_or_sku_with_photos(app, runtime):
    goto(app, "rules")
    app.text_input(key="rule_item_query").input("hero hoodie").run()
    options = app.selectbox(key="rule_item_product").options
    assert options and all("Hero Hoodie" in o for o in options)
    tiles = app.get_by_key("rule_item-matches")
    assert len(tiles.image) == len(grid_skus(app, "rule_item-matches")) == len(options)
    assert len(app.get_by_key("rule_item-photo").image) == 1
    last = runtime.catalog.get(grid_skus(app, "rule_item-matches")[-1])
    app.button(key=f"rule_item-matches.choose.{last.id}").click()
    run(app)
    assert app.selectbox(key="rule_item_product").value == last.id
    app.text_input(key="rule_item_query").input("MJ01-Orange").run()
    assert app.selectbox(key="rule_item_product").value == runtime.catalog.get("MJ01-Orange").id  # exact sku first


def test_a_style_hide_removes_every_colour_and_a_sku_hide_only_the_one(app, runtime):
    goto(app, "rules")
    pid = app.selectbox(key="rules_product").value
    before = grid_skus(app, "rules-before")
    assert len(before) == PREVIEW_N
    assert before == grid_skus(app, "rules-after") == skus(runtime.recommender().similar(pid, n=PREVIEW_N))
    target = before[0]
    style = runtime.catalog.get(target).group_key
    assert len([c for c in runtime.catalog.search(style, limit=20) if c.group_key == style]) > 1
    choose(app, "rule_item", target, target)

    add_rule(app, "hide", match="sku")
    assert not errors(app)
    assert [(r.action, r.match, r.scope) for r in working(app).rules] == [("hide", "sku", "global")]
    after = grid_skus(app, "rules-after")
    assert target not in after and after == draft_list(runtime, pid)
    assert style in styles(runtime, after)  # another colour of the style takes its place
    assert badges(app, "rules-before")[0] == "#1 · out" and grid_skus(app, "rules-before") == before
    row = table(app).value.iloc[0]
    assert (row["kind"], row["match"], row["where"], row["status"]) == ("hide", "this SKU only", "everywhere",
                                                                       "active")
    assert row["what"].startswith(target)

    app.multiselect(key="rules_remove").set_value(["rule:hide-1"]).run()
    app.button(key="rules_remove_run").click()
    run(app)
    assert working(app).rules == [] and grid_skus(app, "rules-after") == before

    add_rule(app, "hide", match="style")
    assert not errors(app)
    after = grid_skus(app, "rules-after")
    assert style not in styles(runtime, after) and after == draft_list(runtime, pid)
    assert len(after) == PREVIEW_N and after[:PREVIEW_N - 1] == before[1:]  # the rest move up one
    assert table(app).value["match"][0] == f"style {style} (all colours/sizes)"
    assert any("Added hide-1" in s.value for s in app.success)


def test_a_category_pin_follows_the_chosen_product(app, runtime):
    goto(app, "rules")
    first = runtime.catalog.card(runtime.catalog.get(app.selectbox(key="rules_product").value))
    first_list = grid_skus(app, "rules-before")
    page = next(c for c in runtime.catalog.search("pant", limit=50, active_only=True)
                if c.category_id is not None and c.category_id not in first.category_ids)
    choose(app, "rules", page.sku, page.sku)
    labels = app.radio(key="rule_scope").options
    assert f"This product's category: {page.category_path}" in labels
    assert not any(first.category_path in label for label in labels)  # follows the product, not the previous one
    assert "Only on this product's own page" in labels and not any("brand" in label for label in labels)
    before = grid_skus(app, "rules-before")
    outsider = next(c for c in runtime.catalog.list_products(active_only=True, limit=200).items
                    if c.sku not in before and c.category_id not in page.category_ids and c.group_key
                    and c.group_key not in styles(runtime, before))
    choose(app, "rule_item", outsider.sku, outsider.sku)
    app.radio(key="rule_scope").set_value("category").run()
    assert any(page.category_path in c.value and "every product in" in c.value for c in app.caption)
    add_rule(app, "pin", match="sku", slot=2, scope="category")
    assert not errors(app)
    assert [(r.action, r.slot, r.scope) for r in working(app).rules] == [
        ("pin", 2, f"category:{page.category_id}")]
    after = grid_skus(app, "rules-after")
    assert after[1] == outsider.sku and badges(app, "rules-after")[1] == "#2 · new"
    assert after == draft_list(runtime, page.id) and after[0] == before[0] and after[2:] == before[1:-1]
    assert table(app).value["where"][0] == f"category {page.category_path}"

    second = next(s for s in before[3:] if runtime.catalog.get(s).group_key != outsider.group_key)
    choose(app, "rule_item", second, second)
    add_rule(app, "pin", match="sku", slot=2, scope="category")
    assert any("already pinned" in e for e in errors(app)), errors(app)
    assert len(working(app).rules) == 1

    choose(app, "rules", first.sku, first.sku)  # a product outside the category: the pin does not act there
    assert grid_skus(app, "rules-after") == grid_skus(app, "rules-before") == first_list


def test_a_rule_that_starts_later_is_greyed_with_why_and_changes_nothing_yet(app, runtime):
    goto(app, "rules")
    pid = app.selectbox(key="rules_product").value
    before = grid_skus(app, "rules-before")
    starts = (datetime.now(timezone.utc) + timedelta(days=30)).replace(tzinfo=None, hour=9, minute=0, second=0,
                                                                       microsecond=0)
    choose(app, "rule_item", before[0], before[0])
    add_rule(app, "hide", starts=starts)
    assert not errors(app)
    rule = working(app).rules[0]
    assert rule.starts is not None and rule.status()[0] is False
    assert grid_skus(app, "rules-after") == before == draft_list(runtime, pid)
    shown = table(app).value
    assert shown["status"][0] == f"starts {time_text(starts)}" and shown["when"][0] == f"from {time_text(starts)}"
    assert greyed_rows(app) == {0}

    app.datetime_input(key="rule_starts").set_value(None).run()
    choose(app, "rule_item", before[1], before[1])
    add_rule(app, "hide")
    assert not errors(app)
    assert table(app).value["status"].tolist() == [f"starts {time_text(starts)}", "active"]
    assert greyed_rows(app) == {0}  # the rule acting now is not greyed
    after = grid_skus(app, "rules-after")
    assert before[1] not in after and before[0] in after and after == draft_list(runtime, pid)


def test_a_rule_whose_product_left_the_catalog_is_flagged(app, runtime):
    ConfigWorkflow(runtime).edit(lambda c: with_rule(c, "hide", GONE), "tests", "a rule on a deleted product")
    goto(app, "rules")
    warning = app.get_by_key("rules-table-stale").warning[0].value
    assert f"no product with id {GONE}" in warning and "cannot be published" in warning
    row = table(app).value.iloc[0]
    assert row["status"] == "⚠ product no longer in the catalog"
    assert row["what"] == f"product {GONE} (no longer in the catalog)"
    assert greyed_rows(app) == {0}
    assert grid_skus(app, "rules-after") == grid_skus(app, "rules-before")
    assert any(str(GONE) in p for p in ConfigWorkflow(runtime).problems())  # and publish refuses it


# ---- boost and bury --------------------------------------------------------------------------------------------
def add_boost(at: AppTest, condition: str, strength: float, value=None) -> None:
    at.selectbox(key="boost_condition").set_value(condition).run()
    if value is not None:
        widget = at.multiselect if isinstance(value, list) else at.number_input
        widget(key=f"boost_{condition}").set_value(value).run()
    at.slider(key="boost_strength").set_value(strength).run()
    at.button(key="boost_add").click()
    run(at)


def test_a_boost_lifts_and_a_bury_sinks_what_matches_as_the_engine_ranks(app, runtime):
    goto(app, "rules")
    pid = app.selectbox(key="rules_product").value
    before = grid_skus(app, "rules-before")

    def low(shown):
        return [s for s in shown if runtime.catalog.card(runtime.catalog.get(s)).stock_qty < 300]

    add_boost(app, "stock_below", 0.5, 300)
    assert not errors(app)
    assert [(b.id, b.when, b.strength) for b in working(app).boosts] == [("boost-1", {"stock_below": 300}, 0.5)]
    after = grid_skus(app, "rules-after")
    assert after == draft_list(runtime, pid)
    assert len(low(after)) > len(low(before)) and after[0] in low(after)  # low stock comes first
    assert table(app).value["what"][0] == "stock below 300 (strength +0.50)"
    recs = runtime.recommender(working(app)).similar(pid, n=PREVIEW_N)
    assert all(r.factors.get("boost") == 0.5 for r in recs if r.product.sku in low(after))

    app.multiselect(key="rules_remove").set_value(["boost:boost-1"]).run()
    app.button(key="rules_remove_run").click()
    run(app)
    assert working(app).boosts == [] and grid_skus(app, "rules-after") == before

    def black(shown):
        return [s for s in shown if runtime.catalog.get(s).colour == "black"]

    add_boost(app, "colour_in", -0.5, ["black"])
    assert not errors(app)
    after = grid_skus(app, "rules-after")
    assert black(before) and len(black(after)) < len(black(before)) and after == draft_list(runtime, pid)
    row = table(app).value.iloc[0]
    assert (row["id"], row["kind"], row["what"]) == ("bury-1", "bury", "colour in black (strength -0.50)")

    add_boost(app, "stock_below", 0.0, 100)
    assert any("a strength of 0 changes nothing" in e for e in errors(app)), errors(app)
    assert len(working(app).boosts) == 1


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


def test_editing_the_look_map_saves_it_in_the_draft_and_changes_the_preview(app, runtime):
    goto(app, "looks")
    pid = pick_mens_top(app, runtime)
    live_look = ["bottom", "bottom", "layer", "bag", "accessories"]
    assert badges(app, "looks-preview") == live_look
    assert grid_skus(app, "looks-preview") == skus(runtime.recommender().complete_the_look(pid))
    assert app.button(key="looks_reset").disabled
    rows = editor(app).value
    bag = int(rows.index[(rows["category"] == "Men/Tops") & (rows["complementary"] == "Gear/Bags")][0])
    watches = int(rows.index[(rows["category"] == "Men/Tops") & (rows["complementary"] == "Gear/Watches")][0])
    linked_before = metrics(app, "looks-evaluation")["Linked look items"][0]

    app.session_state[editor(app).key] = {"edited_rows": {bag: {"relation": "carryall"}}, "added_rows": [],
                                          "deleted_rows": [watches]}
    run(app)
    app.button(key="looks_apply").click()
    run(app)
    assert not errors(app)
    config = working(app)
    assert [(t.category, t.relation) for t in config.complementary["Men/Tops"]] == [
        ("Men/Bottoms", "bottom"), ("Men/Tops/Jackets", "layer"), ("Gear/Bags", "carryall")]
    assert runtime.config.complementary != config.complementary  # saved in the draft, not live
    assert badges(app, "looks-preview") == ["bottom", "bottom", "layer", "carryall"]
    assert grid_skus(app, "looks-preview") == skus(runtime.recommender(config).complete_the_look(pid))
    assert badges(app, "looks-live") == live_look  # before: the live version's look
    assert any("Applied the map to the draft" in s.value for s in app.success)
    assert "Draft differs from live version" in app.get_by_key("draft-banner").info[0].value
    assert editor(app).key != "looks_map_0" and len(editor(app).value) == len(rows) - 1
    figures = metrics(app, "looks-evaluation")
    assert figures["Linked look items"][0] != linked_before or figures["Linked look items"][1] != ""

    reloaded = goto(AppTest.from_file(str(APP), default_timeout=TIMEOUT).run(), "looks")  # a reload: same draft
    assert len(editor(reloaded).value) == len(rows) - 1

    app.button(key="looks_reset").click()
    run(app)
    assert working(app).complementary == runtime.config.complementary
    assert badges(app, "looks-preview") == live_look


def test_a_bad_look_map_is_listed_and_not_saved(app, runtime):
    goto(app, "looks")
    pid = pick_mens_top(app, runtime)
    shown = grid_skus(app, "looks-preview")
    kept = fingerprint(working(app))
    app.session_state[editor(app).key] = {
        "edited_rows": {0: {"complementary": "Gear/Shoes", "max_items": 0}},
        "added_rows": [{"category": "Men/Tops", "complementary": "Men/Tops", "relation": "same", "max_items": 1}],
        "deleted_rows": []}
    run(app)
    app.button(key="looks_apply").click()
    run(app)
    shown_errors = errors(app)
    assert shown_errors[0] == "the complete-the-look map is invalid. Nothing was saved."
    assert "row 1: unknown complementary category 'Gear/Shoes'" in shown_errors
    assert any(e.startswith("row 1: max_items must be") for e in shown_errors)
    assert any("cannot complement itself" in e for e in shown_errors)
    assert len(shown_errors) == 4
    assert fingerprint(working(app)) == kept and grid_skus(app, "looks-preview") == shown
    assert app.selectbox(key="looks_product").value == pid
    assert editor(app).key == "looks_map_0"  # the same editor, still holding the edits to fix


def test_a_failed_search_linked_from_analytics_opens_with_its_query_in_the_finder(console_env):
    """Analytics links a failed query to Rules with `?query=`: the product finder starts with it, so the
    merchandiser sees the products those words find; a later visit without the link keeps what they typed."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["query"] = "  hoodie  "
    at.run()
    goto(at, "rules")
    assert at.text_input(key="rule_item_query").value == "hoodie"
    assert any("“hoodie”" in i.value for i in at.info)
    want = [c.sku for c in shared().catalog.search("hoodie", limit=SEARCH_LIMIT, active_only=True)][:MATCH_TILES]
    assert want and grid_skus(at, "rule_item-matches") == want
    at.text_input(key="rule_item_query").input("MH07").run()
    assert at.text_input(key="rule_item_query").value == "MH07"  # the link does not override the merchandiser
