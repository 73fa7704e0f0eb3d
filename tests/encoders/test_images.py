"""load_image on real photos and on every kind of bad input, each made as real bytes here."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidImage, ValidationError
from engine.encoders.images import load_image

MB = 1024 * 1024
LIMITS = dict(max_bytes=20 * MB, max_pixels=40_000_000)


@pytest.fixture(scope="module")
def luma_jpeg(luma_dir: Path) -> Path:
    return luma_dir / "media/catalog/product/m/h/mh01-gray_main.jpg"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height (8-bit RGB) and whose pixel data is a few bytes: a bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + chunk(b"IEND", b""))


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


# --- good input -------------------------------------------------------------------------------------------

def test_real_photo_from_path_bytes_and_file_object(luma_jpeg: Path):
    from_path = load_image(luma_jpeg, **LIMITS)
    from_str = load_image(str(luma_jpeg), **LIMITS)
    data = luma_jpeg.read_bytes()
    from_bytes = load_image(data, **LIMITS)
    with open(luma_jpeg, "rb") as f:
        from_file = load_image(f, **LIMITS)
    for im in (from_path, from_str, from_bytes, from_file):
        assert im.mode == "RGB"
        assert im.size == Image.open(luma_jpeg).size
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))
    assert np.array_equal(np.asarray(from_path), np.asarray(from_file))


def test_transparent_background_is_composited_on_white():
    im = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # transparent black: must not turn black
    im.paste((200, 10, 10, 255), (10, 10, 30, 30))
    out = load_image(_encode(im, "PNG"), **LIMITS)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((20, 20)) == (200, 10, 10)


def test_half_transparent_pixels_blend_with_white():
    im = Image.new("LA", (10, 10), (0, 128))  # black at 50% opacity
    out = load_image(_encode(im, "PNG"), **LIMITS)
    assert 120 <= out.getpixel((5, 5))[0] <= 135


def test_palette_image_with_transparent_index():
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((4, 4), 1)
    out = load_image(_encode(im, "PNG", transparency=0), **LIMITS)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((4, 4)) == (0, 0, 255)


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (60, 20), (0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = load_image(_encode(im, "JPEG", exif=exif), **LIMITS)
    assert out.size == (20, 60)


def test_greyscale_cmyk_and_16_bit_become_rgb():
    grey = load_image(_encode(Image.new("L", (5, 5), 77), "PNG"), **LIMITS)
    assert grey.mode == "RGB" and grey.getpixel((0, 0)) == (77, 77, 77)
    cmyk = load_image(_encode(Image.new("CMYK", (5, 5), (0, 255, 255, 0)), "JPEG"), **LIMITS)
    r, g, b = cmyk.getpixel((2, 2))
    assert cmyk.mode == "RGB" and r > 200 and g < 60 and b < 60
    deep = Image.fromarray(np.array([[0, 1000], [30000, 65535]], dtype=np.uint16))
    out = load_image(_encode(deep, "PNG"), **LIMITS)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 1)) == (255, 255, 255)


# --- bad input --------------------------------------------------------------------------------------------

def test_empty_bytes():
    with pytest.raises(InvalidImage, match="empty"):
        load_image(b"", **LIMITS)


def test_empty_file(tmp_path: Path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InvalidImage, match="empty"):
        load_image(p, **LIMITS)


def test_too_many_bytes_names_limit_and_size(luma_jpeg: Path):
    data = luma_jpeg.read_bytes()
    with pytest.raises(InvalidImage) as e:
        load_image(data, max_bytes=10_000, max_pixels=LIMITS["max_pixels"])
    assert f"({len(data)} bytes)" in str(e.value) and "the limit is 9.8 KB (10000 bytes)" in str(e.value)


def test_too_large_file_is_refused_before_reading(luma_jpeg: Path):
    size = luma_jpeg.stat().st_size
    with pytest.raises(InvalidImage) as e:
        load_image(luma_jpeg, max_bytes=size - 1, max_pixels=LIMITS["max_pixels"])
    assert str(size) in str(e.value) and "limit" in str(e.value)


def test_too_large_stream(luma_jpeg: Path):
    with open(luma_jpeg, "rb") as f, pytest.raises(InvalidImage, match="too large.*1000 bytes"):
        load_image(f, max_bytes=1000, max_pixels=LIMITS["max_pixels"])


def test_pdf_is_named():
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    with pytest.raises(InvalidImage, match="PDF"):
        load_image(pdf, **LIMITS)


def test_text_file_is_named(tmp_path: Path):
    p = tmp_path / "notes.jpg"
    p.write_text("Красная куртка, размер M\nred jacket\n", encoding="utf-8")
    with pytest.raises(InvalidImage, match="text file"):
        load_image(p, **LIMITS)


def test_heic_photo_is_named():
    ftyp = struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic"  # an iPhone photo's first box
    with pytest.raises(InvalidImage, match="HEIC.*JPEG or PNG"):
        load_image(ftyp + bytes(200), **LIMITS)


def test_unknown_binary_is_not_an_image():
    with pytest.raises(InvalidImage, match="not an image"):
        load_image(bytes(range(256)) * 4, **LIMITS)


def test_truncated_jpeg(luma_jpeg: Path):
    data = luma_jpeg.read_bytes()
    with pytest.raises(InvalidImage, match="truncated"):
        load_image(data[: len(data) // 2], **LIMITS)


def test_corrupt_jpeg_huffman_table(luma_jpeg: Path):
    data = bytearray(luma_jpeg.read_bytes())
    dht = data.find(b"\xff\xc4")  # the first Huffman table: garbage here breaks the whole scan
    assert dht > 0
    data[dht + 4:dht + 60] = bytes((i * 37) % 256 for i in range(56))
    with pytest.raises(InvalidImage, match="corrupt"):
        load_image(bytes(data), **LIMITS)


def test_png_declaring_100000_squared_is_a_bomb():
    data = _png_header_only(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(InvalidImage) as e:
        load_image(data, **LIMITS)
    msg = str(e.value)
    assert "decompression bomb" in msg and "10,000,000,000 pixels" in msg and "40,000,000" in msg


def test_canvas_over_our_limit_is_refused_from_the_header():
    with pytest.raises(InvalidImage) as e:
        load_image(_png_header_only(8000, 6000), **LIMITS)  # 48 MP, under Pillow's own guard
    assert "8000x6000" in str(e.value) and "48,000,000" in str(e.value) and "40,000,000" in str(e.value)


def test_pillow_bomb_warning_becomes_an_error():
    # 100 MP: above Pillow's warning level (about 89 MP), below its hard error, inside a generous limit of ours
    with pytest.raises(InvalidImage, match="decompression bomb.*100,000,000 pixels.*Pillow's decompression-bomb guard"):
        load_image(_png_header_only(10_000, 10_000), max_bytes=LIMITS["max_bytes"], max_pixels=500_000_000)


def test_real_photo_over_pixel_limit(luma_jpeg: Path):
    w, h = Image.open(luma_jpeg).size
    with pytest.raises(InvalidImage) as e:
        load_image(luma_jpeg, max_bytes=LIMITS["max_bytes"], max_pixels=w * h - 1)
    assert f"{w}x{h}" in str(e.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(InvalidImage, match="does not exist"):
        load_image(tmp_path / "nope.jpg", **LIMITS)


def test_folder_is_not_an_image(tmp_path: Path):
    with pytest.raises(InvalidImage, match="folder"):
        load_image(tmp_path, **LIMITS)


def test_text_mode_stream_and_wrong_type():
    with pytest.raises(InvalidImage, match="binary mode"):
        load_image(io.StringIO("abc"), **LIMITS)
    with pytest.raises(InvalidImage, match="bytes, a file path or a binary file object"):
        load_image(12345, **LIMITS)  # type: ignore[arg-type]


def test_nonsense_limits():
    with pytest.raises(InvalidImage, match="positive"):
        load_image(b"x", max_bytes=0, max_pixels=10)


def test_invalid_image_is_a_validation_error():
    with pytest.raises(ValidationError):
        load_image(b"", **LIMITS)
