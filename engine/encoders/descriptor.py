"""A weight-free product-photo descriptor: the image encoder that works where no CLIP weights can be had.

Catalog photos are studio shots on a near-white background, so the product is found first (pixels far from
the background colour estimated on the image border) and everything is measured on it alone:

- colour: soft joint hue/saturation/value histogram of the product pixels, with grey levels kept apart,
- colour layout: coarser histograms of the top, middle and bottom thirds, plus a small Lab thumbnail,
  which tell a black top on grey trousers from grey trousers with a black waistband,
- edges: a HOG-like grid of gradient-orientation histograms over the crop (seams, zips, folds),
- shape: the product mask at a fixed size after an aspect-preserving fit, its aspect and fill ratios.

Histograms are square-rooted (Hellinger), every block is L2-normalised and weighted, and the concatenation
is a unit vector, so a cosine is a weighted sum of per-block similarities. It is numpy and PIL on the CPU
whatever VITRINA_DEVICE says: nothing here would run faster on a GPU than the cost of copying each photo there. The weights were chosen on the
Luma catalog's other-view retrieval task (tests/test_descriptor_quality.py); change anything that alters
the vectors and `NAME` must be bumped, so that vectors of two versions are never mixed in one collection.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from engine.errors import ValidationError
from engine.encoders.device import check_batch
from engine.encoders.images import to_rgb

NAME = "descriptor-v2"  # v1: 256 px working size (a development snapshot); v2: 160 px

_SIDE = 160  # working resolution (longest side): retrieval on the Luma photos is as good as at 256 px, 2.5x faster
_BG_MIN = 200  # a border pixel this bright in every channel counts as studio background
_BG_SHARE = 0.3  # below this share of bright border pixels the photo is full-bleed: no background removal
_FG_DIST = 20  # a pixel differing from the background by more than this (any channel) is product
_MIN_FG = 0.005  # a mask smaller than this share of the image is noise: the whole image is used instead

# colour histogram: hue bins x saturation bins x value bins for chromatic pixels, plus grey levels
_HUE, _SAT, _VAL, _GREY, _SAT_MIN = 24, 3, 4, 8, 25
# per-band colour histograms of the layout block (coarser: each band has fewer pixels)
_BANDS, _B_HUE, _B_SAT, _B_VAL, _B_GREY = 3, 12, 2, 2, 4
_THUMB = 6  # Lab thumbnail side
_HOG_SIZE, _HOG_CELLS, _HOG_BINS = 64, 4, 9
_MASK = 8  # shape mask side

_WEIGHTS = {"colour": 1.0, "bands": 0.9, "thumb": 0.6, "edges": 0.3, "shape": 0.3}
_DIMS = {
    "colour": _HUE * _SAT * _VAL + _GREY,
    "bands": _BANDS * (_B_HUE * _B_SAT * _B_VAL + _B_GREY),
    "thumb": _THUMB * _THUMB * 3,
    "edges": _HOG_CELLS * _HOG_CELLS * _HOG_BINS,
    "shape": _MASK * _MASK + 2,
}
DIM = sum(_DIMS.values())


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _working_copy(image: Image.Image) -> np.ndarray:
    if not isinstance(image, Image.Image):
        raise ValidationError(f"the descriptor encodes PIL images, got {type(image).__name__}")
    if image.width < 1 or image.height < 1:
        raise ValidationError(f"cannot describe an empty image ({image.width}x{image.height})")
    im = to_rgb(image)
    scale = _SIDE / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(im)


def _border(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) pixels of the image's outer 1% on every side."""
    h, w, _ = rgb.shape
    k = max(1, min(h, w) // 100)
    return np.concatenate([rgb[:k].reshape(-1, 3), rgb[-k:].reshape(-1, 3),
                           rgb[:, :k].reshape(-1, 3), rgb[:, -k:].reshape(-1, 3)])


def is_studio_shot(rgb: np.ndarray) -> bool:
    """Whether the photo has the catalog's near-white studio background (enough bright border pixels): such a
    photo needs no search for the product in it (engine.photos.crop), the mask below finds it."""
    return bool((_border(rgb).min(axis=1) >= _BG_MIN).mean() >= _BG_SHARE)


def product_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of the product: pixels far from the background colour read off the image border.

    A photo whose border is mostly not near-white (a full-bleed close-up) is all product.
    """
    h, w, _ = rgb.shape
    border = _border(rgb)
    bright = border.min(axis=1) >= _BG_MIN
    if bright.mean() < _BG_SHARE:
        return np.ones((h, w), dtype=bool)
    background = np.median(border[bright], axis=0)
    dist = np.abs(rgb.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    for threshold in (_FG_DIST, _FG_DIST // 2):  # pale products on white get a second, finer look
        mask = dist > threshold
        if mask.mean() >= _MIN_FG:
            return mask
    return np.ones((h, w), dtype=bool)


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns holding more than 1% product pixels: stray specks do not stretch the box."""
    h, w = mask.shape
    rows = np.flatnonzero(mask.sum(axis=1) > max(1, w // 100))
    cols = np.flatnonzero(mask.sum(axis=0) > max(1, h // 100))
    if rows.size == 0 or cols.size == 0:
        return 0, h, 0, w
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _soft_index(x: np.ndarray, bins: int, circular: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear split of values in [0, 1) between the two nearest bin centres (no hard quantisation edges)."""
    f = x * bins - 0.5
    if circular:
        lo = np.floor(f)
        frac = f - lo
        lo = lo.astype(np.int64) % bins
        return lo, (lo + 1) % bins, frac
    f = np.clip(f, 0, bins - 1)
    lo = np.floor(f).astype(np.int64)
    return lo, np.minimum(lo + 1, bins - 1), f - lo


def _hsv_histogram(hsv: np.ndarray, hues: int, sats: int, vals: int, greys: int) -> np.ndarray:
    """Hellinger-mapped soft histogram of (n, 3) uint8 HSV pixels: chromatic bins then grey levels.

    Chroma is a soft weight rather than a cut, so near-grey pixels of a dark or washed-out garment do not
    jump between the two halves with a change of lighting.
    """
    p = hsv.astype(np.float32)
    h, s, v = p[:, 0] / 256.0, p[:, 1], p[:, 2]
    chroma = np.clip((s - _SAT_MIN / 2) / _SAT_MIN, 0, 1) * np.clip((v - 20) / 40, 0, 1)
    h0, h1, fh = _soft_index(h, hues, circular=True)
    s0, s1, fs = _soft_index(np.clip((s - _SAT_MIN) / (256 - _SAT_MIN), 0, 0.9999), sats)
    v0, v1, fv = _soft_index(v / 256.0, vals)
    n_chrom = hues * sats * vals
    hist = np.zeros(n_chrom + greys, dtype=np.float64)
    for hb, wh in ((h0, 1 - fh), (h1, fh)):
        for sb, ws in ((s0, 1 - fs), (s1, fs)):
            for vb, wv in ((v0, 1 - fv), (v1, fv)):
                hist[:n_chrom] += np.bincount((hb * sats + sb) * vals + vb, weights=chroma * wh * ws * wv,
                                              minlength=n_chrom)
    g0, g1, fg = _soft_index(v / 256.0, greys)
    grey = 1 - chroma
    hist[n_chrom:] = (np.bincount(g0, weights=grey * (1 - fg), minlength=greys)
                      + np.bincount(g1, weights=grey * fg, minlength=greys))
    return np.sqrt(hist / max(len(p), 1))


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of (n, 3) uint8 sRGB pixels; in numpy because Pillow builds a colour transform per call."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def _fit_square(a: np.ndarray, fill: int) -> np.ndarray:
    """Pad to a square around the centre, so resizing keeps the product's proportions."""
    h, w = a.shape[:2]
    side = max(h, w)
    out = np.full((side, side) + a.shape[2:], fill, dtype=a.dtype)
    y, x = (side - h) // 2, (side - w) // 2
    out[y:y + h, x:x + w] = a
    return out


def _edges(grey: np.ndarray) -> np.ndarray:
    """HOG-like: per-cell soft orientation histograms of gradient magnitude, each cell normalised."""
    size, cells, bins = _HOG_SIZE, _HOG_CELLS, _HOG_BINS
    a = np.asarray(Image.fromarray(grey).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    gx = np.zeros_like(a)
    gy = np.zeros_like(a)
    gx[:, 1:-1] = a[:, 2:] - a[:, :-2]
    gy[1:-1] = a[2:] - a[:-2]
    mag = np.hypot(gx, gy).ravel()
    b0, b1, fb = _soft_index((np.arctan2(gy, gx) % np.pi).ravel() / np.pi, bins, circular=True)
    step = size // cells
    cell = ((np.arange(size) // step)[:, None] * cells + (np.arange(size) // step)[None, :]).ravel()
    n = cells * cells * bins
    hist = (np.bincount(cell * bins + b0, weights=mag * (1 - fb), minlength=n)
            + np.bincount(cell * bins + b1, weights=mag * fb, minlength=n)).reshape(cells * cells, bins)
    hist /= np.linalg.norm(hist, axis=1, keepdims=True) + 1e-3 * size  # flat cells stay near zero
    return np.sqrt(hist.ravel())


def describe(image: Image.Image, normalize: bool = True) -> np.ndarray:
    """The descriptor of one image: (DIM,) float32, unit norm when `normalize`."""
    rgb = _working_copy(image)
    mask = product_mask(rgb)
    y0, y1, x0, x1 = _bounding_box(mask)
    rgb, mask = np.ascontiguousarray(rgb[y0:y1, x0:x1]), mask[y0:y1, x0:x1]
    crop = Image.fromarray(rgb)
    hsv = np.asarray(crop.convert("HSV"))

    blocks: dict[str, np.ndarray] = {}
    blocks["colour"] = _hsv_histogram(hsv[mask], _HUE, _SAT, _VAL, _GREY)

    bands = []
    height = hsv.shape[0]
    for k in range(_BANDS):
        top, bottom = k * height // _BANDS, max((k + 1) * height // _BANDS, k * height // _BANDS + 1)
        band, band_mask = hsv[top:bottom], mask[top:bottom]
        pixels = band[band_mask] if band_mask.any() else band.reshape(-1, 3)
        bands.append(_unit(_hsv_histogram(pixels, _B_HUE, _B_SAT, _B_VAL, _B_GREY)))
    blocks["bands"] = np.concatenate(bands)

    on_white = np.where(mask[..., None], rgb, np.uint8(255))
    thumb = Image.fromarray(_fit_square(on_white, 255)).resize((_THUMB, _THUMB), Image.Resampling.BOX)
    lab = _srgb_to_lab(np.asarray(thumb).reshape(-1, 3))
    blocks["thumb"] = (lab - lab.mean(axis=0)).ravel()

    blocks["edges"] = _edges(np.asarray(crop.convert("L")))

    square = _fit_square(mask.astype(np.uint8) * 255, 0)
    small = np.asarray(Image.fromarray(square).resize((_MASK, _MASK), Image.Resampling.BOX), dtype=np.float32)
    h, w = mask.shape
    blocks["shape"] = np.concatenate([small.ravel() / 255.0, [h / (h + w), float(mask.mean())]])

    v = np.concatenate([_WEIGHTS[k] * _unit(blocks[k].astype(np.float64)) for k in _DIMS]).astype(np.float32)
    return _unit(v) if normalize else v


class DescriptorImageEncoder:
    """Colour, layout, edge and shape descriptor of product photos; no weights, no text tower."""

    name: str = NAME
    dim: int = DIM
    supports_text: bool = False

    def __init__(self, batch_size: int | None = None):
        self.batch_size = check_batch(batch_size, 32)

    def encode(self, images: Sequence[Image.Image], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        """(N, DIM) float32; images are independent, so `batch_size` only paces the progress bar."""
        if isinstance(images, Image.Image):
            raise ValidationError("encode takes a sequence of images: wrap a single image in a list")
        batch_size = check_batch(self.batch_size if batch_size is None else batch_size, 32)
        out = np.empty((len(images), DIM), dtype=np.float32)
        with tqdm(total=len(images), disable=not show_progress, desc=f"{NAME} images", unit="img") as bar:
            for i, im in enumerate(images):
                out[i] = describe(im, normalize=normalize)
                if (i + 1) % batch_size == 0 or i + 1 == len(images):
                    bar.update((i + 1) - bar.n)
        return out

    def encode_text(self, texts: Sequence[str], batch_size: int | None = None, normalize: bool = True) -> np.ndarray:
        raise ValidationError(f"the {NAME} image encoder has no text tower: text-to-image search "
                              "needs a CLIP image encoder")
