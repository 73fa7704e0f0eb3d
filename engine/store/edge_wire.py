"""Our store types in qdrant-edge's terms: filter plans, point vectors (dense and lexical), sparse queries, and
the lexical vector's presence in a shard's own config (the engine has no accessor for a shard's config)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import qdrant_edge as qe

from engine.store import filters as fx
from engine.store.base import LEXICAL
from engine.store.vectors import SparseVector


def _condition(c: fx.Condition):
    if isinstance(c, fx.AnyOf):
        return qe.FieldCondition(key=c.key, match=qe.MatchAny(list(c.values)))
    if isinstance(c, fx.Equals):
        return qe.FieldCondition(key=c.key, match=qe.MatchValue(c.value))
    if isinstance(c, fx.Between):
        return qe.FieldCondition(key=c.key, range=qe.RangeFloat(gte=c.gte, lte=c.lte))
    if isinstance(c, fx.IdIn):
        return qe.HasIdCondition(set(c.ids))
    if isinstance(c, fx.HasVector):
        return qe.HasVectorCondition(c.name)
    raise TypeError(f"no qdrant-edge translation for {c!r}")


def to_edge_filter(p: fx.FilterPlan) -> qe.Filter | None:
    if not p:
        return None
    return qe.Filter(must=[_condition(c) for c in p.must] or None,
                     must_not=[_condition(c) for c in p.must_not] or None)


def vectors_of(raw: object, names: Sequence[str]) -> dict[str, np.ndarray]:
    if not raw or not names:
        return {}
    return {k: np.asarray(v, dtype=np.float32) for k, v in dict(raw).items() if k in names}


def edge_sparse(v: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(v.indices), list(v.values))


def edge_vectors(vectors: dict, lexical: SparseVector | None) -> dict:
    """A point's named vectors, with its lexical vector when it has one."""
    return vectors if lexical is None else {**vectors, LEXICAL: edge_sparse(lexical)}


def shard_has_lexical(shard_dir: Path) -> bool:
    try:
        cfg = json.loads((shard_dir.resolve() / "edge_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return LEXICAL in (cfg.get("sparse_vectors") or {})
