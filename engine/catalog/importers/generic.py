"""Generic catalog file: CSV or JSON Lines, for any shop that can export a spreadsheet.

Format
------
The format is chosen by the file extension: `.csv` / `.tsv` / `.txt` is CSV, `.jsonl` / `.ndjson` is JSON
Lines (an upload without a name is sniffed: a first character `{` means JSON Lines). Files are UTF-8 (a
byte-order mark is fine). A gzip-compressed file (`products.csv.gz`, or any name: its first two bytes tell)
is decompressed as it is read, up to VITRINA_MAX_DECOMPRESSED_MB.

* CSV: one header row, then one product per record. The delimiter is whichever of `,` `;` or tab the
  header uses most. Quoted fields may span several lines; errors name the line the record starts on.
* JSON Lines: one JSON object per line; blank lines are ignored.

Columns (names are case-insensitive; the aliases in brackets are accepted too):

| column | required | meaning |
|---|---|---|
| `sku` | yes | the shop's unique product code; re-importing a sku updates that product in place |
| `title` [name] | yes | product name |
| `price` | yes | a number >= 0; `1299.90`, `1 299,90` and `1,299.90` are all accepted |
| `description` | | plain text or HTML (tags are stripped) |
| `cost` | | purchase cost, a number >= 0 (used by the margin factor) |
| `stock` [stock_qty, qty] | | whole number >= 0; empty = 0 |
| `colour` [color] | | colour name in English, Russian or Turkish ("Navy", "Чёрный", "Kırmızı"), normalised to a canonical English name; when absent or empty it is read from the title, else the description (if they name none, a file without the column leaves the stored colour as it is) |
| `brand` | | brand name, created as needed |
| `category` [category_path] | | a path, `Women > Tops > Jackets` or `Women/Tops/Jackets`; missing categories are created |
| `images` [image] | | photos separated by `|` (a JSON list in JSON Lines); the first is the main photo; relative paths are resolved against the file's folder; `http(s)://` URLs are kept as they are; a missing local file is a warning and is skipped; so is one outside the media roots (the file's folder, `VITRINA_CATALOG_DIR`, `VITRINA_DATA_DIR`, `VITRINA_MEDIA_ROOTS`), a `~` path or anything but a regular file |
| `group` [group_key] | | variant group: products sharing it are the same style in other colours; empty = the sku |
| `language` [lang] | | language code (`ru`, `tr`, `en`); when empty it is guessed from the script (Cyrillic → ru, Turkish letters → tr) |
| `is_active` [active] | | `1/0/true/false/yes/no`; empty = active |
| `created_at` | | ISO 8601 date or date-time (`2024-03-01`, `2024-03-01T10:00:00+03:00`); offsets are converted to UTC |
| any other column | | kept in the product's attributes (`material`, `size`...) |

Updates are partial: on re-import only the columns the file has (the keys a JSON line has) are written,
so a feed of `sku,title,price,stock` leaves photos and categories alone. An empty cell (a JSON `null`)
clears an optional field; for an extra column it removes that attribute. A row whose content equals the
stored product is reported unchanged and its `updated_at` is not touched.

Validation is per row: a missing sku or title, a price that is not a number, negative, NaN or infinite,
a bad stock (beyond 2147483647 too), cost, boolean or date, text the databases cannot store (a NUL
character, a lone surrogate), a JSON line nested deeper than VITRINA_MAX_DOCUMENT_DEPTH, a malformed JSON
line or a CSV record with the wrong number of columns rejects that row (with its line number) and the
other rows still import; so does any other error one row's values provoke. A sku repeated in the
same file is rejected at its second occurrence. A CSV header without `sku`, `title` or `price` rejects
the whole file. Rows are written in batches of 500, each in one transaction; should the database refuse a
batch, it is retried row by row so only the refused row is rejected and nothing of it is left behind.

Memory
------
A feed may be gigabytes (a 100,000-product CSV is 57 MB), so the file is streamed, never held: a first pass
validates every row and keeps 24 bytes per good row (a digest of its sku and its line: the repeated-sku check
and the product count the progress bar needs); a second pass builds the good rows again and writes them a
batch at a time.
Reading twice costs a few seconds per hundred megabytes and buys two promises the one-pass reader made: a
file refused as a whole (a missing column, bytes that are not UTF-8, a gzip bomb) writes nothing, and the
progress bar counts products to write. A physical line may hold up to 16 M characters (a longer JSON line
is that line's reject; a longer CSV line ends the file, as an unclosed quote does).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from engine.errors import ValidationError
from engine.catalog.colours import detect_colour, normalise_colour
from engine.catalog.db import Database
from engine.catalog.importers.common import ImportReport, Progress, RowError, Ticker, Timer
from engine.catalog.importers.firsts import KEEP, FirstOccurrences
from engine.catalog.importers.limits import load_json, unstorable
from engine.catalog.importers.parsing import (MAX_LINE, bounded_lines, html_to_text, listing, parse_bool,
                                              parse_count, parse_datetime, parse_number, read_csv, repeated,
                                              sniff_delimiter, split_path, strict_lines)
from engine.catalog.importers.sources import UNNAMED, Source, count_lines, open_source, utf8
from engine.catalog.importers.writer import MAX_SKU, MAX_TITLE, ProductData, write_products
from engine.catalog.media import confinement, media_roots, record_roots
from engine.settings import Settings

SOURCE = "generic"
REQUIRED = ("sku", "title", "price")
ALIASES = {"name": "title", "stock_qty": "stock", "qty": "stock", "color": "colour", "image": "images",
           "category_path": "category", "group_key": "group", "lang": "language", "active": "is_active"}
KNOWN = {"sku", "title", "price", "description", "cost", "stock", "colour", "brand", "category", "images",
         "group", "language", "is_active", "created_at"}
CSV_EXTENSIONS = {".csv", ".tsv", ".txt"}
JSONL_EXTENSIONS = {".jsonl", ".ndjson"}
BATCH = 500
READING_PROGRESS_BYTES = 8 * 1024 * 1024  # a file this large takes seconds to check: its reading is reported too
_HTML = re.compile(r"<[a-zA-Z/!][^>]*>")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_TURKISH = re.compile(r"[ğĞışŞİ]")


def import_generic(db: Database, source: Path | str | bytes | BinaryIO | Source, name: str | None = None,
                   progress: Progress | None = None, *, base_dir: Path | None = None,
                   batch_size: int = BATCH, settings: Settings | None = None) -> ImportReport:
    """Import a generic CSV / JSONL catalog (gzip-compressed or not) from a path, bytes, an uploaded file
    object or a Source.

    `name` (the file name) picks the format for bytes and uploads; `base_dir` resolves relative photo
    paths of an upload (for a path it is the file's folder). A local photo is kept only under the media
    roots of `settings` (read from the environment when not given) plus that folder: a catalog must not make
    the indexer open /etc/passwd, a device or a FIFO.
    """
    timer = Timer()
    settings = settings or Settings()
    src, cap = open_source(source, name, base_dir), settings.max_decompressed_bytes
    roots = media_roots(settings, *([src.base_dir] if src.base_dir is not None else []))
    report = ImportReport(SOURCE, files=[src.name])
    rows = _Rows(src, cap)
    with utf8(src, cap):
        firsts = _check(rows, report, (src.base_dir, roots), settings.max_price, progress)
        ticker = Ticker(progress, len(firsts))
        _write(db, rows, report, (src.base_dir, roots), settings.max_price, firsts, ticker, batch_size)
    if src.base_dir is not None:  # its photos are shown later only from recorded folders (engine.catalog.media)
        record_roots(db, [src.base_dir])
    ticker.finish()
    report.rejected.sort(key=lambda e: e.line)
    report.seconds = timer.seconds
    report.stats = {"rows": len(firsts) + len(report.rejected), "seconds": report.seconds}
    return report


def _check(rows: _Rows, report: ImportReport, where: tuple[Path | None, tuple[Path, ...]], max_price: float,
           progress: Progress | None) -> FirstOccurrences:
    """The first pass: every row validated, rejects and warnings reported, nothing written and nothing kept
    but a digest of each good row's sku and its line (engine.catalog.importers.firsts). A file refused as a
    whole (a missing column, bytes that are not UTF-8, a gzip bomb) is refused here, before any write."""
    firsts = FirstOccurrences()
    reading = None
    if progress is not None and rows.src.size > READING_PROGRESS_BYTES:  # seconds of reading: show them
        reading = Ticker(progress, count_lines(rows.src, rows.cap))
    for line, values in rows(report.rejected):
        if reading is not None:
            reading.at(line)
        try:
            d = _product(values, rows.src.name, line, where, report, max_price)
        except ValueError as e:
            report.rejected.append(RowError(rows.src.name, line, str(e)))
            continue
        except Exception as e:  # whatever else one row's values provoke, it is that row's reject alone
            report.rejected.append(RowError(rows.src.name, line, f"unreadable row ({type(e).__name__}: {e})"))
            continue
        firsts.add(d.sku, line)
    if reading is not None:
        reading.finish()
    firsts.settle()
    return firsts


def _write(db: Database, rows: _Rows, report: ImportReport, where: tuple[Path | None, tuple[Path, ...]],
           max_price: float, firsts: FirstOccurrences, ticker: Ticker, batch_size: int) -> None:
    """The second pass: the first row of each good sku is built again and written a batch at a time, so
    memory holds one batch, never the file; a repeated sku is rejected naming its first line. The warnings
    and reading rejects were reported by the first pass."""
    again = ImportReport(SOURCE)
    batch: list[ProductData] = []
    for line, values in rows(again.rejected):
        verdict = firsts.verdict(line)
        if verdict is None:
            continue
        if verdict != KEEP:
            report.rejected.append(RowError(rows.src.name, line,
                                            f"sku {_sku_of(values)} repeats line {verdict}: skipped"))
            continue
        try:
            batch.append(_product(values, rows.src.name, line, where, again, max_price))
        except Exception as e:  # the file changed between the passes: the row is rejected, not half-read
            report.rejected.append(RowError(rows.src.name, line, f"changed while being imported ({e})"))
            continue
        if len(batch) >= batch_size:
            write_products(db, batch, SOURCE, report, ticker, batch_size)
            batch = []
    if batch:
        write_products(db, batch, SOURCE, report, ticker, batch_size)


# ------------------------------------------------------------------------------------------------ input
def _sku_of(values: dict[str, Any]) -> str:
    return _text(values.get("sku"))  # validated by the first pass: its text can be made


def _format(name: str, first: str) -> str:
    ext = Path(name).suffix.lower()
    if ext in CSV_EXTENSIONS:
        return "csv"
    if ext in JSONL_EXTENSIONS:
        return "jsonl"
    if ext and name != UNNAMED:
        raise ValidationError(f"{name}: unsupported file type {ext!r}; use .csv or .jsonl")
    return "jsonl" if first.startswith("{") else "csv"


def _key(column: str) -> str:
    k = str(column).strip().lower()
    return ALIASES.get(k, k)


class _Rows:
    """The rows of a source as (line, values), read anew at each call: the format and the CSV delimiter are
    found once, from the first line that is not blank."""

    def __init__(self, src: Source, cap: int):
        self.src, self.cap = src, cap
        with utf8(src, cap), src.text(cap, newline="") as stream:
            first = next((piece for line in strict_lines(bounded_lines(stream)) if line.strip()
                          for piece in line.splitlines() if piece.strip()), "")
        self.format = _format(src.format_name, first.lstrip())
        self.delimiter = sniff_delimiter(first)

    def __call__(self, rejected: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
        return self._csv(rejected) if self.format == "csv" else self._jsonl(rejected)

    def _csv(self, rejected: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
        name = self.src.name
        with self.src.text(self.cap, newline="") as stream:
            header, records = read_csv(strict_lines(bounded_lines(stream)), name, rejected, delimiter=self.delimiter)
            keys = [_key(c) for c in header]
            missing = [c for c in REQUIRED if c not in keys]
            if missing:
                raise ValidationError(f"{name}: missing required column(s) {', '.join(missing)} "
                                      f"(the header has {listing(header)})")
            dupes = repeated(keys)
            if dupes:
                raise ValidationError(f"{name}: column(s) {listing(dupes)} given twice (counting aliases)")
            for rec in records:
                yield rec.line, {_key(k): v for k, v in rec.values.items() if k}

    def _jsonl(self, rejected: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
        name = self.src.name
        with self.src.text(self.cap, newline="\n") as stream:
            for number, line in enumerate(bounded_lines(stream), start=1):
                if line is None:
                    rejected.append(RowError(name, number, f"the line is longer than {MAX_LINE:,} characters"))
                    continue
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = load_json(line)
                except json.JSONDecodeError as e:
                    rejected.append(RowError(name, number, f"malformed JSON: {e.msg} at column {e.colno}"))
                    continue
                except ValueError as e:  # too deep, or an integer beyond Python's digit limit
                    rejected.append(RowError(name, number, str(e)))
                    continue
                if not isinstance(obj, dict):
                    rejected.append(RowError(name, number, f"expected a JSON object, got {type(obj).__name__}"))
                    continue
                values: dict[str, Any] = {}
                for k, v in obj.items():
                    key = _key(k)
                    if key in values:
                        rejected.append(RowError(name, number, f"field {key!r} given twice (counting aliases)"))
                        break
                    values[key] = v
                else:
                    yield number, values


# ------------------------------------------------------------------------------------------- validation
def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def guess_language(text: str) -> str | None:
    """ru for Cyrillic, tr for letters only Turkish uses; None when the script says nothing."""
    if _CYRILLIC.search(text):
        return "ru"
    if _TURKISH.search(text):
        return "tr"
    return None


def _images(value: Any, name: str, line: int, where: tuple[Path | None, tuple[Path, ...]],
            report: ImportReport) -> list[tuple[str, str]]:
    """The photos worth storing, main first; `where` is (the folder relative paths start from, the media
    roots). Each photo left out is a warning of its own, and the row imports without it."""
    base_dir, roots = where
    if _empty(value):
        return []
    if isinstance(value, list):
        items = [_text(v) for v in value]
    elif isinstance(value, str):
        items = [v.strip() for v in value.split("|")]
    else:
        raise ValueError(f"images must be text separated by '|' or a list, got {value!r}")
    out: list[str] = []
    for item in items:
        if not item:
            continue
        if re.match(r"(?i)^https?://", item):
            out.append(item)
            continue
        path = Path(item)
        if not path.is_absolute() and not item.startswith("~"):
            if base_dir is None:
                report.warnings.append(f"{name}:{line}: relative photo path {item} cannot be resolved for an "
                                       "upload without a folder, skipped")
                continue
            path = base_dir / path
        real = confinement(item if item.startswith("~") else str(path), roots)
        if real == "not found":
            report.warnings.append(f"{name}:{line}: photo {item} not found, skipped")
            continue
        if isinstance(real, str):
            report.warnings.append(f"{name}:{line}: photo {item} {real}; not stored")
            continue
        out.append(str(real))
    out = list(dict.fromkeys(out))
    return [(p, "main" if i == 0 else "alt") for i, p in enumerate(out)]


def _product(v: dict[str, Any], name: str, line: int, where: tuple[Path | None, tuple[Path, ...]],
             report: ImportReport, max_price: float) -> ProductData:
    """One row as ProductData; raises ValueError with the reason it is rejected."""
    for k, x in v.items():  # first, so that no message below quotes a value that cannot be printed
        if reason := unstorable(k, "a column name") or unstorable(x, k):
            raise ValueError(reason)
    sku, title = _text(v.get("sku")), _text(v.get("title"))
    if not sku:
        raise ValueError("missing sku")
    if len(sku) > MAX_SKU:
        raise ValueError(f"sku is {len(sku)} characters long; the limit is {MAX_SKU}")
    if not title:
        raise ValueError(f"{sku}: missing title")
    if len(title) > MAX_TITLE:
        raise ValueError(f"{sku}: title is {len(title)} characters long; the limit is {MAX_TITLE}")
    if _empty(v.get("price")):
        raise ValueError(f"{sku}: missing price")
    try:
        price = parse_number(v["price"], "price", maximum=max_price)
        cost = None if _empty(v.get("cost")) else parse_number(v["cost"], "cost", maximum=max_price)
        stock = 0 if _empty(v.get("stock")) else parse_count(v["stock"], "stock")
        active = True if _empty(v.get("is_active")) else parse_bool(v["is_active"], "is_active")
        created = None if _empty(v.get("created_at")) else parse_datetime(v["created_at"], "created_at")
    except ValueError as e:
        raise ValueError(f"{sku}: {e}") from None

    raw_description = _text(v.get("description"))
    description = html_to_text(raw_description) if _HTML.search(raw_description) else raw_description
    colour_raw = _text(v.get("colour"))
    if colour_raw:
        colour = normalise_colour(colour_raw)
        if colour is None:
            colour = colour_raw.lower()
            report.warnings.append(f"{name}:{line}: colour {colour_raw!r} of {sku} is not in the colour lexicon, "
                                   "kept as written")
    else:
        colour = detect_colour(title, description)
    language = _text(v.get("language")).lower() or guess_language(f"{title} {description}")
    if language and len(language) > 8:
        raise ValueError(f"{sku}: language {language!r} is not a language code")
    category = tuple(split_path(_text(v.get("category")))) or None
    attributes = {k: (None if _empty(x) else x.strip() if isinstance(x, str) else x)
                  for k, x in v.items() if k not in KNOWN}

    present = {k for k in v if k in KNOWN}
    if colour is not None:  # a colour read from the words also counts as stated; finding none changes nothing
        present.add("colour")
    mapped = {"stock": "stock_qty", "group": "group_key"}
    fields = {mapped.get(k, k) for k in present}
    if category is not None or "category" in present:
        fields |= {"category", "categories"}
    if attributes:
        fields.add("attributes")
    if language:
        fields.add("language")
    return ProductData(
        sku=sku, title=title, price=price, description=description, cost=cost, stock_qty=stock, colour=colour,
        is_active=active, group_key=_text(v.get("group")) or sku, language=language or None,
        brand=_text(v.get("brand")) or None, category=category, categories=[category] if category else [],
        attributes=attributes, attributes_merge=True,
        images=_images(v.get("images"), name, line, where, report) if "images" in v else [],
        created_at=created, present=frozenset(fields), file=name, line=line)
