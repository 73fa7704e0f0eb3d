"""Edits of a config — strategies, diversity, rules, the complete-the-look map — each returning a validated
copy (ConfigError lists every problem, the original is untouched); and the export / import of the document."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from engine.catalog.queries import Catalog
from engine.errors import ConfigError, NotFound, ValidationError
from engine.recommend.boosts import Boost
from engine.recommend.config import DiversityConfig, RecoConfig, load
from engine.recommend.looks import rows_to_mapping
from engine.recommend.rerank import Strategy
from engine.recommend.rules import Rule, parse_scope



FACTOR_HELP: dict[str, str] = {
    "similarity": "Vector similarity to the source: how alike the two products look and read.",
    "category": "1 in the source's leaf category, 0.5 in its parent, 0.25 in its top-level category.",
    "price": "Closeness in price, whichever way: twice or half the price scores 0.5.",
    "price_up": "Upsell: pricier than the source, up to the price band, scores highest.",
    "stock": "0 out of stock, rising with the units in stock.",
    "freshness": "New products first: halves every freshness half-life.",
    "popularity": "Time-decayed shopper events (views, carts, purchases), relative to the candidates.",
    "margin": "(price − cost) / price, where the catalog has costs.",
    "same_brand": "1 for the source's own brand.",
}


def _weights(weights: Mapping[str, Any]) -> dict[str, Any]:
    """Zero weights are left out (they change nothing); numbers become floats, anything else is kept for the
    validation to report."""
    out = {}
    for f, w in weights.items():
        number = isinstance(w, (int, float)) and not isinstance(w, bool)
        if number and w == 0:
            continue
        out[f] = float(w) if number else w
    return out


def with_strategy(config: RecoConfig, name: str, weights: Mapping[str, float], mmr_lambda: float | None = None,
                  collapse_k: int | None = None, *, description: str | None = None,
                  make_default: bool = False) -> RecoConfig:
    """A copy of `config` where strategy `name` (created or replaced) has `weights`, the diversity settings
    are `mmr_lambda` / `collapse_k` (None: off), and, with make_default, `name` is the default strategy.
    ConfigError lists every problem; `config` itself is never changed."""
    old = config.strategies.get(name)
    text = description if description is not None else (old.description if old is not None else "")
    strategies = dict(config.strategies)
    strategies[name] = Strategy(name, _weights(weights), text)
    diversity = DiversityConfig(None if mmr_lambda is None else float(mmr_lambda), collapse_k)
    out = replace(config, strategies=strategies, diversity=diversity,
                  default_strategy=name if make_default else config.default_strategy)
    return out.validate()


def with_default_strategy(config: RecoConfig, name: str) -> RecoConfig:
    config.strategy(name)
    return replace(config, default_strategy=name).validate()


SCOPE_KINDS = ("everywhere", "category", "product")  # the kinds the Rules page labels today
SCOPE_CHOICES = ("everywhere", "category", "brand", "product")  # every kind scope_text makes


def scope_text(kind: str, ref: int | str | None = None) -> str:
    """The rule or boost scope for "everywhere", "category" (ref: category id), "brand" (ref: the brand name)
    or "product" (ref: product id)."""
    if kind == "everywhere":
        return "global"
    if kind == "brand":
        if not isinstance(ref, str) or not ref.strip():
            raise ValidationError(f"a brand scope needs a brand name, got {ref!r}")
        return f"brand:{ref.strip()}"
    if kind in ("category", "product"):
        if isinstance(ref, bool) or not isinstance(ref, int):
            raise ValidationError(f"a {kind} scope needs a {kind} id, got {ref!r}")
        return f"{kind}:{ref}"
    raise ValidationError(f"unknown scope {kind!r}: use one of {', '.join(SCOPE_CHOICES)}")


def describe_scope(scope: str, catalog: Catalog) -> str:
    """A scope as people read it: everywhere, brand Luma, category Men / Tops, product MH01-Black."""
    kind, ref = parse_scope(scope)
    if kind == "global":
        return "everywhere"
    if kind == "brand":
        return f"brand {ref}"
    try:
        if kind == "category":
            return f"category {catalog.category(ref).label}"
        return f"product {catalog.get(ref).sku}"
    except NotFound:
        return f"{kind} {ref} (no longer in the catalog)"


def _next_id(used: set[str], prefix: str) -> str:
    """The first free `<prefix>-N`, counting from 1."""
    i = 1
    while f"{prefix}-{i}" in used:
        i += 1
    return f"{prefix}-{i}"


def next_rule_id(config: RecoConfig, action: str) -> str:
    return _next_id({r.id for r in config.rules}, action)


def _when(t: str | datetime | None) -> str | None:
    """A window edge as the document writes it (ISO 8601 text); text is kept for the validation to judge."""
    return t.isoformat() if isinstance(t, datetime) else t


def with_rule(config: RecoConfig, action: str, product_id: int, slot: int | None = None, scope: str = "global",
              note: str = "", *, match: str = "style", starts: str | datetime | None = None,
              ends: str | datetime | None = None) -> RecoConfig:
    """A copy of `config` with one more rule (its id made up from the action): per style (every variant of
    the product's style) unless match="sku", acting between `starts` and `ends` when given (naive = UTC).
    ConfigError lists every problem (a slot already pinned in that scope, a repeated rule, a hide with a
    slot, an end before the start...)."""
    rule = Rule(next_rule_id(config, action), action, product_id, slot, scope, note, match, _when(starts),
                _when(ends))
    return replace(config, rules=list(config.rules) + [rule]).validate()


def without_rules(config: RecoConfig, ids: Iterable[str]) -> RecoConfig:
    gone = set(ids)
    unknown = gone - {r.id for r in config.rules}
    if unknown:
        raise NotFound(f"no rule with id {', '.join(sorted(unknown))}")
    return replace(config, rules=[r for r in config.rules if r.id not in gone]).validate()


def with_boost(config: RecoConfig, condition: str, value: Any, strength: float, *, scope: str = "global",
               starts: str | datetime | None = None, ends: str | datetime | None = None,
               note: str = "") -> RecoConfig:
    """A copy of `config` with one more boost (strength > 0, id boost-N) or bury (strength < 0, id bury-N) of
    the candidates meeting one condition (engine.recommend.boosts.CONDITIONS; a single name is a list of
    one for brand_in / colour_in). ConfigError lists every problem, with its path."""
    if condition in ("brand_in", "colour_in") and not isinstance(value, list):
        value = [value] if isinstance(value, str) else list(value)
    number = isinstance(strength, (int, float)) and not isinstance(strength, bool)
    prefix = "bury" if number and strength < 0 else "boost"
    boost = Boost(_next_id({b.id for b in config.boosts}, prefix), {condition: value}, float(strength) if number else strength, scope,
                  _when(starts), _when(ends), note)
    return replace(config, boosts=list(config.boosts) + [boost]).validate()


def without_boosts(config: RecoConfig, ids: Iterable[str]) -> RecoConfig:
    gone = set(ids)
    unknown = gone - {b.id for b in config.boosts}
    if unknown:
        raise NotFound(f"no boost with id {', '.join(sorted(unknown))}")
    return replace(config, boosts=[b for b in config.boosts if b.id not in gone]).validate()


@dataclass
class RuleStatus:
    """Whether a rule or a boost acts now, and why not in words, for the Rules page to grey it out."""

    id: str
    kind: str  # "rule" or "boost"
    active: bool
    why: str  # "active", "active until 2026-12-24 18:00 UTC", "starts ...", "ended ...", "product no longer ..."


def rule_status(config: RecoConfig, catalog: Catalog, now: datetime | None = None) -> list[RuleStatus]:
    """One status per rule, then per boost, in the config's order, at `now` (default: the current UTC time).
    A rule whose product the catalog no longer holds does nothing, whatever its window."""
    now = now or datetime.now(timezone.utc)
    ids = {r.product_id for r in config.rules}
    known = set(catalog.existing(ids)) if ids else set()
    out = []
    for r in config.rules:
        active, why = r.status(now) if r.product_id in known else (False, "product no longer in the catalog")
        out.append(RuleStatus(r.id, "rule", active, why))
    for b in config.boosts:
        out.append(RuleStatus(b.id, "boost", *b.status(now)))
    return out


def with_look_map(config: RecoConfig, rows: Iterable[Mapping[str, Any]], known_paths: Iterable[str] | None = None,
                  known_ids: Iterable[int] = ()) -> RecoConfig:
    """A copy of `config` with the complete-the-look map the editor rows describe; ConfigError lists every bad
    row and nothing is applied."""
    mapping = rows_to_mapping(rows, known_paths, known_ids)
    return replace(config, complementary=mapping).validate()


# ---------------------------------------------------------------- export and history

def unknown_rule_products(config: RecoConfig, catalog: Catalog) -> list[str]:
    """The rules whose product the catalog does not hold (removed since the rule was made, or a typo), with
    their paths: such a pin or hide does nothing, so it is reported wherever a config is taken in."""
    ids = {r.product_id for r in config.rules}
    known = set(catalog.existing(ids)) if ids else set()
    return [f"$.rules[{i}].product_id: no product with id {r.product_id} in the catalog (rule {r.id})"
            for i, r in enumerate(config.rules) if r.product_id not in known]


def import_config(data: bytes, catalog: Catalog | None = None) -> RecoConfig:
    """A config from an uploaded file: a fully valid config, or ConfigError listing every problem — with a
    catalog, rules naming products it does not hold are problems too. Always read as a document (bytes),
    never as a path, whatever the file holds."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("config file cannot be read", [f"not UTF-8 text: {e}"]) from None
    config = load(bytes(data))
    unknown = unknown_rule_products(config, catalog) if catalog is not None else []
    if unknown:
        raise ConfigError("config names products the catalog does not hold", unknown)
    return config
