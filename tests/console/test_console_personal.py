"""The Personalisation page driven through AppTest on the demo catalog and its simulated shoppers, prepared once
per session (tests/console_fixtures.py). What the page shows is checked against engine.recommend.personal and the event
log read here; every "not like this" a test records is taken back before it ends, so the shared data stays as
prepared."""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from console.personal_view import HISTORY_ROWS
from engine.merchandising.drafts import ConfigWorkflow
from engine.recommend.personal import (SERVED_COLD_START, SERVED_DISABLED, SERVED_PERSONALISED, personalised)
from engine.catalog.events import EventRow  # after engine.recommend.personal: imported first, it is a circular import
from engine.runtime import shared

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
GRID = "grid-personal"


# ---- helpers -------------------------------------------------------------------------------------------------
@pytest.fixture
def app(console_env) -> AppTest:
    """The page as the console shows it: app.py, then a switch to the page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("app_pages/personalisation.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def draft():
    """The config every console page previews with: the shared draft (in the engine's database)."""
    return ConfigWorkflow(shared()).draft().config


def engine(at: AppTest, runtime):
    """The recommender of the config the page ranks with: the draft."""
    return runtime.recommender(draft())


def run(changed) -> AppTest:
    """Run the app after a widget change (or the app itself) and return the app."""
    at = changed.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest, key: str = GRID) -> list[tuple[str, str | None]]:
    """(sku, "% match" line) of every tile of a grid, read from the captions under the titles."""
    out: list[tuple[str, str | None]] = []
    for c in at.get_by_key(key).caption:
        if "% match" in c.value:
            out[-1] = (out[-1][0], c.value)
        else:
            out.append((c.value.split(" · ")[0], None))
    return out


def expected(items) -> list[tuple[str, str]]:
    """What a grid of these engine results shows: the sku, and the match with the engine's reasons."""
    return [(r.product.sku, f"{r.match_percent}% match" + (" · " + ", ".join(r.reasons) if r.reasons else ""))
            for r in items]


def not_like_buttons(at: AppTest) -> list[int]:
    """Product ids of the grid's "Not like this" buttons, in grid order."""
    prefix = f"{GRID}.not_like."
    return [int(b.key[len(prefix):]) for b in at.get_by_key(GRID).button if b.key.startswith(prefix)]


def served(at: AppTest) -> str:
    """What the page says was served, read from its badge (":<colour>-badge[:material/<icon>: Served: <what>]")."""
    badges = [m.value for m in at.get_by_key("personal-served").markdown if "-badge[" in m.value]
    assert len(badges) == 1, badges
    return badges[0][:-1].split("Served: ", 1)[1]


def array(v) -> np.ndarray:
    """A plotly array from the chart's JSON: plain lists, or the typed {"dtype", "bdata"} form."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def most_active_simulated_shopper(runtime) -> str:
    """The simulated shopper with the most clicks, cart adds and purchases (ties by user id)."""
    interactions = func.count()
    with runtime.db.engine.connect() as conn:
        user = conn.execute(select(EventRow.user_id).where(EventRow.simulated == 1, EventRow.user_id.is_not(None),
                                                           EventRow.kind != "impression")
                            .group_by(EventRow.user_id).order_by(interactions.desc(), EventRow.user_id)
                            .limit(1)).scalar()
    assert user is not None, "the demo data has no simulated shoppers"
    return user


def events_of(runtime, user_id: str, limit: int, impressions: bool) -> list[tuple]:
    """(time, kind, "sku — title", algorithm) of the user's latest events, newest first."""
    q = select(EventRow.ts, EventRow.kind, EventRow.product_id, EventRow.algorithm).where(EventRow.user_id == user_id)
    if not impressions:  # what the shopper was shown: the lists served and the tiles a browser reported
        q = q.where(EventRow.kind.not_in(("served", "impression")))
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(q.order_by(EventRow.ts.desc(), EventRow.id.desc()).limit(limit)).all()
    cards = runtime.catalog.cards([p for _, _, p, _ in rows])
    assert set(cards) == {p for _, _, p, _ in rows}, "the simulator acts on catalog products only"
    return [(ts, kind, f"{cards[p].sku} — {cards[p].title}", algorithm or "") for ts, kind, p, algorithm in rows]


def table_rows(at: AppTest) -> list[tuple]:
    frame = at.get_by_key("personal-history").dataframe[0].value
    assert list(frame.columns) == ["time", "kind", "product", "algorithm"]
    return [(row.time.to_pydatetime(), row.kind, row.product, row.algorithm) for row in frame.itertuples()]


def pick_shopper(at: AppTest, user_id: str) -> AppTest:
    assert at.radio(key="personal_who").value == "events"
    return run(at.selectbox(key="personal_user").set_value(user_id))


# ---- tests -----------------------------------------------------------------------------------------------------
def test_the_shopper_list_holds_every_user_of_the_event_log(app, runtime):
    with runtime.db.engine.connect() as conn:
        users = set(conn.execute(select(EventRow.user_id).distinct().where(EventRow.user_id.is_not(None))).scalars())
    options = app.selectbox(key="personal_user").options
    assert len(options) == len(users)
    assert {o.split(" · ")[0] for o in options} == users


