"""The event log: what shoppers saw and did with recommendations, written by the API/simulator or imported.

Every click, cart add and purchase carries the algorithm, strategy and (for experiments) variant of the list it
came from, so the analytics attribute outcomes with a plain GROUP BY and no session replay.

Import formats (`import_events`):

* Generic CSV (header row) or JSONL (one object a line). Columns / keys, case-insensitive:

  ========================= ======== ==========================================================================
  column                    required meaning
  ========================= ======== ==========================================================================
  kind                      yes      impression | click | cart_add | purchase
  ts                        yes      ISO 8601 (``2024-05-01T10:00:00Z``; no offset = UTC) or epoch milliseconds
  session_id                yes      shopper session
  product_id *or* sku       yes      acted-on product: a numeric id as given, or a catalog SKU looked up here
  user_id                            signed-in shopper
  source_product_id                  the product the recommendation list was built for
  query                              or the search text it was built for
  algorithm, strategy                what produced the list (vector_text, vector_combined, trending, ...)
  position                           slot in the list, 0 = first
  score                              the score the list showed
  experiment, variant                A/B experiment and the variant the shopper saw
  filters                            JSON object of the filters the list was served with
  event_id                           the source system's id; without it the row's content is its identity
  ========================= ======== ==========================================================================

  Empty values mean "absent"; other columns are ignored.

* OTTO sessions (github.com/otto-de/recsys-dataset): ``{"session": int, "events": [{"aid": int, "ts": epoch ms,
  "type": "clicks" | "carts" | "orders"}]}`` a line → click / cart_add / purchase in session ``otto-<session>``
  with product_id = aid (an external id: no catalog match needed).

Each imported row gets a deterministic `external_id` (the file's event_id, or a hash of the row's content) that
is unique in the table, so importing the same file again adds nothing.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import numbers
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from engine.catalog.db import Database
from engine.catalog.models import Product
from engine.errors import ValidationError
from engine.catalog.events import EPOCH, EventRow, day_number

EVENT_KINDS = ("impression", "click", "cart_add", "purchase")
ALGORITHMS = ("vector_text", "vector_image", "vector_combined", "personalised", "complete_the_look", "trending",
              "search_text", "search_image", "fbt")  # the engine's own; other identifier-like names are accepted
OTTO_KINDS = {"clicks": "click", "carts": "cart_add", "orders": "purchase"}
MAX_QUERY_CHARS = 2000
ALGORITHM_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,32}")  # fits events.algorithm (String(32))
_MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01: anything earlier is almost surely epoch seconds
MAX_INT, MAX_BIGINT = 2 ** 31 - 1, 2 ** 63 - 1  # events.position is INTEGER, the product ids BIGINT
_LIMITS = {"user_id": 128, "session_id": 128, "strategy": 64, "experiment": 128, "variant": 64, "external_id": 128}

Progress = Callable[[int, int], None]


def to_utc_naive(ts: datetime) -> datetime:
    """The log stores naive UTC; an aware time is converted, a naive one is taken as UTC already."""
    if not isinstance(ts, datetime):
        raise ValidationError(f"ts must be a datetime, got {ts!r}")
    return ts.astimezone(timezone.utc).replace(tzinfo=None) if ts.tzinfo is not None else ts


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class Event:
    """One shopper action. `product_id` is the recommended or acted-on product; `position` is 0-based."""

    kind: str
    session_id: str
    product_id: int
    ts: datetime | None = None  # None = now
    user_id: str | None = None
    source_product_id: int | None = None
    query: str | None = None
    algorithm: str | None = None
    strategy: str | None = None
    position: int | None = None
    score: float | None = None
    filters: dict | None = None
    experiment: str | None = None
    variant: str | None = None
    simulated: bool = False
    external_id: str | None = None

    def validate(self) -> "Event":
        """Raise ValidationError naming the first bad field; normalise types in place."""
        if self.kind not in EVENT_KINDS:
            raise ValidationError(f"unknown event kind {self.kind!r}: use one of {', '.join(EVENT_KINDS)}")
        self.ts = utc_now() if self.ts is None else to_utc_naive(self.ts)
        if not isinstance(self.session_id, str) or not self.session_id.strip():
            raise ValidationError("session_id must be a non-empty string")
        self.product_id = _whole(self.product_id, "product_id", minimum=0, maximum=MAX_BIGINT)
        if self.source_product_id is not None:
            self.source_product_id = _whole(self.source_product_id, "source_product_id", minimum=0,
                                            maximum=MAX_BIGINT)
        if self.position is not None:
            self.position = _whole(self.position, "position", minimum=0, maximum=MAX_INT)
        if self.score is not None:
            if isinstance(self.score, bool) or not isinstance(self.score, numbers.Real):  # numpy floats too
                raise ValidationError(f"score must be a number, got {self.score!r}")
            self.score = float(self.score)
            if not math.isfinite(self.score):
                raise ValidationError(f"score must be a finite number, got {self.score}")
        for name, limit in _LIMITS.items():
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v or len(v) > limit):
                raise ValidationError(f"{name} must be a non-empty string of at most {limit} characters, got {v!r}")
        for name in ("query", *_LIMITS):
            if isinstance(v := getattr(self, name), str) and "\x00" in v:  # PostgreSQL text cannot hold it
                raise ValidationError(f"{name} must not contain NUL characters")
        if self.algorithm is not None and (not isinstance(self.algorithm, str)
                                           or not ALGORITHM_NAME.fullmatch(self.algorithm)):
            raise ValidationError(f"algorithm must be a short identifier such as {ALGORITHMS[0]}, "
                                  f"got {self.algorithm!r}")
        if self.query is not None:
            if not isinstance(self.query, str):
                raise ValidationError(f"query must be text, got {self.query!r}")
            if len(self.query) > MAX_QUERY_CHARS:
                raise ValidationError(f"query is longer than {MAX_QUERY_CHARS} characters")
        if self.filters is not None:
            if not isinstance(self.filters, dict):
                raise ValidationError(f"filters must be a JSON object, got {self.filters!r}")
            try:
                json.dumps(self.filters, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise ValidationError(f"filters are not JSON-serialisable: {e}") from None
        if (self.variant is None) != (self.experiment is None):
            raise ValidationError("experiment and variant go together: give both or neither")
        return self

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in _EVENT_FIELDS}
        row["simulated"] = 1 if self.simulated else 0
        return row


_EVENT_FIELDS = tuple(f.name for f in fields(Event))
_INT_RE = re.compile(r"[+-]?\d+")
_DIGITS_RE = re.compile(r"\d+")


def _whole(v: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(v, bool):
        raise ValidationError(f"{name} must be a whole number, got {v!r}")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValidationError(f"{name} must be a whole number, got {v!r}")
        v = int(v)
    elif isinstance(v, str):
        s = v.strip()
        if not _INT_RE.fullmatch(s):
            raise ValidationError(f"{name} must be a whole number, got {v!r}")
        v = int(s)
    elif not isinstance(v, int):
        try:
            v = int(v.__index__())  # numpy integers
        except (AttributeError, TypeError):
            raise ValidationError(f"{name} must be a whole number, got {v!r}") from None
    if minimum is not None and v < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValidationError(f"{name} must be at most {maximum}, got {v}")
    return v


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert validated rows (Event.to_row() shape), skipping external ids already stored or repeated in the
    batch. Returns (inserted, duplicates). Rows without an external_id are always new."""
    if not rows:
        return 0, 0
    for r in rows:
        r["day"] = day_number(r["ts"])
    seen: set[str] = set()
    keyed = [r["external_id"] for r in rows if r["external_id"] is not None]
    existing: set[str] = set()
    for i in range(0, len(keyed), 500):
        chunk = keyed[i:i + 500]
        existing.update(conn.execute(select(EventRow.external_id).where(EventRow.external_id.in_(chunk))).scalars())
    fresh = []
    for r in rows:
        key = r["external_id"]
        if key is not None:
            if key in existing or key in seen:
                continue
            seen.add(key)
        fresh.append(r)
    if fresh:
        conn.execute(insert(EventRow), fresh)
    return len(fresh), len(rows) - len(fresh)


