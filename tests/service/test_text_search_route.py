"""Search by text over HTTP on the real Luma catalog: the list equals the facade's text search from the same
config, says what it read from the query and whether it is a good match, is recorded for the search insights
(language, attributes, no-good-match) with its impressions under the search's request id, so a click on a
result counts as a clicked search; bad parameters are refused with a 400 and record nothing."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from engine.catalog.events import EventRow, SearchRow
from engine.insights.events import utc_now
from engine.insights.searches import queries_without_clicks, top_queries
from engine.service.app import create_app
from test_personal import World, luma_world


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


@pytest.fixture(scope="module")
def client(world):
    with TestClient(create_app(replace(world.settings))) as c:
        yield c


def _searches(world: World, rid: str) -> list:
    with world.runtime.db.session() as s:
        return list(s.scalars(select(SearchRow).where(SearchRow.request_id == rid)))


def _served(world: World, rid: str, client) -> list:
    assert client.app.state.service.impressions.flush()
    with world.runtime.db.session() as s:
        return list(s.scalars(select(EventRow).where(EventRow.request_id == rid, EventRow.kind == "served")))


def test_a_text_search_is_the_facades_list_and_is_recorded(client, world):
    r = client.get("/api/recommendations/search/", params={"q": "black jacket", "limit": 6, "session_id": "s-text"})
    assert r.status_code == 200, r.text
    body = r.json()
    rec = client.app.state.service.recommender()
    expected = rec.text_search("black jacket", n=6, strategy=body["strategy"])
    assert [i["id"] for i in body["items"]] == [r.product.id for r in expected.items]
    assert body["algorithm"] == "search_text" and body["match"] == "good" and body["query"] == "black jacket"
    assert {(a["kind"], a["value"]) for a in body["attributes"]} >= {("colour", "black")}
    rows = _searches(world, body["request_id"])
    assert [(s.kind, s.query, s.results, s.no_good_match) for s in rows] == [("text", "black jacket", 6, False)]
    assert rows[0].attributes == {a["kind"]: a["value"] for a in body["attributes"]} and rows[0].attributes["colour"] == "black"
    served = _served(world, body["request_id"], client)
    assert sorted(e.position for e in served) == list(range(6)) and {e.algorithm for e in served} == {"search_text"}

    again = client.get("/api/recommendations/search/", params={"q": "black jacket", "limit": 6}).json()
    assert again["cached"] is True and [i["id"] for i in again["items"]] == [i["id"] for i in body["items"]]
    assert len(_searches(world, again["request_id"])) == 1  # a cached answer is still a search


def test_a_click_on_a_result_makes_the_search_clicked(client, world):
    today = utc_now().date()
    body = client.get("/api/recommendations/search/", params={"q": "yoga pant wz", "limit": 4,
                                                              "session_id": "s-click"}).json()
    assert client.app.state.service.impressions.flush()
    unclicked = queries_without_clicks(world.runtime.db, today, today)
    assert "yoga pant wz" in set(unclicked["query"])
    first = body["items"][0]
    r = client.post("/api/events/", json=[{"kind": "click", "session_id": "s-click", "sku": first["sku"],
                                            "request_id": body["request_id"], "position": 0}])
    assert r.status_code == 201, r.text
    top = top_queries(world.runtime.db, today, today).set_index("query")
    assert top.loc["yoga pant wz", "clicked"] >= 1
    assert "yoga pant wz" not in set(queries_without_clicks(world.runtime.db, today, today)["query"])


@pytest.mark.parametrize("q, lang, language", [("чёрная куртка", None, "ru"), ("siyah kadın ceket", None, "tr"),
                                               ("siyah ceket", "tr", "tr"), ("black jacket", None, None)])
def test_the_language_is_the_storefronts_else_told_by_the_letters(client, world, q, lang, language):
    params = {"q": q, "limit": 3, **({"lang": lang} if lang else {})}
    body = client.get("/api/recommendations/search/", params=params).json()
    assert [s.language for s in _searches(world, body["request_id"])] == [language]


def test_nonsense_is_a_loose_match_and_counts_as_a_failed_search(client, world):
    body = client.get("/api/recommendations/search/", params={"q": "zzqx vvpl", "limit": 5}).json()
    assert body["match"] == "loose"
    assert [s.no_good_match for s in _searches(world, body["request_id"])] == [True]


def test_a_chip_taken_off_is_not_read_from_the_query(client):
    full = client.get("/api/recommendations/search/", params={"q": "black jacket", "limit": 8}).json()
    without = client.get("/api/recommendations/search/", params={"q": "black jacket", "limit": 8,
                                                                 "ignore": "colour"}).json()
    assert "colour" in {a["kind"] for a in full["attributes"]}
    assert "colour" not in {a["kind"] for a in without["attributes"]}


@pytest.mark.parametrize("params, message", [
    ({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 5000}, "q"), ({"q": "jacket", "ignore": "size"}, "ignore takes"),
    ({"q": "jacket", "lang": "de"}, "lang"), ({"q": "jacket", "limit": "0"}, "limit"),
    ({"q": "a\x00b"}, "q"), ({"q": "   "}, "q")])
def test_bad_parameters_are_refused_and_record_nothing(client, world, params, message):
    with world.runtime.db.session() as s:
        before = s.scalar(select(func.count()).select_from(SearchRow))
    r = client.get("/api/recommendations/search/", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] and message in r.json()["message"]
    with world.runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(SearchRow)) == before
