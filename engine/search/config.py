"""The text-search section of the recommendation config: its fields and their defaults live here, once. The
config document (engine/recommend/config_document.py, SearchDoc) validates what a merchant writes; the
recommender reads RecoConfig.search."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FUSIONS = ("rrf", "dbsf")
LOOSE_ACTIONS = ("label", "hide")


@dataclass
class SearchConfig:
    """How text search ranks and when it says "no good match".

    fusion: how the dense and the lexical lists are merged — rrf (reciprocal rank fusion, Σ w/(k + rank)) or
      dbsf (each list's scores normalised by its mean ± 3 standard deviations, then a weighted sum).
    rrf_k: RRF's k; larger flattens the difference between the top ranks.
    dense_weight, lexical_weight: each list's weight in the fusion (0 turns that list off).
      The defaults (dbsf, lexical twice the dense list) were chosen on the tune split of the judged attribute
      queries: NDCG@10 of hybrid retrieval alone, en / ru / tr — rrf 1:1 0.767 / 0.706 / 0.725, rrf 1:2
      0.786 / 0.729 / 0.749, rrf 2:1 0.703 / 0.645 / 0.670, dbsf 1:1 0.787 / 0.744 / 0.761, dbsf 1:2
      0.795 / 0.770 / 0.772, dbsf 1:3 0.789 / 0.772 / 0.766 (USE text encoder, demo catalog).
    strategy: the reranking strategy text search uses when the caller names none: relevance-first, since a
      text query states what the shopper wants and business factors must not drown it.
    min_confidence: below this confidence (engine.search.confidence) a result is "loosely related". Tuned on
      the tune split of the judged and nonsense queries (`python -m engine evaluate --split tune`).
    loose: label (show the results, marked loosely related) or hide (show none).
    photo_min_confidence: below this confidence (engine.photos.confidence: the top candidate's local-feature
      inliers over 20) a search by photo is "loosely related". Calibrated on the tune half of the wild set
      (`python -m engine evaluate --task wild --split tune` prints the value it supports)."""

    fusion: str = "dbsf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 2.0
    strategy: str = "relevance"
    min_confidence: float = 0.25
    loose: str = "label"
    photo_min_confidence: float = 0.30


class SearchDoc(BaseModel):
    """The `search` section of the config document (engine/recommend/config_document.py): each field optional,
    strict like the rest of the document. What compares fields (the strategy exists, one weight is positive)
    is checked in engine/recommend/config_checks.py."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    fusion: Literal["rrf", "dbsf"] = Field(None, description="How the dense and lexical lists merge: rrf or dbsf.")
    rrf_k: int = Field(None, ge=1, le=1000, description="RRF's k (rrf only).")
    dense_weight: float = Field(None, ge=0, le=100, description="Weight of the dense (embedding) list.")
    lexical_weight: float = Field(None, ge=0, le=100, description="Weight of the lexical (BM25) list.")
    strategy: str = Field(None, min_length=1, description="Reranking strategy of text search when the caller "
                                                          "names none; left out: relevance.")
    min_confidence: float = Field(None, ge=0, le=1, description="Below this confidence results are loosely "
                                                                "related.")
    loose: Literal["label", "hide"] = Field(None, description="Loosely related results: label them or hide them.")
    photo_min_confidence: float = Field(None, ge=0, le=1, description="Below this confidence a search by photo is "
                                                                      "loosely related.")
