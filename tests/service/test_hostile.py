"""The HTTP service against a hostile client, on a three-product catalog of its own: ids past BIGINT, lone
surrogates and NUL in URLs and bodies, events naming unknown products, an internal error followed by a normal
request on the same keep-alive connection of a real uvicorn server, and headers or a body sent too slowly.
Every refusal is checked for its status and its words, not merely for "not a 500"."""
from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from starlette.testclient import TestClient

from engine.catalog.events import EventRow
from engine.catalog.importers import import_generic
from engine.errors import ConfigError, ValidationError
from engine.recommend.config import RecoConfig
from engine.recommend.versions import VersionTable
from engine.recommend.rules import Rule
from engine.runtime import Runtime, shared
from engine.service.app import create_app
from engine.service.server import DEFAULT_PROTOCOL, GuardedH11Protocol, GuardedHttpToolsProtocol, server_config
from engine.text import MAX_ID
from engine.settings import Settings
from test_cache import free_port

TOO_BIG = "99999999999999999999999"
OUT_OF_RANGE = f"must be a product id between 1 and {MAX_ID}, got {TOO_BIG}"
SURROGATE = "is not valid Unicode: it holds a lone surrogate"
QUICK = 1.0  # seconds: the header and body limits of the timeout tests
START_SECONDS = 60.0


class QuickH11(GuardedH11Protocol):
    header_seconds = QUICK


class QuickHttpTools(GuardedHttpToolsProtocol):
    header_seconds = QUICK


QUICK_PROTOCOLS = pytest.mark.parametrize("protocol", [QuickHttpTools, QuickH11], ids=["httptools", "h11"])


@dataclass
class Shop:
    settings: Settings
    runtime: Runtime
    folder: Path


