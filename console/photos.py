"""Product photos for st.image, through the engine (engine.catalog.media): a remote photo's URL, a local photo
decoded and confined to the media roots, or a grey "no photo" placeholder made in memory. Nothing a catalog
names reaches st.image unchecked, so one bad photo never breaks a page."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from engine.catalog.media import photo
from engine.settings import Settings

PLACEHOLDER_SIZE = (400, 496)  # the portrait shape of catalog photos
PLACEHOLDER_GREY = (214, 219, 225)
PLACEHOLDER_INK = (100, 116, 139)


@lru_cache(maxsize=1)
def placeholder() -> bytes:
    """A grey PNG saying "no photo", drawn once per process."""
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


def photo_source(path: str | None) -> str | bytes:
    """What st.image should show for a product photo: its URL, its decoded bytes, or the placeholder."""
    shown = photo(path, Settings())
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
