"""What is checked of a request before a route reads it: its id, its body size and time, and its URL.

- Every request gets an id (the caller's X-Request-Id when it is a safe token), echoed in the X-Request-Id
  header and in every JSON body, and logged with its impressions.
- A body is read with a limit before FastAPI parses it, and refused with 413 as soon as it passes the
  limit (before reading anything when the declared length already does): FastAPI itself would read a
  body of any size into memory.
- A body must arrive within VITRINA_BODY_TIMEOUT seconds of the request's headers (ReadDeadline), else 408 and the
  connection is closed: a client dripping its body would otherwise hold a connection and a worker for as
  long as it likes. (Slow headers are the server's part: engine.service.server.)
- A URL whose percent-escapes are not UTF-8 is refused (400): the server decodes them into U+FFFD, so a
  lone surrogate sent as %ED%A0%80 would otherwise be looked up as a product or category named "\ufffd".
- Unknown and repeated query parameters are refused (400). FastAPI would ignore a misspelt filter and
  silently serve an unfiltered list, and take the last of a repeated one. The allowed names are read from
  the generated /openapi.json, so the refusal and the document name the same parameters.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import ValidationError
from engine.service.errors import PayloadTooLarge, RequestTimeout, new_request_id, request_id
from engine.text import url_problem



class RequestIds:
    """ASGI middleware: sets request.state.request_id and the X-Request-Id response header, and on every
    response (errors and photos too) X-Config-Version: the live config version the service serves."""

    def __init__(self, app: ASGIApp, config_version: Callable[[], int | None] = lambda: None):
        self.app, self.config_version = app, config_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id(Headers(scope=scope))
        scope["state"] = {**scope.get("state", {}), "request_id": rid}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers.append("X-Request-Id", rid)
                version = self.config_version()
                if version is not None:
                    headers.append("X-Config-Version", str(version))
            await send(message)

        await self.app(scope, receive, send_with_id)


class ReadDeadline:
    """ASGI middleware: the body's messages must all arrive within `seconds` of the request's start, else the
    route's read raises RequestTimeout (408). Waiting for the disconnect after the body has no deadline."""

    def __init__(self, app: ASGIApp, seconds: float):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline, complete = time.monotonic() + self.seconds, False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            message: Message | None = None
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                message = await receive()
            if message is None:
                raise RequestTimeout(f"the request body did not arrive within {self.seconds:g} s")
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)


async def current_request_id(request: Request) -> str:
    """The request id, as a dependency of the routes that put it in their bodies."""
    return request_id(request)


# ---------------------------------------------------------------- bodies

async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (before reading it when the length is declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{what} is {int(declared)} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} is over {limit} bytes; the limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _replaying(request: Request, body: bytes) -> Request:
    """The request again, its body served from memory (it was read with a limit) to FastAPI's parser."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()  # after the body: wait for the disconnect as usual

    return Request(request.scope, receive)


def bounded(limit: int, what: str) -> type[APIRoute]:
    """A route class whose body is read, `limit` bytes at most, before FastAPI parses it."""

    class BoundedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handle = super().get_route_handler()

            async def read_then_handle(request: Request) -> Response:
                body = await read_body(request, limit, what)
                return await handle(_replaying(request, body))

            return read_then_handle

    return BoundedRoute


# ---------------------------------------------------------------- query strings

def _is_list(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(_is_list(s) for s in schema.get("anyOf", ()))


def query_parameters(app: FastAPI) -> dict[tuple[str, str], tuple[list[str], set[str]]]:
    """(path, METHOD) → (the query parameters /openapi.json documents for it, those that take a list)."""
    table = getattr(app.state, "query_parameters", None)
    if table is None:
        table = {}
        for path, operations in app.openapi()["paths"].items():
            for method, op in operations.items():
                query = [p for p in op.get("parameters", ()) if p["in"] == "query"]
                table[(path, method.upper())] = (sorted(p["name"] for p in query),
                                                 {p["name"] for p in query if _is_list(p["schema"])})
        app.state.query_parameters = table
    return table


async def admit(request: Request) -> None:
    """Runs first on every route (an app-wide dependency). Refuses a URL that is not UTF-8, then takes a new
    live config version (asked of the database at most once a second, in a worker thread) before anything
    else, so the parameters are checked against the config this request is served with; then refuses
    unknown and repeated query parameters."""
    problem = url_problem(request.scope.get("raw_path") or request.url.path.encode(),
                          request.scope.get("query_string", b""))
    if problem is not None:
        raise ValidationError(problem)
    service = request.app.state.service
    if service.due():
        await run_in_threadpool(service.current)
    route = request.scope.get("route")
    allowed, lists = query_parameters(request.app).get((getattr(route, "path_format", ""), request.method),
                                                       ([], set()))
    given = request.query_params
    unknown = sorted(set(given.keys()) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                              f"(allowed: {', '.join(allowed) or 'none'})")
    for name in allowed:
        count = len(given.getlist(name))
        if count > 1 and name not in lists:
            raise ValidationError(f"{name} is given {count} times; give it once")


async def multipart(request: Request) -> None:
    """The photo upload must be a multipart form: anything else is answered with how to send it."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ValidationError('send the photo as multipart/form-data with the field "image"')
