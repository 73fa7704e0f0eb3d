"""The rows of event files, read into validated Events for engine.insights.event_import (which documents the
formats): generic CSV and JSONL rows, OTTO session lines, and the times they give (ISO 8601 or epoch ms).

Each reader yields (line number, (event, sku to resolve)) and appends a bad row's reason to the report, so one
bad row never stops the good ones.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import datetime, timedelta
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from engine.catalog.events import EPOCH
from engine.catalog.importers.limits import load_json
from engine.catalog.importers.parsing import listing
from engine.errors import ValidationError
from engine.insights.events import Event, to_utc_naive, whole_number

OTTO_KINDS = {"clicks": "click", "carts": "cart_add", "orders": "purchase"}
_MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01: anything earlier is almost surely epoch seconds
_DIGITS_RE = re.compile(r"\d+")


@dataclass
class ImportReport:
    """What an import did: rows read (= inserted + duplicates + rejected), new rows, rows already stored, and
    each bad row with its line number (an OTTO line counts once per bad event in it)."""

    format: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    without_price: int = 0  # good purchase rows without a price (re-imports too): purchases, never revenue

    @property
    def summary(self) -> str:
        return (f"{self.format}: {self.rows} rows, {self.inserted} inserted, {self.duplicates} already present, "
                f"{len(self.rejected)} rejected, {self.without_price} purchases without price")


def epoch_ms(v: Any, name: str = "ts") -> datetime:
    """A time from epoch milliseconds (event files give them as numbers or digit strings)."""
    ms = whole_number(v, name)
    if ms < _MIN_EPOCH_MS:
        raise ValidationError(f"{name} {ms} is before 2000: epoch milliseconds expected (is it epoch seconds?)")
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValidationError(f"{name} {ms} is out of range") from None


def parse_ts(v: Any) -> datetime:
    """A naive UTC time from ISO 8601 text (no offset = UTC) or epoch milliseconds, as event files write it."""
    if v is None or v == "":
        raise ValidationError("ts is missing")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return epoch_ms(v)
    if isinstance(v, str):
        s = v.strip()
        if _DIGITS_RE.fullmatch(s):
            return epoch_ms(s)
        try:
            parsed = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
        except ValueError:
            raise ValidationError(f"ts {v!r} is neither ISO 8601 nor epoch milliseconds") from None
        try:
            return to_utc_naive(parsed)
        except OverflowError:  # an offset that carries the time past year 1 or 9999
            raise ValidationError(f"ts {v!r} is out of range") from None
    raise ValidationError(f"ts {v!r} is neither ISO 8601 nor epoch milliseconds")


def _unexpected(e: Exception) -> str:
    """The reject reason of an error no validation foresaw (say an offset date past year 9999): the row's
    own, never the import's."""
    return f"unreadable row ({type(e).__name__}: {e})"


def _digest(*parts: Any) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


# ---- OTTO -----------------------------------------------------------------------------------------------------

