"""Encoder contracts: one verb, `encode`, with batch size, progress and normalisation as arguments.

A batch size of None means the encoder's own, set when it was built (VITRINA_ENCODE_BATCH, else 64 texts or
32 images): callers such as the indexer need not know how many items fit the device in one pass."""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class TextEncoder(Protocol):
    name: str  # stable id recorded in the collection, e.g. "use-multilingual-v3"
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        """(N, dim) float32. Raises ValidationError on an empty or blank text: never a zero vector."""


@runtime_checkable
class ImageEncoder(Protocol):
    name: str
    dim: int
    supports_text: bool  # True for CLIP: text queries land in the image space

    def encode(self, images: Sequence[Image.Image], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        """(N, dim) float32 from decoded RGB images."""

    def encode_text(self, texts: Sequence[str], batch_size: int | None = None, normalize: bool = True) -> np.ndarray:
        """(N, dim) in the image space; where supports_text is False, a ValidationError saying that
        text-to-image search needs CLIP (a user-facing answer, like every engine error)."""
