"""The storefront side over HTTP (Starlette's TestClient), on a six-product catalog of its own: /widget.js
(its size, its inlined reason texts), CORS for the configured shop origins only, shopper events checked
against the lists the service served (forged, replayed, out-of-list and mismatched beacons refused one by
one; sendBeacon's text/plain body accepted), the demo shop's pages, cart and checkout, and the signed preview
links. The browser side is tests/service/test_shop_browser.py."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from engine.catalog.events import EventRow
from engine.catalog.importers import import_generic
from engine.errors import ValidationError
from engine.runtime import shared
from engine.service.app import create_app
from engine.service.shop import tokens
from engine.settings import Settings

SHOP = "http://shop.example.test"
XSS = '<img src=x onerror="window.pwned=1">Tee'
WIDGET_LIMIT = 15 * 1024


def _catalog(folder: Path) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [("TEE-1", "Red tee", 10, "red"), ("TEE-2", "Blue tee", 12, "blue"), ("TEE-3", "Green tee", 11, "green"),
            ("CAP-1", "Black cap", 5, "black"), ("CAP-2", "White cap", 6, "white"), ("XSS-1", XSS, 9, "red"),
            ("OLD-1", "Retired tee", 8, "red")]
    (folder / "products.csv").write_text("sku,title,price,colour,is_active\n" + "".join(
        f'{s},"{t.replace(chr(34), chr(34) * 2)}",{p},{c},{0 if s == "OLD-1" else 1}\n' for s, t, p, c in rows),
        encoding="utf-8")
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = folder / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.catalog_dir = "descriptor", "use", folder
    s.shop_origins, s.preview_secret = (SHOP,), ""
    rt = shared(s)
    assert import_generic(rt.db, folder / "products.csv").created == len(rows)
    assert rt.indexer.run().encoded == len(rows) - 1  # OLD-1 is no longer sold
    return s


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return _catalog(tmp_path_factory.mktemp("widget-shop"))


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings), base_url="http://reco.test") as c:
        yield c


def _rows(settings: Settings, **where) -> list[EventRow]:
    with shared(settings).db.session() as s:
        q = select(EventRow).order_by(EventRow.id)
        for k, v in where.items():
            q = q.where(getattr(EventRow, k) == v)
        return list(s.scalars(q))


def _served(client, session: str) -> dict:
    r = client.get("/api/products/TEE-1/similar/", params={"limit": 4, "session_id": session})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["items"]) == 4
    return body


def _event(body: dict, kind: str, pos: int, session: str, **extra) -> dict:
    return {"kind": kind, "session_id": session, "sku": body["items"][pos]["sku"], "request_id": body["request_id"],
            "position": pos, "algorithm": body["algorithm"], "strategy": body["strategy"],
            "config_version": body["config_version"], **extra}


# ---------------------------------------------------------------- the script

def test_widget_script_is_small_and_carries_the_reason_texts(client):
    r = client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    size = len(gzip.compress(r.content, 9))
    assert size <= WIDGET_LIMIT, f"widget.js is {size} bytes gzipped; the limit is {WIDGET_LIMIT}"
    assert '"very similar style":{"en":"very similar style","ru":"очень похожий стиль"' in r.text
    assert "innerHTML" not in r.text and "/*REASONS*/{}" not in r.text


# ---------------------------------------------------------------- CORS

def test_only_the_configured_shop_origin_gets_cors_headers(client):
    ok = client.get("/api/recommendations/trending/", headers={"Origin": SHOP})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SHOP
    other = client.get("/api/recommendations/trending/", headers={"Origin": "http://evil.example.test"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    pre = client.options("/api/events/", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == SHOP
    bad = client.options("/api/events/", headers={"Origin": "http://evil.example.test",
                                                   "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    error = client.get("/api/products/NO-SUCH/similar/", headers={"Origin": SHOP})
    assert error.status_code == 404 and error.headers["access-control-allow-origin"] == SHOP


def test_shop_origins_setting_refuses_wildcards_and_paths(monkeypatch):
    monkeypatch.setenv("VITRINA_SHOP_ORIGINS", "https://Shop.Example.com:443/, http://localhost:8080")
    assert Settings().shop_origins == ("https://shop.example.com", "http://localhost:8080")
    for bad in ("*", "shop.example.com", "https://shop.example.com/catalog", "ftp://x.test"):
        monkeypatch.setenv("VITRINA_SHOP_ORIGINS", bad)
        with pytest.raises(ValidationError, match="VITRINA_SHOP_ORIGINS"):
            Settings()


# ---------------------------------------------------------------- events against served lists

def test_an_impression_and_a_click_of_a_served_list_count_once(client, settings):
    body = _served(client, "ev-once")
    r = client.post("/api/events/", json=[_event(body, "impression", 2, "ev-once"),
                                          _event(body, "click", 2, "ev-once")])
    assert r.status_code == 201 and (r.json()["inserted"], r.json()["refused"]) == (2, []), r.text
    mine = [e for e in _rows(settings, request_id=body["request_id"]) if e.kind in ("impression", "click")]
    assert [(e.kind, e.position, e.algorithm, e.config_version) for e in mine] == [
        ("impression", 2, body["algorithm"], body["config_version"]), ("click", 2, body["algorithm"],
                                                                         body["config_version"])]
    replay = client.post("/api/events/", json=[_event(body, "impression", 2, "ev-once"),
                                               _event(body, "click", 2, "ev-once")])
    assert replay.status_code == 400, replay.text
    assert "impression of position 2" in replay.json()["message"] and "already logged" in replay.json()["message"]
    twice = client.post("/api/events/", json=[_event(body, "impression", 1, "ev-once"),
                                              _event(body, "impression", 1, "ev-once")])
    assert twice.status_code == 201 and twice.json()["inserted"] == 1
    assert [(x["event"], x["error"]) for x in twice.json()["refused"]] == [(1, "Duplicate")]


def test_forged_and_misfitting_beacons_are_refused_one_by_one(client, settings):
    body = _served(client, "ev-forged")
    forged = {**_event(body, "impression", 0, "ev-forged"), "request_id": "forged-request-id"}
    r = client.post("/api/events/", json=forged)
    assert r.status_code == 404 and "names no list this service served" in r.json()["message"], r.text
    outside = _event(body, "impression", 0, "ev-forged", position=9)
    other_product = {**_event(body, "click", 0, "ev-forged"), "sku": body["items"][1]["sku"]}
    other_algorithm = _event(body, "click", 3, "ev-forged", algorithm="trending")
    no_list = {"kind": "impression", "session_id": "ev-forged", "sku": "TEE-2"}
    good = _event(body, "impression", 3, "ev-forged")
    # a click claiming an algorithm and a position without its list: it would count toward that algorithm's CTR
    claims = {"kind": "click", "session_id": "ev-forged", "sku": "TEE-2", "algorithm": body["algorithm"],
              "strategy": body["strategy"], "position": 0}
    plain = {"kind": "click", "session_id": "ev-forged", "sku": "TEE-2"}  # a click on the shop's own page
    r = client.post("/api/events/", json=[outside, other_product, other_algorithm, no_list, good, claims, plain])
    assert r.status_code == 201 and r.json()["inserted"] == 2, r.text
    messages = {x["event"]: x["message"] for x in r.json()["refused"]}
    assert "position 9 is outside the list" in messages[0] and "(4 items: positions 0 to 3)" in messages[0]
    assert f"showed product {body['items'][0]['id']} at position 0" in messages[1]
    assert "algorithm 'trending' is not that of the list" in messages[2]
    assert "give the list's request_id" in messages[3]
    assert "algorithm, strategy, position describe a served list" in messages[5] and set(messages) == {0, 1, 2, 3, 5}
    stored = [e for e in _rows(settings, session_id="ev-forged") if e.kind != "served"]
    assert [(e.kind, e.position) for e in stored if e.request_id is not None] == [("impression", 3)]
    assert [(e.kind, e.algorithm, e.strategy, e.position) for e in stored if e.request_id is None] == \
        [("click", None, None, None)]


def test_a_beacon_body_sent_as_text_plain_is_read_as_json(client, settings):
    body = _served(client, "ev-beacon")
    r = client.post("/api/events/", content=json.dumps([_event(body, "impression", 0, "ev-beacon")]),
                    headers={"content-type": "text/plain;charset=UTF-8", "Origin": SHOP})
    assert r.status_code == 201 and r.json()["inserted"] == 1, r.text
    r = client.post("/api/events/", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "text/plain"})
    assert r.status_code == 413  # the events body limit holds for beacons too
    r = client.post("/api/events/", content=b"{not json", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "not JSON" in r.json()["message"]


def test_purchases_name_their_list_with_price_and_quantity(client, settings):
    body = _served(client, "ev-buy")
    r = client.post("/api/events/", json=_event(body, "purchase", 1, "ev-buy", price=12.5, quantity=2,
                                                 strategy=None, config_version=None))
    assert r.status_code == 201, r.text
    row = _rows(settings, session_id="ev-buy", kind="purchase")[0]
    assert (row.request_id, row.position, row.price, row.quantity, row.strategy) == (
        body["request_id"], 1, 12.5, 2, body["strategy"])  # the list's strategy, filled in


# ---------------------------------------------------------------- the demo shop

def test_shop_pages_escape_product_text_and_refuse_unknown_products(client):
    home = client.get("/shop/")
    assert home.status_code == 200 and 'data-vitrina="trending"' in home.text and "/widget.js" in home.text
    assert XSS not in home.text and "&lt;img src=x onerror=" in home.text
    page = client.get("/shop/product/XSS-1")
    assert page.status_code == 200 and XSS not in page.text
    assert 'data-vitrina="similar" data-product="XSS-1"' in page.text
    missing = client.get("/shop/product/NO-SUCH-SKU")
    assert missing.status_code == 404 and "no product with sku" in missing.text and "<html" in missing.text
    assert 'data-vitrina="query" data-query="cap"' in client.get("/shop/?q=cap").text  # the engine's search
    hostile = client.get("/shop/", params={"q": '"><script>window.pwned=1</script>'}).text
    assert "<script>window.pwned" not in hostile and 'data-query="&#34;&gt;&lt;script&gt;' in hostile
    assert client.get("/shop/?category=999999").status_code == 404
    retired = client.get("/shop/product/OLD-1")
    assert retired.status_code == 404 and "no longer sold" in retired.text


def test_cart_and_checkout_record_priced_events_once(client, settings):
    body = _served(client, "ignored")
    shop = TestClient(client.app, base_url="http://reco.test")
    shop.cookies.set("vitrina_session", "checkout-session-1")
    target = body["items"][2]
    r = shop.post("/shop/cart", data={"sku": target["sku"], "quantity": "3", "list": body["request_id"], "pos": "2"},
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    cart = shop.get("/shop/cart")
    assert cart.status_code == 200 and f"{target['price'] * 3:,.2f}" in cart.text
    order = cart.text.split('name="order" value="')[1].split('"')[0]
    done = shop.post("/shop/checkout", data={"order": order})
    assert done.status_code == 200 and "Thank you" in done.text
    again = shop.post("/shop/checkout", data={"order": order})  # the cart is empty now: back to it
    assert again.status_code in (200, 303)
    events = [(e.kind, e.price, e.quantity, e.request_id, e.position)
              for e in _rows(settings, session_id="checkout-session-1")]
    assert events == [
        ("cart_add", target["price"], 3, body["request_id"], 2), ("purchase", target["price"], 3, body["request_id"], 2)]


def test_a_bad_cart_cookie_is_an_empty_cart(client):
    shop = TestClient(client.app, base_url="http://reco.test")
    for junk in ("%%%", "W1siVEVFLTEiLCAtNSwgbnVsbCwgbnVsbF1d", "e30", "x" * 5000):
        shop.cookies.set("vitrina_cart", junk)
        r = shop.get("/shop/cart")
        assert r.status_code == 200 and "Your cart is empty" in r.text


# ---------------------------------------------------------------- preview links

def test_preview_tokens_expire_and_cannot_be_forged(settings):
    token = tokens.sign(settings, seconds=60, now=1_000_000)
    tokens.verify(settings, token, now=1_000_030)
    with pytest.raises(ValidationError, match="expired"):
        tokens.verify(settings, token, now=1_000_061)
    scope, expiry, mac = token.split(".")
    for forged in (f"{scope}.{int(expiry) + 3600}.{mac}", f"{scope}.{expiry}.{'0' * 64}", "draft", "", "a.b.c.d"):
        with pytest.raises(ValidationError, match="not valid"):
            tokens.verify(settings, forged, now=1_000_030)
    other = replace(settings, preview_secret="another secret of the operator's")
    with pytest.raises(ValidationError, match="not valid"):
        tokens.verify(other, token, now=1_000_030)
    assert (settings.data_dir / tokens.KEY_FILE).stat().st_mode & 0o077 == 0


def test_preview_lists_need_a_valid_token_and_log_nothing(client, settings):
    before = len(_rows(settings))
    r = client.get("/shop/preview/similar/", params={"product": "TEE-1", "token": "draft.1.abc"})
    assert r.status_code == 403 and "not valid" in r.json()["message"]
    token = tokens.sign(settings)
    r = client.get("/shop/preview/similar/", params={"product": "TEE-1", "token": token, "limit": "3"})
    assert r.status_code == 200 and r.json()["preview"] is True and len(r.json()["items"]) == 3
    r = client.get("/shop/preview/similar/", params={"product": "NO-SUCH", "token": token})
    assert r.status_code == 404
    page = client.get("/shop/product/TEE-1", params={"preview": token})
    assert page.status_code == 200 and f'data-preview="{token}"' in page.text and "Draft preview" in page.text
    assert client.get("/shop/product/TEE-1", params={"preview": "draft.9.x"}).status_code == 400
    assert len(_rows(settings)) == before


def test_lists_logged_by_the_older_writer_are_found_too(client, settings):
    """Lists served just before an upgrade were logged as `impression` rows with the request id inside their
    filters: their beacons still count, and still only where they fit."""
    from engine.insights.events import Event, EventLog

    rt = shared(settings)
    ids = [rt.catalog.get(sku).id for sku in ("TEE-2", "CAP-1")]
    EventLog(rt.db).log_many([Event("impression", "request-old-list-1", pid, algorithm="trending", position=pos,
                                    filters={"request_id": "old-list-1"}, config_version=1)
                              for pos, pid in enumerate(ids)])
    ok = {"kind": "impression", "session_id": "ev-old", "sku": "CAP-1", "request_id": "old-list-1", "position": 1}
    wrong = {**ok, "kind": "click", "sku": "TEE-2"}
    r = client.post("/api/events/", json=[ok, wrong])
    assert r.status_code == 201 and r.json()["inserted"] == 1, r.text
    assert "showed product" in r.json()["refused"][0]["message"]
    row = _rows(settings, session_id="ev-old")[0]
    assert (row.request_id, row.position, row.algorithm, row.config_version) == ("old-list-1", 1, "trending", 1)


@pytest.mark.parametrize("method, url, data, status", [
    ("GET", "/shop/product/%ED%A0%80", None, 404),
    ("GET", "/shop/?category=99999999999999999999999", None, 404),
    ("GET", "/shop/nope", None, 404),
    ("POST", "/shop/cart", {"sku": "TEE-1", "quantity": "0"}, 400),
    ("POST", "/shop/cart", {"sku": "TEE-1", "quantity": "99999999999999"}, 400),
    ("POST", "/shop/cart", {"sku": "NOPE"}, 404),
    ("POST", "/shop/cart", "a=" + "x" * 10_000, 413),
    ("POST", "/shop/checkout", {"order": "<script>"}, 400),
    ("PUT", "/shop/cart", None, 405),
])
def test_hostile_shop_requests_get_an_error_page_not_a_traceback(client, method, url, data, status):
    form = {"content": data, "headers": {"content-type": "application/x-www-form-urlencoded"}} if isinstance(
        data, str) else {"data": data} if data else {}
    r = client.request(method, url, follow_redirects=False, **form)
    assert r.status_code == status, r.text
    assert r.text.startswith("<!doctype html>") and "Traceback" not in r.text
