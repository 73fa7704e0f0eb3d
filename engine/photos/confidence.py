"""When a photo search has no good match: the result is then "loosely related" (the API's `match` field, the
console's label), not a claim that the shop sells what the photo shows.

The confidence is the top candidate's geometric evidence: its local-feature inliers (engine.photos.verify) over
`inlier_scale`, capped at 1; below the config's `search.photo_min_confidence` the search is loosely related.
Only that evidence separates a photo of a catalog product from a photo of a product the shop does not sell.
On the tune half of the wild set (engine.evaluation.photos; photos of in-catalog products against photos whose
whole leaf category was held out of the index) the area under the ROC curve of each candidate signal was:
top inlier count 0.755; the top candidate's descriptor cosine 0.493; CSLS-style local scaling (the top cosine
less the mean of the query's 10 nearest) 0.535, with the candidate's own neighbourhood taken off too 0.558; the
gap between the top and the 5th / 10th / 20th neighbour 0.539 / 0.519 / 0.505; agreement of the product crop's
and the whole photo's top hit 0.509; the top ten's share of the top hit's leaf category 0.478. A logistic model
over the inlier counts and those margins (5-fold, tune half only) reached 0.745, no better than the inliers
alone: without CLIP the descriptor puts an off-catalog photo as close to what is left as an in-catalog photo is
to its own product, so a descriptor term in the confidence only lets off-catalog photos through (the previous
rule, good at cosine ≥ 0.735 or 8 inliers, answered 0.518 of the off-catalog tune photos loosely related).

The threshold is calibrated on the tune half (`calibrate`, printed by `evaluate --task wild --split tune` as a
note): the highest one that leaves at most `max_in_below` of the in-catalog photos the search answers correctly
(its top hit is the product) below it, which answers the most off-catalog photos loosely related. A wrong top
hit labelled loosely related is the label doing its job, so it is not held against the threshold; the
evaluation reports the share of all in-catalog photos below too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

GOOD, LOOSE = "good", "loose"
LOOSE_LABEL = "loosely related"


@dataclass(frozen=True)
class Evidence:
    """What the top candidate of a photo search rests on."""

    similarity: float  # the first stage's fused descriptor cosine
    inliers: int  # geometric inliers of local features (0: not verified)


def match_confidence(top: Evidence | None, inlier_scale: float) -> float:
    """How sure the search is that its top candidate is the photographed product, in [0, 1]."""
    if inlier_scale <= 0:
        raise ValueError("inlier_scale must be positive")
    if top is None:
        return 0.0
    return min(1.0, max(0, top.inliers) / inlier_scale)


def match_kind(top: Evidence | None, min_confidence: float, inlier_scale: float) -> str:
    """GOOD at or above `min_confidence`, else LOOSE (and LOOSE for no candidate)."""
    if top is None:
        return LOOSE
    return GOOD if match_confidence(top, inlier_scale) >= min_confidence else LOOSE


def no_match_rate(evidence: Sequence[Evidence | None], min_confidence: float, inlier_scale: float) -> float:
    """The share of searches answered "loosely related"."""
    if not evidence:
        raise ValueError("no searches to rate")
    return sum(match_kind(e, min_confidence, inlier_scale) == LOOSE for e in evidence) / len(evidence)


def calibrate(right_in_catalog: Sequence[float], off_catalog: Sequence[float], max_in_below: float = 0.10) -> float:
    """The highest threshold with at most `max_in_below` of the confidences of correctly answered in-catalog
    searches strictly below it. The share of off-catalog searches below a threshold only grows with it, so this
    one answers the most of them loosely related that the in-catalog side allows."""
    if not right_in_catalog or not off_catalog:
        raise ValueError("calibration needs correctly answered in-catalog and off-catalog searches")
    if not 0 <= max_in_below < 1:
        raise ValueError("max_in_below must be in [0, 1)")
    ordered = sorted(right_in_catalog)
    return ordered[int(max_in_below * len(ordered))]  # that many confidences lie strictly below it at most
