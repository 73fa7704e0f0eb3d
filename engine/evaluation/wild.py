"""The "photos in the wild" set: catalog photos turned into the kind of picture a shopper takes — the product cut
out of its studio background and put into a scene (random background, clutter, other products), seen at an
angle, rotated, cropped, lit differently, blurred, noisy and JPEG-compressed.

The recipe is fixed (seed, size, every range below) and made on the fly, never stored: the same recipe gives
byte-identical photos on every run, so today's Recall@1 on it is the reference later changes are measured
against. It is Pillow and numpy only, both pinned, so the pictures do not move with an image library's version.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine.encoders.descriptor import product_mask


@dataclass(frozen=True)
class WildRecipe:
    seed: int = 12
    size: int = 240  # queries: products drawn without replacement (every product when the catalog is smaller)
    side: int = 480  # the photo's longer side; the shorter is 3/4 of it (a portrait phone photo)
    scale: tuple[float, float] = (0.45, 0.8)  # the product's longer side over the photo's
    rotation: float = 25.0  # degrees either way
    perspective: float = 0.12  # corner jitter of the product, as a share of its size
    crop: float = 0.8  # a random crop keeps at least this share of each side (and may cut into the product)
    clutter: tuple[int, int] = (2, 6)  # random shapes in the scene
    distractors: tuple[int, int] = (0, 2)  # other catalog products in the scene, behind the query's
    brightness: tuple[float, float] = (0.6, 1.35)
    contrast: tuple[float, float] = (0.7, 1.3)
    colour_cast: float = 0.12  # per-channel gain either way (white balance)
    gamma: tuple[float, float] = (0.8, 1.25)
    shadow: float = 0.35  # the deepest linear light fall-off across the photo
    blur: float = 2.0  # the largest Gaussian blur radius (applied to 70% of the photos)
    noise: float = 8.0  # the largest sensor-noise sigma, in 8-bit levels
    jpeg: tuple[int, int] = (30, 85)  # JPEG quality range


@dataclass(frozen=True)
class WildPhoto:
    product_id: int
    index: int
    jpeg: bytes


def _cutout(photo: Image.Image, side: int) -> Image.Image:
    """The product alone: an RGBA crop whose alpha is the product mask (soft-edged), at most `side` px long."""
    im = photo.convert("RGB")
    im.thumbnail((side, side), Image.Resampling.BILINEAR)
    mask = product_mask(np.asarray(im))
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    alpha = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.0))
    out = im.convert("RGBA")
    out.putalpha(alpha)
    if rows.size and cols.size:
        out = out.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    return out


def _perspective(img: Image.Image, jitter: float, rng: np.random.Generator) -> Image.Image:
    """The image seen at an angle: its corners moved by up to `jitter` of its size, on a canvas that holds it."""
    w, h = img.size
    pad = int(max(w, h) * jitter) + 1
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float)
    dst = src + pad + rng.uniform(-1, 1, size=(4, 2)) * np.array([w, h]) * jitter
    # Solve for the coefficients mapping output (dst) points back to input (src) points.
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(a), src.reshape(8))
    return img.transform((w + 2 * pad, h + 2 * pad), Image.Transform.PERSPECTIVE, tuple(coeffs),
                         Image.Resampling.BICUBIC)


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth two-colour gradient with low-frequency blotches and, on some, a striped texture (wood, fabric)."""
    w, h = size
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    grey = rng.uniform(60, 200)  # walls, floors and shelves are seldom saturated: pull both towards a grey
    c1, c2 = (grey + (c - grey) * rng.uniform(0.2, 0.8) for c in (c1, c2))
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    t = (xx * np.cos(angle) + yy * np.sin(angle))
    t = (t - t.min()) / max(1e-6, float(np.ptp(t)))
    bg = c1 * (1 - t[..., None]) + c2 * t[..., None]
    blotch = Image.fromarray(rng.uniform(0, 255, (6, 6, 3)).astype(np.uint8)).resize((w, h),
                                                                                      Image.Resampling.BICUBIC)
    bg += (np.asarray(blotch, dtype=float) - 127.5) * rng.uniform(0.1, 0.4)
    if rng.random() < 0.4:
        theta, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        bg += 18 * np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)[..., None]
    return np.clip(bg, 0, 255)


def _shapes(canvas: Image.Image, n: int, max_share: float, rng: np.random.Generator) -> None:
    """`n` random ellipses, rectangles and polygons drawn onto the canvas (clutter, or an occluding object)."""
    draw = ImageDraw.Draw(canvas, "RGBA")
    w, h = canvas.size
    for _ in range(n):
        size = rng.uniform(0.05, max_share) * max(w, h)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        fill = tuple(int(c) for c in rng.integers(0, 256, 3)) + (int(rng.integers(160, 256)),)
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([x, y, x + size, y + size * rng.uniform(0.4, 1.2)], fill=fill)
        elif kind == 1:
            draw.rectangle([x, y, x + size * rng.uniform(0.3, 1.5), y + size * rng.uniform(0.3, 1.5)], fill=fill)
        else:
            pts = [(x + size * np.cos(a), y + size * np.sin(a)) for a in np.sort(rng.uniform(0, 2 * np.pi, 5))]
            draw.polygon(pts, fill=fill)


