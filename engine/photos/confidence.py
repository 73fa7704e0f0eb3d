"""When a photo search has no good match: the result is then "loosely related" (the API's `match` field, the
console's label), not a claim that the shop sells what the photo shows.

The evidence is the top candidate: enough local features agreeing on one perspective (engine.photos.verify) is
a good match whatever its colours; without them, its descriptor similarity must reach a threshold. The ranking
accepts weaker geometric evidence than the confidence does: among 50 candidates a lookalike often gathers a few
chance inliers, which is enough to order candidates but not to claim a match.

Both levels are calibrated on the tune half of the wild set (engine.evaluation.photos) against photos of
in-catalog products and photos of products whose whole category was held out of the index (off-catalog photos):
for each inlier level the highest similarity threshold that leaves at most `max_in_below` of the in-catalog
photos the search answers correctly (its top hit is the product) below it, and of those the pair that answers
the most off-catalog photos "loosely related". A wrong top hit labelled loosely related is the label doing its
job, so it is not held against the threshold; the README reports the share of all in-catalog photos below too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

GOOD, LOOSE = "good", "loose"
LOOSE_LABEL = "loosely related"
INLIER_LEVELS = (8, 10, 12, 15, 20, 25, 30)


@dataclass(frozen=True)
class Evidence:
    """What the top candidate of a photo search rests on."""

    similarity: float  # the first stage's fused descriptor cosine
    inliers: int  # geometric inliers of local features (0: not verified)


@dataclass(frozen=True)
class Threshold:
    inliers: int  # this many geometric inliers make a good match
    similarity: float  # without them, this descriptor cosine does


def match_kind(top: Evidence | None, threshold: Threshold) -> str:
    """GOOD when the top candidate is verified or similar enough, else LOOSE (and LOOSE for no candidate)."""
    if top is None:
        return LOOSE
    return GOOD if top.inliers >= threshold.inliers or top.similarity >= threshold.similarity else LOOSE


def no_match_rate(evidence: Sequence[Evidence | None], threshold: Threshold) -> float:
    """The share of searches answered "loosely related"."""
    if not evidence:
        raise ValueError("no searches to rate")
    return sum(match_kind(e, threshold) == LOOSE for e in evidence) / len(evidence)


def _similarity_for(in_catalog: Sequence[Evidence], inliers: int, max_in_below: float) -> float:
    """The highest similarity threshold with at most `max_in_below` of `in_catalog` below it at this level."""
    weak = sorted(e.similarity for e in in_catalog if e.inliers < inliers)
    allowed = int(max_in_below * len(in_catalog))
    if allowed >= len(weak):
        return 1.0 + 1e-6  # every unverified search may be called loose
    return weak[allowed]  # `allowed` searches lie strictly below this value


def calibrate(in_catalog: Sequence[Evidence], off_catalog: Sequence[Evidence], max_in_below: float = 0.10,
              levels: Sequence[int] = INLIER_LEVELS) -> Threshold:
    """The threshold that answers the most off-catalog searches "loosely related" while at most `max_in_below`
    of the in-catalog ones (searches answered correctly) are; ties go to the lower inlier level."""
    if not in_catalog or not off_catalog:
        raise ValueError("calibration needs in-catalog and off-catalog searches")
    best: tuple[float, Threshold] | None = None
    for level in levels:
        t = Threshold(level, _similarity_for(in_catalog, level, max_in_below))
        rate = no_match_rate(off_catalog, t)
        if best is None or rate > best[0]:
            best = (rate, t)
    return best[1]
