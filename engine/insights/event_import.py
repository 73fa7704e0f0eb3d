"""Event files into the event log: generic CSV / JSONL and OTTO sessions, read line by line and written in
chunks through engine.insights.events (validation and the idempotent insert live there).

Import formats (`import_events`):

* Generic CSV (header row) or JSONL (one object a line). Columns / keys, case-insensitive:

  ========================= ======== ==========================================================================
  column                    required meaning
  ========================= ======== ==========================================================================
  kind                      yes      served | impression | click | cart_add | purchase
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
  request_id                         the id of the served list the event belongs to
  price                              unit price of a cart_add / purchase (a finite number, 0..10,000,000)
  quantity                           units of a cart_add / purchase (a whole number, 1..10,000)
  event_id                           the source system's id; without it the row's content is its identity
  ========================= ======== ==========================================================================

  Empty values mean "absent"; other columns are ignored. A purchase without a price is imported and counted
  (`ImportReport.without_price`) but is never revenue; a negative, non-finite or absurd price or quantity, or
  either on a kind that has none, rejects that row with the reason (the other rows still land).

* OTTO sessions (github.com/otto-de/recsys-dataset): ``{"session": int, "events": [{"aid": int, "ts": epoch ms,
  "type": "clicks" | "carts" | "orders"}]}`` a line → click / cart_add / purchase in session ``otto-<session>``
  with product_id = aid (an external id: no catalog match needed). OTTO has no prices: its orders are
  purchases without price.

Each imported row gets a deterministic `external_id` (the file's event_id, or a hash of the row's content) that
is unique in the table, so importing the same file again adds nothing.

Hostile input is bounded (engine.catalog.importers.limits): gzip stops at VITRINA_MAX_DECOMPRESSED_MB, a JSON
line nested deeper than VITRINA_MAX_DOCUMENT_DEPTH is that line's reject, and so is any error one row provokes.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import case, func, select, update

from engine.catalog.db import Database
from engine.catalog.importers.limits import gunzip, load_json
from engine.catalog.importers.writer import systemic
from engine.catalog.events import EventImportRow, day_number
from engine.catalog.models import Product
from engine.errors import ValidationError
from engine.insights.event_rows import (OTTO_KINDS, ImportReport, csv_rows, jsonl_rows,  # noqa: F401  (public)
                                       otto_rows)
from engine.insights.events import Event, insert_rows, utc_now
from engine.insights.rollups import mark_dirty, refresh

Progress = Callable[[int, int], None]


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
    with db.session() as s:  # while it runs, the analytics label the days it touches incomplete
        job = EventImportRow(source=(name or "upload")[:300], status="running")
        s.add(job)
    try:
        _import(db, data, fmt, report, pending, total, progress, chunk_size, job.id)
    except BaseException:
        _finish(db, job.id, "failed")
        raise
    _finish(db, job.id, "done")
    refresh(db)  # imported days are mostly past days: bring their rollups up to date now
    report.rejected.sort(key=lambda r: r[0])
    report.rows = report.inserted + report.duplicates + len(report.rejected)
    return report


def _finish(db: Database, job: int, status: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(EventImportRow).where(EventImportRow.id == job).values(status=status,
                                                                                 heartbeat=utc_now()))


def _import(db: Database, data: bytes, fmt: str, report: ImportReport, pending: list, total: int,
            progress: Progress | None, chunk_size: int, job: int) -> None:
    def flush(done: int) -> None:
        days = [ev.ts for _, ev, _ in pending]
        _flush(db, pending, report)
        pending.clear()
        if days:
            lo, hi = day_number(min(days)), day_number(max(days))
            with db.engine.begin() as conn:
                conn.execute(update(EventImportRow).where(EventImportRow.id == job).values(
                    heartbeat=utc_now(), rows=report.inserted + report.duplicates,
                    first_day=case((func.coalesce(EventImportRow.first_day, lo) > lo, lo),
                                   else_=func.coalesce(EventImportRow.first_day, lo)),
                    last_day=case((func.coalesce(EventImportRow.last_day, hi) < hi, hi),
                                  else_=func.coalesce(EventImportRow.last_day, hi))))
        if progress is not None:
            progress(min(done, total), total)

    bad_utf8: set[int] = set()
    rows: Iterator[tuple[int, Any]]
    if fmt == "otto":
        rows = otto_rows(_lines(data, bad_utf8), bad_utf8, report)
    elif fmt == "generic-jsonl":
        rows = jsonl_rows(_lines(data, bad_utf8), bad_utf8, report)
    else:
        rows = csv_rows(_lines(data, bad_utf8), bad_utf8, report)
    for line, item in rows:
        pending.append((line, *item))
        if len(pending) >= chunk_size:
            flush(line)
    flush(total)


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
            mark_dirty(conn, {r["day"] for _, r in rows})  # committed behind a refresh's back: still seen
        report.without_price += sum(1 for _, r in rows if r["kind"] == "purchase" and r["price"] is None)
    except Exception as e:
        if systemic(e):
            raise
        inserted = dupes = 0
        for line, row in rows:
            try:
                with db.engine.begin() as conn:
                    one, again = insert_rows(conn, [row])
                    mark_dirty(conn, [row["day"]])
            except Exception as err:
                if systemic(err):
                    raise
                report.rejected.append((line, f"the database refused the row: {getattr(err, 'orig', None) or err}"))
                continue
            inserted, dupes = inserted + one, dupes + again
            report.without_price += int(row["kind"] == "purchase" and row["price"] is None)
    report.inserted += inserted
    report.duplicates += dupes