def _place(canvas: Image.Image, obj: Image.Image, longest: float, rotation: float, rng: np.random.Generator,
           centre: tuple[float, float] | None = None) -> None:
    obj = obj.copy()
    scale = longest / max(obj.size)
    obj = obj.resize((max(1, round(obj.width * scale)), max(1, round(obj.height * scale))), Image.Resampling.BICUBIC)
    obj = obj.rotate(rng.uniform(-rotation, rotation), Image.Resampling.BICUBIC, expand=True)
    w, h = canvas.size
    cx, cy = centre if centre is not None else (rng.uniform(0, w), rng.uniform(0, h))
    canvas.paste(obj, (int(cx - obj.width / 2), int(cy - obj.height / 2)), obj)


def augment(photo: Image.Image, others: Sequence[Image.Image], recipe: WildRecipe, rng: np.random.Generator) -> bytes:
    """One wild photo of the product in `photo` (JPEG bytes), with `others` as products in the background."""
    r = recipe
    size = (r.side * 3 // 4, r.side)
    canvas = Image.fromarray(_background(size, rng).astype(np.uint8)).convert("RGB")
    _shapes(canvas, int(rng.integers(r.clutter[0], r.clutter[1] + 1)), 0.25, rng)
    for other in others:
        _place(canvas, _cutout(other, r.side), rng.uniform(0.25, 0.45) * r.side, 45.0, rng)
    product = _perspective(_cutout(photo, r.side), r.perspective, rng)
    w, h = size
    longest = rng.uniform(*r.scale) * r.side
    _place(canvas, product, longest, r.rotation, rng,
           centre=(w / 2 + rng.uniform(-0.15, 0.15) * w, h / 2 + rng.uniform(-0.15, 0.15) * h))
    if rng.random() < 0.5:
        _shapes(canvas, 1, 0.12, rng)  # something in front of the product
    keep_w, keep_h = rng.uniform(r.crop, 1.0) * w, rng.uniform(r.crop, 1.0) * h
    x0, y0 = rng.uniform(0, w - keep_w), rng.uniform(0, h - keep_h)
    canvas = canvas.crop((int(x0), int(y0), int(x0 + keep_w), int(y0 + keep_h))).resize(size, Image.Resampling.BICUBIC)
    px = np.asarray(canvas, dtype=float) / 255.0
    px = (px - 0.5) * rng.uniform(*r.contrast) + 0.5
    px = px * rng.uniform(*r.brightness) * (1 + rng.uniform(-r.colour_cast, r.colour_cast, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    t = xx / w * np.cos(angle) + yy / h * np.sin(angle)
    t = (t - t.min()) / max(1e-6, float(np.ptp(t)))
    px = px * (1 - rng.uniform(0, r.shadow) * t)[..., None]
    px = np.clip(px, 0, 1) ** rng.uniform(*r.gamma)
    out = Image.fromarray((px * 255).round().astype(np.uint8))
    if rng.random() < 0.7:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0, r.blur)))
    noisy = np.asarray(out, dtype=float) + rng.normal(0, rng.uniform(0, r.noise), (h, w, 3))
    out = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(r.jpeg[0], r.jpeg[1] + 1)))
    return buf.getvalue()


def wild_photos(recipe: WildRecipe, products: Sequence[tuple[int, str, str]],
                load: Callable[[str], Image.Image], keep: Callable[[int], bool] = lambda _pid: True
                ) -> Iterator[WildPhoto]:
    """The recipe's photos for `products` ((id, sku, main photo path) each): the products are put in sku order,
    shuffled by the seed and the first `size` taken; photo i draws everything from a generator seeded with
    (seed, i). `keep` skips products (e.g. the other split's) before any photo of theirs is made."""
    chosen = sorted(products, key=lambda p: p[1])
    random.Random(recipe.seed).shuffle(chosen)
    chosen = chosen[:recipe.size]
    for i, (pid, _sku, path) in enumerate(chosen):
        if not keep(pid):
            continue
        rng = np.random.default_rng([recipe.seed, i])
        n_others = int(rng.integers(recipe.distractors[0], recipe.distractors[1] + 1))
        others = [chosen[j][2] for j in rng.choice(len(chosen), size=min(n_others, len(chosen)), replace=False)
                  if chosen[j][0] != pid]
        yield WildPhoto(pid, i, augment(load(path), [load(o) for o in others], recipe, rng))
