"""CLIP image encoder (open_clip): photos and text queries in one space, so text-to-image search works.

Weights come from a pretrained tag (downloaded once from the hub, then read from its cache) or from a local
checkpoint file. No package ships CLIP weights, so on a machine without them this module says so at once
with a VitrinaError instead of retrying the hub for a minute; the factory then falls back to the
weight-free descriptor.

The model sits on the configured device (VITRINA_DEVICE, checked before loading: an absent GPU is an error,
not a CPU fallback); each batch of pixels or tokens is moved there and its vectors come back as numpy on the
CPU. Photos are decoded and preprocessed on the CPU either way.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from engine.errors import ValidationError, VitrinaError
from engine.encoders.device import CPU, check_batch, check_device
from engine.encoders.images import to_rgb
from engine.encoders.use import BATCH as TEXT_BATCH
from engine.encoders.use import check_texts, encode_batches

log = logging.getLogger(__name__)

DEFAULT_ARCH = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
# CLIP's tokenizer keeps 77 tokens; characters beyond this could not reach the model anyway.
MAX_CHARS = 1000
_PROBE_TIMEOUT_S = 3.0
IMAGE_BATCH = 32  # photos per pass of the image tower when VITRINA_ENCODE_BATCH is not set


def _sha8(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:8]


def _looks_like_path(pretrained: str) -> bool:
    return (os.path.sep in pretrained or pretrained.startswith((".", "~"))
            or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors", ".npz")) or os.path.exists(pretrained))


def _host_reachable(url: str, timeout: float = _PROBE_TIMEOUT_S) -> bool:
    """A TCP connect to the download host: fails in milliseconds without a network, where the hub client
    would retry for most of a minute before giving up."""
    parts = urlparse(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def weights_obtainable(arch: str, tag: str) -> tuple[bool, str]:
    """Whether the weights of a pretrained tag are in the local cache or can be downloaded now, and why not."""
    import open_clip
    from open_clip import pretrained as oc_pretrained

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        return False, f"'{tag}' is not a known pretrained tag of {arch}"
    if cfg.get("file"):
        return os.path.isfile(cfg["file"]), f"checkpoint file {cfg['file']} is missing"
    if cfg.get("hf_hub"):
        from huggingface_hub import constants, try_to_load_from_cache

        repo, filename = os.path.split(cfg["hf_hub"])
        filename = filename or oc_pretrained.HF_WEIGHTS_NAME
        names = [*oc_pretrained._get_safe_alternatives(filename), filename]
        if any(isinstance(try_to_load_from_cache(repo, n), str) for n in names):
            return True, ""
        if constants.HF_HUB_OFFLINE:
            return False, f"they are not in the local Hugging Face cache ({repo}) and HF_HUB_OFFLINE is set"
        if not _host_reachable(constants.ENDPOINT):
            return False, (f"they are not in the local Hugging Face cache ({repo}) "
                           f"and {constants.ENDPOINT} is unreachable")
        return True, ""
    url = cfg.get("url", "")
    if url:
        if os.path.isfile(os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))):
            return True, ""
        if not _host_reachable(url):
            return False, f"they are not cached and {urlparse(url).hostname} is unreachable"
        return True, ""
    return False, f"open_clip has no download source for {arch}:{tag}"


def weights_paths(arch: str, pretrained: str) -> list[str]:
    """Where the weights of arch:pretrained are (or would be, once downloaded) on this machine: the checkpoint
    file, or the cache entry a download fills (the Hugging Face repo folder and its snapshots, or open_clip's
    own cache file). The availability marker (availability.py) watches these: when one appears or changes, the
    weights may be there now. Empty when open_clip itself is missing (the marker watches the packages then)."""
    pretrained = (pretrained or "").strip()
    if pretrained and _looks_like_path(pretrained):
        return [str(Path(pretrained).expanduser().resolve())]
    try:
        import open_clip
    except ImportError:
        return []
    cfg = open_clip.get_pretrained_cfg(arch, pretrained) if arch and pretrained else {}
    if not cfg:
        return []
    if cfg.get("file"):
        return [cfg["file"]]
    if cfg.get("hf_hub"):
        from huggingface_hub import constants
        from huggingface_hub.file_download import repo_folder_name

        repo = os.path.split(cfg["hf_hub"])[0]
        folder = os.path.join(constants.HF_HUB_CACHE, repo_folder_name(repo_id=repo, repo_type="model"))
        return [folder, os.path.join(folder, "snapshots")]
    if cfg.get("url"):
        return [os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(cfg["url"]))]
    return []


class ClipImageEncoder:
    """An open_clip model on a torch device: image tower for photos, text tower for queries into the image space.

    One configured batch size serves both towers; left unset, they keep 32 photos and 64 texts per pass."""

    supports_text: bool = True

    def __init__(self, arch: str = DEFAULT_ARCH, pretrained: str = DEFAULT_PRETRAINED, device: str = CPU,
                 batch_size: int | None = None):
        self.batch_size = check_batch(batch_size, IMAGE_BATCH)
        self.text_batch_size = check_batch(batch_size, TEXT_BATCH)
        self.device = check_device(device)
        try:
            import open_clip
            import torch
        except ImportError as e:
            raise VitrinaError("CLIP image encoders need torch, torchvision and open-clip-torch "
                               f"(see requirements.txt): {e}") from e
        if not arch or arch not in open_clip.list_models():
            raise VitrinaError(f"unknown CLIP architecture '{arch}' (open_clip knows e.g. "
                               f"{', '.join(m for m in open_clip.list_models() if m.startswith('ViT-B'))})")
        if not pretrained or not pretrained.strip():
            raise VitrinaError("a CLIP image encoder needs weights: a pretrained tag or a checkpoint path")
        pretrained = pretrained.strip()
        if _looks_like_path(pretrained):
            path = Path(pretrained).expanduser().resolve()
            if not path.is_file():
                raise VitrinaError(f"CLIP checkpoint file {path} does not exist")
            source = str(path)
            self.name: str = f"clip:{arch}:{path.name}:{_sha8(path)}"
        else:
            if not open_clip.get_pretrained_cfg(arch, pretrained):
                tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
                raise VitrinaError(f"'{pretrained}' is not a known pretrained tag of {arch} (known: {tags}) "
                                   "nor an existing checkpoint file")
            ok, why = weights_obtainable(arch, pretrained)
            if not ok:
                raise VitrinaError(f"CLIP weights {arch}:{pretrained} are unavailable: {why}. Download them once "
                                   "with internet access, or give a local checkpoint path (clip:<arch>:<file>)")
            source = pretrained
            self.name = f"clip:{arch}:{pretrained}"
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=source, device=self.device)
        except Exception as e:  # download, unpickling, shape-mismatch errors: all mean "no usable weights"
            reason = ("Failed to download weights" if "download" in str(e).lower()
                      else "the checkpoint does not fit the architecture or is damaged")
            raise VitrinaError(f"CLIP weights {arch}:{pretrained} could not be loaded ({reason}): {e}") from e
        model.eval()
        log.info("loaded CLIP image encoder %s", self.name)
        self._torch = torch
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(arch)
        self.arch, self.pretrained = arch, pretrained
        self.dim: int = int(open_clip.get_model_config(arch)["embed_dim"])

    def _to_numpy(self, features, normalize: bool) -> np.ndarray:
        v = features.float().cpu().numpy().astype(np.float32)
        if normalize:
            n = np.linalg.norm(v, axis=1, keepdims=True)
            if np.any(n == 0) or not np.all(np.isfinite(n)):
                raise VitrinaError(f"{self.name} produced a zero or non-finite vector")
            v /= n
        return v

    def encode(self, images: Sequence[Image.Image], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        """(N, dim) float32 from decoded images, in batches under torch.no_grad."""
        if isinstance(images, Image.Image):
            raise ValidationError("encode takes a sequence of images: wrap a single image in a list")
        batch_size = check_batch(self.batch_size if batch_size is None else batch_size, IMAGE_BATCH)
        for i, im in enumerate(images):
            if not isinstance(im, Image.Image):
                raise ValidationError(f"image #{i} is not a PIL image but {type(im).__name__}")
        out = np.empty((len(images), self.dim), dtype=np.float32)
        torch = self._torch
        with torch.no_grad(), tqdm(total=len(images), disable=not show_progress, desc=self.name,
                                   unit="img") as bar:
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size]
                pixels = torch.stack([self._preprocess(to_rgb(im)) for im in batch]).to(self.device)
                out[start:start + len(batch)] = self._to_numpy(self._model.encode_image(pixels), normalize)
                bar.update(len(batch))
        return out

    def encode_text(self, texts: Sequence[str], batch_size: int | None = None, normalize: bool = True) -> np.ndarray:
        """(N, dim) float32 text vectors in the image space: a text query finds matching photos."""
        clean = check_texts(texts, MAX_CHARS)
        torch = self._torch

        def run(batch: list[str]) -> np.ndarray:
            with torch.no_grad():
                return self._to_numpy(self._model.encode_text(self._tokenizer(batch).to(self.device)), False)

        size = self.text_batch_size if batch_size is None else batch_size
        return encode_batches(clean, self.dim, size, False, normalize, run, f"{self.name} text")
