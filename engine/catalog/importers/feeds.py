"""Catalog feeds of any size: a file under the import roots, or a download from an allow-listed http(s) host;
never an arbitrary path or URL.

Why roots and an allow-list: the console and the job layer import what a user types into a text box. Without
them the server would read any file it can (a database dump, a private key) or fetch any URL it can reach (a
cloud metadata endpoint, an intranet page) on that user's word. The CLI still reads the path its user gives
(engine.cli.catalog): whoever runs it can read that file anyway. A URL goes through here wherever it is given.

* A path is resolved with its links followed (engine.catalog.media.confinement) and must be a regular file
  under VITRINA_IMPORT_ROOTS (default: the catalog folder and the data folder's `imports/`), at most
  VITRINA_MAX_FEED_MB.
* A URL must be http or https on a host of VITRINA_IMPORT_HOSTS, and so must every redirect it answers with:
  each hop is checked before it is followed, at most MAX_REDIRECTS of them. The body is streamed a chunk at
  a time to a file in the data folder's `downloads/`, and dropped as soon as it passes VITRINA_MAX_FEED_MB (a
  Content-Length over it is refused before the body is read), stalls for VITRINA_FEED_TIMEOUT or runs past
  VITRINA_FEED_DEADLINE. A gzip body is kept compressed: the importer decompresses it as it reads, up to
  VITRINA_MAX_DECOMPRESSED_MB.

The file is then read as a stream by the generic importer (engine.catalog.importers.generic), so memory holds
a batch of rows, not the feed. Messages name the host and the setting that decides, never the whole URL: its
user part or query may carry a token.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import httpx

from engine.catalog.db import Database
from engine.catalog.importers.common import ImportReport, Progress, Ticker
from engine.catalog.importers.generic import CSV_EXTENSIONS, JSONL_EXTENSIONS, import_generic
from engine.catalog.importers.sources import CHUNK, Source
from engine.catalog.media import confinement
from engine.errors import NotFound, ValidationError
from engine.settings import Settings, normal_host

MAX_REDIRECTS = 5
DOWNLOADS = "downloads"  # under the data folder: downloads in progress and awaiting their import
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CONTENT_TYPES = {"text/csv": ".csv", "application/csv": ".csv", "text/tab-separated-values": ".tsv",
                  "application/x-ndjson": ".jsonl", "application/ndjson": ".jsonl", "application/jsonl": ".jsonl",
                  "application/x-jsonlines": ".jsonl", "application/jsonlines": ".jsonl"}
_SEEN_ENCODINGS = {"", "identity", "gzip", "x-gzip"}  # a gzip body is stored as it is and unpacked on import


def is_url(source: str | os.PathLike) -> bool:
    """Whether `source` names a URL (any scheme: one other than http(s) is then refused, not read as a path)."""
    return isinstance(source, str) and bool(_URL.match(source.strip()))


def import_roots(settings: Settings) -> tuple[Path, ...]:
    """The folders feeds may be imported from by path: VITRINA_IMPORT_ROOTS, or by default the catalog folder
    and the data folder's `imports/`. Resolved, so that a root reached through a link contains its files."""
    folders = settings.import_roots or (settings.catalog_dir, settings.data_dir / "imports")
    return tuple(dict.fromkeys(Path(p).expanduser().resolve() for p in folders))


def fetch_feed(source: str | os.PathLike, settings: Settings, progress: Progress | None = None) -> Path:
    """The local file to import for `source`: a path under the import roots (its real location), or a URL on
    an allow-listed host downloaded into the data folder's `downloads/` (the caller deletes that file when done;
    import_feed does). Anything else is a ValidationError (NotFound for what does not exist) saying why and
    which setting would allow it. `progress(done, total)` follows a download whose size the server states."""
    return _fetch(source, settings, progress)[0]


