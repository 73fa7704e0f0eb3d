"""The events route as browsers' beacons reach it. `navigator.sendBeacon` posts a string as
`text/plain;charset=UTF-8` (a JSON Blob would need a CORS preflight a beacon cannot make), so the route reads
a text/plain body as the JSON it is — within the same size and time limits as any events body."""
from __future__ import annotations

from typing import Any, Callable

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from engine.service.requests import bounded

JSON = (b"content-type", b"application/json")


def beacon_route(limit: int, what: str) -> type[APIRoute]:
    """`bounded(limit, what)` that also takes a text/plain body as JSON."""

    class BeaconRoute(bounded(limit, what)):  # type: ignore[misc]
        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()

            async def as_json(request: Request) -> Response:
                kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind == "text/plain":
                    scope = {**request.scope, "headers": [
                        *(h for h in request.scope["headers"] if h[0].lower() != b"content-type"), JSON]}
                    request = Request(scope, request.receive)
                return await handle(request)

            return as_json

    return BeaconRoute
