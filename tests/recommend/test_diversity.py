"""MMR, collapse and the list metrics on hand-made vectors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics import catalog_coverage, intra_list_diversity
from engine.recommend.diversity import collapse, mmr
from engine.errors import ValidationError
from engine.types import ProductCard, Recommendation


def r(pid: int, score: float, group: str | None = None, colour: str | None = None, brand: str | None = None):
    return Recommendation(product=ProductCard(id=pid, sku=str(pid), title=str(pid), price=1.0, group_key=group,
                                              colour=colour, brand=brand), score=score, vector="combined")


def ids(recs):
    return [x.product.id for x in recs]


# A (0.90) and B (0.85) are near duplicates: cos(A, B) = 0.99. C (0.70) is orthogonal to A.
NEAR = math.sqrt(1 - 0.99 ** 2)
VECS = {1: np.array([1.0, 0.0, 0.0]), 2: np.array([0.99, NEAR, 0.0]), 3: np.array([0.0, 1.0, 0.0])}
CANDS = [r(1, 0.90), r(2, 0.85), r(3, 0.70)]


def test_mmr_lambda_one_is_relevance_order():
    assert ids(mmr(CANDS, VECS, 1.0, 3)) == [1, 2, 3]
    assert ids(mmr(CANDS, VECS, 1.0, 2)) == [1, 2]


def test_mmr_half_picks_diverse_item_over_near_duplicate():
    # Step 1: .5·.90 = .45 beats .425 and .35 → A. Step 2: B = .5·.85 − .5·.99 = −.07; C = .5·.70 − .5·0 = .35
    # → C. Step 3: B is all that is left.
    assert ids(mmr(CANDS, VECS, 0.5, 2)) == [1, 3]
    assert ids(mmr(CANDS, VECS, 0.5, 3)) == [1, 3, 2]


def test_mmr_unnormalised_vectors_are_compared_by_direction():
    scaled = {k: v * (i + 2.5) for i, (k, v) in enumerate(VECS.items())}
    assert ids(mmr(CANDS, scaled, 0.5, 3)) == [1, 3, 2]


def test_mmr_lambda_zero_only_spreads():
    # λ=0: every first value is 0, the first in order (A) wins; then B costs .99, C costs 0 → C.
    assert ids(mmr(CANDS, VECS, 0.0, 3)) == [1, 3, 2]


def test_mmr_candidate_without_vector_counts_as_unrelated():
    vecs = {1: VECS[1], 2: VECS[2]}
    cands = [r(1, 0.90), r(2, 0.85), r(4, 0.60)]
    # After A: B = .425 − .495 < 0, item 4 (no vector) = .30 − 0 → item 4.
    assert ids(mmr(cands, vecs, 0.5, 3)) == [1, 4, 2]


def test_mmr_bounds():
    assert mmr([], VECS, 0.5, 3) == []
    assert ids(mmr(CANDS, VECS, 0.5, 10)) == [1, 3, 2]
    for bad in (-0.1, 1.1, float("nan"), None):
        with pytest.raises(ValidationError):
            mmr(CANDS, VECS, bad, 2)


def test_collapse_by_group():
    cands = [r(1, .9, "g1"), r(2, .8, "g1"), r(3, .7, "g2"), r(4, .6, "g1"), r(5, .5), r(6, .4)]
    assert ids(collapse(cands, 1)) == [1, 3, 5, 6]  # products without group are each their own group
    assert ids(collapse(cands, 2)) == [1, 2, 3, 5, 6]
    assert ids(collapse(cands, 3)) == [1, 2, 3, 4, 5, 6]


def test_collapse_by_group_and_colour_and_custom_key():
    cands = [r(1, .9, "g1", "Black"), r(2, .8, "g1", "blue"), r(3, .7, "g1", "black"), r(4, .6, "g2", "black")]
    assert ids(collapse(cands, 1, key="group+colour")) == [1, 2, 4]  # 3 repeats g1/black (case ignored)
    branded = [r(1, .9, brand="A"), r(2, .8, brand="A"), r(3, .7, brand="B")]
    assert ids(collapse(branded, 1, key=lambda c: c.brand)) == [1, 3]


def test_collapse_validation():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValidationError):
            collapse(CANDS, bad)
    with pytest.raises(ValidationError, match="unknown collapse key"):
        collapse(CANDS, 1, key="brand")


def test_intra_list_diversity():
    assert intra_list_diversity([np.array([1.0, 0.0]), np.array([0.0, 2.0])]) == pytest.approx(1.0)
    assert intra_list_diversity([np.array([1.0, 0.0]), np.array([3.0, 0.0])]) == pytest.approx(0.0)
    # pairs: (1,0)-(0,1) → 1, (1,0)-(-1,0) → 2, (0,1)-(-1,0) → 1; mean 4/3
    three = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0])]
    assert intra_list_diversity(three) == pytest.approx(4 / 3)
    assert intra_list_diversity([np.array([1.0, 0.0])]) == 0.0
    assert intra_list_diversity([]) == 0.0


def test_catalog_coverage():
    assert catalog_coverage([[1, 2], [2, 3]], 10) == pytest.approx(0.3)
    assert catalog_coverage([[r(1, .5), r(4, .4)], [4]], 4) == pytest.approx(0.5)
    assert catalog_coverage([], 5) == 0.0
    with pytest.raises(ValidationError):
        catalog_coverage([[1]], 0)
