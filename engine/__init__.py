"""Vitrina: a vector recommendation engine for online marketplaces.

The public API: build a `Runtime` from settings (environment variables, or a `Settings`), then ask it for a
`Recommender` ranking with the live config or any other one::

    from engine import Filters, Runtime

    rt = Runtime.from_config("config.yaml")     # or Runtime() for the settings' config
    rec = rt.recommender()
    items = rec.similar("MJ01-Red", n=12, filters=Filters(price_max=60))

The names below load on first use (PEP 562): importing any `engine.<module>` first imports this package, and
`python -m engine stats` has no use for the recommender, the store or the encoders that eager re-exports would
load on every command.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time `__getattr__` resolves the same names
    from engine.errors import (
        ConfigError,
        EncoderMismatch,
        InvalidImage,
        NotFound,
        ValidationError,
        VitrinaError,
    )
    from engine.recommend.config import RecoConfig
    from engine.recommend.facade import Recommender
    from engine.runtime import Runtime, shared
    from engine.settings import Settings
    from engine.types import Filters, ProductCard, Recommendation

_EXPORTS: dict[str, str] = {
    "ConfigError": "engine.errors", "EncoderMismatch": "engine.errors", "InvalidImage": "engine.errors",
    "NotFound": "engine.errors", "ValidationError": "engine.errors", "VitrinaError": "engine.errors",
    "RecoConfig": "engine.recommend.config", "Recommender": "engine.recommend.facade",
    "Runtime": "engine.runtime", "shared": "engine.runtime", "Settings": "engine.settings",
    "Filters": "engine.types", "ProductCard": "engine.types", "Recommendation": "engine.types",
}

__all__ = ["ConfigError", "EncoderMismatch", "Filters", "InvalidImage", "NotFound", "ProductCard", "Recommendation",
           "RecoConfig", "Recommender", "Runtime", "Settings", "ValidationError", "VitrinaError", "shared"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
