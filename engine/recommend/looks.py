"""Complete the look: for a product, the best items of its complementary categories (a top → bottoms, a
bag, a watch).

The map is keyed by category path ("Men/Tops"), not id, so it survives a re-import that renumbers
categories. A source uses the entry of its deepest mapped category: "Men/Tops/Jackets" overrides "Men/Tops"
for jackets, and every other top falls back to "Men/Tops". The console edits the map as flat rows
(st.data_editor); rows and mapping convert into each other without loss."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from engine.errors import ConfigError
from engine.recommend.boosts import Boost
from engine.recommend.rerank import FactorParams, Strategy, rerank
from engine.recommend.rules import Rule
from engine.types import ProductCard, Recommendation

MAX_ITEMS_LIMIT = 20
ROW_COLUMNS = ("category", "complementary", "relation", "max_items")


@dataclass(frozen=True)
class ComplementaryTarget:
    """One complementary category of a source category, and how many of its items a look shows."""

    category: str  # path ("Gear/Bags") or, in hand-written configs, a category id as text
    relation: str  # what the item is to the source: bottom, top, layer, bag, accessories, equipment...
    max_items: int = 1


ComplementaryMap = dict[str, list[ComplementaryTarget]]


def _t(category: str, relation: str, max_items: int = 1) -> ComplementaryTarget:
    return ComplementaryTarget(category, relation, max_items)


# The Luma demo catalog: tops ↔ bottoms (its "related" links), apparel → gear (its cross-sells).
DEFAULT_COMPLEMENTARY: ComplementaryMap = {
    "Men/Tops": [_t("Men/Bottoms", "bottom", 2), _t("Men/Tops/Jackets", "layer"), _t("Gear/Bags", "bag"),
                 _t("Gear/Watches", "accessories")],
    "Men/Tops/Jackets": [_t("Men/Tops/Tees", "top"), _t("Men/Bottoms", "bottom", 2), _t("Gear/Bags", "bag"),
                         _t("Gear/Watches", "accessories")],
    "Men/Bottoms": [_t("Men/Tops", "top", 2), _t("Men/Tops/Jackets", "layer"), _t("Gear/Bags", "bag"),
                    _t("Gear/Fitness Equipment", "equipment")],
    "Women/Tops": [_t("Women/Bottoms", "bottom", 2), _t("Women/Tops/Jackets", "layer"), _t("Gear/Bags", "bag"),
                   _t("Gear/Watches", "accessories")],
    "Women/Tops/Jackets": [_t("Women/Tops/Tees", "top"), _t("Women/Bottoms", "bottom", 2),
                           _t("Gear/Bags", "bag"), _t("Gear/Watches", "accessories")],
    "Women/Bottoms": [_t("Women/Tops", "top", 2), _t("Women/Tops/Jackets", "layer"), _t("Gear/Bags", "bag"),
                      _t("Gear/Fitness Equipment", "equipment")],
    "Gear/Bags": [_t("Gear/Watches", "accessories"), _t("Gear/Fitness Equipment", "equipment")],
    "Gear/Watches": [_t("Gear/Bags", "bag"), _t("Gear/Fitness Equipment", "equipment")],
    "Gear/Fitness Equipment": [_t("Gear/Bags", "bag"), _t("Gear/Watches", "accessories")],
}

RELATION_LABELS: dict[str, dict[str, str]] = {
    "bottom": {"en": "bottom", "ru": "низ", "tr": "alt giyim"},
    "top": {"en": "top", "ru": "верх", "tr": "üst giyim"},
    "layer": {"en": "layer", "ru": "верхний слой", "tr": "katman"},
    "bag": {"en": "bag", "ru": "сумка", "tr": "çanta"},
    "accessories": {"en": "accessories", "ru": "аксессуары", "tr": "aksesuar"},
    "equipment": {"en": "equipment", "ru": "снаряжение", "tr": "ekipman"},
}

# A look item should sit in the source's price band, be liked by shoppers and still suit the source's style.
LOOK_STRATEGY = Strategy("look", {"price": 0.35, "similarity": 0.3, "popularity": 0.25, "stock": 0.1},
                         "Complete the look: price band, style match, popularity, availability.")


def relation_label(relation: str, lang: str = "en") -> str:
    """A relation as a shopper reads it; unknown relations (merchant-defined) are shown as written."""
    return RELATION_LABELS.get(relation, {}).get(lang, relation)


def normalise_path(path: str) -> str:
    """'Men / Tops / Jackets' (display form) and 'Men/Tops/Jackets' (catalog key) are the same category."""
    return "/".join(p.strip() for p in str(path).split("/") if p.strip())


def _key(path: str) -> str:
    return normalise_path(path).casefold()


# ---------------------------------------------------------------- rows ↔ mapping

def mapping_to_rows(mapping: Mapping[str, Sequence[ComplementaryTarget]]) -> list[dict[str, Any]]:
    """Flat rows for st.data_editor, in the mapping's order."""
    return [{"category": cat, "complementary": t.category, "relation": t.relation, "max_items": t.max_items}
            for cat, targets in mapping.items() for t in targets]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    return None