def _shop(folder: Path) -> Shop:
    """Three products, imported and indexed (the descriptor and USE encoders: no downloads) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "products.csv").write_text("sku,title,price,colour\nTEE-1,Red tee,10,red\nTEE-2,Blue tee,12,blue\n"
                                         "CAP-1,Black cap,5,black\n", encoding="utf-8")
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = folder / "data", "", "", ""
    s.image_encoder, s.text_encoder, s.catalog_dir = "descriptor", "use", folder
    rt = shared(s)
    assert import_generic(rt.db, folder / "products.csv").created == 3
    assert rt.indexer.run().encoded == 3
    return Shop(s, rt, folder)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Shop:
    return _shop(tmp_path_factory.mktemp("hostile-shop"))


@pytest.fixture(scope="module")
def client(shop):
    with TestClient(create_app(shop.settings)) as c:
        yield c


def _refused(r: httpx.Response, status: int, message: str, error: str = "ValidationError") -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and message in body["message"], body
    assert body["request_id"] and r.headers["x-request-id"] == body["request_id"]
    return body


def _events(shop: Shop, session: str) -> list[EventRow]:
    with shop.runtime.db.session() as s:
        return list(s.scalars(select(EventRow).where(EventRow.session_id == session).order_by(EventRow.id)))


def _event_count(shop: Shop) -> int:
    with shop.runtime.db.session() as s:
        return s.scalar(select(func.count()).select_from(EventRow))


# ---------------------------------------------------------------- ids

@pytest.mark.parametrize("url, message", [
    (f"/api/products/{TOO_BIG}/similar/", f"id {OUT_OF_RANGE}"),
    (f"/api/products/{MAX_ID + 1}/visually_similar/", f"id must be a product id between 1 and {MAX_ID}, got "
                                                      f"{MAX_ID + 1}"),
    ("/api/products/0/similar/", "id must be a product id between 1 and"),
    (f"/api/recommendations/complete_the_look/?product_id={TOO_BIG}", f"product_id {OUT_OF_RANGE}"),
    (f"/api/recommendations/frequently_bought_together/?product_id={TOO_BIG}", f"product_id {OUT_OF_RANGE}"),
    (f"/api/recommendations/personalized/?user_id=u&not_like=1,{TOO_BIG}", f"not_like {OUT_OF_RANGE}"),
    (f"/api/users/u/not_like/{TOO_BIG}/", f"product {OUT_OF_RANGE}"),
])
def test_ids_past_bigint_are_400(client, url, message):
    r = client.delete(url) if "/not_like/" in url and "user_id" not in url else client.get(url)
    _refused(r, 400, message)


def test_the_largest_id_is_a_well_formed_unknown_product(client):
    _refused(client.get(f"/api/products/{MAX_ID}/similar/"), 404, f"no product with sku '{MAX_ID}'", "NotFound")


@pytest.mark.parametrize("body, message", [
    ({"product_id": int(TOO_BIG)}, f"product_id {OUT_OF_RANGE}"),
    ({"product_id": TOO_BIG}, f"product_id {OUT_OF_RANGE}"),
    ({"product_id": 0}, "product_id must be a product id between 1 and"),
    ({"product_id": "\ud800"}, f"product_id {SURROGATE}"),
])
def test_not_like_marks_with_impossible_products_are_400(client, body, message):
    r = client.post("/api/users/u/not_like/", content=json.dumps(body), headers={"content-type": "application/json"})
    _refused(r, 400, message)


# ---------------------------------------------------------------- text

@pytest.mark.parametrize("url, message", [
    ("/api/products/%ED%A0%80/similar/", "the URL's path is not valid UTF-8"),
    ("/api/users/%ED%A0%80/not_like/", "the URL's path is not valid UTF-8"),
    ("/media/%ED%A0%80.jpg", "the URL's path is not valid UTF-8"),
    ("/api/recommendations/trending/?category=%ED%A0%80", "the URL's query string is not valid UTF-8"),
    ("/api/recommendations/personalized/?user_id=%C0%AF", "the URL's query string is not valid UTF-8"),
    ("/api/recommendations/trending/?session_id=a%00b", "session_id contains a NUL character"),
    ("/api/recommendations/trending/?user_id=%00", "user_id contains a NUL character"),
    ("/api/recommendations/trending/?category=Men%00", "category contains a NUL character"),
    ("/api/recommendations/trending/?color=red,bl%00ue", "color contains a NUL character"),
    ("/api/products/TEE%001/similar/", "id contains a NUL character"),
    ("/api/products/TEE-1/similar/?strategy=%00", "strategy contains a NUL character"),
    ("/api/users/u%00/not_like/", "user_id contains a NUL character"),
])
def test_lone_surrogates_and_nul_in_urls_are_400(client, url, message):
    _refused(client.get(url), 400, message)


@pytest.mark.parametrize("raw, message", [
    (b'{"kind":"click","session_id":"\\ud800","sku":"TEE-1"}', f"event 0: session_id {SURROGATE}"),
    (b'{"kind":"click","session_id":"s","sku":"TEE\\udfff"}', f"event 0: sku {SURROGATE}"),
    (b'{"kind":"click","session_id":"s\\u0000","sku":"TEE-1"}', "event 0: session_id contains a NUL character"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","query":"a\\u0000b"}', "query contains a NUL character"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","user_id":"\\udc00"}', f"user_id {SURROGATE}"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","filters":{"\\ud800":1}}', f"filters {SURROGATE}"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","filters":{"c":["x\\u0000"]}}', "filters contains a NUL"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","filters":["a"]}', "filters expected a JSON object"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","filters":{"a":' + b'[' * 12 + b']' * 12 + b'}}',
     "filters is nested more than 8 levels deep"),
    (b'{"kind":"click","session_id":"s","product_id":' + TOO_BIG.encode() + b'}',
     f"event 0: product_id must be at most {MAX_ID}"),
    (b'{"kind":"click","session_id":"s","product_id":0}', "event 0: product_id must be at least 1, got 0"),
    (b'{"kind":"click","session_id":"s","sku":"' + TOO_BIG.encode() + b'"}', f"event 0: sku {OUT_OF_RANGE}"),
    (b'{"kind":"click","session_id":"s","sku":"TEE-1","source_product_id":-5}', "source_product_id must be at least"),
])
def test_bad_text_and_ids_in_event_bodies_are_400_and_write_nothing(client, shop, raw, message):
    before = _event_count(shop)
    r = client.post("/api/events/", content=raw, headers={"content-type": "application/json"})
    _refused(r, 400, message)
    assert _event_count(shop) == before


def test_a_body_nested_past_the_parser_is_400(client):
    deep = b"[" * 200_000 + b"]" * 200_000  # Python's json module overflows its recursion limit
    r = client.post("/api/events/", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text


# ---------------------------------------------------------------- events naming unknown products

def test_events_naming_unknown_products_are_refused_one_by_one(client, shop):
    tee = shop.runtime.catalog.get("TEE-1").id
    batch = [{"kind": "click", "session_id": "hostile-ev", "sku": "TEE-1"},
             {"kind": "click", "session_id": "hostile-ev", "product_id": 987654321},
             {"kind": "click", "session_id": "hostile-ev", "sku": "NO-SUCH"},
             {"kind": "cart_add", "session_id": "hostile-ev", "product_id": tee},
             {"kind": "click", "session_id": "hostile-ev", "product_id": tee, "source_product_id": 123456789}]
    r = client.post("/api/events/", json=batch)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["received"], body["inserted"], body["duplicates"]) == (5, 2, 0)
    assert body["refused"] == [
        {"event": 1, "error": "NotFound", "message": "event 1: no product with id 987654321"},
        {"event": 2, "error": "NotFound", "message": "event 2: no product with sku 'NO-SUCH'"},
        {"event": 4, "error": "NotFound", "message": "event 4: no source product with id 123456789"}]
    assert [(e.kind, e.product_id) for e in _events(shop, "hostile-ev")] == [("click", tee), ("cart_add", tee)]


def test_a_batch_of_only_unknown_products_is_404_and_writes_nothing(client, shop):
    before = _event_count(shop)
    r = client.post("/api/events/", json=[{"kind": "click", "session_id": "hostile-none", "product_id": 55555},
                                          {"kind": "click", "session_id": "hostile-none", "product_id": 66666}])
    _refused(r, 404, "event 0: no product with id 55555; event 1: no product with id 66666", "NotFound")
    assert _event_count(shop) == before


# ---------------------------------------------------------------- a config that validates but cannot serve

def test_a_pin_past_bigint_is_refused_where_versions_are_published(shop):
    """Such an id names no product: publishing refuses it (listing why), so no service ever serves it."""
    cfg = RecoConfig.default()
    cfg.rules = [Rule("overflow", "pin", MAX_ID + 1, slot=1)]
    table = VersionTable(shared(shop.settings).db)
    before = table.latest_number()
    with pytest.raises(ConfigError) as e:
        table.append(cfg, "hostile")
    assert str(MAX_ID + 1) in str(e.value) and table.latest_number() == before


# ---------------------------------------------------------------- the real server

class Server:
    """The app under uvicorn on a free loopback port, in a thread of this process."""

    def __init__(self, app, protocol=DEFAULT_PROTOCOL):
        self.port = free_port()
        self.server = uvicorn.Server(server_config(app, "127.0.0.1", self.port, "critical", protocol=protocol))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def broken_shop(tmp_path_factory) -> Shop:
    """A shop whose database lost the table of "not like this" marks: reading them fails inside SQLAlchemy,
    an error no route expects."""
    shop = _shop(tmp_path_factory.mktemp("broken-shop"))
    db_file = next(shop.settings.data_dir.glob("*.db"))
    with sqlite3.connect(db_file) as conn:
        conn.execute("DROP TABLE user_dislikes")
    return shop


def test_an_internal_error_is_json_500_and_the_connection_serves_the_next_request(broken_shop):
    with Server(create_app(broken_shop.settings)) as server, httpx.Client(base_url=server.base, timeout=10) as http:
        ports = []

        def local_port(response):  # the client side of the TCP connection each request went over
            ports.append(response.extensions["network_stream"].get_extra_info("client_addr")[1])

        http.event_hooks["response"] = [local_port]
        _refused(http.get("/api/users/u/not_like/"), 500, "internal error: the service log has the details",
                 "InternalError")
        r = http.get("/api/products/TEE-1/similar/", params={"limit": 2})
        assert r.status_code == 200 and len(r.json()["items"]) == 2
        _refused(http.get(f"/api/products/{TOO_BIG}/similar/"), 400, OUT_OF_RANGE)
        assert http.get("/health").status_code == 200
        assert len(ports) == 4 and len(set(ports)) == 1  # one connection throughout


def _read_all(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and when it closed (seconds from now)."""
    start, data = time.monotonic(), b""
    sock.settimeout(limit)
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