class EventLog:
    """Writes events in one transaction per call: a call with any invalid event writes nothing."""

    def __init__(self, db: Database):
        self.db = db

    def log(self, *events: Event) -> int:
        return self.log_many(events)

    def log_many(self, events: Iterable[Event]) -> int:
        """Validate all, then insert; events whose external_id is already stored are skipped (retries are safe).
        Returns the number written."""
        rows = []
        for i, e in enumerate(events):
            if not isinstance(e, Event):
                raise ValidationError(f"item {i} is not an Event: {e!r}")
            try:
                rows.append(e.validate().to_row())
            except ValidationError as err:
                raise ValidationError(f"event {i}: {err}") from None
        with self.db.engine.begin() as conn:
            return insert_rows(conn, rows)[0]

    def log_impressions(self, served: Sequence[tuple[int, int, float]], *, session_id: str,
                        algorithm: str, user_id: str | None = None, strategy: str | None = None,
                        source_product_id: int | None = None, query: str | None = None,
                        filters: dict | None = None, experiment: str | None = None, variant: str | None = None,
                        ts: datetime | None = None, simulated: bool = False) -> int:
        """One impression per served (product_id, position, score), sharing the list's context and timestamp."""
        if isinstance(served, (str, bytes)) or not isinstance(served, Sequence):
            raise ValidationError("served must be a list of (product_id, position, score)")
        ts = utc_now() if ts is None else ts
        events = []
        for i, item in enumerate(served):
            if not isinstance(item, (tuple, list)) or len(item) != 3:
                raise ValidationError(f"served item {i} must be (product_id, position, score), got {item!r}")
            pid, pos, score = item
            events.append(Event("impression", session_id, pid, ts=ts, user_id=user_id,
                                source_product_id=source_product_id, query=query, algorithm=algorithm,
                                strategy=strategy, position=pos, score=score, filters=filters,
                                experiment=experiment, variant=variant, simulated=simulated))
        return self.log_many(events)

    def count(self, simulated: bool | None = None) -> int:
        q = select(func.count()).select_from(EventRow)
        if simulated is not None:
            q = q.where(EventRow.simulated == (1 if simulated else 0))
        with self.db.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())


