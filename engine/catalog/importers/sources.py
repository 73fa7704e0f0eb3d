"""Catalog files read as streams, so that a feed of any size imports in bounded memory.

A `Source` (a path, bytes or an upload) is opened afresh for each pass an importer makes over it (the generic
importer checks every row before it writes any; engine.catalog.importers.generic says why). Each pass reads a
chunk at a time: a gzip file (known by its first two bytes, whatever its name) is decompressed as it is read
and refused once it passes VITRINA_MAX_DECOMPRESSED_MB; text is UTF-8, and the first byte that is not is
named by its line, found by a scan that runs only once a pass has met it.
"""
from __future__ import annotations

import codecs
import io
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

from engine.catalog.importers.limits import open_gzip
from engine.errors import NotFound, ValidationError

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
UNNAMED = "upload"  # the name of bytes given without one: their format is sniffed from the content


@dataclass(frozen=True)
class Source:
    """Where a catalog's bytes are: a file (`path`) or memory (`data`). `name` is what errors and the report
    call it (its extension picks the format; a trailing `.gz` is looked through); `base_dir` is the folder
    relative photo paths start from (None: they cannot be resolved)."""

    name: str
    base_dir: Path | None = None
    path: Path | None = None
    data: bytes = b""

    @property
    def format_name(self) -> str:
        return self.name[:-3] if self.name.lower().endswith(".gz") else self.name

    @property
    def size(self) -> int:
        """Bytes as stored (compressed, for a gzip file)."""
        return self.path.stat().st_size if self.path is not None else len(self.data)

    def raw(self) -> BinaryIO:
        if self.path is None:
            return io.BytesIO(self.data)
        try:
            return self.path.open("rb")
        except FileNotFoundError:  # removed between two passes
            raise NotFound(f"catalog file {self.path} does not exist") from None

    def binary(self, cap: int) -> BinaryIO:
        """The bytes from the start, decompressed when they are gzip (at most `cap` bytes of them)."""
        raw = self.raw()
        try:
            magic = raw.read(2)
            raw.seek(0)
        except BaseException:
            raw.close()
            raise
        return open_gzip(raw, self.name, cap) if magic == GZIP_MAGIC else raw

    def text(self, cap: int, newline: str) -> TextIO:
        """The text from the start (a byte-order mark dropped); `newline` as `open` takes it: "" gives the
        csv module the line endings it needs, "\\n" splits JSON Lines where `str.split("\\n")` would."""
        return io.TextIOWrapper(self.binary(cap), encoding="utf-8-sig", newline=newline)


def open_source(source, name: str | None = None, base_dir: Path | None = None) -> Source:
    """A Source for a path (its folder is the photos' base unless `base_dir` says otherwise), bytes, or an
    uploaded file object (read whole: an upload is already in memory)."""
    if isinstance(source, Source):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise NotFound(f"catalog file {path} does not exist")
        return Source(name or path.name, base_dir or path.resolve().parent, path=path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Source(name or UNNAMED, base_dir, data=bytes(source))
    if hasattr(source, "getvalue"):
        data = source.getvalue()
    elif hasattr(source, "read"):
        data = source.read()
    else:
        raise ValidationError(f"cannot import from a {type(source).__name__}: give a path, bytes or a file object")
    if isinstance(data, str):
        data = data.encode("utf-8")
    return Source(name or Path(str(getattr(source, "name", "") or UNNAMED)).name, base_dir, data=bytes(data))


def count_lines(src: Source, cap: int) -> int:
    """Physical lines (a last one without a newline included): how far a reading pass has to go."""
    lines, last = 0, b""
    with src.binary(cap) as f:
        while chunk := f.read(CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (1 if last not in (b"", b"\n") else 0)


def first_bad_line(src: Source, cap: int) -> int:
    """The line of the first byte that is not UTF-8, found a chunk at a time by an incremental decoder (a
    character cut by a chunk boundary is completed by the next chunk, not taken for an error)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with src.binary(cap) as f:
        while chunk := f.read(CHUNK):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:  # e.start counts the bytes held over from the last chunk too
                return lines + chunk.count(b"\n", 0, max(0, e.start - pending)) + 1
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
    return lines + 1


@contextmanager
def utf8(src: Source, cap: int) -> Iterator[None]:
    """Turns a decoding error met while reading `src` into the ValidationError that names its line."""
    try:
        yield
    except UnicodeDecodeError:
        line = first_bad_line(src, cap)
        raise ValidationError(f"{src.name}: not UTF-8 text (first bad byte on line {line}); "
                              "save the file as UTF-8") from None


__all__ = ["CHUNK", "Source", "UNNAMED", "count_lines", "first_bad_line", "open_source", "utf8"]
