"""The HTTP service on the real Luma catalog: every endpoint and every error code through Starlette's
TestClient, the generated OpenAPI document against the routes and the validation, rankings against the facade
built from the same exported config (the console's preview path), catalog photos served by URL, impressions,
the cache (in-process and Redis, killed mid-test), config reload, and one run of `python -m engine serve` over
loopback."""
from __future__ import annotations

import gc
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.routing import APIRoute
from sqlalchemy import func, select, update
from PIL import Image
from starlette.testclient import TestClient

from engine.cache import KEY_PREFIX, RecoCache, RedisCache
from engine.catalog.importers import import_generic
from engine.catalog.media import placeholder
from engine.catalog.models import Product
from engine.catalog.configs import ConfigVersionRow
from engine.merchandising.drafts import ConfigWorkflow
from engine.insights.events import utc_now
from engine.catalog.events import EventRow
from engine.runtime import shared
from engine.recommend.rules import Rule
from engine.service.app import MAX_EVENTS_PER_REQUEST, create_app
from engine.settings import Settings
from engine.types import Filters
from test_cache import RedisServer, free_port, require_redis_server
from test_personal import World, luma_world, personal_config

ROOT = Path(__file__).resolve().parents[2]
UPLOAD_LIMIT = 100_000  # bytes; the Luma photos are ~20-80 KB
SERVER_START_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


@pytest.fixture(scope="module")
def settings(world) -> Settings:
    return replace(world.settings, max_upload_bytes=UPLOAD_LIMIT)


@pytest.fixture(scope="module")
def desk(world) -> ConfigWorkflow:
    return ConfigWorkflow(world.runtime)


@pytest.fixture(scope="module")
def published(desk) -> int:
    """The service's config published as the live version; the world (shared with other modules) gets its
    previous live content back afterwards."""
    before = desk.runtime.live.refresh().number
    desk.replace(personal_config(), "service tests", "the service's config")
    number = desk.publish("service tests", "personal_config").version.number
    yield number
    desk.rollback(before, "service tests", "back to what the other modules expect")


@pytest.fixture(scope="module")
def app(settings, published):
    return create_app(settings)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def _ids(body: dict) -> list[int]:
    return [i["id"] for i in body["items"]]


def _get(client, url: str, status: int = 200, **kw) -> dict:
    r = client.get(url, **kw)
    assert r.status_code == status, r.text
    return r.json()


# ---------------------------------------------------------------- rankings: service == facade from the same file

SIMILAR_CASES = [
    ("similar", {}, dict(by="combined", n=12)),
    ("similar", {"limit": "8", "strategy": "relevance"}, dict(by="combined", n=8, strategy="relevance")),
    ("similar", {"limit": "10", "color": "black,blue", "price_max": "60", "category": "Men/Tops"},
     dict(by="combined", n=10, filters=("Men/Tops", 60.0, ["black", "blue"]))),
    ("similar", {"exclude_same_brand": "true", "exclude_same_style": "1", "strategy": "upsell"},
     dict(by="combined", n=12, strategy="upsell", exclude_same_brand=True, exclude_same_style=True)),
    ("visually_similar", {"limit": "6"}, dict(by="image", n=6)),
]


def test_rankings_equal_the_facade_built_from_the_same_config(client, settings, published):
    # The world is shared with other modules that log events: start from a fresh popularity snapshot, as the
    # recommender started from the file below does (snapshots are otherwise reused for up to a minute).
    shared(settings).recommender().invalidate()
    served = [_get(client, f"/api/products/MJ01-Red/{path}/", params=params) for path, params, _ in SIMILAR_CASES]
    rec = shared(settings).recommender(personal_config())  # what the console previews a draft with
    for body, (_, _, call) in zip(served, SIMILAR_CASES):
        call = dict(call)
        if "filters" in call:
            path, price_max, colours = call.pop("filters")
            call["filters"] = Filters(category_ids=[rec.catalog.category(path).id], price_max=price_max,
                                      colours=colours)
        expected = rec.similar("MJ01-Red", **call)
        assert _ids(body) == [r.product.id for r in expected]
        assert [i["score"] for i in body["items"]] == pytest.approx([r.score for r in expected], abs=1e-12)
        assert [i["reasons"] for i in body["items"]] == [r.reasons for r in expected]
        assert body["config_version"] == published and body["cached"] is False
    again = _get(client, "/api/products/MJ01-Red/similar/")
    assert _ids(again) == _ids(served[0]) and again["cached"] is True


# ---------------------------------------------------------------- the document

