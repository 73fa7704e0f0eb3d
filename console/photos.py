"""Product photos for st.image: the catalog's path or URL, or a grey "no photo" placeholder made in memory."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

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


def is_remote(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def photo_source(path: str | None) -> str | bytes:
    """What st.image should show for a product photo: its file or URL when there is one, else the placeholder."""
    if not path:
        return placeholder()
    if is_remote(path):
        return path
    return path if Path(path).is_file() else placeholder()


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
