"""The HTTP routes as a hostile client calls them, through the ASGI test client: whatever the path segment,
the query parameters or the events body, the answer is JSON with a 2xx or 4xx status — never a 500 — and a
refused events body stores nothing."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from engine.catalog.events import EventRow
from engine.service.app import create_app
from test_personal import World, luma_world

PARAMS = ["limit", "strategy", "color", "category", "price_min", "price_max", "exclude_same_brand",
          "exclude_same_style", "in_stock", "unknown"]
TEXT = st.text(max_size=24) | st.integers(-2**70, 2**70).map(str) | st.sampled_from(["nan", "inf", "-0", "1e999"])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=16),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                    max_leaves=20)
HOSTILE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


@pytest.fixture(scope="module")
def client(world):
    with TestClient(create_app(world.settings), raise_server_exceptions=False) as c:
        yield c


def _stored(world: World) -> int:
    with world.runtime.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(EventRow)).scalar_one())


def _answer(r) -> dict:
    assert r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert ("error" in body and body["message"]) if r.status_code >= 400 else "error" not in body
    return body


@HOSTILE
@given(product=TEXT, params=st.dictionaries(st.sampled_from(PARAMS), TEXT, max_size=4))
def test_similar_answers_any_product_and_parameters_without_a_500(client, product, params):
    path = quote(product.encode("utf-8", "surrogatepass"), safe="") or "%20"
    query = "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in params.items())
    _answer(client.get(f"/api/products/{path}/similar/" + (f"?{query}" if query else "")))


@HOSTILE
@given(body=st.lists(JSON, max_size=4) | JSON)
def test_events_answer_any_body_without_a_500_and_a_refusal_stores_nothing(client, world, body):
    before = _stored(world)
    r = client.post("/api/events/", content=json.dumps(body, allow_nan=True).encode(),
                    headers={"content-type": "application/json"})
    _answer(r)
    if r.status_code >= 400:
        assert _stored(world) == before


CORPUS = json.loads((Path(__file__).resolve().parents[1] / "corpus" / "http" / "requests.json").read_text())


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c['method']} {c['path'][:60]}")
def test_corpus_requests_get_their_specific_refusal(client, world, case):
    before = _stored(world)
    if case["method"] == "GET":
        r = client.get(case["path"])
    else:
        r = client.post(case["path"], content=case["json_text"].encode("utf-8", "surrogatepass"),
                        headers={"content-type": "application/json"})
    assert r.status_code == case["status"], r.text
    assert case["message"] in r.json()["message"]
    assert _stored(world) == before
