"""Search by photo in two stages, for photos taken in the real world rather than in the catalog's studio.

1. The product is cut out of the photo (engine.photos.crop) and each query crop is described by the image
   encoder; the store is searched with each (centred on the catalog mean when `centre` > 0, engine.photos.hubness)
   and the crops' cosines are fused per product by their maximum.
2. The best `verify.top` candidates are checked by local features with geometric verification
   (engine.photos.verify); a verified candidate's score is lifted by its inlier count.

The parameters below were tuned on the tune halves of the wild set and of the another-view task together (the
sum of their Recall@1; engine.evaluation.photos): the whole photo is searched beside the product crop because a
full-bleed close-up (a back view, a detail) is described better whole, and the verification is strict (ratio 0.7,
lift 0.3) because on studio photos of other products a looser one gathers chance inliers that push another view's
own product down. The confidence (engine.photos.confidence) rests on the inliers these parameters give; its
threshold is the config's `search.photo_min_confidence`, calibrated afterwards with them. The grid and the
test-half figures are in the README's photo search section. They were tuned for the weight-free descriptor; CLIP,
where its weights exist, is the primary encoder and runs through the same stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from engine.photos.confidence import Evidence, match_confidence, match_kind
from engine.photos.crop import CROPS, CropParams, query_crops
from engine.photos.hubness import CatalogMean, centred
from engine.photos.verify import CatalogFeatures, VerifyParams, features, inliers
from engine.types import Filters

_MEAN = CatalogMean()  # shared by every runtime of the process: keyed by the store and the ids it holds
_FEATURES = CatalogFeatures()  # keyed by the photo file (path, size, modification time)


@dataclass(frozen=True)
class PhotoParams:
    crops: tuple[str, ...] = ("product", "whole")  # query crops searched and fused (engine.photos.crop.CROPS)
    crop: CropParams = field(default_factory=CropParams)
    centre: float = 0.0  # weight of the catalog mean taken off the query (hubness); tuned: 0
    verify: VerifyParams = field(default_factory=VerifyParams)
    lift: float = 0.3  # weight of verification in the score: (1 - lift) * cosine + lift * strength
    inlier_scale: float = 20.0  # inliers at which verification counts in full (strength = inliers / scale, ≤ 1)

    def __post_init__(self):
        unknown = [c for c in self.crops if c not in CROPS]
        if unknown or not self.crops:
            raise ValueError(f"photo crops must be some of {', '.join(CROPS)}, got {list(self.crops)}")
        if not 0 <= self.lift <= 1 or self.inlier_scale <= 0 or self.centre < 0 or self.verify.top < 0:
            raise ValueError("photo parameters out of range: lift in [0, 1], inlier_scale > 0, centre >= 0, "
                             "verify.top >= 0")


@dataclass
class Candidate:
    id: int
    similarity: float  # first stage: fused cosine
    inliers: int = 0  # second stage: geometric inliers (0 = not verified or not checked)
    score: float = 0.0  # what the candidates are ordered by


@dataclass
class PhotoMatch:
    candidates: list[Candidate]  # best first
    match: str  # confidence.GOOD or confidence.LOOSE
    evidence: Evidence | None  # of the top candidate
    confidence: float = 0.0  # engine.photos.confidence.match_confidence of the top candidate, in [0, 1]


def first_stage(image: Image.Image, encoder, store, limit: int, filters: Filters, params: PhotoParams,
                using: str = "image") -> dict[int, float]:
    """Product id → the best cosine over the query crops, for the `limit` nearest of each crop."""
    vectors = encoder.encode(query_crops(image, params.crops, params.crop))
    mean = _MEAN.get(store, using) if params.centre > 0 else None
    fused: dict[int, float] = {}
    for vec in vectors:
        for hit in store.query(centred(vec, mean, params.centre), using=using, limit=limit, filters=filters,
                               with_payload=False):
            if hit.score > fused.get(hit.id, -np.inf):
                fused[hit.id] = float(hit.score)
    return fused


def search(image: Image.Image, encoder, store, limit: int, filters: Filters,
           photo_paths: Callable[[Sequence[int]], Mapping[int, str | None]], max_bytes: int, max_pixels: int,
           min_confidence: float, params: PhotoParams = PhotoParams()) -> PhotoMatch:
    """The `limit` best candidates for a photo (at least `verify.top` are looked at) and how good the match is:
    below `min_confidence` (the config's search.photo_min_confidence) it is loosely related."""
    fused = first_stage(image, encoder, store, max(limit, params.verify.top), filters, params)
    ranked = sorted((Candidate(pid, sim) for pid, sim in fused.items()), key=lambda c: (-c.similarity, c.id))
    top = ranked[:params.verify.top]
    if top:
        query = features(image, params.verify.query_side, params.verify.features)
        paths = photo_paths([c.id for c in top])
        for c in top:
            c.inliers = inliers(query, _FEATURES.get(paths.get(c.id), params.verify, max_bytes, max_pixels),
                                params.verify)
    for c in ranked:
        strength = min(1.0, c.inliers / params.inlier_scale)
        c.score = (1 - params.lift) * c.similarity + params.lift * strength
    ranked.sort(key=lambda c: (-c.score, -c.similarity, c.id))
    best = ranked[0] if ranked else None
    evidence = Evidence(best.similarity, best.inliers) if best else None
    return PhotoMatch(ranked[:max(limit, 1)], match_kind(evidence, min_confidence, params.inlier_scale), evidence,
                      match_confidence(evidence, params.inlier_scale))


@dataclass
class PhotoResult:
    """What a photo search answers: the ranked items and whether any of them is a good match."""

    items: list  # of engine.types.Recommendation, best first
    match: str  # confidence.GOOD or confidence.LOOSE ("loosely related": nothing in the catalog matches well)
    evidence: Evidence | None  # of the top candidate before business reranking
    confidence: float = 0.0  # of that candidate, in [0, 1]; below search.photo_min_confidence: loosely related
