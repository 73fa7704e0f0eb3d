"""Search by photo through the Recommender and the HTTP service on the indexed Luma catalog (SQLite, the embedded
Qdrant store, the photo descriptor): shopper photos made by the wild recipe find their product, a photo of no
product is answered "loosely related", and the API says which."""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from engine.evaluation.wild import WildRecipe, _background, wild_photos
from engine.photos import GOOD, LOOSE, LOOSE_LABEL
from engine.service.app import create_app
from engine.types import Filters
from test_personal import World, luma_world

N_PHOTOS = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory, luma_dir) -> World:
    return luma_world(tmp_path_factory, luma_dir)


@pytest.fixture(scope="module")
def shopper_photos(world) -> list[tuple[int, bytes]]:
    """(product id, JPEG) of the first photos of a wild recipe over every product with a photo."""
    cards = world.runtime.catalog.cards(sorted(world.runtime.store.all_ids()))
    products = [(c.id, c.sku, c.image) for c in cards.values() if c.image and Path(c.image).is_file()]

    def load(path: str) -> Image.Image:
        with Image.open(path) as im:
            im.draft("RGB", (480, 480))
            return im.convert("RGB")

    return [(p.product_id, p.jpeg) for p in wild_photos(WildRecipe(seed=5, size=N_PHOTOS), products, load)]


def _scene() -> bytes:
    """A photo of an empty wall: no product in it. (A scene with a brown block in it is another matter: the
    descriptor finds the catalog's brown foam block alike enough to call it a match, as a shopper might.)"""
    rng = np.random.default_rng(3)
    canvas = Image.fromarray(_background((360, 480), rng).astype(np.uint8)).convert("RGB")
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def test_shopper_photos_find_their_product_far_more_often_than_the_plain_vector_order(world, shopper_photos):
    rec = world.recommender()
    plain = found = 0
    for pid, jpeg in shopper_photos:
        vec = rec.image_encoder.encode([Image.open(io.BytesIO(jpeg)).convert("RGB")])[0]
        plain += world.runtime.store.query(vec, using="image", limit=1, filters=Filters())[0].id == pid
        result = rec.search_by_photo(jpeg, n=5, strategy="relevance")
        found += result.items[0].product.id == pid
        if result.items[0].product.id == pid and result.evidence.inliers >= 20:
            assert result.match == GOOD
    assert found >= N_PHOTOS // 3 and found >= plain + 3, (found, plain)


def test_the_catalog_photo_itself_is_a_good_match_at_full_score(world):
    rec = world.recommender()
    card = world.card("MJ01-Red")
    result = rec.search_by_photo(Path(card.image), n=3, strategy="relevance")
    assert result.match == GOOD and result.evidence.inliers >= 20
    assert result.items[0].product.id == card.id and result.items[0].score == pytest.approx(1.0, abs=1e-4)
    assert LOOSE_LABEL not in result.items[0].reasons
    assert [r.product.id for r in rec.search_by_image(Path(card.image), n=3, strategy="relevance")] == \
        [r.product.id for r in result.items]


def test_a_photo_of_no_product_is_loosely_related_and_each_item_says_so(world):
    result = world.recommender().search_by_photo(_scene(), n=4)
    assert result.match == LOOSE and len(result.items) == 4
    assert all(r.reasons[0] == LOOSE_LABEL for r in result.items)


def test_an_off_catalog_photo_is_not_matched_to_what_is_left(world, shopper_photos):
    """The product's whole category left out of the index: nothing verified may be claimed for most photos."""
    rec = world.recommender()
    cards = world.runtime.catalog.cards(sorted(world.runtime.store.all_ids()))
    loose = 0
    for pid, jpeg in shopper_photos:
        leaf = cards[pid].category_id
        held_out = sorted(i for i, c in cards.items() if c.category_id == leaf)
        result = rec.search_by_photo(jpeg, n=3, filters=Filters(exclude_ids=held_out))
        assert not {r.product.id for r in result.items} & set(held_out)
        loose += result.match == LOOSE
    assert loose >= N_PHOTOS // 3


def test_the_api_says_whether_the_photo_matched(world, luma_dir):
    app = create_app(replace(world.settings))
    with TestClient(app) as client:
        card = world.card("MJ01-Red")
        good = client.post("/api/recommendations/search_by_image/", params={"limit": 3},
                           files={"image": ("jacket.jpg", Path(card.image).read_bytes(), "image/jpeg")})
        assert good.status_code == 200, good.text
        assert good.json()["match"] == "good" and good.json()["items"][0]["id"] == card.id
        loose = client.post("/api/recommendations/search_by_image/", params={"limit": 3},
                            files={"image": ("room.jpg", _scene(), "image/jpeg")})
        assert loose.status_code == 200, loose.text
        body = loose.json()
        assert body["match"] == "loose" and all(i["reasons"][0] == LOOSE_LABEL for i in body["items"])
