"""The CLIP availability marker (engine/encoders/availability.py) on the real loading path.

CLIP weights are absent on these machines, so `auto` fails for real; a checkpoint path is tried with a tiny
architecture this file registers, first missing, then a garbage file, then a real checkpoint. A new process is
what `clear_encoder_cache()` makes of this one (nothing loaded, nothing warned, no --retry-models); whether an
attempt was made is read from the factory's attempt counter and from the marker file itself."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.encoders.availability import MARKER, Marker
from engine.encoders.clip import ClipImageEncoder, weights_obtainable
from engine.encoders.descriptor import DescriptorImageEncoder
from engine.encoders.factory import (
    clear_encoder_cache,
    load_attempts,
    make_image_encoder,
    retry_models,
)
from engine.errors import VitrinaError
from engine.runtime import Runtime
from engine.settings import Settings

TINY = "VitrinaTinyMarker-Test"
TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
AUTO = "clip:ViT-B-32:laion2b_s34b_b79k"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny CLIP architecture registered with open_clip, and a real checkpoint of it."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    folder = tmp_path_factory.mktemp("tiny_marker")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms(TINY, pretrained=None)
    path = folder / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(autouse=True)
def new_process():
    clear_encoder_cache()
    yield
    clear_encoder_cache()


@pytest.fixture
def no_clip_weights():
    if weights_obtainable("ViT-B-32", "laion2b_s34b_b79k")[0]:
        pytest.skip("ViT-B-32 laion2b weights are obtainable on this machine: auto loads CLIP")


def _image(data: Path, spec: str):
    """The image encoder a runtime on `data` builds (and with it, the marker it keeps there)."""
    return Runtime(Settings(data_dir=data, image_encoder=spec, device="cpu", encode_batch=None)).image_encoder


def _attempts(tried: str) -> int:
    return load_attempts().get(tried, 0)


def test_a_checkpoint_is_tried_again_only_when_its_file_changes(tmp_path, tiny_checkpoint):
    data, ckpt = tmp_path / "data", tmp_path / "weights" / "clip.pt"
    spec = f"clip:{TINY}:{ckpt}"
    key = f"{spec} on cpu"
    marker = Marker(data)

    before = _attempts(spec)
    with pytest.raises(VitrinaError, match="does not exist"):
        _image(data, spec)
    assert _attempts(spec) == before + 1
    first = marker.entries()[key]
    assert first["tried"] == spec and first["attempts"] == 1 and "does not exist" in first["reason"]
    assert first["fingerprint"]["weights"] == {str(ckpt.resolve()): None}

    clear_encoder_cache()  # the next process: the remembered reason, no attempt, the marker untouched
    with pytest.raises(VitrinaError, match=r"does not exist \[found at " + re.escape(first["checked_at"])):
        _image(data, spec)
    assert _attempts(spec) == before + 1
    assert marker.entries()[key] == first

    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not a checkpoint\n" * 64)  # weights appear at the checked path: tried again
    clear_encoder_cache()
    with pytest.raises(VitrinaError, match=r"could not be loaded \(the checkpoint does not fit the architecture "
                                           r"or is damaged\)"):
        _image(data, spec)
    assert _attempts(spec) == before + 2
    second = marker.entries()[key]
    assert second["attempts"] == 2 and second["checked_at"] > first["checked_at"]
    assert "damaged" in second["reason"] and second["fingerprint"]["weights"][str(ckpt.resolve())][0] == 17 * 64

    clear_encoder_cache()  # the same garbage: remembered
    with pytest.raises(VitrinaError, match="damaged"):
        _image(data, spec)
    assert _attempts(spec) == before + 2

    ckpt.write_bytes(tiny_checkpoint.read_bytes())  # the real weights: loaded, and nothing left to remember
    clear_encoder_cache()
    encoder = _image(data, spec)
    assert isinstance(encoder, ClipImageEncoder) and encoder.dim == 64
    assert _attempts(spec) == before + 3
    assert marker.entries() == {} and not (data / MARKER).exists()


def test_auto_remembers_that_clip_is_unavailable_and_warns_once(tmp_path, caplog, no_clip_weights):
    data = tmp_path / "data"
    before = _attempts(AUTO)
    with caplog.at_level(logging.WARNING, logger="engine.encoders.factory"):
        rt = Runtime(Settings(data_dir=data, image_encoder="auto", device="cpu", encode_batch=None))
        assert isinstance(rt.image_encoder, DescriptorImageEncoder)
        # another batch size is another cached encoder, not another attempt nor another warning
        other, warning = make_image_encoder("auto", "cpu", 5, remember_in=data)
    assert isinstance(other, DescriptorImageEncoder) and warning == rt.encoder_warning
    assert _attempts(AUTO) == before + 1
    assert [r.getMessage() for r in caplog.records] == [rt.encoder_warning]
    entry = Marker(data).entries()[f"{AUTO} on cpu"]
    assert entry["attempts"] == 1 and "are unavailable" in entry["reason"] and entry["reason"] in rt.encoder_warning
    assert all(state is None for state in entry["fingerprint"]["weights"].values())  # what it looked for: absent
    assert any("CLIP-ViT-B-32-laion2B-s34B-b79K" in path for path in entry["fingerprint"]["weights"])

    clear_encoder_cache()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="engine.encoders.factory"):
        again = Runtime(Settings(data_dir=data, image_encoder="auto", device="cpu", encode_batch=None))
        assert isinstance(again.image_encoder, DescriptorImageEncoder)
    assert _attempts(AUTO) == before + 1
    assert f"found at {entry['checked_at']}" in again.encoder_warning
    assert [r.getMessage() for r in caplog.records] == [again.encoder_warning]
    assert Marker(data).entries()[f"{AUTO} on cpu"] == entry


def test_auto_tries_again_when_the_weights_cache_entry_appears(tmp_path, monkeypatch, no_clip_weights):
    """The Hugging Face cache the weights would be downloaded into, moved to a temporary folder (what HF_HUB_CACHE
    does at start-up): its entry for the repo appearing is a reason to try again."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    data = tmp_path / "data"
    before = _attempts(AUTO)
    make_image_encoder("auto", "cpu", remember_in=data)
    entry = Marker(data).entries()[f"{AUTO} on cpu"]
    (folder,) = [p for p in entry["fingerprint"]["weights"] if not p.endswith("snapshots")]
    assert Path(folder).parent == tmp_path / "hub"

    clear_encoder_cache()
    make_image_encoder("auto", "cpu", remember_in=data)
    assert _attempts(AUTO) == before + 1

    Path(folder, "snapshots").mkdir(parents=True)  # a download began: tried again (and still failing)
    clear_encoder_cache()
    make_image_encoder("auto", "cpu", remember_in=data)
    assert _attempts(AUTO) == before + 2
    refreshed = Marker(data).entries()[f"{AUTO} on cpu"]
    assert refreshed["attempts"] == 2 and refreshed["fingerprint"]["weights"][folder] is not None


