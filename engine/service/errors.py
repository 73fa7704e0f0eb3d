"""Every failure as JSON `Error` {"error", "message", "request_id"}, never a traceback.

    400  a bad parameter or body: FastAPI's RequestValidationError and the engine's ValidationError
    404  an unknown product, user mark or route (NotFound, Starlette's 404)
    408  a body that did not arrive in time (RequestTimeout; engine.service.requests.ReadDeadline)
    413  a body over its limit (PayloadTooLarge; also a body with too many items)
    503  the index, the store or the config is not usable (any other VitrinaError)
    500  anything else ("InternalError"), logged with its traceback server-side

The 500 is answered by the ContainErrors middleware, not by Starlette's error middleware: that one re-raises
after answering, and uvicorn then drops the keep-alive connection, so a client's next request on it fails.

Pydantic's errors are rewritten into the service's own sentences, "<where>: <field> <problem>" ("limit must
be at least 1, got 0", "event 2: ts 'yesterday' is not ISO 8601"), so a shopper-facing client shows the
same wording whichever layer found the problem."""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import ConfigError, NotFound, ValidationError, VitrinaError
from engine.service.models import TOKEN, TOO_LARGE, Error

log = logging.getLogger(__name__)

REQUEST_ID = re.compile(TOKEN)
LOCATIONS = ("query", "path", "body", "header", "cookie")
LIST_ITEM = "event"  # the events body is the API's only list body: its items are named "event <n>"


class PayloadTooLarge(VitrinaError):
    """A request body over its limit (413)."""


class RequestTimeout(VitrinaError):
    """A request body that did not arrive within its time (408); the connection is closed after the answer."""


def new_request_id(headers: Headers) -> str:
    """The caller's X-Request-Id when it is a safe token (it goes into logs and headers), else a new one."""
    given = headers.get("x-request-id", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


def request_id(request: Request) -> str:
    """The id this request is answered and logged under, set once per request by
    engine.service.requests.RequestIds (a new one for a request that never passed it)."""
    return getattr(request.state, "request_id", None) or new_request_id(request.headers)


def error_response(request: Request, status: int, name: str, message: str,
                   errors: list[str] | None = None) -> JSONResponse:
    rid = request_id(request)
    body = Error(error=name, message=message, request_id=rid, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers={"X-Request-Id": rid})


# ---------------------------------------------------------------- pydantic's errors in the service's words

def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _problem(err: dict[str, Any]) -> str:
    """What is wrong, worded to follow the field's name."""
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "is required"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {given!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {given!r}"
    if kind == "finite_number":
        return f"must be a finite number, got {given!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {given!r}"
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx['ge'])}, got {given}"
    if kind == "greater_than":
        return f"must be more than {_number(ctx['gt'])}, got {given}"
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx['le'])}, got {given}"
    if kind == "less_than":
        return f"must be less than {_number(ctx['lt'])}, got {given}"
    if kind == "string_too_short":
        return "is empty" if ctx.get("min_length") == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_unicode":
        return "is not valid Unicode: it holds a lone surrogate"
    if kind == "string_type":
        return f"must be text, got {given!r}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}, got {given!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {given!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a JSON object, got {type(given).__name__}"
    if kind == "list_type":
        return f"expected a list, got {type(given).__name__}"
    if kind == "too_long":
        return f"has {ctx.get('actual_length')} values; the limit is {ctx.get('max_length')}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind == "json_invalid":
        return f"the body is not JSON: {ctx.get('error', err['msg'])}"
    return err["msg"]


def describe(err: dict[str, Any]) -> str:
    """One pydantic error as a sentence: "<where>: <field> <problem>"."""
    loc = list(err.get("loc") or ())
    if loc and loc[0] in LOCATIONS:
        loc = loc[1:]
    where = None
    if loc and isinstance(loc[0], int):
        where, loc = f"{LIST_ITEM} {loc[0]}", loc[1:]
    name = ".".join(str(part) for part in loc)
    if err["type"] == "extra_forbidden":
        text = f"unknown field {name}"
    elif err["type"] == "json_invalid" or not name:
        text = _problem(err)
    else:
        text = f"{name} {_problem(err)}"
    return f"{where}: {text}" if where else text


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = list(exc.errors())
    too_large = [e for e in found if e["type"] == TOO_LARGE]
    if too_large:
        return error_response(request, 413, PayloadTooLarge.__name__, too_large[0]["msg"])
    messages = list(dict.fromkeys(describe(e) for e in found)) or ["the request is invalid"]
    return error_response(request, 400, ValidationError.__name__, "; ".join(messages),
                          messages if len(messages) > 1 else None)


# ---------------------------------------------------------------- the engine's errors

def _status(exc: Exception) -> int:
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, RequestTimeout):
        return 408
    if isinstance(exc, ValidationError):  # InvalidImage included: a corrupt or non-image upload
        return 400
    if isinstance(exc, NotFound):
        return 404
    return 503  # EncoderMismatch, ConfigError, an empty index, a locked or closed store


async def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    status = _status(exc)
    if status == 503:
        log.error("request %s: %s", request.url.path, exc)
    errors = exc.errors if isinstance(exc, ConfigError) and exc.errors else None
    response = error_response(request, status, type(exc).__name__, str(exc), errors)
    if status == 408:
        response.headers["Connection"] = "close"  # the rest of a slow body is not waited for
    return response


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = error_response(request, exc.status_code, "HTTPError", str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)  # Allow on a 405
    return response


INTERNAL_MESSAGE = "internal error: the service log has the details"


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("request %s failed", request.url.path, exc_info=exc)
    return error_response(request, 500, "InternalError", INTERNAL_MESSAGE)


class ContainErrors:
    """ASGI middleware: an exception no handler took becomes the JSON 500 and ends there, so the server keeps
    the connection open for the client's next request. One raised after the answer began is passed on: the
    answer is broken and the connection has to go."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise
            response = await _internal(Request(scope), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(VitrinaError, _engine_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
