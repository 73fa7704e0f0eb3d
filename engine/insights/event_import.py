"""Event files into the event log: generic CSV / JSONL and OTTO sessions, read line by line and written in
chunks through engine.insights.events (validation and the idempotent insert live there).

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
  config_version                     the published config version (1, 2, ...) that served the list
  event_id                           the source system's id; without it the row's content is its identity
  ========================= ======== ==========================================================================

  Empty values mean "absent"; other columns are ignored.

* OTTO sessions (github.com/otto-de/recsys-dataset): ``{"session": int, "events": [{"aid": int, "ts": epoch ms,
  "type": "clicks" | "carts" | "orders"}]}`` a line → click / cart_add / purchase in session ``otto-<session>``
  with product_id = aid (an external id: no catalog match needed).

Each imported row gets a deterministic `external_id` (the file's event_id, or a hash of the row's content) that
is unique in the table, so importing the same file again adds nothing.

Hostile input is bounded (engine.catalog.importers.limits): gzip stops at VITRINA_MAX_DECOMPRESSED_MB, a JSON
line nested deeper than VITRINA_MAX_DOCUMENT_DEPTH is that line's reject, and so is any error one row provokes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import select

from engine.catalog.db import Database
from engine.catalog.importers.limits import gunzip, load_json
from engine.catalog.importers.parsing import listing
from engine.catalog.importers.writer import systemic
from engine.catalog.models import Product
from engine.errors import ValidationError
from engine.insights.events import Event, epoch_ms, insert_rows, parse_ts, whole_number

OTTO_KINDS = {"clicks": "click", "carts": "cart_add", "orders": "purchase"}

Progress = Callable[[int, int], None]


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
        data = gunzip(data, f"event file {name}" if name else "the event file")
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
            obj = load_json(first.decode("utf-8", errors="replace"))
            if isinstance(obj, dict) and "session" in obj and "events" in obj:
                return "otto"
        except ValueError:  # malformed or too deep: the line's own reject says so
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
    """Insert a chunk in one transaction. Should writing it fail for its data rather than for the database
    (a value the driver cannot encode, a constraint), it is retried one row per transaction, so only the
    failing row is rejected; a systemic error (the database is gone) stops the import."""
    if not pending:
        return
    skus = sorted({sku for _, _, sku in pending if sku is not None})
    ids: dict[str, int] = {}
    with db.engine.connect() as conn:
        for i in range(0, len(skus), 500):
            ids.update(conn.execute(select(Product.sku, Product.id).where(Product.sku.in_(skus[i:i + 500]))).all())
    rows: list[tuple[int, dict[str, Any]]] = []
    for line, ev, sku in pending:
        if sku is not None:
            if sku not in ids:
                report.rejected.append((line, f"unknown sku {sku!r}"))
                continue
            ev.product_id = ids[sku]
        rows.append((line, ev.to_row()))
    try:
        with db.engine.begin() as conn:
            inserted, dupes = insert_rows(conn, [r for _, r in rows])
    except Exception as e:
        if systemic(e):
            raise
        inserted = dupes = 0
        for line, row in rows:
            try:
                with db.engine.begin() as conn:
                    one, again = insert_rows(conn, [row])
            except Exception as err:
                if systemic(err):
                    raise
                report.rejected.append((line, f"the database refused the row: {getattr(err, 'orig', None) or err}"))
                continue
            inserted, dupes = inserted + one, dupes + again
    report.inserted += inserted
    report.duplicates += dupes


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


def _otto_rows(lines: Iterable[str], bad_utf8: set[int], report: ImportReport
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
    score = _opt(rec.get("score"))
    if isinstance(score, str):
        try:
            score = float(score)
        except ValueError:
            raise ValidationError(f"score must be a number, got {score!r}") from None
    filters = _opt(rec.get("filters"))
    if isinstance(filters, str):
        try:
            filters = load_json(filters, "filters")
        except json.JSONDecodeError:
            raise ValidationError(f"filters must be a JSON object, got {filters!r}") from None
    src = _opt(rec.get("source_product_id"))
    pos = _opt(rec.get("position"))
    ev = Event(kind, session, whole_number(pid, "product_id", minimum=0) if pid is not None else 0, ts=ts,
               user_id=_opt_text(rec.get("user_id"), "user_id"),
               source_product_id=src, query=_opt_text(rec.get("query"), "query"),
               algorithm=_opt_text(rec.get("algorithm"), "algorithm"),
               strategy=_opt_text(rec.get("strategy"), "strategy"), position=pos, score=score, filters=filters,
               experiment=_opt_text(rec.get("experiment"), "experiment"),
               variant=_opt_text(rec.get("variant"), "variant"),
               config_version=_opt(rec.get("config_version"))).validate()
    event_id = _opt_text(rec.get("event_id"), "event_id")
    if event_id is not None:
        ev.external_id = "id:" + _digest(event_id)
    else:
        ev.external_id = "gen:" + _digest(ev.kind, ev.ts.isoformat(), ev.user_id, ev.session_id,
                                          f"p{pid}" if pid is not None else f"s{sku}", ev.source_product_id,
                                          ev.query, ev.algorithm, ev.strategy, ev.position, ev.score,
                                          ev.experiment, ev.variant,  # a version only when given: the
                                          *([ev.config_version] if ev.config_version else []))  # old ids stay
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
        except Exception as e:
            report.rejected.append((no, _unexpected(e)))


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
