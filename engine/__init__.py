"""Vitrina: a vector recommendation engine for online marketplaces.

The public API: build a `Runtime` from settings (environment variables, or a `Settings`), then ask it for a
`Recommender` ranking with the live config or any other one::

    from engine import Filters, Runtime

    rt = Runtime.from_config("config.yaml")     # or Runtime() for the settings' config
    rec = rt.recommender()
    items = rec.similar("MJ01-Red", n=12, filters=Filters(price_max=60))
"""
from engine.errors import ConfigError, EncoderMismatch, InvalidImage, NotFound, ValidationError, VitrinaError
from engine.recommend.config import RecoConfig
from engine.recommend.facade import Recommender
from engine.runtime import Runtime, shared
from engine.settings import Settings
from engine.types import Filters, ProductCard, Recommendation

__all__ = ["ConfigError", "EncoderMismatch", "Filters", "InvalidImage", "NotFound", "ProductCard", "Recommendation",
           "RecoConfig", "Recommender", "Runtime", "Settings", "ValidationError", "VitrinaError", "shared"]