def test_a_simulated_shopper_gets_the_engines_personalised_list_taste_and_history(app, runtime):
    user = most_active_simulated_shopper(runtime)
    at = pick_shopper(app, user)
    n = at.number_input(key="personal_n").value
    result = personalised(engine(at, runtime), user, n=n)
    assert result.served == SERVED_PERSONALISED
    assert shown(at) == expected(result.items)
    assert served(at) == SERVED_PERSONALISED
    assert result.reason in at.get_by_key("personal-served").success[0].value

    # the taste: interest per category and the usual price, as the engine computes them from the log alone
    profile = runtime.recommender().profiles.from_scratch(user, draft())
    bars = json.loads(at.get_by_key("personal-taste").get("plotly_chart")[0].proto.spec)["data"][0]
    ranked = profile.top_categories(len(profile.categories))
    assert list(bars["y"]) == [profile.category_labels[c] for c in ranked]
    assert array(bars["x"]) == pytest.approx([profile.categories[c] for c in ranked])
    lo, hi = (float(x.replace("\u202f", "")) for x in
              {m.label: m.value for m in at.get_by_key("personal-taste").metric}["Usual price"].split(" – "))
    assert (lo, hi) == pytest.approx(profile.price_band, abs=0.01)

    # the history: the latest events, impressions left out until asked for
    assert table_rows(at) == events_of(runtime, user, HISTORY_ROWS, impressions=False)
    at = run(at.checkbox(key="personal_impressions").check())
    with_impressions = events_of(runtime, user, HISTORY_ROWS, impressions=True)
    assert table_rows(at) == with_impressions
    assert "impression" in {kind for _, kind, _, _ in with_impressions}
    caption = at.get_by_key("personal-history").caption[0].value
    assert caption.startswith(f"Latest {len(with_impressions)} of ")


def test_not_like_this_removes_the_item_records_the_dislike_and_clear_takes_it_back(app, runtime):
    user = most_active_simulated_shopper(runtime)
    store = runtime.recommender().profiles
    assert store.dislikes(user) == []
    at = pick_shopper(app, user)
    n = at.number_input(key="personal_n").value
    first = not_like_buttons(at)[0]
    first_sku = shown(at)[0][0]
    try:
        at = run(at.button(key=f"{GRID}.not_like.{first}").click())
        assert store.dislikes(user) == [first]
        assert first_sku not in [sku for sku, _ in shown(at)]
        after = personalised(engine(at, runtime), user, n=n)
        assert after.negatives == 1
        assert shown(at) == expected(after.items)
        assert {m.label: m.value for m in at.get_by_key("personal-served").metric}["Moved away from"] == "1"
        assert [sku for sku, _ in shown(at, "grid-disliked")] == [first_sku]

        at = run(at.button(key="personal_clear").click())
        assert store.dislikes(user) == []
        assert shown(at) == expected(personalised(engine(at, runtime), user, n=n).items)
        assert first_sku == shown(at)[0][0]
    finally:
        for product_id in store.dislikes(user):
            store.undislike(user, product_id)


def test_switching_personalisation_off_in_the_draft_serves_trending_and_says_why(app, runtime):
    user = most_active_simulated_shopper(runtime)
    at = pick_shopper(app, user)
    n = at.number_input(key="personal_n").value
    working = ConfigWorkflow(shared()).edit(
        lambda c: replace(c, personalisation=replace(c.personalisation, enabled=False)), "tests",
        "personalisation off").config
    at = run(at)
    result = personalised(runtime.recommender(working), user, n=n)
    assert result.served == SERVED_DISABLED
    assert served(at) == SERVED_DISABLED
    assert result.reason in at.get_by_key("personal-served").info[0].value
    assert shown(at) == expected(result.items)
    assert runtime.config.personalisation.enabled, "the saved config is left as it was"


def test_an_unknown_user_gets_trending_items_as_a_cold_start(app, runtime):
    with runtime.db.engine.connect() as conn:
        known = set(conn.execute(select(EventRow.user_id).distinct()).scalars())
    user = f"unknown-{uuid.uuid4().hex}"
    assert user not in known
    at = run(app.radio(key="personal_who").set_value("typed"))
    at = run(at.text_input(key="personal_typed").input(user))
    n = at.number_input(key="personal_n").value
    result = personalised(engine(at, runtime), user, n=n)
    assert result.served == SERVED_COLD_START
    assert served(at) == SERVED_COLD_START
    banner = at.get_by_key("personal-served")
    assert "Cold start" in banner.info[0].value and result.reason in banner.info[0].value
    assert not banner.success
    assert shown(at) == expected(result.items)
    assert [sku for sku, _ in shown(at)] == [r.product.sku for r in engine(at, runtime).trending(n)]
    assert not at.get_by_key("personal-history").dataframe


def test_an_anonymous_visitors_not_like_this_lasts_for_the_session_only(app, runtime):
    at = run(app.radio(key="personal_who").set_value("anonymous"))
    n = at.number_input(key="personal_n").value
    assert served(at) == SERVED_COLD_START
    assert personalised(engine(at, runtime), None, n=n).reason in at.get_by_key("personal-served").info[0].value
    first = not_like_buttons(at)[0]
    at = run(at.button(key=f"{GRID}.not_like.{first}").click())
    result = personalised(engine(at, runtime), None, n=n, not_like=[first])
    assert shown(at) == expected(result.items)
    assert first not in not_like_buttons(at)
    at = run(at.button(key="personal_clear").click())
    assert shown(at) == expected(personalised(engine(at, runtime), None, n=n).items)

