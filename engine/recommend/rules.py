"""Merchandising rules: pin a product into a slot, or hide it.

Match says what a rule's product stands for:
  sku     that one product (schema_version 1 rules, migrated, keep this meaning);
  style   every product sharing its group_key (all colours and sizes of the style; a product without a
          group_key is its own style). A hide per style hides every variant, so another colour of a hidden
          style never reappears as "new"; a pin per style puts the style's best-ranked variant in the pool
          into the slot (the rule's own product when none of the style is in the pool). The source's own
          style is never pinned into its own list.
The group_key of a rule's product is looked up in the candidates; a caller that has the catalog passes
`styles` (rule product id → group_key) so a style is known even when its own product was filtered out.

Scope says where a rule applies, judged against the source product of the request:
  global          every list, including text/image queries that have no source product;
  brand:<name>    lists for a source of that brand (compared case-insensitively, spaces trimmed);
  category:<id>   lists for a source whose category_ids (leaf and ancestors) contain <id>;
  product:<id>    lists for that one source product.
Both actions honour their scope; a global hide (the default scope) means the product never shows.

Time window: `starts` and `ends` (ISO 8601; naive means UTC) bound when a rule acts, starts included, ends
excluded. Outside its window a rule does nothing; `Rule.status(now)` says why in words for the console.

Precedence, so a list is always the same for the same rules:
  - a hide beats a pin (a pinned product that is hidden stays hidden);
  - the source product itself is never shown, pinned or not;
  - when several pins claim the same slot, or the same product (or style) is pinned to several slots, the
    most specific rule wins: product scope, then category scope (a deeper category beats an ancestor), then
    brand, then global; between equals, the rule listed first wins. A losing pin is dropped: its product
    keeps only its organic position, if it has one;
  - a slot beyond the list length puts the product last; a slot beyond n is never reached.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Hashable, Literal, Mapping, Sequence

from engine.errors import ValidationError
from engine.recommend.diversity import group_of
from engine.types import ProductCard, Recommendation, copied

ACTIONS = ("pin", "hide")
MATCHES = ("sku", "style")
FetchProduct = Callable[[int], "ProductCard | Recommendation | None"]
Styles = Mapping[int, "str | None"]  # a rule's product id → its group_key (None: the product is its own style)
SCOPE_HELP = "scope must be 'global', 'category:<id>', 'brand:<name>' or 'product:<id>'"


# ---------------------------------------------------------------- time windows

def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str | datetime) -> datetime:
    """An ISO 8601 date-time (or date) as an aware UTC datetime; a naive one is read as UTC, so a document
    means the same instant on every server whatever its local zone."""
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"not an ISO 8601 date-time: {value!r}") from None
    else:
        raise ValidationError(f"a date-time must be ISO 8601 text, got {value!r}")
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def time_text(t: datetime) -> str:
    """'2026-12-01 09:00 UTC': how the console words a window's edge."""
    return parse_time(t).strftime("%Y-%m-%d %H:%M UTC")


def window_errors(starts: str | None, ends: str | None) -> list[str]:
    out = []
    parsed = {}
    for name, value in (("starts", starts), ("ends", ends)):
        if value is not None:
            try:
                parsed[name] = parse_time(value)
            except ValidationError as e:
                out.append(f"{name}: {e}")
    if len(parsed) == 2 and parsed["ends"] <= parsed["starts"]:
        out.append(f"ends ({time_text(parsed['ends'])}) must be after starts ({time_text(parsed['starts'])})")
    return out


def window_status(starts: str | None, ends: str | None, now: datetime | None = None) -> tuple[bool, str]:
    """(acts now, why in words): 'starts 2026-12-01 09:00 UTC', 'ended 2026-11-20 18:00 UTC', 'active
    until ...' or 'active'. Starts is included, ends excluded, so back-to-back windows never overlap."""
    now = parse_time(now or utc_now())
    if starts is not None and now < parse_time(starts):
        return False, f"starts {time_text(parse_time(starts))}"
    if ends is not None and now >= parse_time(ends):
        return False, f"ended {time_text(parse_time(ends))}"
    return True, f"active until {time_text(parse_time(ends))}" if ends is not None else "active"


# ---------------------------------------------------------------- scopes

def parse_scope(scope: str) -> tuple[str, int | str | None]:
    """'global' → ('global', None); 'category:12' → ('category', 12); 'product:7' → ('product', 7);
    'brand: Luma ' → ('brand', 'Luma')."""
    if not isinstance(scope, str):
        raise ValidationError(f"scope must be a string, got {scope!r}")
    s = scope.strip()
    if s == "global":
        return ("global", None)
    kind, sep, ref = s.partition(":")
    if sep and kind == "brand" and ref.strip():
        return ("brand", ref.strip())
    if sep and kind in ("category", "product"):
        try:
            return (kind, int(ref.strip()))
        except ValueError:
            pass
    raise ValidationError(f"{SCOPE_HELP}, got {scope!r}")


