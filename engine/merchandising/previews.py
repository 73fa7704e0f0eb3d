"""Before / after previews: two recommenders' lists of one product side by side, with every item's move."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

from engine.errors import ValidationError
from engine.recommend.config import RecoConfig
from engine.recommend.facade import Recommender
from engine.types import Recommendation


def resolve_strategy(config: RecoConfig, name: str | None) -> str:
    """`name` when the config defines it, else the config's default strategy (a config saved before a
    strategy was created has no such strategy: it is compared through its default one)."""
    return name if name is not None and name in config.strategies else config.default_strategy


ChangeKind = Literal["new", "up", "down", "same", "out"]


@dataclass(frozen=True)
class RankChange:
    """How an item moved between two lists: new (absent before), up / down by `places`, same, or out (absent
    after)."""

    kind: ChangeKind
    places: int = 0

    @property
    def label(self) -> str:
        if self.kind == "up":
            return f"▲ {self.places}"
        if self.kind == "down":
            return f"▼ {self.places}"
        return self.kind


def _positions(ids: Sequence[int], what: str) -> dict[int, int]:
    pos: dict[int, int] = {}
    for i, pid in enumerate(ids):
        if pid in pos:
            raise ValidationError(f"the {what} list holds product {pid} twice")
        pos[pid] = i
    return pos


def _move(old: int, new: int) -> RankChange:
    if new < old:
        return RankChange("up", old - new)
    if new > old:
        return RankChange("down", new - old)
    return RankChange("same")


def rank_changes(before: Sequence[int], after: Sequence[int]) -> list[RankChange]:
    """For each item of `after`, where it came from: new, or up / down / same against its rank in `before`."""
    old = _positions(before, "before")
    _positions(after, "after")
    return [_move(old[pid], i) if pid in old else RankChange("new") for i, pid in enumerate(after)]


def fates(before: Sequence[int], after: Sequence[int]) -> list[RankChange]:
    """For each item of `before`, where it went: out, or up / down / same against its rank in `after`."""
    _positions(before, "before")
    new = _positions(after, "after")
    return [_move(i, new[pid]) if pid in new else RankChange("out") for i, pid in enumerate(before)]


@dataclass(frozen=True)
class PreviewRow:
    """One rank of a before/after comparison: the item each list shows there and how it moved."""

    rank: int
    before: Recommendation | None
    before_change: RankChange | None  # where the before item went ("out": not in the after list)
    after: Recommendation | None
    after_change: RankChange | None  # where the after item came from ("new": not in the before list)

    def record(self) -> dict[str, Any]:
        """The row as a table line (skus and change labels)."""
        return {"rank": self.rank,
                "before": self.before.product.sku if self.before else None,
                "went": self.before_change.label if self.before_change else None,
                "after": self.after.product.sku if self.after else None,
                "change": self.after_change.label if self.after_change else None}


def compare(before: Sequence[Recommendation], after: Sequence[Recommendation]) -> list[PreviewRow]:
    """Two ranked lists side by side, rank by rank, with every item's move."""
    b_ids, a_ids = [r.product.id for r in before], [r.product.id for r in after]
    went, came = fates(b_ids, a_ids), rank_changes(b_ids, a_ids)
    return [PreviewRow(i + 1, before[i] if i < len(before) else None, went[i] if i < len(before) else None,
                       after[i] if i < len(after) else None, came[i] if i < len(after) else None)
            for i in range(max(len(before), len(after)))]


def preview(recommender_before: Recommender, recommender_after: Recommender, product: int | str,
            strategy: str | None = None, n: int = 12, by: str = "combined") -> list[PreviewRow]:
    """Similar items of `product` from two recommenders, rank by rank. `strategy` (default: the after config's
    default) must exist in the after config; the before config uses its own strategy of that name, or its
    default strategy when it has none."""
    name = strategy or recommender_after.config.default_strategy
    recommender_after.config.strategy(name)
    before = recommender_before.similar(product, by=by, n=n,
                                        strategy=resolve_strategy(recommender_before.config, name))
    after = recommender_after.similar(product, by=by, n=n, strategy=name)
    return compare(before, after)