def _refs(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _photo_path(world) -> str:
    """A Luma photo's path under the catalog folder, as the /media/ route takes it."""
    root = Path(world.settings.catalog_dir).resolve()
    return Path(world.card("MJ01-Red").image).relative_to(root).as_posix()


def test_openapi_is_generated_for_every_route_and_refuses_what_it_does_not_list(client, app, world):
    doc = _get(client, "/openapi.json")
    assert doc["openapi"] == "3.1.0"
    api = {(r.path_format, m.lower()) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert api == documented and len(api) == 15
    # the document itself, the storefront widget's script and the demo shop's mount
    assert {r.path for r in app.routes if not isinstance(r, APIRoute)} == {"/openapi.json", "/widget.js", "/shop"}
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            names = sorted(p["name"] for p in op.get("parameters", []) if p["in"] == "query")
            url = (path.replace("{id}", "MJ01-Red").replace("{user_id}", "u-doc").replace("{product}", "MJ01-Red")
                   .replace("{path}", _photo_path(world)))
            r = client.request(method.upper(), url, params={"bogus": "1"})
            assert r.status_code == 400, (method, path, r.text)
            message = r.json()["message"]
            assert message.startswith("unknown parameter bogus (allowed: ")
            allowed = message.split("(allowed: ")[1].rstrip(")")
            assert allowed == (", ".join(names) or "none"), (method, path)
            for p in op.get("parameters", []):
                assert p["description"] and p["schema"], (path, p["name"])
                if p["in"] == "path":
                    assert "{" + p["name"] + "}" in path and p["required"]
            assert set(op["responses"]) <= {"200", "201", "400", "404", "413", "503"}, (method, path)  # no 422
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")) and not (path == "/health" and code == "503"):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


# What each route accepts, as the hand-written service documented it before the move to FastAPI: the generated
# document must list every one of them, and no other.
QUERY_PARAMETERS = {
    **{("get", f"/api/products/{{id}}/{kind}/"): {
        "limit", "strategy", "exclude_same_brand", "exclude_same_style", "category", "price_min", "price_max",
        "color", "in_stock", "session_id", "user_id"} for kind in ("similar", "visually_similar")},
    ("post", "/api/recommendations/search_by_image/"): {
        "limit", "strategy", "category", "price_min", "price_max", "color", "in_stock", "session_id", "user_id"},
    ("get", "/api/recommendations/search/"): {
        "q", "lang", "ignore", "limit", "strategy", "category", "price_min", "price_max", "color", "in_stock",
        "session_id", "user_id"},
    ("get", "/api/recommendations/personalized/"): {
        "user_id", "limit", "not_like", "category", "price_min", "price_max", "color", "in_stock", "session_id"},
    ("get", "/api/recommendations/complete_the_look/"): {
        "product_id", "per_relation", "price_min", "price_max", "color", "in_stock", "session_id", "user_id"},
    ("get", "/api/recommendations/trending/"): {
        "limit", "category", "price_min", "price_max", "color", "in_stock", "session_id", "user_id"},
    ("get", "/api/recommendations/frequently_bought_together/"): {
        "product_id", "limit", "min_support", "min_confidence", "min_lift", "category", "price_min", "price_max",
        "color", "in_stock", "session_id", "user_id"},
    ("post", "/api/events/"): set(),
    ("get", "/api/users/{user_id}/not_like/"): set(),
    ("post", "/api/users/{user_id}/not_like/"): set(),
    ("delete", "/api/users/{user_id}/not_like/{product}/"): set(),
    ("get", "/health"): set(),
    ("get", "/media/{path}"): set(),
    ("get", "/photos/{folder}/{path}"): set(),
}
LIST_PARAMETERS = {"color", "not_like", "ignore"}


def _bounds(schema: dict) -> dict:
    """The schema of a parameter's value, whether or not it may be absent (anyOf [..., null])."""
    return next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)


def test_the_generated_openapi_lists_every_query_parameter_of_every_route(client, app):
    doc = app.openapi()
    listed = {(method, path): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
              for path, ops in doc["paths"].items() for method, op in ops.items()}
    assert listed == QUERY_PARAMETERS
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for p in (p for p in op.get("parameters", []) if p["in"] == "query"):
                value = _bounds(p["schema"])
                assert (value.get("type") == "array") == (p["name"] in LIST_PARAMETERS), (path, p["name"])
                if "minimum" in value:  # the documented bounds are the enforced ones
                    url = path.replace("{id}", "MJ01-Red")
                    params = {k: v for k, v in (("product_id", "MJ01-Red"), ("q", "jacket"))
                              if k in listed[(method, path)]}
                    upload = {"files": {"image": ("a.jpg", b"x", "image/jpeg")}} if method == "post" else {}
                    r = client.request(method.upper(), url, params={**params, p["name"]: value["minimum"] - 1},
                                       **upload)
                    assert r.status_code == 400 and r.json()["message"].startswith(f"{p['name']} must be at least"), \
                        (path, p["name"], r.text)
    limit = _bounds(next(p for p in doc["paths"]["/api/recommendations/trending/"]["get"]["parameters"]
                         if p["name"] == "limit")["schema"])
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, app.state.service.settings.max_results, 12)


# ---------------------------------------------------------------- endpoints

def _assert_list(body: dict, algorithm: str) -> None:
    assert set(body) >= {"items", "algorithm", "strategy", "config_version", "cached", "request_id"}
    assert body["algorithm"] == algorithm and isinstance(body["config_version"], int)
    assert [i["rank"] for i in body["items"]] == list(range(1, len(body["items"]) + 1))
    for item in body["items"]:
        assert set(item) >= {"id", "sku", "title", "price", "colour", "category", "image", "score", "reasons", "rank"}


def test_visually_similar_uses_the_photo_vectors(client):
    body = _get(client, "/api/products/MJ01-Red/visually_similar/", params={"limit": 5, "color": "red"})
    _assert_list(body, "vector_image")
    assert len(body["items"]) == 5 and all(i["vector"] == "image" and i["colour"] == "red" for i in body["items"])
    by_id = _get(client, f"/api/products/{body['items'][0]['id']}/visually_similar/", params={"limit": 3})
    assert by_id["items"]  # a numeric id works as well as a sku