def _category_chain(card: ProductCard) -> list[int]:
    if card.category_ids:
        return list(card.category_ids)
    return [card.category_id] if card.category_id is not None else []


def scope_matches(scope: str, source: ProductCard | None) -> bool:
    kind, ref = parse_scope(scope)
    if kind == "global":
        return True
    if source is None:
        return False
    if kind == "product":
        return source.id == ref
    if kind == "brand":
        return bool(source.brand) and source.brand.strip().casefold() == str(ref).casefold()
    return ref in _category_chain(source)


def scope_specificity(scope: str, source: ProductCard | None) -> tuple[int, int]:
    """Lower sorts first = more specific. (0, 0) product scope; (1, depth) category scope where depth is the
    category's position in the source's category_ids (leaf = 0); (2, 0) brand; (3, 0) global. A category
    is narrower than a brand: a brand spans every category it sells in."""
    kind, ref = parse_scope(scope)
    if kind == "product":
        return (0, 0)
    if kind == "category":
        ids = _category_chain(source) if source is not None else []
        return (1, ids.index(ref) if ref in ids else len(ids))
    return (2, 0) if kind == "brand" else (3, 0)


# ---------------------------------------------------------------- the rule

@dataclass
class Rule:
    """One merchant rule; `note` says why it exists (shown in the console, ignored by ranking). Left out,
    `match` means style, as in a schema_version 2 document."""

    id: str
    action: Literal["pin", "hide"]
    product_id: int
    slot: int | None = None  # 1-based, pins only
    scope: str = "global"
    note: str = ""
    match: Literal["sku", "style"] = "style"
    starts: str | None = None  # ISO 8601; None: since ever
    ends: str | None = None  # ISO 8601, excluded; None: for ever

    def errors(self) -> list[str]:
        """Every problem with this rule, as user-facing text (empty when valid)."""
        out = []
        if not isinstance(self.id, str) or not self.id.strip():
            out.append("rule id must be a non-empty string")
        if self.action not in ACTIONS:
            out.append(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.match not in MATCHES:
            out.append(f"match must be one of {', '.join(MATCHES)}, got {self.match!r}")
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
        return out + window_errors(self.starts, self.ends)

    def validate(self) -> "Rule":
        errs = self.errors()
        if errs:
            raise ValidationError(f"rule {self.id!r}: " + "; ".join(errs))
        return self

    def specificity(self, source: ProductCard | None) -> tuple[int, int]:
        return scope_specificity(self.scope, source)

    def matches(self, source: ProductCard | None) -> bool:
        """Whether the scope covers this source (whatever the time)."""
        return scope_matches(self.scope, source)

    def status(self, now: datetime | None = None) -> tuple[bool, str]:
        """(acts at `now`, why in words), e.g. (False, 'starts 2026-12-01 09:00 UTC')."""
        return window_status(self.starts, self.ends, now)

    def in_force(self, source: ProductCard | None, now: datetime | None = None) -> bool:
        return self.matches(source) and self.status(now)[0]


def active_rules(source: ProductCard | None, rules: Sequence[Rule], now: datetime | None = None) -> list[Rule]:
    """The rules that act on this source's lists at `now` (default: the current UTC time)."""
    now = now or utc_now()
    return [r for r in rules if r.in_force(source, now)]


def style_key(card: ProductCard) -> Hashable:
    """The style a product belongs to, as collapse groups it (a product without group_key is its own)."""
    return group_of(card)


def _rule_style(r: Rule, styles: Styles) -> Hashable:
    group = styles.get(r.product_id)
    return group if group else ("id", r.product_id)


def _hidden_sets(source: ProductCard | None, rules: Sequence[Rule], now: datetime | None,
                 styles: Styles) -> tuple[set[int], set[Hashable]]:
    hides = [r for r in active_rules(source, rules, now) if r.action == "hide"]
    return ({r.product_id for r in hides},
            {_rule_style(r, styles) for r in hides if r.match == "style"})


def hidden_ids(source: ProductCard | None, rules: Sequence[Rule], *, now: datetime | None = None) -> set[int]:
    """The products hide rules name for this source now. A style hide also hides the other variants of its
    product's style: a caller holding cards tests them with `hider`."""
    return _hidden_sets(source, rules, now, {})[0]


def hider(source: ProductCard | None, rules: Sequence[Rule], *, now: datetime | None = None,
          styles: Styles | None = None) -> Callable[[ProductCard], bool]:
    """card → whether the rules hide it from this source's lists at `now`."""
    ids, groups = _hidden_sets(source, rules, now, styles or {})
    return lambda card: card.id in ids or (bool(groups) and style_key(card) in groups)


def _pins_in_order(source: ProductCard | None, rules: Sequence[Rule], now: datetime | None,
                   styles: Styles) -> list[Rule]:
    """The pins that hold a slot, most specific first (see the module docstring)."""
    hidden_id, hidden_style = _hidden_sets(source, rules, now, styles)
    src_id = source.id if source is not None else None
    src_style = style_key(source) if source is not None else None
    pins = []
    for i, r in enumerate(active_rules(source, rules, now)):
        if r.action != "pin":
            continue
        style = _rule_style(r, styles)
        if r.match == "sku" and (r.product_id in hidden_id or style in hidden_style or r.product_id == src_id):
            continue
        if r.match == "style" and (style in hidden_style or style == src_style):
            continue
        pins.append((r.specificity(source), i, r))
    pins.sort(key=lambda t: (t[0], t[1]))
    slots: set[int] = set()
    placed: set[Hashable] = set()
    out = []
    for _, _, r in pins:
        what = _rule_style(r, styles) if r.match == "style" else ("sku", r.product_id)
        if r.slot in slots or what in placed:
            continue
        slots.add(r.slot)
        placed.add(what)
        out.append(r)
    return out


def winning_pins(source: ProductCard | None, rules: Sequence[Rule], *, now: datetime | None = None,
                 styles: Styles | None = None) -> dict[int, Rule]:
    """slot → the pin that holds it, after precedence (see the module docstring)."""
    return {r.slot: r for r in _pins_in_order(source, rules, now, styles or {})}


def merchandise(source: ProductCard | None, ranked: Sequence[Recommendation], rules: Sequence[Rule], n: int,
                fetch_product: FetchProduct | None = None, *, now: datetime | None = None,
                styles: Styles | None = None) -> tuple[list[Recommendation], set[int]]:
    """apply_rules, and the ids of the products placed by a pin (the reranker marks them "featured": with a
    style pin that may be another variant than the rule names)."""
    if n < 0:
        raise ValidationError(f"n must not be negative, got {n}")
    for r in rules:
        r.validate()
    now = now or utc_now()
    # What the caller knows of the rules' products wins; the pool tells the rest.
    known = {rec.product.id: rec.product.group_key for rec in ranked}
    known.update(styles or {})
    hidden = hider(source, rules, now=now, styles=known)
    src_id = source.id if source is not None else None
    base: list[Recommendation] = []
    seen: set[int] = set()
    for rec in ranked:
        pid = rec.product.id
        if hidden(rec.product) or pid == src_id or pid in seen:
            continue
        seen.add(pid)
        base.append(rec)
    by_id = {rec.product.id: rec for rec in base}
    pinned: list[tuple[int, Recommendation]] = []
    used: set[int] = set()
    for rule in _pins_in_order(source, rules, now, known):
        rec = None
        if rule.match == "style":
            style = _rule_style(rule, known)
            rec = next((c for c in base if style_key(c.product) == style and c.product.id not in used), None)
        if rec is None and rule.product_id not in used:
            rec = by_id.get(rule.product_id) or _fetched(rule.product_id, fetch_product, hidden, src_id)
        if rec is not None:
            used.add(rec.product.id)
            pinned.append((rule.slot, rec))
    out = [rec for rec in base if rec.product.id not in used]
    for slot, rec in sorted(pinned, key=lambda t: t[0]):  # ascending slots: each insert lands on its slot
        out.insert(min(slot - 1, len(out)), rec)
    return [copied(rec, rank=i + 1) for i, rec in enumerate(out[:n])], used


def _fetched(pid: int, fetch_product: FetchProduct | None, hidden: Callable[[ProductCard], bool],
             src_id: int | None) -> Recommendation | None:
    """A pinned product from outside the pool; a fetcher must not smuggle in another or a hidden product."""
    got = fetch_product(pid) if fetch_product is not None else None
    rec = Recommendation(product=got, score=0.0, vector="pinned") if isinstance(got, ProductCard) else got
    if not isinstance(rec, Recommendation) or rec.product.id != pid or pid == src_id or hidden(rec.product):
        return None
    return rec


def apply_rules(source: ProductCard | None, ranked: Sequence[Recommendation], rules: Sequence[Rule], n: int,
                fetch_product: FetchProduct | None = None, *, now: datetime | None = None,
                styles: Styles | None = None) -> list[Recommendation]:
    """The first n results after hides and pins in force at `now` (default: the current UTC time); ranks
    renumbered from 1.

    `ranked` should be the whole ordered pool, not just the top n, so hides can be backfilled and pinned
    candidates found. A pinned product missing from the pool is asked of fetch_product (a card or a ready
    recommendation); when there is none, or it returns None, the pin is skipped."""
    return merchandise(source, ranked, rules, n, fetch_product, now=now, styles=styles)[0]
