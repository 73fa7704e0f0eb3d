"""The combined vector: c = concat(sqrt(w)·t, sqrt(1−w)·i), so cos(c_a, c_b) = w·cos(t) + (1−w)·cos(i).

Text and image vectors have different sizes and live in different spaces: they are never averaged."""
from __future__ import annotations

import math

import numpy as np

from engine.errors import ValidationError


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.any(n == 0) or not np.all(np.isfinite(n)):
        raise ValidationError("cannot normalise a zero or non-finite vector")
    return v / n


def combine(text: np.ndarray, image: np.ndarray, text_weight: float) -> np.ndarray:
    """Works on single vectors or (N, d) batches of unit vectors."""
    if not 0.0 <= text_weight <= 1.0 or math.isnan(text_weight):
        raise ValidationError(f"text weight must be in [0, 1], got {text_weight}")
    t, i = unit(text), unit(image)
    return np.concatenate([math.sqrt(text_weight) * t, math.sqrt(1.0 - text_weight) * i], axis=-1).astype(np.float32)


def text_only_combined(text: np.ndarray, image_dim: int) -> np.ndarray:
    """The explicit rule for a product without a usable photo: its text vector padded with zeros (still unit
    norm), so a combined query scores it sqrt(w)·cos(text) — ranked on text alone, damped, and flagged
    has_image=0 in its payload. Never a zero image vector."""
    t = unit(text)
    pad = np.zeros(t.shape[:-1] + (image_dim,), dtype=np.float32)
    return np.concatenate([t, pad], axis=-1)


def query_combined(text: np.ndarray | None, image: np.ndarray | None, text_weight: float,
                   text_dim: int, image_dim: int) -> np.ndarray:
    """A query vector for the combined space from whichever halves the query has."""
    if text is not None and image is not None:
        return combine(text, image, text_weight)
    if text is not None:
        return np.concatenate([unit(text), np.zeros(image_dim, np.float32)])
    if image is not None:
        return np.concatenate([np.zeros(text_dim, np.float32), unit(image)])
    raise ValidationError("a combined query needs a text or an image vector")
