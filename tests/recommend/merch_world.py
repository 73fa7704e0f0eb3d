"""A small real catalog for the merchandising tests: fourteen tees and tops and three shorts written as a
generic CSV, imported into SQLite and indexed (USE text, photo descriptor, embedded Qdrant) once per test
session in its own temporary data folder. Unlike the Luma catalog it holds what boosts and rules read:
costs, brands, stock levels, creation dates (relative to today) and styles in several colours.

Imported by name (pytest.ini puts tests/recommend on the path) by test_boosts, test_rules_v2,
test_config_v2 and tests/merchandising/test_rules_edits."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.catalog.importers.generic import import_generic
from engine.recommend.config import DiversityConfig, RecoConfig
from engine.recommend.facade import Recommender
from engine.runtime import Runtime
from engine.settings import Settings
from engine.types import Filters, ProductCard, Recommendation

TEES = "Women > Tops > Tees"
SHORTS = "Women > Bottoms > Shorts"  # for complete the look; no boost condition of the tests matches them
# sku, title, price, cost, stock, colour, brand, group, age in days[, category]
PRODUCTS = [
    ("SRC", "Classic white cotton tee", 20, 10, 30, "White", "Acme", "SRC", 400),
    ("TEE-RED", "Striped cotton tee in red", 22, 11, 40, "Red", "Acme", "TEE", 400),
    ("TEE-BLU", "Striped cotton tee in blue", 22, 11, 3, "Blue", "Acme", "TEE", 400),
    ("TEE-GRN", "Striped cotton tee in green", 22, 11, 40, "Green", "Acme", "TEE", 400),
    ("POLO-1", "Cotton polo shirt", 30, 5, 50, "Black", "Zeta", "", 400),
    ("TANK-1", "Cotton tank top", 15, 6, 1, "Black", "Zeta", "", 2),
    ("VNECK-1", "V-neck cotton tee", 18, None, 25, "Navy", "Nova", "", 400),
    ("LONG-1", "Long sleeve cotton tee", 28, 25, 60, "Grey", "Nova", "", 5),
    ("CROP-1", "Cropped cotton tee", 16, 8, 2, "Red", "ACME", "", 400),
    ("HENLEY-1", "Cotton henley shirt", 26, 9, 35, "White", "Zeta", "", 400),
    ("RAGLAN-1", "Raglan cotton tee", 19, 12, 45, "Grey", "Nova", "", 30),
    ("POCKET-1", "Pocket cotton tee", 21, 4, 20, "Green", "Zeta", "", 400),
    ("SLUB-1", "Slub cotton tee", 24, 20, 15, "Blue", "Nova", "", 1),
    ("BOXY-1", "Boxy cotton tee", 23, 14, 4, "White", "Acme", "", 400),
    ("SHORTS-BLK", "Denim shorts in black", 35, None, 50, "Black", "Umber", "SHORTS", 400, SHORTS),
    ("SHORTS-BRN", "Denim shorts in brown", 35, None, 50, "Brown", "Umber", "SHORTS", 400, SHORTS),
    ("CARGO-1", "Cargo shorts", 38, None, 50, "Brown", "Umber", "", 400, SHORTS),
]
N = 20  # longer than the catalog: every candidate of a list shows


@dataclass
class MerchWorld:
    runtime: Runtime
    built_at: datetime

    def card(self, sku: str) -> ProductCard:
        return self.runtime.catalog.card(self.runtime.catalog.get(sku))

    def id(self, sku: str) -> int:
        return self.card(sku).id

    def recommender(self, config: RecoConfig) -> Recommender:
        return self.runtime.recommender(config)

    def similar(self, config: RecoConfig, sku: str = "SRC", filters: Filters | None = None) -> list[Recommendation]:
        return self.recommender(config).similar(sku, by="text", n=N, filters=filters)


def plain_config(**changes) -> RecoConfig:
    """Pure vector order, no variant collapse, no MMR: a list in which only the merchandising moves things."""
    base = replace(RecoConfig.default(), default_strategy="relevance",
                   diversity=DiversityConfig(mmr_lambda=None, collapse_k=None))
    return replace(base, **changes).validate()


def skus(recs: list[Recommendation]) -> list[str]:
    return [r.product.sku for r in recs]


def _csv(now: datetime) -> str:
    lines = ["sku,title,price,cost,stock,colour,brand,category,group,created_at"]
    for sku, title, price, cost, stock, colour, brand, group, age, *category in PRODUCTS:
        created = (now - timedelta(days=age)).replace(microsecond=0).isoformat()
        lines.append(f"{sku},{title},{price},{'' if cost is None else cost},{stock},{colour},{brand},"
                     f"{category[0] if category else TEES},{group},{created}")
    return "\n".join(lines) + "\n"


_WORLD: MerchWorld | None = None


def merch_world(tmp_path_factory) -> MerchWorld:
    """Import and index the small catalog once per session (a few seconds)."""
    global _WORLD
    if _WORLD is None:
        settings = Settings()
        settings.data_dir = Path(tmp_path_factory.mktemp("merch-world"))
        settings.database_url = settings.qdrant_url = settings.redis_url = ""
        settings.text_encoder, settings.image_encoder = "use", "descriptor"
        rt = Runtime(settings)
        now = datetime.now(timezone.utc)
        report = import_generic(rt.db, _csv(now).encode("utf-8"), "merch.csv")
        assert not report.rejected, report.rejected
        indexed = rt.indexer.run()
        assert indexed.encoded == len(PRODUCTS) and not indexed.errors, indexed.errors[:3]
        _WORLD = MerchWorld(rt, now)
    return _WORLD
