"""Limits on hostile input that every file reader shares: JSON nesting depth, gzip expansion (whole or
streamed), and text the databases cannot store.

Each refusal is a ValidationError (a ValueError, so the importers turn it into the row's reject) whose
message names the setting that sets the limit, so whoever hits it knows which knob exists. The limits are
read from the environment at each call (engine.settings), as every other setting is.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import re
import zlib
from typing import Any, BinaryIO

from engine.errors import ValidationError
from engine.settings import Settings

# A JSON string (escapes included) and a bracket: the depth scan skips the first and counts the second.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_CHUNK = 1 << 20


def depth_error(what: str, limit: int) -> ValidationError:
    return ValidationError(f"{what} nests deeper than {limit} levels (VITRINA_MAX_DOCUMENT_DEPTH)")


def _too_deep(text: str, limit: int) -> bool:
    """Whether the brackets outside strings nest deeper than `limit`, found in one pass over the text (the
    parser itself would recurse, so the check has to come before it)."""
    if text.count("[") + text.count("{") <= limit:  # the common case: too few brackets to be that deep
        return False
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth = max(0, depth - 1)
    return False


def load_json(text: str, what: str = "the line") -> Any:
    """json.loads refusing documents nested deeper than VITRINA_MAX_DOCUMENT_DEPTH, before parsing: deep
    input would otherwise end in a RecursionError that no row handler expects. JSONDecodeError (a
    ValueError) passes through for the caller to word."""
    limit = Settings().max_document_depth
    if _too_deep(text, limit):
        raise depth_error(what, limit)
    try:
        return json.loads(text)
    except RecursionError:  # a limit set above what the interpreter's stack allows
        raise depth_error(what, limit) from None


class _CappedGzip(io.RawIOBase):
    """Decompresses `raw` as it is read and refuses to pass `cap` bytes: a stream's consumer then holds a
    chunk at a time, whatever the file expands to."""

    def __init__(self, raw: BinaryIO, what: str, cap: int):
        self._raw, self._gz = raw, gzip.GzipFile(fileobj=raw, mode="rb")
        self._what, self._cap, self._total = what, cap, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._gz.read(len(buffer))
        except (OSError, EOFError, zlib.error) as e:  # a bad header, a truncated or damaged deflate stream
            raise ValidationError(f"corrupt gzip file: {e}") from None
        self._total += len(data)
        if self._total > self._cap:
            raise ValidationError(f"{self._what} decompresses to more than {self._cap / 2 ** 20:g} MB "
                                  "(VITRINA_MAX_DECOMPRESSED_MB)")
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._gz.close()
                self._raw.close()
            finally:
                super().close()


def open_gzip(raw: BinaryIO, what: str, cap: int) -> BinaryIO:
    """A buffered stream of the decompressed bytes of the gzip stream `raw` (closed with it), refused with
    a ValidationError naming VITRINA_MAX_DECOMPRESSED_MB once more than `cap` bytes come out of it."""
    return io.BufferedReader(_CappedGzip(raw, what, cap), _CHUNK)


def gunzip(data: bytes, what: str) -> bytes:
    """The decompressed bytes, read a chunk at a time and refused as soon as they pass
    VITRINA_MAX_DECOMPRESSED_MB: a few megabytes of gzip can expand to gigabytes."""
    out = bytearray()
    with open_gzip(io.BytesIO(data), what, Settings().max_decompressed_bytes) as f:
        while chunk := f.read(_CHUNK):
            out += chunk
    return bytes(out)


def unstorable(value: Any, what: str) -> str | None:
    """Why a value cannot be stored as text or JSON by SQLite and PostgreSQL alike (a NUL character, a lone
    surrogate that has no UTF-8 form, a non-finite number in JSON), or None when it can. Walks nested lists
    and dicts, whose depth the JSON readers have already bounded."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{what} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"{what} contains {value[e.start]!r}, a lone surrogate that is not valid UTF-8"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{what} must be a finite number, got {value}"
    if isinstance(value, dict):
        for k, v in value.items():
            reason = unstorable(k, f"a key of {what}") if isinstance(k, str) else None
            if reason or (reason := unstorable(v, f"{what}[{k!r}]")):
                return reason
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if reason := unstorable(v, f"{what}[{i}]"):
                return reason
    return None