def import_feed(db: Database, source: str | os.PathLike, settings: Settings,
                progress: Progress | None = None) -> ImportReport:
    """fetch_feed, then the generic importer over the file as a stream (CSV or JSON Lines, gzip or not); a
    download is deleted afterwards, whatever the import's outcome. Relative photo paths resolve against a local
    feed's folder; a downloaded feed has none, so its relative paths are warnings."""
    path, name, downloaded = _fetch(source, settings, progress)
    try:
        src = Source(name, base_dir=None if downloaded else path.parent, path=path)
        return import_generic(db, src, progress=progress, settings=settings)
    finally:
        if downloaded:
            path.unlink(missing_ok=True)


def check_source(source: str | os.PathLike, settings: Settings) -> str:
    """The source, refused at once when it can never be imported (outside the roots, a host not allowed, not
    http(s)): what the console checks before it queues an import job, so a refusal is said on the spot."""
    text = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        _fetch("", settings, None)  # the same refusal as an import of it
    text = text.strip()
    if is_url(text):
        _allow(_parse(text), settings)
    else:
        _local(text, settings)
    return text


def _fetch(source: str | os.PathLike, settings: Settings, progress: Progress | None) -> tuple[Path, str, bool]:
    """(file, the name reports give it, whether it is a download to delete)."""
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("give a feed as a path under the import roots (VITRINA_IMPORT_ROOTS) or an http(s) "
                              "URL on an allow-listed host (VITRINA_IMPORT_HOSTS)")
    source = source.strip()
    if "\x00" in source:
        raise ValidationError("the feed's name contains a NUL character")
    if is_url(source):
        path, name = _download(source, settings, progress)
        return path, name, True
    path = _local(source, settings)
    return path, path.name, False


# ------------------------------------------------------------------------------------------------ paths
def _local(source: str, settings: Settings) -> Path:
    roots = import_roots(settings)
    found = confinement(source, roots)
    if isinstance(found, str):
        try:  # where it leads, as far as it exists: outside the roots, whether it exists is nobody's business
            where = Path(source).resolve()
        except (OSError, RuntimeError, ValueError):
            where = None
        if where is None or not any(where == root or root in where.parents for root in roots):
            raise ValidationError(f"{source} is outside the import roots ({', '.join(str(r) for r in roots)}); "
                                  "VITRINA_IMPORT_ROOTS lists the folders feeds may be imported from")
        if found == "not found":
            raise NotFound(f"feed file {source} does not exist")
        raise ValidationError(f"feed file {source} {found}")
    size = found.stat().st_size
    if size > settings.max_feed_bytes:
        raise ValidationError(f"{source} is {_size(size)}, over the {_size(settings.max_feed_bytes)} of "
                              "VITRINA_MAX_FEED_MB")
    return found


# --------------------------------------------------------------------------------------------- downloads
def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 2 ** 20 else f"{n / 2 ** 20:,.1f} MB"


def _parse(text: str, what: str = "the feed URL") -> httpx.URL:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise ValidationError(f"{what} is not a valid URL ({e})") from None
    if url.scheme not in ("http", "https"):
        raise ValidationError(f"{what} is a {url.scheme or 'schemeless'} URL: only http and https feeds are "
                              "downloaded (a local file is imported by its path under VITRINA_IMPORT_ROOTS)")
    return url


def _allow(url: httpx.URL, settings: Settings, what: str = "the feed URL") -> None:
    """The check every hop passes: the host the request will go to, as httpx parsed it, is allow-listed."""
    host = normal_host(url.raw_host.decode("ascii", "replace")) if url.raw_host else None
    if not settings.import_hosts:
        raise ValidationError("URL imports are off: VITRINA_IMPORT_HOSTS lists the hosts feeds may be "
                              "downloaded from (empty = none)")
    if host not in settings.import_hosts:
        raise ValidationError(f"{what} is on host {url.host or '(none)'}, which is not in VITRINA_IMPORT_HOSTS "
                              f"({', '.join(settings.import_hosts)})")