@QUICK_PROTOCOLS
def test_slow_headers_and_a_slow_body_get_408_while_others_are_served(shop, protocol):
    app = create_app(shop.settings, body_seconds=QUICK)
    with Server(app, protocol) as server:
        slow_headers = socket.create_connection(("127.0.0.1", server.port))
        slow_headers.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        body = json.dumps({"kind": "click", "session_id": "slow", "sku": "TEE-1"}).encode()
        slow_body = socket.create_connection(("127.0.0.1", server.port))
        slow_body.sendall(b"POST /api/events/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
        idle = socket.create_connection(("127.0.0.1", server.port))  # says nothing at all
        with httpx.Client(base_url=server.base, timeout=5) as http:  # meanwhile, others are served
            assert http.get("/health").status_code == 200
        for sock, what in ((slow_headers, b"headers"), (slow_body, b"body"), (idle, b"headers")):
            with sock:
                answer, seconds = _read_all(sock, 10 * QUICK)
                assert seconds < 3 * QUICK, (what, seconds)  # closed within the limit, not at the test's timeout
                head, _, payload = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 408 "), answer
                assert b"connection: close" in head.lower()
                error = json.loads(payload)
                assert error["error"] == "RequestTimeout" and error["request_id"]
                assert error["message"] == f"the request {what.decode()} did not arrive within {QUICK:g} s"
        assert not _events(shop, "slow")


@QUICK_PROTOCOLS
def test_a_body_dripped_after_an_answer_does_not_hold_the_connection(shop, protocol):
    """A route that answers without reading its body (404 here) leaves the body to the server: a client
    dripping it byte by byte is cut off, though every byte used to cancel uvicorn's keep-alive timer."""
    with Server(create_app(shop.settings), protocol) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"POST /no/such/route HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            sock.settimeout(5)
            assert sock.recv(65536).startswith(b"HTTP/1.1 404 ")
            start, closed_after = time.monotonic(), None
            sock.settimeout(0.2)
            while closed_after is None and time.monotonic() - start < 10 * QUICK:
                try:
                    sock.sendall(b"x")
                    if sock.recv(65536) == b"":
                        closed_after = time.monotonic() - start
                except TimeoutError:
                    pass
                except OSError:  # reset: the server closed with our bytes unread
                    closed_after = time.monotonic() - start
            assert closed_after is not None and closed_after < 3 * QUICK, closed_after


def test_the_read_deadlines_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("VITRINA_KEEP_ALIVE", "7")
    assert server_config(None, "127.0.0.1", 0).timeout_keep_alive == 7
    monkeypatch.setenv("VITRINA_BODY_TIMEOUT", "0")
    with pytest.raises(ValidationError, match="VITRINA_BODY_TIMEOUT"):
        Settings()
