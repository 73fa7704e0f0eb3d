"""Where the torch-based encoders (CLIP, sentence-transformers) run, and how many items they take per pass.

The device comes from VITRINA_DEVICE: 'cpu' (the default and the tested path), 'cuda' or 'cuda:<n>'. A GPU
that the setting asks for but this machine lacks is a VitrinaError when the encoder is built, naming the fix:
quietly running on the CPU instead would turn a 14-hour GPU job into a many-day one nobody asked for.

The device never enters an encoder's name: the same weights give the same space on any device (to float
rounding), so a collection indexed on a GPU is served by the same model on a CPU without a reindex.
"""
from __future__ import annotations

from engine.errors import ValidationError, VitrinaError
from engine.settings import parse_device, read_device, read_encode_batch

CPU = "cpu"


def check_device(device: str) -> str:
    """The normalised device, after making sure torch can use it here; 'cpu' needs no torch at all."""
    device = parse_device(device)
    if device == CPU:
        return device
    try:
        import torch
    except ImportError as e:
        raise VitrinaError(f"VITRINA_DEVICE={device} needs torch built with CUDA: {e}") from e
    if not torch.cuda.is_available():
        raise VitrinaError(f"VITRINA_DEVICE={device} but no CUDA device is available: set VITRINA_DEVICE=cpu")
    count = torch.cuda.device_count()
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        raise VitrinaError(f"VITRINA_DEVICE={device} but this machine has {count} CUDA device(s), "
                           f"cuda:0 to cuda:{count - 1}: set one of those, or VITRINA_DEVICE=cpu")
    return device


def check_batch(batch_size: int | None, default: int) -> int:
    """The per-pass batch size an encoder keeps: `default` (its CPU size of today) when none is configured."""
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def configured(device: str | None, batch_size: int | None) -> tuple[str, int | None]:
    """Explicit arguments, else the settings (the environment): what the factory builds encoders with."""
    return (read_device() if device is None else parse_device(device),
            read_encode_batch() if batch_size is None else check_batch(batch_size, 1))
