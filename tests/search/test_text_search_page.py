"""The console's Text search page through Streamlit's AppTest, on the demo catalog prepared once per session
(tests/console_fixtures.py): the attributes read from a query are chips, taking one off searches without it,
and a query the engine is not sure of is labelled "loosely related". Checked against the engine's answers."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from console_fixtures import goto
from engine.runtime import shared

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(console_env) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _grid_skus(at: AppTest) -> list[str]:
    return [c.value.split(" · ")[0] for c in at.get_by_key("grid-text").caption if "% match" not in c.value]


def _chips(at: AppTest) -> dict[str, str]:
    return {b.key: b.label for b in at.button if b.key and b.key.startswith("chip-")}


def test_chips_show_what_was_read_and_removing_one_searches_without_it(app, console_env):
    goto(app, "text_search")
    app.text_input(key="query").input("siyah kadın ceket").run()
    assert not app.exception
    assert _chips(app) == {"chip-colour": "colour: black ×", "chip-gender": "gender: women ×",
                           "chip-category": "category: Jackets ×"}
    rec = shared().recommender()
    expected = rec.text_search("siyah kadın ceket", n=len(_grid_skus(app)))
    assert _grid_skus(app) == [r.product.sku for r in expected.items]
    app.button(key="chip-colour").click().run()
    assert not app.exception
    assert set(_chips(app)) == {"chip-gender", "chip-category", "chip-restore"}
    without = rec.text_search("siyah kadın ceket", n=len(_grid_skus(app)), ignore=["colour"])
    assert _grid_skus(app) == [r.product.sku for r in without.items]
    assert _grid_skus(app) != [r.product.sku for r in expected.items]
    app.button(key="chip-restore").click().run()
    assert "chip-colour" in _chips(app)


def test_nonsense_is_labelled_loosely_related(app):
    goto(app, "text_search")
    app.text_input(key="query").input("qzxv pfft").run()
    assert not app.exception
    assert any("Loosely related" in w.value for w in app.warning)
    app.text_input(key="query").input("black women's jacket").run()
    assert not any("Loosely related" in w.value for w in app.warning)