def test_retry_models_tries_once_more_whatever_is_remembered(tmp_path, monkeypatch, no_clip_weights):
    data = tmp_path / "data"
    make_image_encoder("auto", "cpu", remember_in=data)
    first = Marker(data).entries()[f"{AUTO} on cpu"]
    before = _attempts(AUTO)

    for name, value in {"VITRINA_DATA_DIR": str(data), "DATABASE_URL": "", "QDRANT_URL": "", "REDIS_URL": "",
                        "VITRINA_IMAGE_ENCODER": "auto", "VITRINA_DEVICE": "cpu", "VITRINA_ENCODE_BATCH": "",
                        "VITRINA_JOB_RUNNER": "inprocess"}.items():
        monkeypatch.setenv(name, value)
    assert main(["--retry-models", "check", "--json"]) == 0
    assert _attempts(AUTO) == before + 1
    second = Marker(data).entries()[f"{AUTO} on cpu"]
    assert second["attempts"] == 2 and second["checked_at"] > first["checked_at"]

    clear_encoder_cache()  # a run without the flag: remembered again
    assert main(["check", "--json"]) == 0
    assert _attempts(AUTO) == before + 1

    retry_models()  # once per spec and process: a second load in the same run does not try a third time
    make_image_encoder("auto", "cpu", remember_in=data)
    make_image_encoder("auto", "cpu", 3, remember_in=data)
    assert _attempts(AUTO) == before + 2


def test_an_unreadable_or_foreign_marker_means_not_remembered(tmp_path, tiny_checkpoint):
    data = tmp_path / "data"
    data.mkdir()
    spec = f"clip:{TINY}:{tmp_path / 'absent.pt'}"
    for content in ("{not json", json.dumps([1, 2]), json.dumps({"version": 99, "entries": {}}),
                    json.dumps({"version": 1, "entries": {f"{spec} on cpu": {"reason": 5}}})):
        (data / MARKER).write_text(content)
        clear_encoder_cache()
        before = _attempts(spec)
        with pytest.raises(VitrinaError, match="does not exist"):
            _image(data, spec)
        assert _attempts(spec) == before + 1, content
    assert Marker(data).entries()[f"{spec} on cpu"]["attempts"] == 1


def test_a_data_folder_that_cannot_be_written_only_costs_the_next_attempt(tmp_path, tiny_checkpoint):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the data folder should be")
    spec = f"clip:{TINY}:{tmp_path / 'absent.pt'}"
    with pytest.raises(VitrinaError, match="does not exist"):
        make_image_encoder(spec, "cpu", remember_in=blocked)
    assert Marker(blocked).entries() == {}
