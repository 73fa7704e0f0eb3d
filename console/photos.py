"""Product photos for st.image, through the engine (engine.catalog.media): a remote photo's URL, a local photo
decoded and confined to the media roots, or a grey "no photo" placeholder made in memory. Nothing a catalog
names reaches st.image unchecked, so one bad photo never breaks a page."""
from __future__ import annotations

from dataclasses import dataclass

from engine.catalog.media import (PLACEHOLDER_GREY, PLACEHOLDER_SIZE, is_remote, photo, placeholder,
                                 recorded_roots)
from .runtime import get_runtime, settings

__all__ = ["PLACEHOLDER_GREY", "PLACEHOLDER_SIZE", "Photo", "photo_source", "placeholder"]


def photo_source(path: str | None) -> str | bytes:
    """What st.image should show for a product photo: its URL, its decoded bytes, or the placeholder. Local
    photos are accepted from the media roots and the folders imports recorded (engine.catalog.media)."""
    if not path or is_remote(path):
        return path or placeholder()
    shown = photo(path, settings(), *recorded_roots(get_runtime().db).values())
    return placeholder() if shown is None else shown


@dataclass(frozen=True)
class Photo:
    """A photo a user gave (upload or camera), kept as bytes so it outlives the widget that received it."""

    name: str
    data: bytes

    @classmethod
    def of(cls, uploaded) -> "Photo | None":
        if uploaded is None:
            return None
        return cls(uploaded.name or "photo", uploaded.getvalue())
