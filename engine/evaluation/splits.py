"""Tune / test halves. Every set anything is tuned on (the curated links, the attribute queries, the wild photos,
the nonsense queries) is split, and the figures a release reports come from the test half.

A key (a style, a query's attribute combination) falls into a half by a hash of the seed and the key alone, not
by a shuffle of today's keys: a style keeps its half when products are added or removed, so figures of two
catalog versions remain comparable, and colour variants of one style never sit on both sides.
"""
from __future__ import annotations

import hashlib

from engine.errors import ValidationError

SPLIT_SEED = 12
SPLITS = ("tune", "test")


def split_of(key: str, seed: int = SPLIT_SEED) -> str:
    """"tune" or "test" for a key, the same on every machine and every run (about half the keys each)."""
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode("utf-8")).digest()
    return SPLITS[digest[0] & 1]


def check_splits(splits) -> tuple[str, ...]:
    """The halves asked for, in their fixed order; anything else is refused by name."""
    wanted = tuple(dict.fromkeys(splits))
    unknown = [s for s in wanted if s not in SPLITS]
    if unknown or not wanted:
        raise ValidationError(f"unknown split {', '.join(map(repr, unknown)) or '(none)'}: use tune, test or both")
    return tuple(s for s in SPLITS if s in wanted)
