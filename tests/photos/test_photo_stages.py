"""The stages of search by photo on real Luma studio photos turned into shopper photos by the wild recipe
(engine.evaluation.wild): the product crop, local-feature verification, hubness and the confidence maths."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.encoders.descriptor import describe, is_studio_shot
from engine.evaluation.wild import WildRecipe, augment
from engine.photos import (LOOSE, GOOD, CatalogFeatures, CatalogMean, Evidence, PhotoParams, VerifyParams, calibrate,
                           centred, features, hub_occupancy, inliers, match_confidence, match_kind, no_match_rate,
                           product_crop, query_crops)
from engine.store import open_store
from engine.store.base import CollectionSpec, PointRecord
from engine.settings import Settings

PRODUCTS = ("m/j/mj01-yellow_main.jpg", "w/j/wj08-purple_main.jpg", "m/p/mp10-green_main.jpg",
            "w/t/wt04-blue_main.jpg", "w/s/ws05-black_main.jpg", "m/s/msh08-black_main.jpg",
            "w/b/wb04-blue_main.jpg", "m/h/mh01-gray_main.jpg")
LIMITS = (20 << 20, 40_000_000)


@pytest.fixture(scope="module")
def photos(luma_dir: Path) -> list[Image.Image]:
    root = luma_dir / "media" / "catalog" / "product"
    paths = [root / p for p in PRODUCTS if (root / p).is_file()]
    assert len(paths) >= 6, "the Luma photos these tests use are missing"
    out = []
    for p in paths:
        with Image.open(p) as im:
            im.draft("RGB", (480, 480))
            out.append(im.convert("RGB"))
    return out


@pytest.fixture(scope="module")
def wild(photos) -> list[Image.Image]:
    """One shopper photo of each product (the recipe's clutter, angle, light, blur and JPEG), fixed seeds."""
    out = []
    for i, photo in enumerate(photos):
        others = [photos[(i + 1) % len(photos)]]
        jpeg = augment(photo, others, WildRecipe(), np.random.default_rng([12, 1000 + i]))
        out.append(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    return out


def _rank(query: np.ndarray, catalog: np.ndarray, target: int) -> int:
    return int(np.flatnonzero(np.argsort(-(catalog @ query), kind="stable") == target)[0])


def test_the_product_crop_finds_the_product_where_the_whole_photo_does_not(photos, wild):
    catalog = np.vstack([describe(p) for p in photos])
    whole = [_rank(describe(w), catalog, i) for i, w in enumerate(wild)]
    cropped = [_rank(describe(product_crop(w)), catalog, i) for i, w in enumerate(wild)]
    assert sum(r == 0 for r in cropped) > sum(r == 0 for r in whole)
    assert sum(cropped) < sum(whole)
    assert sum(r == 0 for r in cropped) >= len(wild) // 2


def test_a_studio_shot_is_described_as_it_is(photos):
    photo = photos[0]
    assert is_studio_shot(np.asarray(photo))
    assert product_crop(photo).tobytes() == photo.tobytes()
    assert [c.size for c in query_crops(photo, ("product", "whole"))] == [photo.size, photo.size]


@pytest.mark.parametrize("image", [Image.new("RGB", (120, 90), (90, 120, 60)), Image.new("RGB", (5, 7), (0, 0, 0)),
                                   Image.new("L", (64, 64), 30), Image.new("RGBA", (40, 300), (200, 10, 10, 0))])
def test_a_photo_without_a_findable_product_is_kept_whole(image):
    out = product_crop(image)
    assert out.mode == "RGB" and out.size == image.size


def test_unknown_crop_names_are_refused(photos):
    with pytest.raises(ValueError, match="unknown crop"):
        query_crops(photos[0], ("product", "zoom"))


def test_local_features_verify_the_same_product_and_not_another(photos, wild):
    params = VerifyParams()
    cat = [features(p, params.catalog_side, params.features) for p in photos]
    verified_self, verified_other = 0, 0
    for i, w in enumerate(wild):
        q = features(w, params.query_side, params.features)
        counts = [inliers(q, c, params) for c in cat]
        verified_self += counts[i] >= params.min_inliers
        others = counts[:i] + counts[i + 1:]
        verified_other += sum(1 for n in others if n > 0)
        assert all(n == 0 or n >= params.min_inliers for n in counts)
        assert max(others) < PhotoParams().inlier_scale  # a chance match never counts in full
    assert verified_self >= len(wild) // 2
    assert verified_other <= len(wild) // 4  # of 56 pairs of different products


def test_catalog_features_skip_what_cannot_be_read_and_follow_a_changed_file(photos, tmp_path):
    cache, params = CatalogFeatures(size=2), VerifyParams()
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    for path in (None, "", "https://example.org/a.jpg", str(tmp_path / "missing.jpg"), str(text), "bad\0path"):
        points, desc = cache.get(path, params, *LIMITS)
        assert desc is None and len(points) == 0
    path = tmp_path / "p.jpg"
    photos[0].save(path)
    first = cache.get(str(path), params, *LIMITS)
    assert first[1] is not None and len(first[0]) > 100
    assert cache.get(str(path), params, *LIMITS) is first  # cached
    photos[1].save(path)
    os.utime(path, ns=(1, 1))
    second = cache.get(str(path), params, *LIMITS)
    assert second is not first and not np.array_equal(second[1][:10], first[1][:10])


def test_hub_occupancy_is_the_share_of_the_most_frequent_top_hit():
    assert hub_occupancy([3, 3, 3, 1, 2, None]) == 0.5
    assert hub_occupancy([1, 2, 3, 4]) == 0.25
    assert hub_occupancy([]) == 0.0


def test_centring_ranks_by_the_centred_inner_product():
    rng = np.random.default_rng(3)
    catalog = rng.normal(size=(50, 16)) + 4.0  # a common offset: every item leans one way
    catalog /= np.linalg.norm(catalog, axis=1, keepdims=True)
    mean = catalog.mean(axis=0).astype(np.float32)
    q = catalog[7] + 0.05 * rng.normal(size=16)
    q = (q / np.linalg.norm(q)).astype(np.float32)
    assert np.array_equal(centred(q, mean, 0.0), q) and np.array_equal(centred(q, None, 1.0), q)
    c = centred(q, mean, 1.0)
    assert abs(float(np.linalg.norm(c)) - 1) < 1e-5
    expected = np.argsort(-((catalog - mean) @ (q - mean)), kind="stable")
    assert np.array_equal(np.argsort(-(catalog @ c), kind="stable"), expected)


def test_the_catalog_mean_is_the_indexs_own_and_follows_it(tmp_path):
    s = Settings()
    s.data_dir, s.qdrant_url = tmp_path, ""
    store = open_store(s)
    store.open(CollectionSpec(text_encoder="t", text_dim=4, image_encoder="i", image_dim=3, text_weight=0.5))
    try:
        vecs = {1: [1.0, 0.0, 0.0], 2: [0.0, 1.0, 0.0], 3: [0.0, 0.0, 1.0]}
        store.upsert([PointRecord(i, {"image": np.array(v, np.float32), "text": np.ones(4, np.float32)})
                      for i, v in vecs.items()])
        store.upsert([PointRecord(4, {"text": np.ones(4, np.float32)})])  # no photo: not in the mean
        means = CatalogMean()
        assert np.allclose(means.get(store), [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
        store.upsert([PointRecord(5, {"image": np.array([1.0, 0.0, 0.0], np.float32)})])
        assert np.allclose(means.get(store), [0.5, 0.25, 0.25], atol=1e-6)
    finally:
        store.close()


def test_the_confidence_is_the_top_candidates_verification_not_its_cosine():
    assert match_confidence(Evidence(0.99, 0), 20) == 0.0  # a descriptor cosine alone claims nothing
    assert match_confidence(Evidence(0.2, 10), 20) == pytest.approx(0.5)
    assert match_confidence(Evidence(0.2, 45), 20) == 1.0
    assert match_confidence(None, 20) == 0.0
    assert match_kind(Evidence(0.5, 6), 0.3, 20) == GOOD  # 6 / 20 = 0.3: at the threshold is good
    assert match_kind(Evidence(0.99, 5), 0.3, 20) == LOOSE
    assert match_kind(None, 0.0, 20) == LOOSE  # no candidate is never a match
    assert match_kind(Evidence(0.1, 0), 0.0, 20) == GOOD  # a threshold of 0 calls every answer good
    assert no_match_rate([Evidence(0.5, 0), Evidence(0.95, 7), None, Evidence(0.1, 12)], 0.3, 20) == 0.5
    with pytest.raises(ValueError):
        no_match_rate([], 0.3, 20)
    with pytest.raises(ValueError):
        match_confidence(Evidence(0.5, 3), 0)


def test_calibration_keeps_correct_in_catalog_searches_above_and_catches_off_catalog_ones():
    right = [0.0] + [0.3 + 0.05 * i for i in range(19)]  # one correct answer had nothing verified
    off = [0.0] * 17 + [0.3, 0.35, 0.6]
    t = calibrate(right, off, max_in_below=0.10)
    assert t == pytest.approx(0.35)  # two of the twenty correct answers may fall below: 0.0 and 0.3
    assert sum(c < t for c in right) == 2
    assert sum(c < t for c in off) == 18
    assert calibrate(right, off, max_in_below=0.0) == 0.0  # none may fall below: nothing is called loose
    with pytest.raises(ValueError):
        calibrate([], off)
    with pytest.raises(ValueError):
        calibrate(right, off, max_in_below=1.0)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (20000, 2), (3, 16000), (33, 900)])
def test_a_picture_too_small_or_thin_for_a_keypoint_has_no_features(size):
    """OpenCV's ORB pyramid fails on such pictures instead of finding nothing; they must give no features."""
    noise = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    points, descriptors = features(Image.fromarray(noise), 480, 1000)
    assert len(points) == 0 and descriptors is None
