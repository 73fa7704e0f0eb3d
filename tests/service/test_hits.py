"""The hit path (engine.service.hits) on the real Luma catalog: a list URL seen before is answered from the cache
without FastAPI's checks, and must answer exactly as the route does — the same body, the same served rows under
the shopper and request id given — while every request the route would refuse, and every one it cannot vouch
for, still reaches the route. The shopper values come from hypothesis, and each is sent once with the hit path
forgotten (the route's answer) and once remembered."""
from __future__ import annotations

import copy
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from engine.catalog.events import EventRow
from engine.merchandising.drafts import ConfigWorkflow
from engine.service.app import create_app
from test_personal import World, luma_world

LISTS = [
    "/api/products/MJ01-Red/similar/?limit=5&category=Men/Tops",
    "/api/products/MJ01-Red/visually_similar/?limit=4",
    "/api/recommendations/complete_the_look/?product_id=MJ01-Red&per_relation=1",
    "/api/recommendations/trending/?limit=6",
    "/api/recommendations/frequently_bought_together/?product_id=MJ01-Red&limit=3",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


@pytest.fixture(scope="module")
def app(world):
    return create_app(world.settings)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        # Clicks, so trending has a list to show (no carts or purchases: other modules count baskets in this world)
        events = [{"kind": "click", "session_id": f"hit-click-{n}", "sku": sku}
                  for n, sku in enumerate(("MJ01-Red", "MH01-Black", "24-WG03", "MT08-Green"))]
        assert c.post("/api/events/", json=events).status_code == 201
        yield c


def _fresh(app) -> None:
    """The live version and the index version just read, so neither is due a database read (each is read again
    after a second) and the hit path may answer."""
    app.state.service.current()
    app.state.service.index_version()


def _through(client, app, url: str, **kw):
    """The answer to `url` and whether the hit path gave it: asked again (at most three times) when a version
    fell due between the reads of `_fresh` and the request on a busy machine; a refusal is asked once."""
    for _ in range(3):
        _fresh(app)
        before = app.state.hits.answered
        r = client.get(url, **kw)
        if app.state.hits.answered > before or r.status_code != 200:
            break
    return r, app.state.hits.answered > before


def _answered(client) -> int:
    return client.get("/health").json()["hit_path"]["answered"]


def _served(app, world, request_id: str) -> list[tuple]:
    assert app.state.service.impressions.flush()
    with world.runtime.db.session() as s:
        rows = s.scalars(select(EventRow).where(EventRow.request_id == request_id).order_by(EventRow.position))
        return [(r.kind, r.session_id, r.user_id, r.product_id, r.position, r.algorithm, r.strategy,
                 r.source_product_id, r.config_version) for r in rows]


@pytest.mark.parametrize("url", LISTS)
def test_a_list_url_seen_before_is_answered_by_the_hit_path_as_the_route_answers_it(client, app, world, url):
    first = client.get(url + "&session_id=hit-a", headers={"X-Request-Id": f"route-{len(url)}"})
    assert first.status_code == 200, first.text
    again, answered = _through(client, app, url + "&session_id=hit-b&user_id=hit-u",
                               headers={"X-Request-Id": f"hit-{len(url)}"})
    assert again.status_code == 200 and answered
    a, b = first.json(), again.json()
    assert a["request_id"] == f"route-{len(url)}" and b["request_id"] == f"hit-{len(url)}"
    assert b["cached"] is True and {k: v for k, v in a.items() if k not in ("cached", "request_id")} == \
        {k: v for k, v in b.items() if k not in ("cached", "request_id")}
    assert again.headers["x-request-id"] == b["request_id"]
    assert again.headers["x-config-version"] == str(b["config_version"])
    route_rows, hit_rows = _served(app, world, a["request_id"]), _served(app, world, b["request_id"])
    assert len(hit_rows) == len(b["items"]) > 0
    assert [r[:2] for r in route_rows] == [("served", "hit-a")] * len(a["items"])
    assert [r[:3] for r in hit_rows] == [("served", "hit-b", "hit-u")] * len(b["items"])
    assert [r[3:] for r in route_rows] == [r[3:] for r in hit_rows]


def test_what_the_hit_path_cannot_vouch_for_goes_to_the_route(client, app):
    url = "/api/products/MH01-Black/similar/?limit=5"
    assert client.get(url).status_code == 200
    refused = {
        "&foo=1": "unknown parameter foo",
        "&limit=6": "limit is given 2 times",
        "&session_id=a&session_id=b": "session_id is given 2 times",
        "&session_id=%ff": "not valid UTF-8",
        "&session_id=": "session_id is empty",
    }
    for extra, message in refused.items():
        r, answered = _through(client, app, url + extra)
        assert r.status_code == 400 and message in r.json()["message"] and not answered, (extra, r.text)
    _fresh(app)
    before = _answered(client)
    escaped = client.get(url + "&session_%69d=escaped")  # a name written with escapes: the route reads it
    assert escaped.status_code == 200 and escaped.json()["cached"] is True and _answered(client) == before
    other_order, answered = _through(client, app, "/api/products/MH01-Black/similar/?session_id=x&limit=5")
    assert other_order.status_code == 200 and answered  # the shopper's parameter may stand anywhere
    before = _answered(client)
    app.state.service.runtime.index_version.forget()  # the index version is due a read: only the route may
    assert client.get(url).status_code == 200 and _answered(client) == before


def test_a_strategy_a_rollback_removed_is_refused_by_the_route_not_served_from_memory(client, app, world):
    desk = ConfigWorkflow(world.runtime)
    live = desk.runtime.live.refresh()
    config = copy.deepcopy(live.config)
    config.strategies["hit-path"] = copy.deepcopy(config.strategies[config.default_strategy])
    desk.replace(config.validate(), "hit path test", "with a strategy of its own")
    desk.publish("hit path test", "with hit-path")
    url = "/api/products/MJ01-Red/similar/?limit=5&strategy=hit-path"
    try:
        app.state.service.runtime.live.refresh()
        assert client.get(url).status_code == 200
    finally:
        desk.rollback(live.number, "hit path test", "back")
    app.state.service.runtime.live.refresh()
    r, _ = _through(client, app, url)
    assert r.status_code == 400 and "unknown strategy 'hit-path'" in r.json()["message"], r.text


# Shopper values as a storefront might send them: printable text, spaces, NUL, controls, long runs, non-Latin.
SHOPPER_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=140)


@given(session=SHOPPER_TEXT, user=st.one_of(st.none(), SHOPPER_TEXT))
def test_any_shopper_value_gets_the_routes_answer_through_the_hit_path(client, app, world, session, user):
    url = "/api/recommendations/trending/?limit=3"
    query = f"&session_id={quote(session, safe='')}" + ("" if user is None else f"&user_id={quote(user, safe='')}")
    hits = app.state.hits
    hits.forget()
    route = client.get(url + query)
    assert client.get(url).status_code == 200  # remembered
    through, answered = _through(client, app, url + query)
    assert through.status_code == route.status_code
    if route.status_code == 200:
        assert answered
        assert through.json()["items"] == route.json()["items"]
        rows = _served(app, world, through.json()["request_id"])
        expected = _served(app, world, route.json()["request_id"])
        assert {r[1:3] for r in rows} == {r[1:3] for r in expected}  # the shopper as the route read it
    else:
        assert not answered and through.json()["message"] == route.json()["message"]
