"""Catalog photos over HTTP. A product's `image` in the catalog is a file on this server (the importers
resolve photo paths) or an http(s) URL; a web frontend can load neither path, so lists give each item a
URL instead: an http(s) image is passed through, and a photo under the catalog folder (VITRINA_CATALOG_DIR)
becomes this service's GET /media/<path under that folder>. That route serves those photos and nothing
else: no path that climbs out of the folder (`..`, an absolute path, a link pointing outside), and no
file of the folder that is not a photo (the catalog's CSVs, its README). A photo outside the folder has no
URL (null): the service never hands out a filesystem path. What is served is what the console shows, made
by one engine function (engine.catalog.media.photo): the photo decoded by engine/images as a JPEG of at most
400x496, or the "no photo" placeholder when the file does not decode — never the raw file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from engine.catalog.db import Database
from engine.catalog.media import photo, placeholder, recorded_roots
from engine.errors import NotFound, ValidationError
from engine.settings import Settings

MEDIA_ROUTE = "media"  # the route's name, for url_for
PHOTOS_ROUTE = "photos"  # photos of the other folders imports recorded: /photos/{folder id}/{path}
PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
               ".gif": "image/gif"}
CACHE_CONTROL = "public, max-age=86400"  # a catalog photo rarely changes; a changed one gets a new ETag
_URL = re.compile(r"(?i)^https?://")
_DRIVE = re.compile(r"^[A-Za-z]:")


class PhotoRoot:
    """The folder whose photos the service may serve, and the URLs of the photos in it."""

    def __init__(self, folder: str | os.PathLike, settings: Settings):
        self.settings = settings
        self.given = Path(os.path.abspath(folder))
        self.root = self.given.resolve()  # the importers store resolved paths; the setting may be a link
        self._prefixes = tuple(dict.fromkeys(str(r) + os.sep for r in (self.root, self.given)))

    def relative(self, image: str | None) -> str | None:
        """The photo's path under the folder (with / separators), or None when it is not under it. Plain string
        work: it runs for every item of every list the service computes."""
        if not image or _URL.match(image):
            return None
        path = os.path.normpath(image)  # no "." or ".." parts and no doubled separators left
        for prefix in self._prefixes:
            if path.startswith(prefix):
                return path[len(prefix):].replace(os.sep, "/")
        return None

    def file(self, path: str) -> tuple[Path, str]:
        """The photo a /media/ path names and its media type. ValidationError for a path that is absolute or
        climbs out of the folder (also through a link), NotFound for anything but an existing photo."""
        parts = path.split("/")
        if (not path or "\x00" in path or "\\" in path or path.startswith("/") or _DRIVE.match(path)
                or any(p in ("..", ".") for p in parts)):
            raise ValidationError(f"photo path {path!r} must be relative to the catalog folder, without '..'")
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root):
            raise ValidationError(f"photo path {path!r} leads outside the catalog folder")
        media_type = PHOTO_TYPES.get(target.suffix.lower())
        if media_type is None or not target.is_file():
            raise NotFound(f"no catalog photo at {path!r}")
        return target, media_type

    def response(self, path: str) -> Response:
        target, _ = self.file(path)
        shown = photo(str(target), self.settings, self.root)
        if isinstance(shown, bytes):
            return Response(shown, media_type="image/jpeg", headers={"Cache-Control": CACHE_CONTROL})
        return Response(placeholder(), media_type="image/png", headers={"Cache-Control": "no-cache"})


class Photos:
    """Every folder the service serves photos from: the catalog folder at /media/<path>, and the folders
    catalog imports recorded (engine.catalog.media.record_roots) at /photos/<folder id>/<path>. Each request
    re-checks the path against its folder and decodes the photo through the engine."""

    def __init__(self, settings: Settings, db: Database):
        self.settings, self.db = settings, db
        self.catalog = PhotoRoot(settings.catalog_dir, settings)
        self._roots: dict[Path, PhotoRoot] = {}

    def _recorded(self) -> dict[int, PhotoRoot]:
        out = {}
        for folder_id, folder in recorded_roots(self.db).items():
            if folder not in self._roots:
                self._roots[folder] = PhotoRoot(folder, self.settings)
            out[folder_id] = self._roots[folder]
        return out

    def route(self, image: str | None) -> str | None:
        """Where a frontend loads a product's `image`, relative to the service root: its own http(s) URL as
        is, `media/<path>` or `photos/<folder id>/<path>` for a photo in a served folder, or None. Relative, so
        a list rendered once (and cached) serves requests made through any host name."""
        if not image or _URL.match(image):
            return image or None
        rel = self.catalog.relative(image)
        if rel is not None:
            return f"{MEDIA_ROUTE}/{quote(rel)}"
        for folder_id, root in self._recorded().items():
            rel = root.relative(image)
            if rel is not None:
                return f"{PHOTOS_ROUTE}/{folder_id}/{quote(rel)}"
        return None

    def url(self, image: str | None, request: Request) -> str | None:
        """The absolute URL of a product's `image` for this request (see `route`)."""
        return absolute(self.route(image), str(request.base_url))

    def response(self, path: str) -> Response:
        return self.catalog.response(path)

    def recorded_response(self, folder: int, path: str) -> Response:
        root = self._recorded().get(folder)
        if root is None:
            raise NotFound(f"no photo folder {folder}")
        return root.response(path)


def absolute(route: str | None, base: str) -> str | None:
    """A `Photos.route` made absolute against the request's base URL (which ends with "/")."""
    return route if route is None or _URL.match(route) else base + route