# ---- import -------------------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What an import did: rows read (= inserted + duplicates + rejected), new rows, rows already stored, and
    each bad row with its line number (an OTTO line counts once per bad event in it)."""

    format: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (f"{self.format}: {self.rows} rows, {self.inserted} inserted, {self.duplicates} already present, "
                f"{len(self.rejected)} rejected")


def _read_bytes(source: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), ""
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValidationError(f"event file {path} does not exist")
        data, name = path.read_bytes(), path.name.lower()
    else:
        raise ValidationError(f"expected a file path or bytes, got {type(source).__name__}")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValidationError(f"corrupt gzip file: {e}") from None
        name = name.removesuffix(".gz")
    return data, name


def _lines(data: bytes, bad_utf8: set[int]) -> Iterator[str]:
    """Decoded lines with their endings (csv needs them); undecodable lines are noted and replaced."""
    for no, raw in enumerate(io.BytesIO(data), start=1):
        if no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_utf8.add(no)
            yield raw.decode("utf-8", errors="replace")


def _detect(data: bytes, name: str, format: str) -> str:
    if format not in ("auto", "generic", "otto"):
        raise ValidationError(f"unknown event format {format!r}: use auto, generic or otto")
    if format == "otto":
        return "otto"
    first = next((ln.strip() for ln in io.BytesIO(data[:1 << 20]) if ln.strip()), b"").lstrip(b"\xef\xbb\xbf")
    if name.endswith(".csv") or not first.startswith(b"{"):
        return "generic-csv"
    if format == "auto":
        try:
            obj = json.loads(first)
            if isinstance(obj, dict) and "session" in obj and "events" in obj:
                return "otto"
        except ValueError:
            pass
    return "generic-jsonl"


def import_events(db: Database, source: str | Path | bytes, format: str = "auto", *,
                  progress: Progress | None = None, chunk_size: int = 5000) -> ImportReport:
    """Import a generic CSV/JSONL or OTTO event file (a path, or the bytes of an upload; gzip is unpacked).

    Good rows land even when others are bad; each chunk commits on its own, and re-importing is harmless
    because rows are deduplicated by their deterministic external_id."""
    if chunk_size < 1:
        raise ValidationError(f"chunk_size must be at least 1, got {chunk_size}")
    data, name = _read_bytes(source)
    fmt = _detect(data, name, format)
    report = ImportReport(fmt)
    total = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    pending: list[tuple[int, Event, str | None]] = []  # (line, event, sku to resolve)

    def flush(done: int) -> None:
        _flush(db, pending, report)
        pending.clear()
        if progress is not None:
            progress(min(done, total), total)

    bad_utf8: set[int] = set()
    rows: Iterator[tuple[int, Any]]
    if fmt == "otto":
        rows = _otto_rows(_lines(data, bad_utf8), bad_utf8, report)
    elif fmt == "generic-jsonl":
        rows = _jsonl_rows(_lines(data, bad_utf8), bad_utf8, report)
    else:
        rows = _csv_rows(_lines(data, bad_utf8), bad_utf8, report)
    for line, item in rows:
        pending.append((line, *item))
        if len(pending) >= chunk_size:
            flush(line)
    flush(total)
    report.rejected.sort(key=lambda r: r[0])
    report.rows = report.inserted + report.duplicates + len(report.rejected)
    return report


def _flush(db: Database, pending: list[tuple[int, Event, str | None]], report: ImportReport) -> None:
    if not pending:
        return
    with db.engine.begin() as conn:
        skus = sorted({sku for _, _, sku in pending if sku is not None})
        ids: dict[str, int] = {}
        for i in range(0, len(skus), 500):
            ids.update(conn.execute(select(Product.sku, Product.id).where(Product.sku.in_(skus[i:i + 500]))).all())
        rows = []
        for line, ev, sku in pending:
            if sku is not None:
                if sku not in ids:
                    report.rejected.append((line, f"unknown sku {sku!r}"))
                    continue
                ev.product_id = ids[sku]
            rows.append(ev.to_row())
        inserted, dupes = insert_rows(conn, rows)
    report.inserted += inserted
    report.duplicates += dupes


def _digest(*parts: Any) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _epoch_ms(v: Any, name: str = "ts") -> datetime:
    ms = _whole(v, name)
    if ms < _MIN_EPOCH_MS:
        raise ValidationError(f"{name} {ms} is before 2000: epoch milliseconds expected (is it epoch seconds?)")
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValidationError(f"{name} {ms} is out of range") from None


def _parse_ts(v: Any) -> datetime:
    if v is None or v == "":
        raise ValidationError("ts is missing")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _epoch_ms(v)
    if isinstance(v, str):
        s = v.strip()
        if _DIGITS_RE.fullmatch(s):
            return _epoch_ms(s)
        try:
            return to_utc_naive(datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s))
        except ValueError:
            raise ValidationError(f"ts {v!r} is neither ISO 8601 nor epoch milliseconds") from None
    raise ValidationError(f"ts {v!r} is neither ISO 8601 nor epoch milliseconds")


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
            obj = json.loads(text)
        except ValueError as e:
            report.rejected.append((no, f"not valid JSON: {e.msg}"))
            continue
        yield no, obj


def _otto_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
               ) -> Iterator[tuple[int, tuple[Event, None]]]:
    for no, obj in _json_lines(lines, bad_utf8, report):
        if not isinstance(obj, dict) or "session" not in obj or not isinstance(obj.get("events"), list):
            report.rejected.append((no, 'expected {"session": int, "events": [...]}'))
            continue
        try:
            session = _whole(obj["session"], "session", minimum=0)
        except ValidationError as e:
            report.rejected.append((no, str(e)))
            continue
        for i, e in enumerate(obj["events"]):
            try:
                if not isinstance(e, dict):
                    raise ValidationError("not an object")
                kind = OTTO_KINDS.get(e.get("type"))  # type: ignore[arg-type]
                if kind is None:
                    raise ValidationError(f"unknown type {e.get('type')!r}: use clicks, carts or orders")
                aid = _whole(e.get("aid"), "aid", minimum=0)
                if e.get("ts") is None:
                    raise ValidationError("ts is missing")
                ts = _epoch_ms(e["ts"])
                ev = Event(kind, f"otto-{session}", aid, ts=ts,
                           external_id="otto:" + _digest(session, aid, _whole(e["ts"], "ts"), e["type"])).validate()
            except ValidationError as err:
                report.rejected.append((no, f"event {i}: {err}"))
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


def _generic_event(rec: dict[str, Any]) -> tuple[Event, str | None]:
    kind = _opt_text(rec.get("kind"), "kind")
    if kind is None:
        raise ValidationError("kind is missing")
    ts = _parse_ts(_opt(rec.get("ts")))
    session = _opt_text(rec.get("session_id"), "session_id")
    if session is None:
        raise ValidationError("session_id is missing")
    pid, sku = _opt(rec.get("product_id")), _opt_text(rec.get("sku"), "sku")
    if pid is None and sku is None:
        raise ValidationError("product_id or sku is missing")
    score = _opt(rec.get("score"))
    if isinstance(score, str):
        try:
            score = float(score)
        except ValueError:
            raise ValidationError(f"score must be a number, got {score!r}") from None
    filters = _opt(rec.get("filters"))
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except ValueError:
            raise ValidationError(f"filters must be a JSON object, got {filters!r}") from None
    src = _opt(rec.get("source_product_id"))
    pos = _opt(rec.get("position"))
    ev = Event(kind, session, _whole(pid, "product_id", minimum=0) if pid is not None else 0, ts=ts,
               user_id=_opt_text(rec.get("user_id"), "user_id"),
               source_product_id=src, query=_opt_text(rec.get("query"), "query"),
               algorithm=_opt_text(rec.get("algorithm"), "algorithm"),
               strategy=_opt_text(rec.get("strategy"), "strategy"), position=pos, score=score, filters=filters,
               experiment=_opt_text(rec.get("experiment"), "experiment"),
               variant=_opt_text(rec.get("variant"), "variant")).validate()
    event_id = _opt_text(rec.get("event_id"), "event_id")
    if event_id is not None:
        ev.external_id = "id:" + _digest(event_id)
    else:
        ev.external_id = "gen:" + _digest(ev.kind, ev.ts.isoformat(), ev.user_id, ev.session_id,
                                          f"p{pid}" if pid is not None else f"s{sku}", ev.source_product_id,
                                          ev.query, ev.algorithm, ev.strategy, ev.position, ev.score,
                                          ev.experiment, ev.variant)
    return ev, (sku if pid is None else None)


def _jsonl_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
                ) -> Iterator[tuple[int, tuple[Event, str | None]]]:
    for no, obj in _json_lines(lines, bad_utf8, report):
        if not isinstance(obj, dict):
            report.rejected.append((no, "expected a JSON object"))
            continue
        try:
            yield no, _generic_event({str(k).strip().lower(): v for k, v in obj.items()})
        except ValidationError as e:
            report.rejected.append((no, str(e)))


def _csv_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
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
        raise ValidationError(f"the CSV header lacks column(s): {', '.join(missing)}; it has: {', '.join(header)}")
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
