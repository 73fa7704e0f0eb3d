"""Product photos as the console and the HTTP API show them. A catalog names its photos by path or URL; a
hostile or careless catalog can name any file on the server (`/etc/passwd`, `~/.ssh/id_rsa`, a FIFO, a
device) or a photo that will not decode. So a photo is shown only when it is an http(s) URL, or a regular
file under one of the media roots (the catalog folder and the data folder, where uploads live) that decodes
through engine.encoders.images; anything else is "no photo", never an error page."""
from __future__ import annotations

import io
import threading
from pathlib import Path

from cachetools import LRUCache

from engine.encoders.images import load_image
from engine.errors import InvalidImage
from engine.settings import Settings

THUMBNAIL_SIZE = (400, 496)  # the portrait shape of catalog photos
THUMBNAIL_QUALITY = 85
CACHED_THUMBNAILS = 2048

_THUMBNAILS: LRUCache = LRUCache(maxsize=CACHED_THUMBNAILS)
_LOCK = threading.Lock()


def is_remote(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def media_roots(settings: Settings) -> tuple[Path, ...]:
    """Where photos may live: the catalog folder and the data folder (browser uploads are stored there)."""
    return tuple(dict.fromkeys(Path(p).expanduser().resolve() for p in (settings.catalog_dir, settings.data_dir)))


def confined(path: str, roots: tuple[Path, ...]) -> Path | None:
    """The real location of `path` when it is a regular file under one of the roots (links are followed
    first, so a link pointing out is refused), else None."""
    try:
        real = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL or a lone surrogate in the path
        return None
    if not any(real == root or root in real.parents for root in roots):
        return None
    return real if real.is_file() else None


def photo(image: str | None, settings: Settings) -> str | bytes | None:
    """What to show for a product photo: the URL of a remote photo, JPEG bytes of a local one (decoded,
    upright, at most THUMBNAIL_SIZE), or None for "no photo" (missing, outside the media roots, or not a
    decodable image)."""
    if not image:
        return None
    if is_remote(image):
        return image
    real = confined(image, media_roots(settings))
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


__all__ = ["THUMBNAIL_SIZE", "confined", "is_remote", "media_roots", "photo"]
