"""Encoders from their setting strings (VITRINA_TEXT_ENCODER / VITRINA_IMAGE_ENCODER), loaded once per process.

Loading a model takes seconds and hundreds of MB, and the console, CLI and indexer all ask for the same
encoders: each (spec, device, batch size) is built once and cached (functools.lru_cache).

The device and batch size are arguments, read from VITRINA_DEVICE / VITRINA_ENCODE_BATCH when a caller gives
none. The torch encoders (CLIP, sentence-transformers) go on that device; USE and the descriptor ignore it (they
are numpy on the CPU) and only take the batch size. A GPU that is absent fails here, for 'auto' too: falling back
to the descriptor would hide the misconfiguration behind a quality drop.

A CLIP load that failed is remembered across processes in the data folder (availability.py), so a machine
without CLIP weights pays the torch import and prints the fallback warning once, not on every command.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ValidationError, VitrinaError
from engine.encoders.base import ImageEncoder, TextEncoder
from engine.encoders.availability import Marker
from engine.encoders.clip import DEFAULT_ARCH, DEFAULT_PRETRAINED, ClipImageEncoder, weights_paths
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
        """The real encoder (loaded once per process by the factory's cache; the lock keeps a warm-up and a first
        search from both loading it)."""
        with _LOAD_LOCK:
            return _text_encoder(*self._args)

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        return self.loaded.encode(texts, batch_size=batch_size, show_progress=show_progress, normalize=normalize)

    def __getattr__(self, attr: str) -> Any:  # anything else the real encoder offers (batch_size, max_chars)
        if attr.startswith("__") or attr == "_args":
            raise AttributeError(attr)
        return getattr(self.loaded, attr)


_LOAD_LOCK = threading.Lock()


def warm_text_encoder(encoder: TextEncoder) -> threading.Thread | None:
    """Load a deferred encoder's model in a background thread, so that the first text search of a long-running
    process (the console, the service) does not wait the seconds it takes; None for an encoder loaded already.
    A failure is only logged here: the search that needs the model reports it."""
    if not isinstance(encoder, DeferredTextEncoder):
        return None

    def run() -> None:
        try:
            encoder.loaded
        except Exception as e:  # noqa: BLE001 - the first search raises it again, with its own message
            log.warning("the text model could not be loaded in the background: %s", e)

    thread = threading.Thread(target=run, name="vitrina-warm-text-encoder", daemon=True)
    thread.start()
    return thread


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


# Process-wide: the CLIP loads attempted (per 'clip:<arch>:<weights>'), the fallback warnings already logged,
# and whether --retry-models asked to ignore what earlier processes remembered.
_ATTEMPTS: Counter[str] = Counter()
_WARNED: set[str] = set()
_RETRY: dict[str, Any] = {"all": False, "done": set()}


def load_attempts() -> dict[str, int]:
    """The CLIP loads this process attempted, per 'clip:<arch>:<weights>': a failure remembered by the data
    folder's marker spares the attempt, and this is where that shows."""
    return dict(_ATTEMPTS)


def retry_models() -> None:
    """Try each CLIP spec once more in this process whatever earlier attempts remembered (`--retry-models`):
    weights fetched by hand, a network that came back. Forgets the encoders loaded so far."""
    _image_encoder.cache_clear()
    _RETRY["all"], _RETRY["done"] = True, set()


def _retrying(key: str) -> bool:
    if not _RETRY["all"] or key in _RETRY["done"]:
        return False
    _RETRY["done"].add(key)
    return True


def _clip(arch: str, pretrained: str, device: str, batch_size: int | None,
          remember_in: Path | None) -> ClipImageEncoder:
    """CLIP, or a VitrinaError with the reason it cannot load. With a data folder, a failure is remembered
    there (availability.py) and later processes get the remembered reason without importing torch, until
    the weights or packages it depended on change or `retry_models()` asks for a new attempt."""
    check_device(device)  # a missing GPU is the user's to fix at once: never remembered
    tried = f"clip:{arch}:{pretrained}"
    key, marker = f"{tried} on {device}", Marker(remember_in) if remember_in is not None else None
    if marker is not None and not _retrying(key):
        held = marker.holding(key)
        if held is not None:
            raise VitrinaError(_remembered(held))
    _ATTEMPTS[tried] += 1
    try:
        encoder = ClipImageEncoder(arch, pretrained, device=device, batch_size=batch_size)
    except VitrinaError as e:
        entry = marker.remember(key, tried, str(e), weights_paths(arch, pretrained)) if marker is not None else None
        if entry is None:
            raise
        raise VitrinaError(_remembered(entry)) from e
    if marker is not None:
        marker.forget(key)
    return encoder


def _remembered(entry: dict[str, Any]) -> str:
    """A failure as the marker keeps it: the same words in the run that found it and in the runs that skip it."""
    return (f"{entry['reason']} [found at {entry['checked_at']}; tried again when the weights appear, or with "
            "`python -m engine --retry-models ...`]")


def _warn_once(key: str, warning: str) -> None:
    """Log a fallback once per process, however many runtimes, batch sizes or reloads ask for the encoder."""
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(warning)


@lru_cache(maxsize=8)
def _image_encoder(spec: str, device: str, batch_size: int | None,
                   remember_in: Path | None) -> tuple[ImageEncoder, str | None]:
    if spec == "descriptor":
        _numpy_only(DescriptorImageEncoder.name, device)
        return DescriptorImageEncoder(batch_size=batch_size), None
    if spec.startswith("clip:"):
        arch, pretrained = _parse_clip(spec)
        return _clip(arch, pretrained, device, batch_size, remember_in), None
    if spec == "auto":
        check_device(device)  # outside the try: a missing GPU is the user's to fix, not a reason to fall back
        try:
            return _clip(DEFAULT_ARCH, DEFAULT_PRETRAINED, device, batch_size, remember_in), None
        except VitrinaError as e:
            warning = ("CLIP weights unavailable offline: using the weight-free descriptor; "
                       "text→image search is off. "
                       f"Image encoder in use: {DescriptorImageEncoder.name}. Reason: {e}")
            _warn_once(f"{spec} on {device}", warning)
            return DescriptorImageEncoder(batch_size=batch_size), warning
    raise ValidationError(f"unknown image encoder '{spec}': use {IMAGE_SPECS}")


def make_image_encoder(spec: str, device: str | None = None, batch_size: int | None = None,
                       remember_in: str | Path | None = None) -> tuple[ImageEncoder, str | None]:
    """The image encoder for `spec` on `device` (default VITRINA_DEVICE) and a warning when 'auto' had to fall
    back to the descriptor, else None.

    The result is cached per spec, device, batch size and folder, so the warning comes back with every call; it
    is logged once per process. `remember_in` (the runtime passes its data folder) keeps a failed CLIP attempt
    there for later processes: see availability.py.
    """
    folder = None if remember_in is None else Path(remember_in)
    return _image_encoder(_clean(spec, "image", IMAGE_SPECS), *configured(device, batch_size), folder)


def clear_encoder_cache() -> None:
    """Forget loaded encoders (after the settings change), so the next call loads afresh, as a new process
    would: warnings are logged again and --retry-models no longer applies."""
    _text_encoder.cache_clear()
    _image_encoder.cache_clear()
    _WARNED.clear()
    _RETRY["all"], _RETRY["done"] = False, set()
