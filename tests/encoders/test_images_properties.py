"""Photo input as a hostile user sends it: whatever the bytes or the path, `load_image` returns an RGB image
or raises InvalidImage with a message — never another exception, never a hang. The worst cases found are
kept in tests/corpus/images/, each with the outcome it must have."""
from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from engine.encoders.images import load_image
from engine.errors import InvalidImage

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "images"
MAX_BYTES, MAX_PIXELS = 2 * 1024 * 1024, 4_000_000


def _valid(fmt: str) -> bytes:
    rng = random.Random(7)
    im = Image.new("RGB", (24, 16))
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(24 * 16)])
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


SEEDS = {fmt: _valid(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


def _outcome(source) -> str:
    try:
        im = load_image(source, MAX_BYTES, MAX_PIXELS)
    except InvalidImage as e:
        assert str(e), "a refusal says why"
        return "refused"
    assert im.mode == "RGB" and im.width > 0 and im.height > 0
    return "decoded"


@given(st.binary(max_size=4096))
def test_any_bytes_decode_or_are_refused(data):
    _outcome(data)


@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_damaged_real_images_decode_or_are_refused(fmt, data):
    raw = bytearray(SEEDS[fmt])
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]), label="kind")
        at = data.draw(st.integers(0, max(0, len(raw) - 1)), label="at")
        if kind == "flip" and raw:
            raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        elif kind == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=64), label="bytes")
    _outcome(bytes(raw))


@given(st.text(max_size=200))
def test_any_path_text_is_refused_or_read_never_raised(text):
    _outcome(text)


@pytest.mark.parametrize(("name", "message"), [
    ("truncated.jpg", "truncated"),
    ("bomb-100000x100000.png", "decompression bomb"),
    ("pdf-named-jpg.jpg", "PDF"),
])
def test_corpus_refusals_name_the_problem(name, message):
    with pytest.raises(InvalidImage, match=message):
        load_image(CORPUS / name, MAX_BYTES, MAX_PIXELS)


def test_corpus_16_bit_png_decodes_to_rgb():
    im = load_image(CORPUS / "greyscale-16-bit.png", MAX_BYTES, MAX_PIXELS)
    assert im.mode == "RGB" and im.size == (32, 32) and im.getpixel((31, 31))[0] > im.getpixel((0, 0))[0]


def test_a_fifo_named_as_a_photo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(InvalidImage, match="not a regular file"):
        load_image(fifo, MAX_BYTES, MAX_PIXELS)  # no writer ever opens it: a blocking open would hang here


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_devices_are_refused(path):
    with pytest.raises(InvalidImage, match="not a regular file"):
        load_image(path, MAX_BYTES, MAX_PIXELS)


@pytest.mark.parametrize("path", ["photo\x00.jpg", "photo\ud800.jpg"])
def test_paths_with_nul_or_lone_surrogates_are_refused(path):
    with pytest.raises(InvalidImage, match="not a usable path"):
        load_image(path, MAX_BYTES, MAX_PIXELS)
