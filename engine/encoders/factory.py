"""Encoders from their setting strings (VITRINA_TEXT_ENCODER / VITRINA_IMAGE_ENCODER), loaded once per process.

Loading a model takes seconds and hundreds of MB, and the console, CLI and indexer all ask for the same
encoders: each spec is built once and cached (functools.lru_cache).
"""
from __future__ import annotations

import logging
from functools import lru_cache

from engine.errors import ValidationError, VitrinaError
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.encoders.clip import DEFAULT_ARCH, DEFAULT_PRETRAINED, ClipImageEncoder
from engine.encoders.descriptor import DescriptorImageEncoder
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


@lru_cache(maxsize=8)
def _text_encoder(spec: str) -> TextEncoder:
    if spec == "use":
        return UseTextEncoder()
    if spec.startswith("st:"):
        model = spec[3:].strip()
        if not model:
            raise ValidationError(f"text encoder spec '{spec}' names no model: use 'st:<model name or path>'")
        return SentenceTransformerTextEncoder(model)
    raise ValidationError(f"unknown text encoder '{spec}': use {TEXT_SPECS}")


def make_text_encoder(spec: str) -> TextEncoder:
    """The text encoder for `spec`, loaded once per process."""
    return _text_encoder(_clean(spec, "text", TEXT_SPECS))


def _parse_clip(spec: str) -> tuple[str, str]:
    """'clip:<arch>:<tag or path>' -> (arch, tag or path); the path may itself contain ':' (Windows drives)."""
    rest = spec[5:]
    arch, sep, pretrained = rest.partition(":")
    if not sep or not arch.strip() or not pretrained.strip():
        raise ValidationError(f"image encoder spec '{spec}' must be 'clip:<arch>:<pretrained tag or checkpoint path>', "
                              f"e.g. 'clip:{DEFAULT_ARCH}:{DEFAULT_PRETRAINED}'")
    return arch.strip(), pretrained.strip()


@lru_cache(maxsize=8)
def _image_encoder(spec: str) -> tuple[ImageEncoder, str | None]:
    if spec == "descriptor":
        return DescriptorImageEncoder(), None
    if spec.startswith("clip:"):
        arch, pretrained = _parse_clip(spec)
        return ClipImageEncoder(arch, pretrained), None
    if spec == "auto":
        try:
            return ClipImageEncoder(DEFAULT_ARCH, DEFAULT_PRETRAINED), None
        except VitrinaError as e:
            warning = ("CLIP weights unavailable offline: using the weight-free descriptor; text→image search is off. "
                       f"Image encoder in use: {DescriptorImageEncoder.name}. Reason: {e}")
            log.warning(warning)
            return DescriptorImageEncoder(), warning
    raise ValidationError(f"unknown image encoder '{spec}': use {IMAGE_SPECS}")


def make_image_encoder(spec: str) -> tuple[ImageEncoder, str | None]:
    """The image encoder for `spec` and a warning when 'auto' had to fall back to the descriptor, else None.

    The result is cached per spec, so the warning comes back with every call; it is logged once, on load.
    """
    return _image_encoder(_clean(spec, "image", IMAGE_SPECS))


def clear_encoder_cache() -> None:
    """Forget loaded encoders (after the settings change), so the next call loads afresh."""
    _text_encoder.cache_clear()
    _image_encoder.cache_clear()