def _json_lines(lines: Iterable[str], bad_utf8: set[int], report: ImportReport) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line; undecodable or malformed lines are rejected."""
    for no, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if no in bad_utf8:
            report.rejected.append((no, "not valid UTF-8"))
            continue
        try:
            obj = load_json(text)
        except json.JSONDecodeError as e:
            report.rejected.append((no, f"not valid JSON: {e.msg}"))
            continue
        except ValueError as e:  # nested too deep, or an integer past Python's digit limit
            report.rejected.append((no, str(e)))
            continue
        yield no, obj


def otto_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
               ) -> Iterator[tuple[int, tuple[Event, None]]]:
    for no, obj in _json_lines(lines, bad_utf8, report):
        if not isinstance(obj, dict) or "session" not in obj or not isinstance(obj.get("events"), list):
            report.rejected.append((no, 'expected {"session": int, "events": [...]}'))
            continue
        try:
            session = whole_number(obj["session"], "session", minimum=0)
        except ValidationError as e:
            report.rejected.append((no, str(e)))
            continue
        except Exception as e:  # whatever one line provokes is that line's reject alone
            report.rejected.append((no, _unexpected(e)))
            continue
        for i, e in enumerate(obj["events"]):
            try:
                if not isinstance(e, dict):
                    raise ValidationError("not an object")
                kind = OTTO_KINDS.get(e.get("type"))  # type: ignore[arg-type]
                if kind is None:
                    raise ValidationError(f"unknown type {e.get('type')!r}: use clicks, carts or orders")
                aid = whole_number(e.get("aid"), "aid", minimum=0)
                if e.get("ts") is None:
                    raise ValidationError("ts is missing")
                ts = epoch_ms(e["ts"])
                ev = Event(kind, f"otto-{session}", aid, ts=ts,
                           external_id="otto:" + _digest(session, aid, whole_number(e["ts"], "ts"), e["type"])).validate()
            except ValidationError as err:
                report.rejected.append((no, f"event {i}: {err}"))
                continue
            except Exception as err:
                report.rejected.append((no, f"event {i}: {_unexpected(err)}"))
                continue
            yield no, (ev, None)


# ---- generic CSV / JSONL -------------------------------------------------------------------------------------

def _opt(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def _opt_text(v: Any, name: str) -> str | None:
    v = _opt(v)
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # numeric ids in JSON
    raise ValidationError(f"{name} must be text, got {v!r}")


def _opt_number(v: Any, name: str) -> Any:
    """A CSV cell's number as a float (JSON numbers pass as they are, for Event.validate to check)."""
    v = _opt(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise ValidationError(f"{name} must be a number, got {v!r}") from None
    return v


def _generic_event(rec: dict[str, Any]) -> tuple[Event, str | None]:
    kind = _opt_text(rec.get("kind"), "kind")
    if kind is None:
        raise ValidationError("kind is missing")
    ts = parse_ts(_opt(rec.get("ts")))
    session = _opt_text(rec.get("session_id"), "session_id")
    if session is None:
        raise ValidationError("session_id is missing")
    pid, sku = _opt(rec.get("product_id")), _opt_text(rec.get("sku"), "sku")
    if pid is None and sku is None:
        raise ValidationError("product_id or sku is missing")
    score = _opt_number(rec.get("score"), "score")
    filters = _opt(rec.get("filters"))
    if isinstance(filters, str):
        try:
            filters = load_json(filters, "filters")
        except json.JSONDecodeError:
            raise ValidationError(f"filters must be a JSON object, got {filters!r}") from None
    src = _opt(rec.get("source_product_id"))
    price = _opt_number(rec.get("price"), "price")
    pos = _opt(rec.get("position"))
    ev = Event(kind, session, whole_number(pid, "product_id", minimum=0) if pid is not None else 0, ts=ts,
               user_id=_opt_text(rec.get("user_id"), "user_id"),
               source_product_id=src, query=_opt_text(rec.get("query"), "query"),
               algorithm=_opt_text(rec.get("algorithm"), "algorithm"),
               strategy=_opt_text(rec.get("strategy"), "strategy"), position=pos, score=score, filters=filters,
               experiment=_opt_text(rec.get("experiment"), "experiment"),
               variant=_opt_text(rec.get("variant"), "variant"),
               config_version=_opt(rec.get("config_version")),
               request_id=_opt_text(rec.get("request_id"), "request_id"), price=price,
               quantity=_opt(rec.get("quantity"))).validate()
    event_id = _opt_text(rec.get("event_id"), "event_id")
    if event_id is not None:
        ev.external_id = "id:" + _digest(event_id)
    else:
        ev.external_id = "gen:" + _digest(ev.kind, ev.ts.isoformat(), ev.user_id, ev.session_id,
                                          f"p{pid}" if pid is not None else f"s{sku}", ev.source_product_id,
                                          ev.query, ev.algorithm, ev.strategy, ev.position, ev.score,
                                          ev.experiment, ev.variant,  # a version only when given: the
                                          *([ev.config_version] if ev.config_version else []),  # old ids stay
                                          *([f"r{ev.request_id}"] if ev.request_id else []),
                                          *([f"${ev.price!r}x{ev.quantity}"] if ev.price is not None
                                            or ev.quantity is not None else []))
    return ev, (sku if pid is None else None)


def jsonl_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
                ) -> Iterator[tuple[int, tuple[Event, str | None]]]:
    for no, obj in _json_lines(lines, bad_utf8, report):
        if not isinstance(obj, dict):
            report.rejected.append((no, "expected a JSON object"))
            continue
        try:
            yield no, _generic_event({str(k).strip().lower(): v for k, v in obj.items()})
        except ValidationError as e:
            report.rejected.append((no, str(e)))
        except Exception as e:
            report.rejected.append((no, _unexpected(e)))


def csv_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
              ) -> Iterator[tuple[int, tuple[Event, str | None]]]:
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as e:
        raise ValidationError(f"line 1: unreadable CSV header: {e}") from None
    missing = [c for c in ("kind", "ts", "session_id") if c not in header]
    if "product_id" not in header and "sku" not in header:
        missing.append("product_id or sku")
    if missing:
        raise ValidationError(f"the CSV header lacks column(s): {', '.join(missing)}; it has: {listing(header)}")
    last = reader.line_num
    while True:
        start = last + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            last = reader.line_num
            report.rejected.append((start, f"unreadable CSV: {e}"))
            continue
        last = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if any(n in bad_utf8 for n in range(start, last + 1)):
            report.rejected.append((start, "not valid UTF-8"))
            continue
        if len(cells) != len(header):
            report.rejected.append((start, f"expected {len(header)} fields, found {len(cells)}"))
            continue
        try:
            yield start, _generic_event(dict(zip(header, cells)))
        except ValidationError as e:
            report.rejected.append((start, str(e)))
        except Exception as e:
            report.rejected.append((start, _unexpected(e)))
