"""Reading source files: line-numbered CSV records and the parsers of the values in them.

Every parser raises ValueError with a message naming the field, which the importers turn into a RowError for
the record's line; none of them touches the database.
"""
from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Iterable, Iterator, TextIO

from engine.catalog.importers.common import RowError
from engine.errors import ValidationError

MAX_LINE = 16 * 1024 * 1024  # characters: the longest field and the longest physical line a reader holds
csv.field_size_limit(MAX_LINE)  # long HTML descriptions exceed the 128 KiB default
MAX_INT = 2 ** 31 - 1  # the widest whole number an INTEGER column (stock, qty) holds on every database


def listing(names: Iterable[str], most: int = 20) -> str:
    """Names joined for a message, cut after `most`: a header of 100,000 columns must not become the message."""
    names = list(names)
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def repeated(names: Iterable[str]) -> list[str]:
    """The non-empty names given more than once, sorted; one counting pass, so wide headers stay linear."""
    return sorted(n for n, k in Counter(names).items() if k > 1 and n)


class LineTooLong(ValidationError):
    """A physical line of more than MAX_LINE characters: a reader refuses it rather than hold it whole (a file
    without a single newline would otherwise be read into memory at once)."""


def bounded_lines(stream: TextIO, limit: int = MAX_LINE) -> Iterator[str | None]:
    """The lines of `stream` with their endings, as iterating it gives them, each read with at most `limit`
    characters held: a longer line is skipped to its end and given as None, for the caller to reject."""
    while line := stream.readline(limit):
        if len(line) < limit or line.endswith(("\n", "\r")):
            yield line
            continue
        while (rest := stream.readline(limit)) and len(rest) >= limit and not rest.endswith(("\n", "\r")):
            pass
        yield None


def strict_lines(lines: Iterable[str | None], limit: int = MAX_LINE) -> Iterator[str]:
    """`bounded_lines` for a reader that cannot skip a line (a CSV line may sit inside a quoted field): a
    line over the limit raises LineTooLong."""
    for line in lines:
        if line is None:
            raise LineTooLong(f"a line is longer than {limit:,} characters")
        yield line


@dataclass
class CsvRecord:
    line: int  # physical line the record starts on (a quoted field may span several lines)
    values: dict[str, str]


def read_csv(stream: Iterable[str], file: str, errors: list[RowError], delimiter: str = ",",
             required: Iterable[str] = ()) -> tuple[list[str], Iterator[CsvRecord]]:
    """Header and records of a CSV stream (a text file, or its `strict_lines`); malformed records become
    RowErrors and are not yielded.

    The header is read eagerly so a file without a required column fails before anything is written; a line
    over the length limit ends the records as an unclosed quote does, the rest of the file unread.
    """
    reader = csv.reader(stream, delimiter=delimiter)
    header: list[str] = []
    for row in reader:
        if any(c.strip() for c in row):
            header = [c.strip() for c in row]
            break
    missing = [c for c in required if c not in header]
    if not header or missing:
        raise ValidationError(f"{file}: " + (f"missing required column(s) {listing(missing)}" if header
                                             else "the file is empty (no header row)"))
    dupes = repeated(header)
    if dupes:
        raise ValidationError(f"{file}: duplicate column(s) {listing(dupes)}")

    def records() -> Iterator[CsvRecord]:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a quote never closed: the rest of the file is one broken field
                errors.append(RowError(file, start, f"malformed CSV: {e}"))
                return
            except LineTooLong as e:
                errors.append(RowError(file, start, f"{e}: the rest of the file is not read"))
                return
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                errors.append(RowError(file, start, f"expected {len(header)} columns, got {len(row)}"))
                continue
            yield CsvRecord(start, dict(zip(header, row)))

    return header, records()


def sniff_delimiter(first_line: str) -> str:
    """Comma, semicolon (spreadsheet exports in ru/tr locales) or tab: whichever the header uses most."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# ----------------------------------------------------------------------------------------------- values
class _TextExtractor(HTMLParser):
    BLOCK = {"p", "br", "li", "ul", "ol", "div", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """Plain text of an HTML fragment: entities decoded, one line per paragraph or list item."""
    if not value:
        return ""
    p = _TextExtractor()
    p.feed(value)
    p.close()
    lines = (" ".join(line.split()) for line in "".join(p.parts).splitlines())
    return "\n".join(line for line in lines if line)


_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def parse_number(value, what: str, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    """A finite number within minimum..maximum (VITRINA_MAX_PRICE for prices). Accepts "1 299,90" and "1,299.90" as shops in each locale write them."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            num = float(value)
        except OverflowError:  # a JSON integer hundreds of digits long
            raise ValueError(f"{what} must be a finite number, got {value!r}") from None
    else:
        text = str(value).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in text and "." in text:  # the later mark is the decimal one: 1,299.90 or 1.299,90
            text = text.replace(",", "") if text.rfind(",") < text.rfind(".") else text.replace(".", "").replace(",", ".")
        elif "," in text:
            text = text.replace(",", ".")
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{what} must be a number, got {value!r}")
        num = float(text)
    if math.isnan(num) or math.isinf(num):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if num < minimum:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    if num > maximum:
        raise ValueError(f"{what} {value!r} is over the largest accepted {maximum:,.2f} (VITRINA_MAX_PRICE)")
    return num


def parse_count(value, what: str) -> int:
    """A whole number from 0 to MAX_INT ("100", "100.0" and 100 are the same stock): a larger one would
    overflow the INTEGER column when written, so it is the row's reject here."""
    num = parse_number(value, what)
    if num != int(num):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if num > MAX_INT:
        raise ValueError(f"{what} must be at most {MAX_INT}, got {value!r}")
    return int(num)


_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}


def parse_bool(value, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{what} must be one of 1/0/true/false/yes/no, got {value!r}")


def parse_datetime(value, what: str) -> datetime:
    """ISO 8601 date or date-time; an offset is converted to UTC and dropped (the catalog stores naive UTC)."""
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 date, got {value!r}") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def split_path(value: str) -> list[str]:
    """Category path parts from "Men > Tops > Jackets" or "Men/Tops/Jackets"."""
    sep = ">" if ">" in value else "/"
    return [p.strip() for p in value.split(sep) if p.strip()]


def image_roles(paths: list[str], main: str | None = None) -> list[tuple[str, str]]:
    """(path, role) with the main photo first. Roles come from Magento-style names (x_main, x_alt1, x_back);
    `main` names the photo the source designates; otherwise the first unlabelled photo is the main one."""
    def labelled(p: str) -> str | None:
        stem = PurePath(p.split("?")[0]).stem.lower()
        if re.search(r"(^|[_-])back\d*$", stem):
            return "back"
        if re.search(r"(^|[_-])alt\d*$", stem):
            return "alt"
        if re.search(r"(^|[_-])main$", stem):
            return "main"
        return None

    seen: list[str] = []
    for p in paths:
        if p and p not in seen:
            seen.append(p)
    if not seen:
        return []
    roles = {p: labelled(p) for p in seen}
    if main is None or main not in seen:
        main = next((p for p in seen if roles[p] == "main"), None) \
            or next((p for p in seen if roles[p] is None), seen[0])
    rest = [p for p in seen if p != main]
    return [(main, "main")] + [(p, roles[p] if roles[p] in ("alt", "back") else "alt") for p in rest]
