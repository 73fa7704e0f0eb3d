"""Product photos as the console and the HTTP API show them. A catalog names its photos by path or URL; a
hostile or careless catalog can name any file on the server (`/etc/passwd`, `~/.ssh/id_rsa`, a FIFO, a
device) or a photo that will not decode. So a photo is shown only when it is an http(s) URL, or a regular
file under one of the media roots (the catalog folder and the data folder, where uploads live) that decodes
through engine.encoders.images; anything else is "no photo", never an error page."""
from __future__ import annotations

import io
import threading
from pathlib import Path

from functools import lru_cache

from cachetools import LRUCache, TTLCache
from sqlalchemy import select
from PIL import Image, ImageDraw, ImageFont

from engine.catalog.db import Database
from engine.catalog.models import MediaRoot
from engine.encoders.images import load_image
from engine.errors import InvalidImage
from engine.settings import Settings

THUMBNAIL_SIZE = (400, 496)  # the portrait shape of catalog photos
PLACEHOLDER_SIZE = THUMBNAIL_SIZE
PLACEHOLDER_GREY = (214, 219, 225)
PLACEHOLDER_INK = (100, 116, 139)
THUMBNAIL_QUALITY = 85
CACHED_THUMBNAILS = 2048

_THUMBNAILS: LRUCache = LRUCache(maxsize=CACHED_THUMBNAILS)
_RECORDED: TTLCache = TTLCache(maxsize=16, ttl=5.0)  # per database: read at most every 5 s
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def placeholder() -> bytes:
    """A grey PNG saying "no photo", drawn once per process: what is shown instead of an unusable photo."""
    im = Image.new("RGB", PLACEHOLDER_SIZE, PLACEHOLDER_GREY)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=36)
    text = "no photo"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (PLACEHOLDER_SIZE[0] - (right - left)) / 2 - left
    y = (PLACEHOLDER_SIZE[1] - (bottom - top)) / 2 - top
    draw.text((x, y), text, fill=PLACEHOLDER_INK, font=font)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def is_remote(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def media_roots(settings: Settings, *folders: Path | str) -> tuple[Path, ...]:
    """Where photos may live: `folders` (an importer passes the folder of the file it reads), the catalog
    folder, the data folder (browser uploads are stored there) and the extra folders of VITRINA_MEDIA_ROOTS.
    Resolved once, so that a root reached through a link still contains the real paths of its files."""
    paths = (*folders, settings.catalog_dir, settings.data_dir, *settings.media_roots)
    return tuple(dict.fromkeys(Path(p).expanduser().resolve() for p in paths))


def confinement(path: str, roots: tuple[Path, ...]) -> Path | str:
    """The real location of `path` when it is a regular file under one of the roots, else why it is not
    (text that follows "photo <path> " in a warning). Links are followed first, so a link pointing out of the
    roots is outside them; nothing is opened, so a FIFO or a device cannot block or flood the caller."""
    if "\x00" in path:
        return "contains a NUL character"
    if path.startswith("~"):  # the server's home folder is never what a catalog means by a photo
        return "names a home folder (~)"
    try:
        real = Path(path).resolve(strict=True)
    except FileNotFoundError:
        return "not found"
    except (OSError, RuntimeError, ValueError) as e:  # a link loop, a lone surrogate, a name too long
        return f"cannot be resolved ({type(e).__name__})"
    if not any(real == root or root in real.parents for root in roots):
        return f"is outside the media roots ({', '.join(str(r) for r in roots)})"
    try:
        regular = real.is_file()
    except OSError:
        regular = False
    return real if regular else "is not a regular file"


def confined(path: str, roots: tuple[Path, ...]) -> Path | None:
    """The real location of `path` when it is a regular file under one of the roots (links are followed
    first, so a link pointing out is refused), else None."""
    found = confinement(path, roots)
    return found if isinstance(found, Path) else None


def record_roots(db: Database, folders: tuple[Path, ...] | list[Path]) -> None:
    """Remember the folders an import took photos from (see MediaRoot)."""
    paths = {str(Path(f).expanduser().resolve()) for f in folders}
    with db.session() as s:
        have = set(s.scalars(select(MediaRoot.path).where(MediaRoot.path.in_(sorted(paths)))))
        s.add_all(MediaRoot(path=p) for p in sorted(paths - have))
    with _LOCK:
        _RECORDED.pop(db.url, None)


def recorded_roots(db: Database) -> dict[int, Path]:
    """The folders imports took photos from, by id (the API's photo URLs name them by id)."""
    with _LOCK:
        if db.url in _RECORDED:
            return _RECORDED[db.url]
    with db.session() as s:
        found = {int(i): Path(p) for i, p in s.execute(select(MediaRoot.id, MediaRoot.path))}
    with _LOCK:
        _RECORDED[db.url] = found
    return found


def photo(image: str | None, settings: Settings, *folders: Path) -> str | bytes | None:
    """What to show for a product photo: the URL of a remote photo, JPEG bytes of a local one (decoded,
    upright, at most THUMBNAIL_SIZE), or None for "no photo" (missing, outside the media roots and
    `folders`, or not a decodable image)."""
    if not image:
        return None
    if is_remote(image):
        return image
    real = confined(image, media_roots(settings, *folders))
    if real is None:
        return None
    try:
        st = real.stat()
    except OSError:
        return None
    key = (str(real), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _THUMBNAILS:
            return _THUMBNAILS[key]
    try:
        im = load_image(real, settings.max_upload_bytes, settings.max_pixels)
    except InvalidImage:
        data = None
    else:
        im.thumbnail(THUMBNAIL_SIZE)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=THUMBNAIL_QUALITY)
        data = buf.getvalue()
    with _LOCK:
        _THUMBNAILS[key] = data
    return data


__all__ = ["PLACEHOLDER_GREY", "PLACEHOLDER_SIZE", "THUMBNAIL_SIZE", "confined", "confinement", "is_remote",
           "media_roots", "photo", "placeholder", "record_roots", "recorded_roots"]