def validate_rows(rows: Iterable[Mapping[str, Any]], known_paths: Iterable[str] | None = None,
                  known_ids: Iterable[int] = ()) -> tuple[ComplementaryMap, list[str]]:
    """The mapping the rows describe, and every problem found (row numbers are 1-based, as shown).

    With known_paths, categories must exist in the catalog (compared without regard to case or spaces around
    '/', and written back in the catalog's spelling); a category id is accepted when it is in known_ids.
    Rows left entirely blank (a fresh data_editor line) are ignored."""
    canon = {_key(p): normalise_path(p) for p in known_paths} if known_paths is not None else None
    ids = {str(i) for i in known_ids}
    mapping: ComplementaryMap = {}
    errors: list[str] = []
    seen: set[tuple[str, str]] = set()

    def resolve(value: Any, column: str, where: str) -> str | None:
        if _blank(value):
            errors.append(f"{where}: {column} is empty")
            return None
        path = normalise_path(str(value))
        if canon is None:
            return path
        if path in ids:
            return path
        if _key(path) not in canon:
            errors.append(f"{where}: unknown {'category' if column == 'category' else 'complementary category'} "
                          f"{path!r}")
            return None
        return canon[_key(path)]

    for i, row in enumerate(rows, start=1):
        if all(_blank(row.get(c)) for c in ROW_COLUMNS):
            continue
        where = f"row {i}"
        cat = resolve(row.get("category"), "category", where)
        comp = resolve(row.get("complementary"), "complementary", where)
        relation = row.get("relation")
        if _blank(relation) or not isinstance(relation, str):
            errors.append(f"{where}: relation is empty")
            relation = None
        max_items = _as_int(row.get("max_items", 1) if not _blank(row.get("max_items")) else 1)
        if max_items is None or not 1 <= max_items <= MAX_ITEMS_LIMIT:
            errors.append(f"{where}: max_items must be an integer from 1 to {MAX_ITEMS_LIMIT}, "
                          f"got {row.get('max_items')!r}")
            max_items = None
        if cat and comp:
            if _key(cat) == _key(comp):
                errors.append(f"{where}: {cat!r} cannot complement itself")
                continue
            pair = (_key(cat), _key(comp))
            if pair in seen:
                errors.append(f"{where}: {cat!r} → {comp!r} is listed twice")
                continue
            seen.add(pair)
        if cat and comp and relation and max_items:
            mapping.setdefault(cat, []).append(ComplementaryTarget(comp, relation.strip(), max_items))
    return mapping, errors


def rows_to_mapping(rows: Iterable[Mapping[str, Any]], known_paths: Iterable[str] | None = None,
                    known_ids: Iterable[int] = ()) -> ComplementaryMap:
    """The mapping for the config, or ConfigError listing every bad row (nothing half-applied)."""
    mapping, errors = validate_rows(rows, known_paths, known_ids)
    if errors:
        raise ConfigError("the complete-the-look map is invalid", errors)
    return mapping


# ---------------------------------------------------------------- selection

def targets_for(source: ProductCard, mapping: Mapping[str, Sequence[ComplementaryTarget]]
                ) -> list[ComplementaryTarget]:
    """The targets of the deepest mapped category of the source (by path, or by id for id keys)."""
    path = normalise_path(source.category_path) if source.category_path else ""
    segments = path.casefold().split("/") if path else []
    chain = list(source.category_ids) or ([source.category_id] if source.category_id is not None else [])
    best: tuple[int, list[ComplementaryTarget]] | None = None
    for key, targets in mapping.items():
        k = normalise_path(key)
        depth = 0
        if k.isdigit():
            if int(k) in chain:
                depth = len(chain) - chain.index(int(k))
        else:
            ks = k.casefold().split("/")
            if segments[:len(ks)] == ks:
                depth = len(ks)
        if depth and (best is None or depth > best[0]):
            best = (depth, list(targets))
    return best[1] if best else []


def _as_mapping(rows_or_map: Mapping[str, Sequence[ComplementaryTarget]] | Iterable[Mapping[str, Any]]
                ) -> Mapping[str, Sequence[ComplementaryTarget]]:
    if isinstance(rows_or_map, Mapping):
        return rows_or_map
    return rows_to_mapping(rows_or_map)


def complete_the_look(source: ProductCard,
                      complementary_rows: Mapping[str, Sequence[ComplementaryTarget]] | Iterable[Mapping[str, Any]],
                      candidates_by_category: Mapping[str, Sequence[Recommendation]],
                      n_per_relation: int | None = None, *, strategy: Strategy = LOOK_STRATEGY,
                      rules: Sequence[Rule] = (), lang: str | None = None, params: FactorParams | None = None,
                      now: datetime | None = None, boosts: Sequence[Boost] = ()) -> list[Recommendation]:
    """The look for a source: per target of its category, in map order, the best
    min(max_items, n_per_relation) candidates of that category, each tagged with its relation.

    candidates_by_category holds, per target category (as written in the map), the vector hits filtered to
    it, with `similarity` = cosine to the source. Left out: the source, its other variants (same group:
    a look never suggests the same shirt in blue), items already used by an earlier relation, and products
    hidden by the rules. Boosts and buries reorder each relation's candidates. Only one variant per style is
    shown. Ranks run 1..N across the whole look."""
    mapping = _as_mapping(complementary_rows)
    by_key = {_key(k): v for k, v in candidates_by_category.items()}
    hides = [r for r in rules if r.action == "hide"]
    used: set[int] = {source.id}
    out: list[Recommendation] = []
    for target in targets_for(source, mapping):
        count = target.max_items if n_per_relation is None else min(target.max_items, n_per_relation)
        if count < 1:
            continue
        cands = [c for c in by_key.get(_key(target.category), [])
                 if c.product.id not in used
                 and not (source.group_key and c.product.group_key == source.group_key)]
        if not cands:
            continue
        picked = rerank(source, cands, strategy, count, collapse_k=1, rules=hides, lang=lang, params=params,
                        now=now, boosts=boosts)
        for rec in picked:
            used.add(rec.product.id)
            out.append(replace(rec, relation=target.relation))
    return [replace(rec, rank=i + 1) for i, rec in enumerate(out)]
