"""What every entry point (the engine facade, the HTTP service and the command line) refuses of its text and id
inputs, worded once so all say the same thing.

- Product ids are BIGINT: 1..2^63-1. A bigger one reaches SQLite or Postgres as an OverflowError, a bug
  report rather than an answer, so it is refused where it enters.
- Text never holds NUL (C libraries, Postgres and log files cut or refuse it) or a lone surrogate (not
  encodable as UTF-8: the database driver, the JSON writer and the log all fail on it). A URL's invalid
  UTF-8 is decoded by the server into U+FFFD, so it is checked on the raw bytes instead.
- A search text made only of NUL, whitespace and invisible bidi controls searches for nothing: empty.

A leaf: plain Python, imported by every layer above it."""
from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

MAX_ID = 2 ** 63 - 1  # the product ids are BIGINT
BIDI_MARKS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"^[0-9]+$")  # str.isdigit() also takes other scripts' digits, which int() reads too


def text_problem(value: str) -> str | None:
    """Why `value` is no acceptable text (worded to follow a field's name), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "is not valid Unicode: it holds a lone surrogate"
    return None


def is_blank(value: str) -> bool:
    """True when nothing but NUL, whitespace and bidi marks is left: a search for nothing."""
    return all(ch == "\x00" or ch.isspace() or ch in BIDI_MARKS for ch in value)


def id_problem(value: int) -> str | None:
    """Why `value` is not a product id, or None."""
    if not 1 <= value <= MAX_ID:
        return f"must be a product id between 1 and {MAX_ID}, got {value}"
    return None


def key_problem(value: str) -> str | None:
    """Why `value`, a product id or SKU as text, names no product: bad text, or all digits out of the id
    range (the catalog tries an unknown all-digit SKU as an id)."""
    problem = text_problem(value)
    if problem is None and _DIGITS.match(value.strip()):
        problem = id_problem(int(value.strip()))
    return problem


def product_key(value: str) -> int | str:
    """A product named as text: ASCII digits are a product id, anything else a SKU; ValueError (the
    problem, to follow the name of the argument) when it can be neither."""
    problem = key_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return int(value) if _DIGITS.match(value) else value


def url_problem(raw_path: bytes, query_string: bytes) -> str | None:
    """Why a request's URL is refused before its parts are read: percent-escapes that are not UTF-8."""
    for part, raw in (("path", raw_path), ("query string", query_string)):
        try:
            unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as e:
            return f"the URL's {part} is not valid UTF-8 (byte {e.start}: {e.reason})"
    return None
