"""How the service is put on the network (uvicorn), with the time limits uvicorn lacks.

uvicorn closes a keep-alive connection that stays idle after an answer, but any byte cancels that timer and
nothing limits how long a request's headers take: a client sending its headers a byte at a time (or
nothing at all on a new connection) holds the connection for ever. The guarded protocols (httptools, h11)
give every request's headers VITRINA_HEADER_TIMEOUT seconds from the moment the connection is waiting for
them (it opened, or the last answer was sent), then answer 408 and close. The body's limit is the app's (engine.service.requests.ReadDeadline),
since only the route knows whether it reads one."""
from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
import json
import uuid
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from engine.settings import Settings


class HeaderDeadline(ABC):
    """The deadline on each request's headers, for either of uvicorn's HTTP protocols: armed when the connection
    opens and after each answer, disarmed when a request's headers are complete. Subclass a guarded protocol to
    change `header_seconds` (a class, not an instance, is what uvicorn takes, also to hand to worker processes);
    left at None it is VITRINA_HEADER_TIMEOUT, read when the connection opens."""

    header_seconds: float | None = None
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._deadline = self.header_seconds if self.header_seconds is not None else Settings().header_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # before the next pipelined request, if any, is read (which disarms it again)
        super().on_response_complete()  # type: ignore[misc]

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._deadline, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    @abstractmethod
    def _late_answer(self) -> bytes | None:
        """The 408 to write when the headers are late (None: the connection is mid-message, just close)."""

    def _timeout_body(self) -> bytes:
        return json.dumps({"error": "RequestTimeout", "request_id": uuid.uuid4().hex, "message": (
            f"the request headers did not arrive within {self._deadline:g} s")}).encode()

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        answer = self._late_answer()
        if answer:
            self.transport.write(answer)
        self.transport.close()


class GuardedH11Protocol(HeaderDeadline, H11Protocol):
    """uvicorn's pure-Python h11 protocol with the header deadline."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._awaited_after: object = None  # the cycle answered before the request the timer waits for
        super().__init__(*args, **kwargs)

    def _arm(self) -> None:
        super()._arm()
        self._awaited_after = self.cycle

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.cycle is not self._awaited_after:
            self._disarm()  # a new request's headers arrived: its body is the app's to time

    def _late_answer(self) -> bytes | None:
        try:
            if self.conn.our_state is not h11.IDLE:
                return None
            return b"".join((self.conn.send(h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                (b"content-type", b"application/json"), (b"connection", b"close")])),
                self.conn.send(h11.Data(data=self._timeout_body())), self.conn.send(h11.EndOfMessage())))
        except h11.LocalProtocolError:
            return None  # h11 cannot answer in its state: closing is the answer


class GuardedHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser: the fast one) with the header deadline."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._body_pending = False  # an answered request whose body the client is still sending
        super().__init__(*args, **kwargs)

    def on_headers_complete(self) -> None:
        self._disarm()  # its body is the app's to time
        self._body_pending = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_pending = False
        super().on_message_complete()

    def _late_answer(self) -> bytes | None:
        if self._body_pending or (self.cycle is not None and not self.cycle.response_complete):
            return None
        body = self._timeout_body()
        return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


GuardedProtocol = type[HeaderDeadline]
DEFAULT_PROTOCOL: GuardedProtocol = GuardedHttpToolsProtocol  # the C parser (pinned in requirements.txt)


def server_config(app: Any, host: str, port: int, log_level: str = "info",
                  protocol: GuardedProtocol = DEFAULT_PROTOCOL, **options: Any) -> uvicorn.Config:
    """uvicorn's config for the service: the guarded protocol and the keep-alive limit (VITRINA_KEEP_ALIVE)."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol,
                          timeout_keep_alive=Settings().keep_alive, **options)
