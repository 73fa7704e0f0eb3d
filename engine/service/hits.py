"""The hit path: a cached list answered before FastAPI reads the request again.

On a cache hit, FastAPI's checking of a list route's parameters was most of the work: py-spy (`--gil`) on the
service answering cache hits to 8 connections put 72 % of the event loop's samples in its dependency solving,
against 14 % for the route itself. Yet a URL seen before is checked the same way again: the outcome is a
function of the URL's bytes and of settings fixed at the start.

So a list route that has checked its parameters remembers its bound list call under the request's URL: the
path and the query string byte for byte, less the shopper's own parameters (`session_id`, `user_id`), which
differ from shopper to shopper. When the same URL comes again, `HitPath` checks those two values against the
very declarations the routes use (engine.service.params: `SessionId`, `UserId`, through pydantic), works out
the list's cache key the way the route does (under the config and index versions of now) and, on a hit, answers
it as the route would have: the same body, the same `served` rows, the same headers from the middleware around
it. Anything else is left to the routes, which answer and refuse as they always did: a URL not seen, a shopper
value the declarations refuse, a repeated or escaped parameter name, a live version due a database read, a
miss, an engine error. The hit path never refuses anything itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl

import cachetools
import pydantic
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import VitrinaError
from engine.service import lists
from engine.service.errors import request_id
from engine.service.params import SessionId, Shopper, UserId
from engine.service.state import Service
from engine.text import url_problem

REMEMBERED_URLS = 20_000  # about 1 KB each
_SHOPPER = {b"session_id": pydantic.TypeAdapter(SessionId), b"user_id": pydantic.TypeAdapter(UserId)}


@dataclass(frozen=True)
class Remembered:
    """A checked list request: its bound list call (engine.service.lists), the category a lookup needs mapped,
    and the filters its impressions are logged under."""

    call: Callable[..., Any]
    category: str | None
    logged: dict[str, Any]


def _url(scope: Scope) -> tuple[tuple[str, bytes, bytes], dict[bytes, bytes]] | None:
    """The URL a checked request is remembered under (root path, raw path, the query string less the shopper's
    parameters) and the shopper's raw parameters; None for a name written with escapes (it could spell a
    shopper parameter) or a shopper parameter given twice."""
    rest, shopper = [], {}
    for piece in scope.get("query_string", b"").split(b"&"):
        name = piece.partition(b"=")[0]
        if b"%" in name or b"+" in name:
            return None
        if name in _SHOPPER:
            if name in shopper:
                return None
            shopper[name] = piece
        else:
            rest.append(piece)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return (scope.get("root_path", ""), raw_path, b"&".join(rest)), shopper


def _shopper(pieces: dict[bytes, bytes]) -> Shopper | None:
    """The shopper's values as the routes read them (decoded as Starlette decodes a query string, then checked
    against the routes' own declarations); None when those refuse one."""
    values: dict[str, Any] = {}
    for name, adapter in _SHOPPER.items():
        piece = pieces.get(name)
        pairs = parse_qsl(piece.decode("latin-1"), keep_blank_values=True) if piece is not None else []
        try:
            values[name.decode()] = adapter.validate_python(pairs[0][1] if pairs else None)
        except pydantic.ValidationError:
            return None
    return Shopper(**values)


class Hits:
    """The URLs of checked list requests (the newest `size`), and how many requests took the hit path."""

    def __init__(self, size: int = REMEMBERED_URLS):
        self._urls: cachetools.LRUCache = cachetools.LRUCache(maxsize=size)
        self.answered = 0

    def remember(self, request: Request, call: Callable[..., Any], category: str | None,
                 logged: dict[str, Any]) -> None:
        """Called by a list route once its parameters passed every check (event loop only)."""
        url = _url(request.scope)
        if url is not None:
            self._urls[url[0]] = Remembered(call, category, logged)

    def match(self, scope: Scope) -> tuple[Remembered, Shopper] | None:
        """The remembered request this one repeats, and its shopper; None unless every check holds."""
        if not self._urls:
            return None
        url = _url(scope)
        found = self._urls.get(url[0]) if url is not None else None
        if found is None or url_problem(url[0][1], scope.get("query_string", b"")) is not None:
            return None
        shopper = _shopper(url[1])
        return (found, shopper) if shopper is not None else None

    def forget(self) -> None:
        self._urls.clear()

    def status(self) -> dict[str, int]:
        return {"remembered": len(self._urls), "answered": self.answered}


class HitPath:
    """ASGI middleware, inside the request ids, the error containment and CORS: answers a GET that repeats a
    checked list request from the cache, else hands the request on."""

    def __init__(self, app: ASGIApp, service: Service, hits: Hits):
        self.app, self.service, self.hits = app, service, hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            response = await self._answer(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> Any:
        service = self.service
        found = self.hits.match(scope)
        if found is None:
            return None
        remembered, shopper = found
        try:
            served = await lists.inline(service, remembered.call, remembered.category)
        except VitrinaError:  # say, a strategy a publish removed: the route says so
            return None
        if not isinstance(served, tuple):  # a miss, or a lookup that cannot run on the loop now
            return None
        self.hits.answered += 1
        request = Request(scope)
        return lists.respond(service, served, request, request_id(request), shopper, remembered.logged)