def _download(source: str, settings: Settings, progress: Progress | None) -> tuple[Path, str]:
    """The feed at `source` in a file of the downloads folder, and the name reports give it."""
    url = _parse(source)
    _allow(url, settings)
    folder = settings.data_dir / DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix="feed-", suffix=".part", dir=folder)
    path = Path(part)
    try:
        with os.fdopen(fd, "wb") as out, \
                httpx.Client(follow_redirects=False, timeout=settings.feed_timeout) as client:
            url, name = _get(client, url, out, settings, progress)
        final = path.with_name(f"{path.stem}-{name}")  # the name's extension tells the format to a later reader
        path.rename(final)
        return final, f"{url.host}/{name}"
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _get(client: httpx.Client, url: httpx.URL, out: BinaryIO, settings: Settings,
         progress: Progress | None) -> tuple[httpx.URL, str]:
    """Follows at most MAX_REDIRECTS allow-listed redirects, then streams the body into `out`; returns the
    final URL and the file name for the report."""
    deadline = time.monotonic() + settings.feed_deadline
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as r:
                if r.is_redirect:
                    target = _parse(str(url.join(r.headers["location"])), f"the redirect from {url.host}")
                    _allow(target, settings, f"the redirect from {url.host}")
                    url = target
                    continue
                if r.status_code != 200:
                    error = NotFound if r.status_code in (404, 410) else ValidationError
                    raise error(f"{url.host} answered {r.status_code} {r.reason_phrase} for the feed")
                encoding = r.headers.get("content-encoding", "").strip().lower()
                if encoding not in _SEEN_ENCODINGS:
                    raise ValidationError(f"{url.host} sent the feed {encoding}-encoded; only gzip or no encoding "
                                          "is read")
                _body(r, out, settings, deadline, progress, url.host)
                return url, _name(url, r.headers.get("content-type", ""))
        except httpx.TimeoutException:
            raise ValidationError(f"the download from {url.host} stalled for {settings.feed_timeout:g} s "
                                  "(VITRINA_FEED_TIMEOUT)") from None
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            raise ValidationError(f"the download from {url.host} failed: {type(e).__name__}: {e}") from None
    raise ValidationError(f"the feed URL redirects more than {MAX_REDIRECTS} times")


def _body(r: httpx.Response, out: BinaryIO, settings: Settings, deadline: float, progress: Progress | None,
          host: str) -> None:
    cap = settings.max_feed_bytes
    stated = r.headers.get("content-length", "").strip()
    total = int(stated) if stated.isdigit() else None
    if total is not None and total > cap:
        raise ValidationError(f"the feed at {host} is {_size(total)}, over the {_size(cap)} of VITRINA_MAX_FEED_MB")
    ticker = Ticker(progress, total) if progress is not None and total else None
    done = 0
    for chunk in r.iter_raw(CHUNK):
        done += len(chunk)
        if done > cap:
            raise ValidationError(f"the feed at {host} passed the {_size(cap)} of VITRINA_MAX_FEED_MB: "
                                  "download stopped")
        if time.monotonic() > deadline:
            raise ValidationError(f"the download from {host} took more than {settings.feed_deadline:g} s "
                                  "(VITRINA_FEED_DEADLINE)")
        out.write(chunk)
        if ticker is not None:
            ticker.advance(len(chunk))
    if ticker is not None:
        ticker.finish()


def _name(url: httpx.URL, content_type: str) -> str:
    """A file name for the download: the URL's last segment made safe, its extension kept when it names a feed
    format (through .gz), else taken from the Content-Type, else none (the importer then sniffs the content)."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", unquote(url.path.rsplit("/", 1)[-1]))[-100:].lstrip(".") or "feed"
    plain = base[:-3] if base.lower().endswith(".gz") else base
    if Path(plain).suffix.lower() in CSV_EXTENSIONS | JSONL_EXTENSIONS:
        return base
    stem = Path(plain).stem if Path(plain).suffix else plain
    typed = _CONTENT_TYPES.get(content_type.split(";")[0].strip().lower(), "")
    return (stem or "feed") + typed + (base[len(plain):] if plain != base else "")


__all__ = ["DOWNLOADS", "MAX_REDIRECTS", "fetch_feed", "import_feed", "import_roots", "is_url"]