def test_search_by_image_finds_the_photographed_product(client, world):
    card = world.card("MJ01-Red")
    photo = Path(card.image).read_bytes()
    r = client.post("/api/recommendations/search_by_image/", params={"limit": 3, "strategy": "relevance"},
                    files={"image": ("jacket.jpg", photo, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    _assert_list(body, "search_image")
    assert body["items"][0]["id"] == card.id and body["items"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    again = client.post("/api/recommendations/search_by_image/", params={"limit": 3, "strategy": "relevance"},
                        files={"image": ("other-name.jpg", photo, "image/jpeg")})
    assert again.json()["cached"] is True and _ids(again.json()) == _ids(body)


def test_complete_the_look_and_trending(client, app):
    rec = app.state.service.recommender()
    look = _get(client, "/api/recommendations/complete_the_look/", params={"product_id": "MJ01-Red"})
    _assert_list(look, "complete_the_look")
    assert _ids(look) == [r.product.id for r in rec.complete_the_look("MJ01-Red")]
    assert all(i["relation"] for i in look["items"])
    one = _get(client, "/api/recommendations/complete_the_look/", params={"product_id": "MJ01-Red", "per_relation": 1})
    assert len(one["items"]) <= len(look["items"])

    sold = [("MS12-Red", 4), ("24-MB04", 3), ("24-WG088", 2)]
    bought = [{"kind": "purchase", "session_id": f"trend-{sku}-{i}", "sku": sku} for sku, k in sold for i in range(k)]
    assert client.post("/api/events/", json=bought).status_code == 201
    trending = _get(client, "/api/recommendations/trending/", params={"limit": 5})
    _assert_list(trending, "trending")
    assert _ids(trending) == [r.product.id for r in rec.trending(5)]
    gear = rec.catalog.category("Gear")
    in_gear = _get(client, "/api/recommendations/trending/", params={"limit": 5, "category": "Gear"})
    assert _ids(in_gear) == [r.product.id for r in rec.trending(5, filters=Filters(category_ids=[gear.id]))]
    assert {rec.catalog.get("24-MB04").id, rec.catalog.get("24-WG088").id} <= set(_ids(in_gear))
    assert rec.catalog.get("MS12-Red").id in set(_ids(trending)) - set(_ids(in_gear))
    assert _ids(in_gear) == _ids(_get(client, "/api/recommendations/trending/",
                                      params={"limit": 5, "category": str(gear.id)}))


def test_events_personalised_and_bought_together(client, world):
    user, session = "api-user-1", "api-s-1"
    events = [{"kind": "purchase", "session_id": session, "sku": "MT08-Green", "user_id": user},
              {"kind": "cart_add", "session_id": session, "sku": "MSH02-Black", "user_id": user},
              {"kind": "click", "session_id": session, "product_id": world.card("MS04-Red").id, "user_id": user,
               "ts": (utc_now() - timedelta(hours=1)).isoformat() + "Z", "score": 0.8}]
    r = client.post("/api/events/", json=events)
    assert r.status_code == 201 and r.json()["inserted"] == 3

    body = _get(client, "/api/recommendations/personalized/", params={"user_id": user, "limit": 8})
    _assert_list(body, "personalised")
    assert body["served"] == "personalised" and "3 recent interactions" in body["reason"]
    assert body["profile"]["events"] == 3 and body["cached"] is False
    seen = {world.card(s).id for s in ("MT08-Green", "MSH02-Black", "MS04-Red")}
    assert not seen & set(_ids(body))
    first = body["items"][0]["id"]
    moved = _get(client, "/api/recommendations/personalized/",
                 params={"user_id": user, "limit": 8, "not_like": str(first)})
    assert first not in _ids(moved) and "not like this" in moved["reason"]

    r = client.post(f"/api/users/{user}/not_like/", json={"product_id": first})
    assert r.status_code == 201 and r.json()["not_like"] == [first]
    assert first not in _ids(_get(client, "/api/recommendations/personalized/", params={"user_id": user, "limit": 8}))
    assert _get(client, f"/api/users/{user}/not_like/")["not_like"] == [first]
    assert client.delete(f"/api/users/{user}/not_like/{first}/").json()["not_like"] == []

    anonymous = _get(client, "/api/recommendations/personalized/", params={"limit": 4})
    _assert_list(anonymous, "trending")
    assert anonymous["served"] == "trending (cold start)" and anonymous["profile"] is None

    baskets = [{"kind": "purchase", "session_id": f"api-fbt-{i}", "sku": sku}
               for i in range(3) for sku in ("MT08-Green", "24-WG03")]
    assert client.post("/api/events/", json=baskets).json()["inserted"] == 6
    fbt = _get(client, "/api/recommendations/frequently_bought_together/", params={"product_id": "MT08-Green",
                                                                                   "limit": 3})
    _assert_list(fbt, "fbt")
    assert fbt["items"][0]["sku"] == "24-WG03" and fbt["source"] == "co-purchases + complete the look"
    assert fbt["baskets"] == 4  # three baskets here and api-s-1
    thin = _get(client, "/api/recommendations/frequently_bought_together/",
                params={"product_id": "MT08-Green", "limit": 3, "min_support": 10})
    assert thin["source"] == "complete the look (too little purchase data)"


def test_every_served_list_is_logged_as_served_rows_in_one_batch(client, app, world):
    session, rid = "impressions-s-1", "req-impressions-1"
    body = _get(client, "/api/products/MH01-Black/similar/", params={"limit": 6, "session_id": session,
                                                                     "user_id": "imp-u"},
                headers={"X-Request-Id": rid})
    assert body["request_id"] == rid
    cached = _get(client, "/api/products/MH01-Black/similar/", params={"limit": 6, "session_id": session,
                                                                       "user_id": "imp-u"})
    assert cached["cached"] is True and cached["request_id"] != rid
    assert app.state.service.impressions.flush()  # written by the service's writer thread, off the request path
    with world.runtime.db.session() as s:
        rows = list(s.scalars(select(EventRow).where(EventRow.session_id == session).order_by(EventRow.id)))
    assert len(rows) == 12 and {r.kind for r in rows} == {"served"}
    first = rows[:6]
    assert [r.product_id for r in first] == _ids(body) and [r.position for r in first] == list(range(6))
    assert [r.score for r in first] == pytest.approx([i["score"] for i in body["items"]])
    assert {(r.algorithm, r.strategy, r.user_id, r.source_product_id, r.request_id) for r in first} == \
        {("vector_combined", "balanced", "imp-u", world.card("MH01-Black").id, rid)}
    assert len({r.ts for r in first}) == 1  # one batch, one time
    assert {r.request_id for r in rows[6:]} == {cached["request_id"]}
    assert {r.config_version for r in rows} == {body["config_version"]} == {cached["config_version"]}


def test_the_service_reads_every_card_ahead_and_health_shows_it(settings, published, world):
    world.runtime.cards.clear()  # shared by every app of this location: what an earlier test read does not count
    gc.unfreeze()  # an earlier app of this process froze its heap
    with TestClient(create_app(settings)) as fresh:
        deadline = time.monotonic() + 60
        while (cards := _get(fresh, "/health")["cards"])["warming"] and time.monotonic() < deadline:
            time.sleep(0.1)
        fresh.app.state.service.warmer.join(60)  # it settles the heap after the cards are read
    assert cards["warming"] is False and cards["cached"] >= len(world.runtime.catalog.ids(active_only=True))
    # the cards read ahead are out of the full collections' walk (each a stall of every request at 100k)
    assert gc.get_freeze_count() >= cards["cached"]


def test_events_carry_the_config_version_they_were_served_under(client, world):
    serving = _get(client, "/health")["config_version"]
    r = client.post("/api/events/", json=[{"kind": "click", "session_id": "cv-s", "sku": "MJ01-Red"},
                                          {"kind": "click", "session_id": "cv-s", "sku": "MJ01-Red",
                                           "config_version": 1}])
    assert r.status_code == 201
    with world.runtime.db.session() as s:
        versions = list(s.scalars(select(EventRow.config_version).where(EventRow.session_id == "cv-s")
                                  .order_by(EventRow.id)))
    assert versions == [serving, 1]  # left out: the version served now; given: the list's own
    for bad in (0, "2", 2.5):
        r = client.post("/api/events/", json={"kind": "click", "session_id": "cv-s", "sku": "MJ01-Red",
                                              "config_version": bad})
        assert r.status_code == 400 and "config_version" in r.json()["message"], r.text


@pytest.mark.parametrize("path, params, algorithm", [
    ("/api/products/MJ01-Red/visually_similar/", {}, "vector_image"),
    ("/api/recommendations/complete_the_look/", {"product_id": "MJ01-Red"}, "complete_the_look"),
    ("/api/recommendations/trending/", {}, "trending"),
    ("/api/recommendations/frequently_bought_together/", {"product_id": "MJ01-Red"}, "fbt"),
    ("/api/recommendations/personalized/", {"user_id": "imp-user"}, "personalised"),
])
def test_each_list_endpoint_logs_impressions(client, app, world, path, params, algorithm):
    session = f"imp-{algorithm}"
    client.post("/api/events/", json={"kind": "purchase", "session_id": "imp-buy", "sku": "MJ02-Red",
                                      "user_id": "imp-user"})  # so the personalised list is personalised
    body = _get(client, path, params={**params, "session_id": session})
    assert body["items"] and app.state.service.impressions.flush()
    with world.runtime.db.session() as s:
        rows = list(s.scalars(select(EventRow).where(EventRow.session_id == session).order_by(EventRow.id)))
    assert [(r.product_id, r.position, r.algorithm) for r in rows] == \
        [(i["id"], n, algorithm) for n, i in enumerate(body["items"])]


@pytest.mark.parametrize("route_path, path, params", [
    ("/api/products/{id}/similar/", "/api/products/MJ01-Red/similar/", {"category": "Men/Tops/Jackets", "limit": 7}),
    ("/api/products/{id}/visually_similar/", "/api/products/MJ01-Red/visually_similar/", {"limit": 7}),
    ("/api/recommendations/complete_the_look/", "/api/recommendations/complete_the_look/",
     {"product_id": "MJ01-Red", "per_relation": 1}),
    ("/api/recommendations/trending/", "/api/recommendations/trending/", {"limit": 7}),
    ("/api/recommendations/frequently_bought_together/", "/api/recommendations/frequently_bought_together/",
     {"product_id": "MJ01-Red", "limit": 7}),
    ("/api/recommendations/personalized/", "/api/recommendations/personalized/", {"user_id": "imp-user"}),
])
def test_list_bodies_match_their_declared_models_computed_and_cached(client, app, route_path, path, params):
    """The lists are written as JSON directly (no response-model pass): both the computed body and the cached
    one must still be exactly what the OpenAPI document declares, and a hit must equal the computation."""
    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == route_path)
    app.state.service.cache.clear()  # computed first, whatever the tests before asked
    first, again = _get(client, path, params=params), _get(client, path, params=params)
    for body in (first, again):
        assert route.response_model.model_validate(body).model_dump(mode="json") == body
    cacheable = "personalized" not in path
    assert again["cached"] is cacheable and first["cached"] is False
    strip = lambda b: {k: v for k, v in b.items() if k not in ("cached", "request_id")}  # noqa: E731
    assert strip(first) == strip(again)


def test_cache_hits_are_answered_on_the_event_loop_only_when_nothing_blocks(client, app, settings, tmp_path):
    service = app.state.service
    _get(client, "/api/products/MJ01-Red/similar/", params={"category": "Men/Tops/Jackets"})
    service.current()  # the live version was just read: it is not due another read for a second
    assert service.answers_inline() and service.answers_inline("Men/Tops/Jackets")
    assert not service.answers_inline("No/Such/Category")  # the map is read again: in the thread pool
    service.runtime.index_version.forget()
    assert not service.answers_inline()  # the index version is due a database read
    no_cache = create_app(replace(settings, cache_ttl=0)).state.service
    assert not no_cache.answers_inline()


def test_events_endpoint_validates_and_deduplicates(client, world):
    one = {"kind": "click", "session_id": "ev-s", "sku": "MJ01-Red", "event_id": "ev-1"}
    r = client.post("/api/events/", json=one)
    assert r.status_code == 201 and (r.json()["received"], r.json()["inserted"], r.json()["duplicates"]) == (1, 1, 0)
    r = client.post("/api/events/", json=[one, {**one, "event_id": "ev-2"}])
    assert r.status_code == 201 and (r.json()["inserted"], r.json()["duplicates"]) == (1, 1)  # ev-1 again: skipped
    with world.runtime.db.session() as s:
        rows = list(s.scalars(select(EventRow).where(EventRow.session_id == "ev-s").order_by(EventRow.id)))
    assert [(r.external_id, r.kind, r.product_id) for r in rows] == [
        ("api:ev-1", "click", world.card("MJ01-Red").id), ("api:ev-2", "click", world.card("MJ01-Red").id)]


# ---------------------------------------------------------------- photos

def test_item_images_are_urls_that_serve_the_photo(client, world):
    body = _get(client, "/api/products/MJ01-Red/similar/", params={"limit": 3})
    assert len(body["items"]) == 3
    for item in body["items"]:
        assert item["image"].startswith("http://testserver/media/"), item["image"]
        r = client.get(item["image"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        served, original = Image.open(io.BytesIO(r.content)), Image.open(world.card(item["sku"]).image)
        assert served.width <= 400 and served.height <= 496  # the engine's photo: decoded, at most 400x496
        assert abs(served.width / served.height - original.width / original.height) < 0.01
    # the catalog folder holds more than photos, and nothing outside it is reachable
    assert (Path(world.settings.catalog_dir) / "README.md").is_file()
    for url in ("/media/README.md", "/media/media/no-such-photo.jpg"):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["error"] == "NotFound", url
    for url in ("/media/%2e%2e/%2e%2e/etc/passwd", "/media/media/..%2F..%2FREADME.md", "/media//etc/passwd",
                "/media/%2Fetc%2Fhostname", f"/media/{_photo_path(world)}/%2e%2e/%2e%2e/README.md"):
        r = client.get(url)
        assert r.status_code == 400 and r.json()["error"] == "ValidationError", (url, r.text)
        assert r.json()["request_id"]


def test_photo_urls_follow_where_the_photo_is(tmp_path, world):
    """An http(s) image is passed through, a photo under the catalog folder gets a /media/ URL, a photo
    elsewhere gets none; a link from the folder to elsewhere is refused like `..`."""
    catalog, elsewhere = tmp_path / "catalog", tmp_path / "elsewhere"
    (catalog / "photos").mkdir(parents=True)
    elsewhere.mkdir()
    photo = Path(world.card("MJ01-Red").image).read_bytes()
    (catalog / "photos" / "tee.jpg").write_bytes(photo)
    (elsewhere / "secret.jpg").write_bytes(photo)
    (catalog / "photos" / "escape.jpg").symlink_to(elsewhere / "secret.jpg")
    (catalog / "products.csv").write_text(
        "sku,title,price,images\nTEE-1,Red tee,10,photos/tee.jpg\nCAP-1,Cap,5,https://cdn.example.com/cap.jpg\n"
        f"BAG-1,Bag,30,{elsewhere / 'secret.jpg'}\n", encoding="utf-8")
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = tmp_path / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.catalog_dir = "descriptor", "use", catalog
    assert import_generic(shared(s).db, catalog / "products.csv").created == 3
    with TestClient(create_app(s)) as c:
        bought = [{"kind": "purchase", "session_id": f"photo-{sku}", "sku": sku} for sku in ("TEE-1", "CAP-1", "BAG-1")]
        assert c.post("/api/events/", json=bought).status_code == 201
        images = {i["sku"]: i["image"] for i in _get(c, "/api/recommendations/trending/")["items"]}
        assert images == {"TEE-1": "http://testserver/media/photos/tee.jpg", "CAP-1": "https://cdn.example.com/cap.jpg",
                          "BAG-1": None}
        r = c.get(images["TEE-1"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        served, original = Image.open(io.BytesIO(r.content)), Image.open(io.BytesIO(photo))
        assert served.width <= 400 and abs(served.width / served.height - original.width / original.height) < 0.01
        (catalog / "photos" / "cut.jpg").write_bytes(photo[: len(photo) // 2])
        assert c.get("/media/photos/cut.jpg").content == placeholder()  # a photo that fails: the placeholder
        for url in ("/media/photos/escape.jpg", "/media/%2e%2e/elsewhere/secret.jpg",
                    f"/media/{elsewhere / 'secret.jpg'}", f"/media/photos/{elsewhere / 'secret.jpg'}"):
            r = c.get(url)
            assert r.status_code in (400, 404) and r.json()["error"] in ("ValidationError", "NotFound"), url
            assert r.content != photo
        assert c.get("/media/photos/escape.jpg").json()["message"].endswith("leads outside the catalog folder")
        assert c.get("/media/products.csv").status_code == 404


# ---------------------------------------------------------------- error codes

BAD_PARAMS = [
    ("/api/products/MJ01-Red/similar/?limit=0", "limit must be at least 1"),
    ("/api/products/MJ01-Red/similar/?limit=100000", "limit must be at most"),
    ("/api/products/MJ01-Red/similar/?limit=ten", "limit must be a whole number"),
    ("/api/products/MJ01-Red/similar/?limit=3&limit=4", "limit is given 2 times"),
    ("/api/products/MJ01-Red/similar/?strategy=cheapest", "unknown strategy 'cheapest'"),
    ("/api/products/MJ01-Red/similar/?category=Nowhere/Else", "unknown category"),
    ("/api/products/MJ01-Red/similar/?price_min=50&price_max=10", "price range is inverted"),
    ("/api/products/MJ01-Red/similar/?price_min=-1", "price_min must be at least 0"),
    ("/api/products/MJ01-Red/similar/?price_max=nan", "price_max must be a finite number"),
    ("/api/products/MJ01-Red/similar/?exclude_same_brand=maybe", "exclude_same_brand must be true or false"),
    ("/api/products/MJ01-Red/similar/?color=red,,blue", "color has an empty value"),
    ("/api/products/MJ01-Red/visually_similar/?session_id=" + "s" * 129, "at most 128 characters"),
    ("/api/recommendations/complete_the_look/", "product_id is required"),
    ("/api/recommendations/complete_the_look/?product_id=MJ01-Red&per_relation=0", "per_relation must be at least"),
    ("/api/recommendations/trending/?category=Nowhere", "unknown category"),
    ("/api/recommendations/frequently_bought_together/?product_id=MJ01-Red&min_confidence=2",
     "min_confidence must be at most 1"),
    ("/api/recommendations/personalized/?user_id=" + "u" * 129, "at most 128 characters"),
    ("/api/recommendations/personalized/?not_like=" + ",".join(["1"] * 51), "the limit is 50"),
]


@pytest.mark.parametrize("url, message", BAD_PARAMS)
def test_bad_parameters_are_400(client, url, message):
    body = _get(client, url, status=400)
    assert body["error"] == "ValidationError" and message in body["message"], body
    assert body["request_id"]


@pytest.mark.parametrize("method, url, kw", [
    ("GET", "/api/products/NO-SUCH-SKU/similar/", {}),
    ("GET", "/api/products/999999/visually_similar/", {}),
    ("GET", "/api/recommendations/complete_the_look/?product_id=NO-SUCH-SKU", {}),
    ("GET", "/api/recommendations/frequently_bought_together/?product_id=NO-SUCH-SKU", {}),
    ("GET", "/api/recommendations/personalized/?user_id=u&not_like=NO-SUCH-SKU", {}),
    ("POST", "/api/events/", {"json": {"kind": "click", "session_id": "s", "sku": "NO-SUCH-SKU"}}),
    ("POST", "/api/users/u/not_like/", {"json": {"product_id": "NO-SUCH-SKU"}}),
    ("DELETE", "/api/users/u/not_like/MJ01-Red/", {}),
    ("GET", "/api/no/such/route/", {}),
])
def test_unknown_products_are_404(client, method, url, kw):
    r = client.request(method, url, **kw)
    assert r.status_code == 404, r.text
    assert r.json()["message"]


@pytest.mark.parametrize("body, message", [
    ({"kind": "click", "session_id": "s", "sku": "MJ01-Red", "colour": "red"}, "unknown field colour"),
    ({"kind": "click", "sku": "MJ01-Red"}, "session_id must be a non-empty string"),
    ({"kind": "like", "session_id": "s", "sku": "MJ01-Red"}, "kind must be one of"),
    ({"kind": "click", "session_id": "s", "sku": "MJ01-Red", "product_id": 1}, "exactly one"),
    ({"kind": "click", "session_id": "s", "product_id": "12"}, "product_id must be a whole number"),
    ({"kind": "click", "session_id": "s", "product_id": 1, "ts": "2999-01-01T00:00:00Z"}, "in the future"),
    ({"kind": "click", "session_id": "s", "product_id": 1, "ts": "yesterday"}, "not ISO 8601"),
    ({"kind": "click", "session_id": "s", "product_id": 1, "position": -1}, "position must be at least 0"),
    ([], "empty list"),
    ([{"kind": "click", "session_id": "s", "product_id": 1}, 5], "event 1: expected a JSON object"),
])
def test_bad_events_are_400_and_write_nothing(client, world, body, message):
    before = _event_count(world)
    r = client.post("/api/events/", json=body)
    assert r.status_code == 400 and message in r.json()["message"], r.text
    assert _event_count(world) == before


def _event_count(world) -> int:
    with world.runtime.db.session() as s:
        return s.scalar(select(func.count()).select_from(EventRow))


def test_malformed_bodies_are_400(client):
    assert client.post("/api/events/", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.post("/api/users/u/not_like/", json={"product": 1}).status_code == 400
    r = client.post("/api/recommendations/search_by_image/", json={"image": "x"})
    assert r.status_code == 400 and "multipart" in r.json()["message"]
    r = client.post("/api/recommendations/search_by_image/", files={"photo": ("a.jpg", b"123", "image/jpeg")})
    assert r.status_code == 400 and "photo" in r.json()["message"]
    r = client.post("/api/recommendations/search_by_image/", files={"image": ("a.pdf", b"%PDF-1.4 x", "image/jpeg")})
    assert r.status_code == 400 and "PDF" in r.json()["message"]


def test_oversized_bodies_are_413(client):
    r = client.post("/api/recommendations/search_by_image/",
                    files={"image": ("big.jpg", os.urandom(UPLOAD_LIMIT + 1), "image/jpeg")})
    assert r.status_code == 413 and str(UPLOAD_LIMIT) in r.json()["message"]
    r = client.post("/api/recommendations/search_by_image/", content=b"x" * 10,
                    headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(10 ** 9)})
    assert r.status_code == 413
    many = [{"kind": "click", "session_id": "s", "product_id": 1}] * (MAX_EVENTS_PER_REQUEST + 1)
    assert client.post("/api/events/", json=many).status_code == 413
    huge = json.dumps({"kind": "click", "session_id": "s", "product_id": 1, "query": "q" * (2 << 20)})
    assert client.post("/api/events/", content=huge, headers={"content-type": "application/json"}).status_code == 413


def test_503_without_an_index(tmp_path):
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = tmp_path / "data", "", "", ""
    s.image_encoder, s.text_encoder = "descriptor", "use"
    (tmp_path / "products.csv").write_text("sku,title,price\nTEE-1,Red tee,10\n", encoding="utf-8")
    import_generic(shared(s).db, tmp_path / "products.csv")  # a catalog, but nothing indexed yet
    with TestClient(create_app(s)) as c:
        r = c.get("/api/products/TEE-1/similar/")
        assert r.status_code == 503 and "index" in r.json()["message"]
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"


# ---------------------------------------------------------------- cache and config reload

def test_cache_is_invalidated_by_a_reindex(client, world):
    url = "/api/products/24-WG086/similar/"
    assert _get(client, url)["cached"] is False
    assert _get(client, url)["cached"] is True
    with world.runtime.db.session() as s:
        s.execute(update(Product).where(Product.sku == "24-WG087").values(price=22.0, updated_at=utc_now()))
    assert world.indexer().run().candidates == 1
    time.sleep(1.05)  # the index version is read at most once a second
    assert _get(client, url)["cached"] is False


def test_a_publish_is_served_within_a_second_and_a_rollback_restores(client, desk, published, world, caplog):
    url = "/api/products/MJ01-Red/similar/"
    before = _get(client, url, params={"limit": 5})
    assert before["config_version"] == published
    assert _get(client, "/health")["config_version"] == published
    pinned = world.card("24-MB05").id  # a bag: never among a jacket's nearest
    desk.edit(lambda c: replace(c, rules=[Rule("bag-first", "pin", pinned, slot=1)]), "service tests", "pin a bag")
    new = desk.publish("service tests", "bag first").version.number
    started = time.monotonic()
    while (after := _get(client, url, params={"limit": 5}))["config_version"] != new:
        assert time.monotonic() - started < 5, "the service did not take the new version"
        time.sleep(0.1)
    assert after["cached"] is False and _ids(after)[0] == pinned != _ids(before)[0]
    r = client.get("/api/recommendations/trending/")
    assert r.headers["x-config-version"] == str(new) and r.json()["config_version"] == new

    # A version this release cannot read (written by a newer one) is refused once, and the old one serves on.
    caplog.set_level(logging.ERROR, logger="engine.recommend.versions")
    with world.runtime.db.session() as s:
        s.add(ConfigVersionRow(number=new + 1, schema_version=99, document='{"schema_version": 99}',
                               fingerprint="f" * 64, author="a newer release", previous=new))
    time.sleep(1.05)
    still = _get(client, url, params={"limit": 5})
    assert still["config_version"] == new and _ids(still) == _ids(after)
    assert "cannot be read" in _get(client, "/health")["config_error"]
    _get(client, url, params={"limit": 5})
    assert len([r for r in caplog.records if "cannot be read" in r.getMessage()]) == 1  # once, not per request

    back = desk.rollback(published, "service tests").version.number
    time.sleep(1.05)
    restored = _get(client, url, params={"limit": 5})
    assert restored["config_version"] == back and _ids(restored) == _ids(before)
    assert _get(client, "/health")["config_error"] is None


def test_redis_cache_dying_mid_run_is_no_error(settings, published, tmp_path, caplog):
    require_redis_server()
    server = RedisServer(tmp_path / "redis").start()
    try:
        with TestClient(create_app(replace(settings, redis_url=server.url))) as c:
            url = "/api/products/MS04-Red/similar/"
            assert _get(c, url)["cached"] is False
            assert _get(c, url)["cached"] is True  # from Redis
            assert _get(c, "/health")["cache"]["backend"] == "redis"
            caplog.set_level(logging.WARNING, logger="engine.cache")
            server.stop()
            for _ in range(3):
                body = _get(c, url)
                assert body["cached"] is False and body["items"]
            warnings = [r for r in caplog.records if r.name == "engine.cache" and r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert _get(c, "/health")["cache"]["up"] is False
    finally:
        server.stop()


def test_redis_cache_hits_are_answered_on_the_event_loop_from_entries_the_library_reads_and_writes(
        settings, published, tmp_path):
    """With REDIS_URL the route looks the list up on its event loop (redis.asyncio): a hit is `cached: true`
    without the thread pool, under a key of the documented format, in an entry the blocking client of the CLI
    and library reads; an entry that client writes under that key is what the service then serves."""
    require_redis_server()
    server = RedisServer(tmp_path / "redis").start()
    try:
        with TestClient(create_app(replace(settings, redis_url=server.url))) as c:
            service = c.app.state.service
            url, params = "/api/products/MS04-Red/similar/", {"limit": 6}
            first = _get(c, url, params=params)
            assert first["cached"] is False
            hits = service.cache.stats["hits"]
            again = _get(c, url, params=params)
            assert again["cached"] is True and _ids(again) == _ids(first)
            assert service.cache.stats["hits"] == hits + 1
            assert service.answers_inline()  # a Redis lookup no longer needs the thread pool
            keys = [k.decode() for k in redis.Redis.from_url(server.url).keys("*")]
            prefix = f"{KEY_PREFIX}:{service.current().fingerprint[:16]}:{service.index_version()}:similar-combined:"
            assert len(keys) == 1 and keys[0].startswith(prefix) and re.fullmatch(r"[0-9a-f]{32}",
                                                                                   keys[0][len(prefix):])
            library = RecoCache(RedisCache(server.url, ttl=300))  # the blocking client the CLI uses
            entry = library.get_list(keys[0])
            assert entry is not None and [it["id"] for it in entry.items] == _ids(first)
            entry.items.reverse()
            library.put_list(keys[0], entry)
            swapped = _get(c, url, params=params)
            assert swapped["cached"] is True and _ids(swapped) == _ids(first)[::-1]
    finally:
        server.stop()


def test_an_unreachable_redis_is_computed_around_on_every_route(settings, published):
    """A REDIS_URL nobody answers on: every list is computed (no 5xx), /health says the cache is down."""
    with TestClient(create_app(replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"))) as c:
        for path, params in [("/api/products/MS04-Red/similar/", {"limit": 4}),
                             ("/api/products/MS04-Red/visually_similar/", {"limit": 4}),
                             ("/api/recommendations/trending/", {}),
                             ("/api/recommendations/complete_the_look/", {"product_id": "MS04-Red"}),
                             ("/api/recommendations/frequently_bought_together/", {"product_id": "MS04-Red"})]:
            for _ in range(2):
                body = _get(c, path, params=params)
                assert body["cached"] is False
        assert _get(c, "/health")["cache"]["up"] is False


# ---------------------------------------------------------------- the real server

def test_python_m_engine_serve_over_loopback(app, world, published, tmp_path):
    world.runtime.store.flush()
    data = tmp_path / "data"
    shutil.copytree(world.settings.data_dir, data)
    port = free_port()
    env = {**os.environ, "VITRINA_DATA_DIR": str(data), "VITRINA_IMAGE_ENCODER": "descriptor",
           "VITRINA_TEXT_ENCODER": "use", "REDIS_URL": "", "DATABASE_URL": "", "QDRANT_URL": "",
           "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"the service did not start:\n{(tmp_path / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.25)
        with httpx.Client(base_url=base, timeout=30) as http:
            similar = http.get("/api/products/MJ01-Red/similar/", params={"limit": 4})
            assert similar.status_code == 200 and len(similar.json()["items"]) == 4
            assert similar.json()["config_version"] == world.runtime.live.refresh().number
            assert http.get("/api/products/NO-SUCH/similar/").status_code == 404
            assert http.post("/api/events/", json={"kind": "click", "session_id": "loop", "sku": "MJ01-Red"}
                             ).status_code == 201
            assert "/api/events/" in http.get("/openapi.json").json()["paths"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_photos_of_a_recorded_import_folder_are_served_and_nothing_beside_them(world, tmp_path):
    """A catalog imported from a folder of its own: the import records that folder, and its photos get
    /photos/<folder id>/ URLs that serve them (decoded); paths out of the folder are refused."""
    shop, elsewhere = tmp_path / "shop", tmp_path / "elsewhere"
    (shop / "img").mkdir(parents=True)
    elsewhere.mkdir()
    photo = Path(world.card("MJ01-Red").image).read_bytes()
    (shop / "img" / "mug.jpg").write_bytes(photo)
    (elsewhere / "secret.jpg").write_bytes(photo)
    (shop / "products.csv").write_text("sku,title,price,images\nMUG-1,Mug,10,img/mug.jpg\n", encoding="utf-8")
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = tmp_path / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.catalog_dir = "descriptor", "use", tmp_path / "catalog"
    assert import_generic(shared(s).db, shop / "products.csv").created == 1
    with TestClient(create_app(s)) as c:
        assert c.post("/api/events/", json=[{"kind": "purchase", "session_id": "mug", "sku": "MUG-1"}]).status_code == 201
        image = _get(c, "/api/recommendations/trending/")["items"][0]["image"]
        assert image.startswith("http://testserver/photos/") and image.endswith("/img/mug.jpg"), image
        r = c.get(image)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        folder = image.split("/photos/")[1].split("/")[0]
        for url in (f"/photos/{folder}/%2e%2e/elsewhere/secret.jpg", f"/photos/{folder}/{elsewhere / 'secret.jpg'}"):
            assert c.get(url).status_code == 400, url
        assert c.get(f"/photos/{folder}/products.csv").status_code == 404
        assert c.get("/photos/999999/img/mug.jpg").json()["message"] == "no photo folder 999999"
