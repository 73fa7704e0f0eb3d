"""Encoders from their setting strings (VITRINA_TEXT_ENCODER / VITRINA_IMAGE_ENCODER), loaded once per process.

Loading a model takes seconds and hundreds of MB, and the console, CLI and indexer all ask for the same
encoders: each (spec, device, batch size) is built once and cached (functools.lru_cache).

The device and batch size are arguments, read from VITRINA_DEVICE / VITRINA_ENCODE_BATCH when a caller gives
none. The torch encoders (CLIP, sentence-transformers) go on that device; USE and the descriptor ignore it (they
are numpy on the CPU) and only take the batch size. A GPU that is absent fails here, for 'auto' too: falling back
to the descriptor would hide the misconfiguration behind a quality drop.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from engine.errors import ValidationError, VitrinaError
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.encoders.clip import DEFAULT_ARCH, DEFAULT_PRETRAINED, ClipImageEncoder
from engine.encoders.descriptor import DescriptorImageEncoder
from engine.encoders.device import CPU, check_device, configured
from engine.encoders.sentence import SentenceTransformerTextEncoder
from engine.encoders.use import UseTextEncoder

log = logging.getLogger(__name__)

TEXT_SPECS = "'use' or 'st:<model name or path>'"
IMAGE_SPECS = "'auto', 'descriptor' or 'clip:<arch>:<pretrained tag or checkpoint path>'"


def _clean(spec: str, kind: str, allowed: str) -> str:
    """Stripped spec with keywords lower-cased, so 'USE' and 'use' share one cache entry (and one model)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError(f"the {kind} encoder spec is empty: use {allowed}")
    spec = spec.strip()
    head, sep, rest = spec.partition(":")
    return head.lower() + sep + rest


def _numpy_only(name: str, device: str) -> None:
    if device != CPU:
        log.info("%s runs on the CPU (numpy): VITRINA_DEVICE=%s applies to the torch encoders only", name, device)


@lru_cache(maxsize=8)
def _text_encoder(spec: str, device: str, batch_size: int | None) -> TextEncoder:
    if spec == "use":
        _numpy_only(UseTextEncoder.name, device)
        return UseTextEncoder(batch_size=batch_size)
    if spec.startswith("st:"):
        model = spec[3:].strip()
        if not model:
            raise ValidationError(f"text encoder spec '{spec}' names no model: use 'st:<model name or path>'")
        return SentenceTransformerTextEncoder(model, device=device, batch_size=batch_size)
    raise ValidationError(f"unknown text encoder '{spec}': use {TEXT_SPECS}")


def make_text_encoder(spec: str, device: str | None = None, batch_size: int | None = None) -> TextEncoder:
    """The text encoder for `spec` on `device` (default VITRINA_DEVICE), loaded once per process."""
    return _text_encoder(_clean(spec, "text", TEXT_SPECS), *configured(device, batch_size))


class DeferredTextEncoder:
    """A text encoder whose name and dimension are known from its class, the model loading on the first
    `encode`: `check` and `similar` compare or read stored vectors and never encode a text, so they need not
    pay the seconds the USE model takes to load."""

    def __init__(self, spec: str, device: str, batch_size: int | None, name: str, dim: int):
        self._args, self.name, self.dim = (spec, device, batch_size), name, dim

    @property
    def loaded(self) -> TextEncoder:
        """The real encoder (loaded once per process by the factory's cache)."""
        return _text_encoder(*self._args)

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        return self.loaded.encode(texts, batch_size=batch_size, show_progress=show_progress, normalize=normalize)

    def __getattr__(self, attr: str) -> Any:  # anything else the real encoder offers (batch_size, max_chars)
        if attr.startswith("__") or attr == "_args":
            raise AttributeError(attr)
        return getattr(self.loaded, attr)


def deferred_text_encoder(spec: str, device: str | None = None, batch_size: int | None = None) -> TextEncoder:
    """`make_text_encoder`, loading the model only when a text is first encoded where the spec tells the
    encoder's name and dimension without it ('use'); other specs load now, as make_text_encoder does."""
    clean, (dev, batch) = _clean(spec, "text", TEXT_SPECS), configured(device, batch_size)
    if clean == "use":
        return DeferredTextEncoder(clean, dev, batch, UseTextEncoder.name, UseTextEncoder.dim)
    return _text_encoder(clean, dev, batch)


def _parse_clip(spec: str) -> tuple[str, str]:
    """'clip:<arch>:<tag or path>' -> (arch, tag or path); the path may itself contain ':' (Windows drives)."""
    rest = spec[5:]
    arch, sep, pretrained = rest.partition(":")
    if not sep or not arch.strip() or not pretrained.strip():
        raise ValidationError(f"image encoder spec '{spec}' must be 'clip:<arch>:<pretrained tag or checkpoint path>', "
                              f"e.g. 'clip:{DEFAULT_ARCH}:{DEFAULT_PRETRAINED}'")
    return arch.strip(), pretrained.strip()


@lru_cache(maxsize=8)
def _image_encoder(spec: str, device: str, batch_size: int | None) -> tuple[ImageEncoder, str | None]:
    if spec == "descriptor":
        _numpy_only(DescriptorImageEncoder.name, device)
        return DescriptorImageEncoder(batch_size=batch_size), None
    if spec.startswith("clip:"):
        arch, pretrained = _parse_clip(spec)
        return ClipImageEncoder(arch, pretrained, device=device, batch_size=batch_size), None
    if spec == "auto":
        check_device(device)  # outside the try: a missing GPU is the user's to fix, not a reason to fall back
        try:
            return ClipImageEncoder(DEFAULT_ARCH, DEFAULT_PRETRAINED, device=device, batch_size=batch_size), None
        except VitrinaError as e:
            warning = ("CLIP weights unavailable offline: using the weight-free descriptor; text→image search is off. "
                       f"Image encoder in use: {DescriptorImageEncoder.name}. Reason: {e}")
            log.warning(warning)
            return DescriptorImageEncoder(batch_size=batch_size), warning
    raise ValidationError(f"unknown image encoder '{spec}': use {IMAGE_SPECS}")


def make_image_encoder(spec: str, device: str | None = None,
                       batch_size: int | None = None) -> tuple[ImageEncoder, str | None]:
    """The image encoder for `spec` on `device` (default VITRINA_DEVICE) and a warning when 'auto' had to fall
    back to the descriptor, else None.

    The result is cached per spec, device and batch size, so the warning comes back with every call; it is
    logged once, on load.
    """
    return _image_encoder(_clean(spec, "image", IMAGE_SPECS), *configured(device, batch_size))


def clear_encoder_cache() -> None:
    """Forget loaded encoders (after the settings change), so the next call loads afresh."""
    _text_encoder.cache_clear()
    _image_encoder.cache_clear()
