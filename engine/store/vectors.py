"""The combined vector: c = concat(sqrt(w)·t, sqrt(1−w)·i), so cos(c_a, c_b) = w·cos(t) + (1−w)·cos(i).

Text and image vectors have different sizes and live in different spaces: they are never averaged."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

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


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector (the lexical one): non-zero dimensions and their values, indices unique and in
    0..2^32-1 (Qdrant's sparse indices are unsigned 32-bit)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.indices)


MAX_SPARSE_INDEX = 2**32 - 1


def check_sparse(vector: object, what: str = "sparse vector") -> SparseVector:
    """A well-formed sparse vector or ValidationError: same length, unique integer indices in range, finite
    positive values. Both stores call this before anything reaches Qdrant, so bad input fails alike."""
    if not isinstance(vector, SparseVector):
        raise ValidationError(f"{what} must be a SparseVector, got {type(vector).__name__}")
    if len(vector.indices) != len(vector.values):
        raise ValidationError(f"{what} has {len(vector.indices)} indices but {len(vector.values)} values")
    if not vector.indices:
        raise ValidationError(f"{what} is empty")
    seen: set[int] = set()
    for i, v in zip(vector.indices, vector.values):
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) <= MAX_SPARSE_INDEX:
            raise ValidationError(f"{what}: index {i!r} is not an integer in 0..{MAX_SPARSE_INDEX}")
        if int(i) in seen:
            raise ValidationError(f"{what}: index {i} appears twice")
        seen.add(int(i))
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                or not math.isfinite(float(v)) or float(v) <= 0:
            raise ValidationError(f"{what}: value {v!r} at index {i} is not a finite positive number")
    return SparseVector(tuple(int(i) for i in vector.indices), tuple(float(v) for v in vector.values))


def lexical_missing(what: str) -> str:
    """Why a collection cannot hold or answer lexical vectors; `what` names it ("vector collection at ...")."""
    return (f"the {what} was built before lexical search existed: rebuild it with "
            f"`python -m engine index --full`")


def check_lexical(points: Sequence, available: bool, what: str) -> list[SparseVector | None]:
    """Each point's checked lexical vector (None where it has none), refused as a whole when the collection
    has no lexical vector, so nothing is half-written. `points` are PointRecords already checked."""
    out = [None if p.lexical is None else check_sparse(p.lexical, f"lexical vector of point {p.id}")
           for p in points]
    if not available and any(v is not None for v in out):
        raise ValidationError(lexical_missing(what))
    return out
