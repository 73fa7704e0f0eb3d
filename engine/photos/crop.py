"""Finding the product in a shopper's photo before it is described.

Catalog photos are studio shots: the product on a near-white background, which the descriptor masks out. A
photo taken in a shop or at home has a wall, a floor, other things and the product somewhere near the middle;
described whole, its colours are mostly the room's (on the wild set the whole-photo descriptor barely beat a
plain colour histogram). GrabCut, started from a rectangle a little inside the frame, separates the product
from that background; the largest foreground region is put on white and cropped, so the descriptor sees what it
sees in the catalog. A photo that already is a studio shot (a bright border) is left as it is.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from engine.encoders.descriptor import is_studio_shot

CROPS = ("product", "whole")  # the crops a query may be described by (PhotoParams.crops)


@dataclass(frozen=True)
class CropParams:
    side: int = 200  # GrabCut runs at this longest side: its cost grows with the pixel count
    margin: float = 0.06  # the starting rectangle leaves this share of each side outside as sure background
    iterations: int = 4
    min_share: float = 0.02  # a foreground smaller than this share of the photo is a failed cut: the photo is kept


def product_mask(image: Image.Image, params: CropParams = CropParams()) -> np.ndarray | None:
    """Boolean mask of the product at the image's own size, or None when GrabCut finds nothing usable."""
    a = np.asarray(image.convert("RGB"))
    h, w = a.shape[:2]
    if min(h, w) < 16:  # too small to hold a background around a product
        return None
    scale = min(1.0, params.side / max(h, w))
    small = cv2.resize(a, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    mx, my = max(1, int(sw * params.margin)), max(1, int(sh * params.margin))
    mask = np.zeros((sh, sw), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, (mx, my, sw - 2 * mx, sh - 2 * my), bgd, fgd,
                    params.iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # a flat photo gives GrabCut no colour model to fit
        return None
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    fg = (labels == largest).astype(np.uint8)
    if fg.mean() < params.min_share:
        return None
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def product_crop(image: Image.Image, params: CropParams = CropParams()) -> Image.Image:
    """The product on white, cropped to it, like a catalog photo; a studio shot or a failed cut as given."""
    rgb = image.convert("RGB")
    if is_studio_shot(np.asarray(rgb)):
        return rgb
    mask = product_mask(rgb, params)
    if mask is None:
        return rgb
    a = np.asarray(rgb)
    ys, xs = np.nonzero(mask)
    out = np.where(mask[..., None], a, np.uint8(255))[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return Image.fromarray(np.ascontiguousarray(out))


def query_crops(image: Image.Image, crops: tuple[str, ...], params: CropParams = CropParams()) -> list[Image.Image]:
    """The pictures a query photo is described by, one per named crop (each is searched, the scores fused)."""
    out = []
    for name in crops:
        if name == "product":
            out.append(product_crop(image, params))
        elif name == "whole":
            out.append(image.convert("RGB"))
        else:
            raise ValueError(f"unknown crop {name!r}: use {', '.join(CROPS)}")
    return out
