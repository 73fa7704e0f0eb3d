"""Merchandising rules: pin a product into a slot, or hide it.

Scope says where a rule applies, judged against the source product of the request:
  global          every list, including text/image queries that have no source product;
  category:<id>   lists for a source whose category_ids (leaf and ancestors) contain <id>;
  product:<id>    lists for that one source product.
Both actions honour their scope; a global hide (the default scope) means the product never shows.

Precedence, so a list is always the same for the same rules:
  - a hide beats a pin (a pinned product that is hidden stays hidden);
  - the source product itself is never shown, pinned or not;
  - when several pins claim the same slot, or the same product is pinned to several slots, the most
    specific rule wins: product scope, then category scope (a deeper category beats an ancestor), then
    global; between equals, the rule listed first wins. A losing pin is dropped: its product keeps
    only its organic position, if it has one;
  - a slot beyond the list length puts the product last; a slot beyond n is never reached.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence

from engine.errors import ValidationError
from engine.types import ProductCard, Recommendation

ACTIONS = ("pin", "hide")
FetchProduct = Callable[[int], "ProductCard | Recommendation | None"]


@dataclass
class Rule:
    """One merchant rule; `note` says why it exists (shown in the console, ignored by ranking)."""

    id: str
    action: Literal["pin", "hide"]
    product_id: int
    slot: int | None = None  # 1-based, pins only
    scope: str = "global"
    note: str = ""

    def errors(self) -> list[str]:
        """Every problem with this rule, as user-facing text (empty when valid)."""
        out = []
        if not isinstance(self.id, str) or not self.id.strip():
            out.append("rule id must be a non-empty string")
        if self.action not in ACTIONS:
            out.append(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if isinstance(self.product_id, bool) or not isinstance(self.product_id, int):
            out.append(f"product_id must be an integer, got {self.product_id!r}")
        if self.action == "pin":
            if self.slot is None:
                out.append("a pin needs a slot (1 = first position)")
            elif isinstance(self.slot, bool) or not isinstance(self.slot, int) or self.slot < 1:
                out.append(f"slot must be an integer ≥ 1, got {self.slot!r}")
        elif self.action == "hide" and self.slot is not None:
            out.append("only pins have a slot")
        try:
            parse_scope(self.scope)
        except ValidationError as e:
            out.append(str(e))
        return out

    def validate(self) -> "Rule":
        errs = self.errors()
        if errs:
            raise ValidationError(f"rule {self.id!r}: " + "; ".join(errs))
        return self

    def specificity(self, source: ProductCard | None) -> tuple[int, int]:
        """Lower sorts first = more specific. (0, 0) product scope; (1, depth) category scope where depth is
        the category's position in the source's category_ids (leaf = 0); (2, 0) global."""
        kind, ref = parse_scope(self.scope)
        if kind == "product":
            return (0, 0)
        if kind == "category":
            ids = source.category_ids if source is not None else []
            return (1, ids.index(ref) if ref in ids else len(ids))
        return (2, 0)

    def matches(self, source: ProductCard | None) -> bool:
        kind, ref = parse_scope(self.scope)
        if kind == "global":
            return True
        if source is None:
            return False
        if kind == "product":
            return source.id == ref
        return ref in _category_chain(source)


def _category_chain(card: ProductCard) -> list[int]:
    if card.category_ids:
        return list(card.category_ids)
    return [card.category_id] if card.category_id is not None else []


def parse_scope(scope: str) -> tuple[str, int | None]:
    """'global' → ('global', None); 'category:12' → ('category', 12); 'product:7' → ('product', 7)."""
    if not isinstance(scope, str):
        raise ValidationError(f"scope must be a string, got {scope!r}")
    s = scope.strip()
    if s == "global":
        return ("global", None)
    kind, sep, ref = s.partition(":")
    if sep and kind in ("category", "product"):
        try:
            return (kind, int(ref.strip()))
        except ValueError:
            pass
    raise ValidationError(f"scope must be 'global', 'category:<id>' or 'product:<id>', got {scope!r}")


def active_rules(source: ProductCard | None, rules: Sequence[Rule]) -> list[Rule]:
    return [r for r in rules if r.matches(source)]


def hidden_ids(source: ProductCard | None, rules: Sequence[Rule]) -> set[int]:
    """Products that must not appear in this source's lists."""
    return {r.product_id for r in active_rules(source, rules) if r.action == "hide"}


def winning_pins(source: ProductCard | None, rules: Sequence[Rule]) -> dict[int, Rule]:
    """slot → the pin that holds it, after precedence (see the module docstring)."""
    hidden = hidden_ids(source, rules)
    src_id = source.id if source is not None else None
    pins = [(r.specificity(source), i, r) for i, r in enumerate(active_rules(source, rules))
            if r.action == "pin" and r.product_id not in hidden and r.product_id != src_id]
    pins.sort(key=lambda t: (t[0], t[1]))
    by_slot: dict[int, Rule] = {}
    placed: set[int] = set()
    for _, _, r in pins:
        if r.slot in by_slot or r.product_id in placed:
            continue
        by_slot[r.slot] = r
        placed.add(r.product_id)
    return by_slot


def apply_rules(source: ProductCard | None, ranked: Sequence[Recommendation], rules: Sequence[Rule], n: int,
                fetch_product: FetchProduct | None = None) -> list[Recommendation]:
    """The first n results after hides and pins; ranks renumbered from 1.

    `ranked` should be the whole ordered pool, not just the top n, so hides can be backfilled and pinned
    candidates found. A pinned product missing from the pool is asked of fetch_product (a card or a ready
    recommendation); when there is none, or it returns None, the pin is skipped."""
    if n < 0:
        raise ValidationError(f"n must not be negative, got {n}")
    for r in rules:
        r.validate()
    hidden = hidden_ids(source, rules)
    src_id = source.id if source is not None else None
    base: list[Recommendation] = []
    seen: set[int] = set()
    for rec in ranked:
        pid = rec.product.id
        if pid in hidden or pid == src_id or pid in seen:
            continue
        seen.add(pid)
        base.append(rec)
    pins = winning_pins(source, rules)
    pinned: list[tuple[int, Recommendation]] = []
    by_id = {rec.product.id: rec for rec in base}
    for slot in sorted(pins):
        pid = pins[slot].product_id
        rec = by_id.get(pid)
        if rec is None and fetch_product is not None:
            got = fetch_product(pid)
            if isinstance(got, ProductCard):
                rec = Recommendation(product=got, score=0.0, vector="pinned")
            elif isinstance(got, Recommendation):
                rec = got
            if rec is not None and (rec.product.id != pid or pid in hidden or pid == src_id):
                rec = None  # a fetcher must not smuggle in another product
        if rec is not None:
            pinned.append((slot, rec))
    pinned_ids = {rec.product.id for _, rec in pinned}
    out = [rec for rec in base if rec.product.id not in pinned_ids]
    for slot, rec in pinned:  # ascending slots: each insert lands exactly on its slot
        out.insert(min(slot - 1, len(out)), rec)
    return [replace(rec, rank=i + 1) for i, rec in enumerate(out[:n])]
