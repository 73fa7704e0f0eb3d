"""The demo shop's shopper: anonymous id and session cookies, the cart (a cookie), and the cart adds and
purchases it records through the same event path as the API (engine.service.lists.log_events), so they are
validated and attributed like any storefront's.

The cart cookie holds only what the shopper chose (SKU, quantity, and the list and position the product was
found in); prices are the catalog's, read at checkout. A cookie that does not parse is an empty cart. A line
whose list no longer fits (the served rows are gone, the link was edited) is recorded without attribution:
the purchase still happened."""
from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from pydantic import ValidationError as ModelError

from engine.errors import NotFound, ValidationError
from engine.insights.events import MAX_QUANTITY, REQUEST_ID
from engine.service import lists
from engine.service.models import EventIn
from engine.service.state import Service

log = logging.getLogger(__name__)

SHOPPER, SESSION, CART = "vitrina_shopper", "vitrina_session", "vitrina_cart"
COOKIE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_LINES = 20  # a cookie holds about 4 kB
MAX_LINE_QUANTITY = 99
YEAR = 365 * 86400


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    request_id: str | None = None  # the list the product was found in, and its place there
    position: int | None = None


@dataclass(frozen=True)
class Shopper:
    user_id: str
    session_id: str
    new: tuple[str, ...]  # cookies to set on the response


def shopper(request: Request) -> Shopper:
    """The anonymous shopper of a request: the widget's cookies (the same names), made when absent."""
    ids, new = {}, []
    for name in (SHOPPER, SESSION):
        value = request.cookies.get(name, "")
        if not COOKIE_ID.fullmatch(value):
            value, _ = secrets.token_hex(16), new.append(name)
        ids[name] = value
    return Shopper(ids[SHOPPER], ids[SESSION], tuple(new))


def set_cookies(response: Response, who: Shopper) -> Response:
    for name in who.new:
        value = who.user_id if name == SHOPPER else who.session_id
        # Readable by the widget (not HttpOnly): it sends the same ids with its lists and events.
        response.set_cookie(name, value, max_age=YEAR if name == SHOPPER else None, path="/", samesite="lax")
    return response


def _line(raw: Any) -> Line | None:
    if not (isinstance(raw, list) and len(raw) == 4):
        return None
    sku, qty, rid, pos = raw
    if not (isinstance(sku, str) and 0 < len(sku) <= 128 and isinstance(qty, int) and not isinstance(qty, bool)
            and 1 <= qty <= MAX_LINE_QUANTITY):
        return None
    if not (isinstance(rid, str) and REQUEST_ID.fullmatch(rid) and isinstance(pos, int) and 0 <= pos < 10_000):
        rid, pos = None, None
    return Line(sku, qty, rid, pos)


def read_cart(request: Request) -> list[Line]:
    raw = request.cookies.get(CART, "")
    if not raw or len(raw) > 4096:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        return []
    lines = [line for line in (map(_line, data) if isinstance(data, list) else ()) if line is not None]
    return lines[:MAX_LINES]


def write_cart(response: Response, lines: list[Line]) -> Response:
    if not lines:
        response.delete_cookie(CART, path="/")
        return response
    data = json.dumps([[x.sku, x.quantity, x.request_id, x.position] for x in lines[:MAX_LINES]],
                      separators=(",", ":"))
    response.set_cookie(CART, base64.urlsafe_b64encode(data.encode()).decode().rstrip("="), path="/",
                        samesite="lax", httponly=True)
    return response


def added(lines: list[Line], line: Line) -> list[Line]:
    """The cart with `line` added: the same SKU again adds to its quantity (and keeps its first list)."""
    out, merged = [], False
    for x in lines:
        if x.sku == line.sku and not merged:
            x = Line(x.sku, min(MAX_LINE_QUANTITY, x.quantity + line.quantity), x.request_id, x.position)
            merged = True
        out.append(x)
    return out if merged else [*out, line][-MAX_LINES:]


def record(service: Service, kind: str, who: Shopper, line: Line, price: float, event_id: str | None = None) -> int:
    """Log a cart add or purchase of one line; attributed to its list when it still fits, else without."""
    base = {"kind": kind, "session_id": who.session_id, "user_id": who.user_id, "sku": line.sku, "price": price,
            "quantity": min(line.quantity, MAX_QUANTITY), "event_id": event_id}
    tries = [base]
    if line.request_id is not None:
        tries.insert(0, {**base, "request_id": line.request_id, "position": line.position})
    for body in tries:
        try:
            inserted, refused = lists.log_events(service, [EventIn(**body)])
        except (NotFound, ValidationError, ModelError) as e:
            log.info("%s of %s not attributed to list %s: %s", kind, line.sku, line.request_id, e)
            continue
        return inserted
    return 0
