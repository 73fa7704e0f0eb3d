"""Retrieval quality of the weight-free descriptor on the real Luma photos.

Task: query with another view of an item (the *_alt1 close-up or the *_back photo) and rank every *_main
photo by cosine; the item's own main photo should come first. Random ranking gives Recall@1 = 1/420 and
Recall@5 = 5/420 (about 0.012). Measured with descriptor-v2: Recall@1 0.665, Recall@5 0.777 (back views
0.845, close-ups 0.670); the top-1 main photo has the query's colour for 0.88 of queries (chance 0.13).
Thresholds sit well below the measurements, far above chance.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.encoders import DescriptorImageEncoder
from engine.encoders.images import load_image

OTHER_VIEW = re.compile(r"^(?P<item>.+)_(?:alt1|back)\.jpg$")


def _colour(path: Path) -> str:
    """'mh01-gray_main.jpg' -> 'gray' (the Luma file names carry the variant's colour)."""
    return path.name.split("_")[0].split("-")[1]


@pytest.fixture(scope="module")
def ranked(luma_dir: Path) -> dict:
    folder = luma_dir / "media/catalog/product"
    mains = sorted(folder.glob("*/*/*_main.jpg"))
    index = {p.name: i for i, p in enumerate(mains)}
    queries, truth = [], []
    for p in sorted(folder.glob("*/*/*.jpg")):
        m = OTHER_VIEW.match(p.name)
        if m and f"{m['item']}_main.jpg" in index:
            queries.append(p)
            truth.append(index[f"{m['item']}_main.jpg"])
    enc = DescriptorImageEncoder()

    def encode(paths: list[Path]) -> np.ndarray:
        return enc.encode([load_image(p, max_bytes=20 << 20, max_pixels=40_000_000) for p in paths])

    gallery, q = encode(mains), encode(queries)
    scores = q @ gallery.T
    truth_arr = np.array(truth)
    own = scores[np.arange(len(queries)), truth_arr]
    rank = (scores > own[:, None]).sum(axis=1)  # 0 = the item's own main photo is first
    return {"mains": mains, "queries": queries, "truth": truth_arr, "rank": rank, "scores": scores}


def test_enough_queries(ranked: dict):
    assert len(ranked["mains"]) >= 400 and len(ranked["queries"]) >= 200


def test_other_view_recall(ranked: dict):
    rank = ranked["rank"]
    r1, r5, r10 = (rank < 1).mean(), (rank < 5).mean(), (rank < 10).mean()
    print(f"\ndescriptor other-view retrieval over {len(rank)} queries, {len(ranked['mains'])} main photos: "
          f"R@1 {r1:.3f}  R@5 {r5:.3f}  R@10 {r10:.3f}")
    assert r1 > 0.55
    assert r5 > 0.68
    assert r10 > 0.72


def test_back_views_and_close_ups_both_work(ranked: dict):
    close_up = np.array([p.name.endswith("_alt1.jpg") for p in ranked["queries"]])
    rank = ranked["rank"]
    assert (rank[~close_up] < 5).mean() > 0.72  # back view: same silhouette, same colours
    assert (rank[close_up] < 5).mean() > 0.55  # close-up: the colours and fabric alone


def test_nearest_main_photo_shares_the_colour(ranked: dict):
    main_colour = np.array([_colour(p) for p in ranked["mains"]])
    query_colour = np.array([_colour(p) for p in ranked["queries"]])
    top = ranked["scores"].argmax(axis=1)
    black = query_colour == "black"
    assert black.sum() >= 20
    black_rate = (main_colour[top[black]] == "black").mean()
    chance = (main_colour == "black").mean()
    print(f"\nblack queries: top-1 main photo black {black_rate:.2f} (chance {chance:.2f})")
    assert black_rate > 0.75 and black_rate > 3 * chance
    same = (main_colour[top] == query_colour).mean()
    overall_chance = sum((main_colour == c).mean() * (query_colour == c).mean() for c in set(query_colour))
    assert same > 0.75 and same > 4 * overall_chance
