"""Decoding of untrusted photos (uploads, catalog files) into RGB images the encoders accept.

Every failure becomes an `InvalidImage` whose message says what was wrong, because uploads come from users
and catalog folders are full of surprises. Size limits are checked before any pixel is decoded, so a
small file declaring a gigantic canvas (a decompression bomb) costs nothing.
"""
from __future__ import annotations

import io
import os
import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InvalidImage

# Leading bytes of documents users upload by mistake: named in the error instead of "not an image".
_KNOWN_NON_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"<!DOCTYPE html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"\x1f\x8b", "a gzip archive"),
)

_SOURCE_TYPES = "bytes, a file path or a binary file object"


def _size(n: int) -> str:
    """Bytes for a message: '3.2 MB (3355443 bytes)', '22.0 KB (22556 bytes)' or '1000 bytes'."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB ({n} bytes)"
    if n >= 1024:
        return f"{n / 1024:.1f} KB ({n} bytes)"
    return f"{n} bytes"


def _read(source: bytes | bytearray | memoryview | str | Path | BinaryIO, max_bytes: int) -> tuple[bytes, str]:
    """The raw bytes and a label for messages; the byte limit is enforced before (or while) reading."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = "the uploaded image"
        if len(data) > max_bytes:
            raise InvalidImage(f"{label} is too large: {_size(len(data))}, the limit is {_size(max_bytes)}")
        return data, label
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = f"image file {path}"
        if not str(source).strip():
            raise InvalidImage("no image file given: the path is empty")
        try:  # non-blocking, so a FIFO named as a photo cannot hang the caller; checked on the open descriptor
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise InvalidImage(f"{label} does not exist") from None
        except OSError as e:
            raise InvalidImage(f"{label} cannot be read: {e.strerror or e}") from None
        except ValueError as e:  # a NUL or a lone surrogate in the path
            raise InvalidImage(f"{label!r} is not a usable path: {e}") from None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise InvalidImage(f"{label} is a folder, not an image file")
            if not stat.S_ISREG(info.st_mode):
                raise InvalidImage(f"{label} is not a regular file (a device, pipe or socket), so it is not read")
            if info.st_size > max_bytes:
                raise InvalidImage(f"{label} is too large: {_size(info.st_size)}, the limit is {_size(max_bytes)}")
            chunks, got = [], 0
            while got <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - got)):
                chunks.append(chunk)
                got += len(chunk)
            data = b"".join(chunks)
        except OSError as e:
            raise InvalidImage(f"{label} cannot be read: {e.strerror or e}") from None
        finally:
            os.close(fd)
        if len(data) > max_bytes:  # grew between stat and read
            raise InvalidImage(f"{label} is too large: over {max_bytes} bytes, the limit is {_size(max_bytes)}")
        return data, label
    if hasattr(source, "read"):
        label = "the uploaded image"
        try:
            data = source.read(max_bytes + 1)
        except (OSError, ValueError) as e:
            raise InvalidImage(f"{label} cannot be read: {e}") from None
        if isinstance(data, str):
            raise InvalidImage(f"{label} was opened in text mode: open the file in binary mode ('rb')")
        if len(data) > max_bytes:
            raise InvalidImage(f"{label} is too large: over {max_bytes} bytes, the limit is {_size(max_bytes)}")
        return bytes(data), label
    raise InvalidImage(f"an image must be given as {_SOURCE_TYPES}, got {type(source).__name__}")


def _not_an_image(data: bytes, label: str) -> InvalidImage:
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return InvalidImage(f"{label} is a HEIC/HEIF photo, which this server cannot decode: "
                            "export it as JPEG or PNG")
    head = data[:64].lstrip()
    for magic, what in _KNOWN_NON_IMAGES:
        if head[:len(magic)].lower() == magic.lower():
            return InvalidImage(f"{label} is not an image: it is {what}")
    chunk = data[:4096]
    try:
        chunk.decode("utf-8")
        is_text = b"\x00" not in chunk
    except UnicodeDecodeError as e:
        is_text = e.start >= len(chunk) - 3 and b"\x00" not in chunk  # a character cut at the chunk's end
    if is_text:
        return InvalidImage(f"{label} is not an image: it looks like a text file")
    return InvalidImage(f"{label} is not an image in a format Pillow can read (JPEG, PNG, WebP, GIF, ...)")


def _bomb(label: str, pixels: int | None, max_pixels: int, width: int | None = None,
          height: int | None = None) -> InvalidImage:
    dims = f"{width}x{height} = " if width and height else ""
    actual = f"{dims}{pixels:,} pixels" if pixels else "a canvas too large to read"
    if pixels is not None and pixels <= max_pixels:  # within our limit, over Pillow's own guard
        limit = f"Pillow's decompression-bomb guard of {Image.MAX_IMAGE_PIXELS:,} pixels"
    else:
        limit = f"{max_pixels:,} pixels"
    return InvalidImage(f"{label} is too large to decode (possible decompression bomb): {actual}, "
                        f"the limit is {limit}")


def _pixels_in(error: Exception) -> int | None:
    """The pixel count in Pillow's bomb error or warning, which is raised before the size is readable."""
    m = re.search(r"\((\d+) pixels\)", str(error))
    return int(m.group(1)) if m else None


def to_rgb(im: Image.Image) -> Image.Image:
    """RGB with any transparency composited on white, the background of the catalog's studio photos."""
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode in ("P", "L", "RGB", "I", "I;16") and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit / float greyscale: scale into 8 bits instead of letting convert() clip at 255
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        return Image.fromarray(a.astype(np.uint8), "L").convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def load_image(source: bytes | str | Path | BinaryIO, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode `source` into an RGB image, upright per its EXIF orientation.

    Raises InvalidImage for an empty, oversize, non-image, corrupt or truncated input, a canvas larger
    than `max_pixels` (Pillow's own bomb guard, Image.MAX_IMAGE_PIXELS, applies as well) or a missing file.
    """
    if max_bytes <= 0 or max_pixels <= 0:
        raise InvalidImage(f"image limits must be positive, got max_bytes={max_bytes}, max_pixels={max_pixels}")
    data, label = _read(source, max_bytes)
    if not data:
        raise InvalidImage(f"{label} is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _bomb(label, _pixels_in(e), max_pixels) from None
        except UnidentifiedImageError:
            raise _not_an_image(data, label) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise InvalidImage(f"{label} is corrupt: {e}") from None
        width, height = im.size
        if width <= 0 or height <= 0:
            raise InvalidImage(f"{label} has an empty canvas ({width}x{height})")
        if width * height > max_pixels:
            raise _bomb(label, width * height, max_pixels, width, height)
        try:
            im.load()  # full decode: truncated or corrupt data fails here, not later inside an encoder
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb(label, width * height, max_pixels, width, height) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as e:
            what = "truncated" if "truncated" in str(e).lower() else "corrupt"
            raise InvalidImage(f"{label} is {what} and cannot be decoded: {e}") from None
    try:
        im = ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        pass  # a broken EXIF block only loses the orientation hint; the pixels are fine
    return to_rgb(im)
