"""Every setting in one place, read from environment variables with embedded defaults.

The README's settings table is checked against `SETTINGS` by a test, so the two cannot drift apart.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from engine.errors import ValidationError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: list[Setting] = [
    Setting("VITRINA_DATA_DIR", str(ROOT / "data"), "Folder for the SQLite file, the embedded Qdrant shard and exports."),
    Setting("DATABASE_URL", "", "SQLAlchemy URL of the catalog and event database; empty = SQLite file in the data folder."),
    Setting("QDRANT_URL", "", "Qdrant server or cluster URL; empty = embedded Qdrant engine (qdrant-edge) in the data folder."),
    Setting("QDRANT_API_KEY", "", "API key for QDRANT_URL."),
    Setting("QDRANT_COLLECTION", "vitrina_products", "Collection name on the Qdrant server."),
    Setting("REDIS_URL", "", "Redis URL for the recommendation cache; empty = in-process TTL cache."),
    Setting("VITRINA_CATALOG_DIR", str(ROOT.parent / "shared" / "datasets" / "magento-luma"), "Magento Luma sample-data folder used as the demo catalog."),
    Setting("VITRINA_MEDIA_ROOTS", "", "Extra folders, separated by `os.pathsep` (`:` on Linux), where catalog photos may live besides the imported file's folder, the catalog folder and the data folder."),
    Setting("VITRINA_TEXT_ENCODER", "use", "Text encoder: `use` (multilingual USE, offline), or `st:<model name or path>` for sentence-transformers."),
    Setting("VITRINA_IMAGE_ENCODER", "auto", "Image encoder: `auto` (CLIP where its weights load, else the descriptor), `descriptor`, or `clip:<arch>:<pretrained tag or checkpoint path>`."),
    Setting("VITRINA_TEXT_WEIGHT", "0.5", "Weight w of text similarity in the combined vector (image gets 1-w)."),
    Setting("VITRINA_MAX_UPLOAD_MB", "20", "Largest accepted image upload, in megabytes."),
    Setting("VITRINA_MAX_PIXELS", "40000000", "Largest accepted image, in pixels (decompression-bomb guard)."),
    Setting("VITRINA_MAX_RESULTS", "200", "Largest n a recommendation call accepts."),
    Setting("VITRINA_MAX_QUERY_CHARS", "2000", "Longest accepted text query, in characters."),
    Setting("VITRINA_BATCH_SIZE", "64", "Indexing batch size."),
    Setting("VITRINA_CACHE_TTL", "300", "Recommendation cache time-to-live, in seconds."),
    Setting("VITRINA_MAX_CONFIG_KB", "2048", "Largest config document (YAML) accepted, in kilobytes."),
    Setting("VITRINA_MAX_DOCUMENT_DEPTH", "64", "Deepest nesting accepted in a YAML config or a JSON line of an imported file, in levels."),
    Setting("VITRINA_MAX_YAML_ALIASES", "100", "Most alias references a YAML config may expand to (billion-laughs guard)."),
    Setting("VITRINA_MAX_DECOMPRESSED_MB", "512", "Largest size a gzip upload may decompress to, in megabytes (gzip-bomb guard)."),
    Setting("VITRINA_MAX_PRICE", "1000000000", "Largest price or cost a catalog import accepts (a typo of a few zeros is a rejected row, not a product)."),
    Setting("VITRINA_HEADER_TIMEOUT", "10", "Seconds an HTTP request's line and headers may take to arrive (408 after)."),
    Setting("VITRINA_BODY_TIMEOUT", "20", "Seconds an HTTP request's whole body may take to arrive after its headers (408 after)."),
    Setting("VITRINA_KEEP_ALIVE", "5", "Seconds an idle HTTP keep-alive connection is kept open."),
    Setting("VITRINA_API_PORT", "8000", "Port of the HTTP API the console serves beside itself (it owns the embedded store); 0 = no API."),
]


def _get(name: str) -> str:
    for s in SETTINGS:
        if s.env == name:
            return os.environ.get(name, s.default)
    raise KeyError(name)


def _num(name: str, cast=float, lo: float | None = None, hi: float | None = None):
    raw = _get(name)
    try:
        v = cast(float(raw)) if cast is int else cast(raw)
    except ValueError:
        raise ValidationError(f"setting {name} must be a number, got {raw!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi) or v != v:
        raise ValidationError(f"setting {name} must be within [{lo}, {hi}], got {raw!r}")
    return v


def _paths(name: str) -> tuple[Path, ...]:
    """A list of folders separated by os.pathsep, as PATH is; empty pieces (a trailing separator) are no folder,
    not the current one, so that a stray separator cannot make the working directory a media root."""
    return tuple(Path(p) for p in _get(name).split(os.pathsep) if p.strip())


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_get("VITRINA_DATA_DIR")))
    database_url: str = field(default_factory=lambda: _get("DATABASE_URL"))
    qdrant_url: str = field(default_factory=lambda: _get("QDRANT_URL"))
    qdrant_api_key: str = field(default_factory=lambda: _get("QDRANT_API_KEY"))
    qdrant_collection: str = field(default_factory=lambda: _get("QDRANT_COLLECTION"))
    redis_url: str = field(default_factory=lambda: _get("REDIS_URL"))
    catalog_dir: Path = field(default_factory=lambda: Path(_get("VITRINA_CATALOG_DIR")))
    media_roots: tuple[Path, ...] = field(default_factory=lambda: _paths("VITRINA_MEDIA_ROOTS"))
    text_encoder: str = field(default_factory=lambda: _get("VITRINA_TEXT_ENCODER"))
    image_encoder: str = field(default_factory=lambda: _get("VITRINA_IMAGE_ENCODER"))
    text_weight: float = field(default_factory=lambda: _num("VITRINA_TEXT_WEIGHT", float, 0.0, 1.0))
    max_upload_bytes: int = field(default_factory=lambda: int(_num("VITRINA_MAX_UPLOAD_MB", float, 0.001) * 1024 * 1024))
    max_pixels: int = field(default_factory=lambda: _num("VITRINA_MAX_PIXELS", int, 1))
    max_results: int = field(default_factory=lambda: _num("VITRINA_MAX_RESULTS", int, 1))
    max_query_chars: int = field(default_factory=lambda: _num("VITRINA_MAX_QUERY_CHARS", int, 1))
    batch_size: int = field(default_factory=lambda: _num("VITRINA_BATCH_SIZE", int, 1))
    cache_ttl: float = field(default_factory=lambda: _num("VITRINA_CACHE_TTL", float, 0.0))
    max_document_depth: int = field(default_factory=lambda: _num("VITRINA_MAX_DOCUMENT_DEPTH", int, 1, 10000))
    max_yaml_aliases: int = field(default_factory=lambda: _num("VITRINA_MAX_YAML_ALIASES", int, 0))
    max_decompressed_bytes: int = field(
        default_factory=lambda: int(_num("VITRINA_MAX_DECOMPRESSED_MB", float, 0.001) * 1024 * 1024))
    api_port: int = field(default_factory=lambda: _num("VITRINA_API_PORT", int, 0, 65535))
    max_config_bytes: int = field(default_factory=lambda: int(_num("VITRINA_MAX_CONFIG_KB", float, 1) * 1024))
    header_timeout: float = field(default_factory=lambda: _num("VITRINA_HEADER_TIMEOUT", float, 0.1, 3600))
    body_timeout: float = field(default_factory=lambda: _num("VITRINA_BODY_TIMEOUT", float, 0.1, 3600))
    keep_alive: int = field(default_factory=lambda: _num("VITRINA_KEEP_ALIVE", int, 1, 3600))
    max_price: float = field(default_factory=lambda: _num("VITRINA_MAX_PRICE", float, 0.01))

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'vitrina.db'}"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    def as_dict(self) -> dict:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}
