"""Every setting in one place, read from environment variables with embedded defaults.

The README's settings table is checked against `SETTINGS` by a test, so the two cannot drift apart.
"""
from __future__ import annotations

import ipaddress
import os
import re
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
    Setting("VITRINA_JOB_RUNNER", "inprocess", "Who runs indexing jobs: `inprocess` (a background thread of the process that holds the store) or `celery` (`python -m engine worker` processes)."),
    Setting("CELERY_BROKER_URL", "", "Celery broker for VITRINA_JOB_RUNNER=celery; empty = REDIS_URL."),
    Setting("VITRINA_JOB_VISIBILITY_TIMEOUT", "3600", "Seconds before the batch of a worker that died (kill -9, lost host) is handed to another worker."),
    Setting("VITRINA_SYNC_HOUR", "3", "UTC hour of the nightly full sync and drift repair (Celery beat: `python -m engine worker --beat`)."),
    Setting("VITRINA_CATALOG_DIR", str(ROOT.parent / "shared" / "datasets" / "magento-luma"), "Magento Luma sample-data folder used as the demo catalog."),
    Setting("VITRINA_MEDIA_ROOTS", "", "Extra folders, separated by `os.pathsep` (`:` on Linux), where catalog photos may live besides the imported file's folder, the catalog folder and the data folder."),
    Setting("VITRINA_TEXT_ENCODER", "use", "Text encoder: `use` (multilingual USE, offline), or `st:<model name or path>` for sentence-transformers."),
    Setting("VITRINA_IMAGE_ENCODER", "auto", "Image encoder: `auto` (CLIP where its weights load, else the descriptor), `descriptor`, or `clip:<arch>:<pretrained tag or checkpoint path>`."),
    Setting("VITRINA_DEVICE", "cpu", "Where the torch encoders (CLIP, sentence-transformers) run: `cpu`, `cuda` or `cuda:<n>`; a GPU that is absent is an error, never a silent CPU fallback. USE and the descriptor always run on the CPU."),
    Setting("VITRINA_ENCODE_BATCH", "", "Items an encoder takes per forward pass; empty = each encoder's own (64 texts, 32 images). Raise it on a GPU, with VITRINA_BATCH_SIZE at least as large."),
    Setting("VITRINA_TEXT_WEIGHT", "0.5", "Weight w of text similarity in the combined vector (image gets 1-w)."),
    Setting("VITRINA_MAX_UPLOAD_MB", "20", "Largest accepted image upload, in megabytes."),
    Setting("VITRINA_MAX_PIXELS", "40000000", "Largest accepted image, in pixels (decompression-bomb guard)."),
    Setting("VITRINA_MAX_RESULTS", "200", "Largest n a recommendation call accepts."),
    Setting("VITRINA_MAX_QUERY_CHARS", "2000", "Longest accepted text query, in characters."),
    Setting("VITRINA_BATCH_SIZE", "64", "Indexing batch size."),
    Setting("VITRINA_HNSW_MIN_POINTS", "20000", "Catalogs with fewer vectors than this keep exact search (no HNSW graph is built); above it a graph is built in a background process after indexing, or with `python -m engine jobs submit build_index`."),
    Setting("VITRINA_CACHE_TTL", "300", "Recommendation cache time-to-live, in seconds."),
    Setting("VITRINA_MAX_CONFIG_KB", "2048", "Largest config document (YAML) accepted, in kilobytes."),
    Setting("VITRINA_MAX_DOCUMENT_DEPTH", "64", "Deepest nesting accepted in a YAML config or a JSON line of an imported file, in levels."),
    Setting("VITRINA_MAX_YAML_ALIASES", "100", "Most alias references a YAML config may expand to (billion-laughs guard)."),
    Setting("VITRINA_MAX_DECOMPRESSED_MB", "512", "Largest size a gzip upload may decompress to, in megabytes (gzip-bomb guard)."),
    Setting("VITRINA_MAX_PRICE", "1000000000", "Largest price or cost a catalog import accepts (a typo of a few zeros is a rejected row, not a product)."),
    Setting("VITRINA_IMPORT_ROOTS", "", "Folders, separated by `os.pathsep`, a catalog feed may be imported from by path in the console or a job; empty = the catalog folder and the data folder's `imports/`. (The CLI reads the path its user gives.)"),
    Setting("VITRINA_IMPORT_HOSTS", "", "Host names, separated by commas, whose http(s) URLs a catalog feed may be downloaded from, redirects included; empty = no URL imports."),
    Setting("VITRINA_MAX_FEED_MB", "4096", "Largest catalog feed imported from a path or URL, in megabytes (a download stops there); a gzip feed also stops at VITRINA_MAX_DECOMPRESSED_MB."),
    Setting("VITRINA_FEED_TIMEOUT", "30", "Seconds a feed download may wait to connect or for its next bytes."),
    Setting("VITRINA_FEED_DEADLINE", "3600", "Seconds a whole feed download may take."),
    Setting("VITRINA_MAX_CATALOG_UPLOAD_MB", "200", "Largest catalog file the console's uploader takes, in megabytes (an upload is held in memory; larger feeds come from a path or URL). Above 200 raise `server.maxUploadSize` in `.streamlit/config.toml` too."),
    Setting("VITRINA_HEADER_TIMEOUT", "10", "Seconds an HTTP request's line and headers may take to arrive (408 after)."),
    Setting("VITRINA_BODY_TIMEOUT", "20", "Seconds an HTTP request's whole body may take to arrive after its headers (408 after)."),
    Setting("VITRINA_KEEP_ALIVE", "5", "Seconds an idle HTTP keep-alive connection is kept open."),
    Setting("VITRINA_API_PORT", "8000", "Port of the HTTP API the console serves beside itself (it owns the embedded store); 0 = no API."),
    Setting("VITRINA_SHOP_ORIGINS", "", "Origins of shops whose pages embed `/widget.js` from another origin (`https://shop.example.com`, separated by commas): only they get CORS headers; empty = same origin only."),
    Setting("VITRINA_PREVIEW_SECRET", "", "Secret that signs the console's expiring links previewing the draft in the demo shop; empty = a random one generated once into the data folder (`preview.key`)."),
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
    except (ValueError, OverflowError):
        raise ValidationError(f"setting {name} must be a number, got {raw!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi) or v != v:
        raise ValidationError(f"setting {name} must be within [{lo}, {hi}], got {raw!r}")
    return v


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    raw = _get(name).strip().lower()
    if raw not in allowed:
        raise ValidationError(f"setting {name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


_DEVICE = re.compile(r"cpu|cuda(?::([0-9]+))?")


def parse_device(raw: str, name: str = "VITRINA_DEVICE") -> str:
    """A device string normalised ('CUDA:01 ' -> 'cuda:1'), so that spellings of one device share one loaded
    model; anything torch would read another way, or not at all ('gpu', 'cuda:-1', 'mps'), is refused by name.
    Whether the device exists is checked where a model is put on it (engine.encoders.device)."""
    value = raw.strip().lower() if isinstance(raw, str) else ""
    match = _DEVICE.fullmatch(value)
    if not match:
        raise ValidationError(f"setting {name} must be 'cpu', 'cuda' or 'cuda:<n>' (n = a GPU number from 0), "
                              f"got {raw!r}")
    return f"cuda:{int(match.group(1))}" if match.group(1) else value


def read_device() -> str:
    return parse_device(_get("VITRINA_DEVICE"))


def read_encode_batch() -> int | None:
    """None (the setting left empty) keeps each encoder's own batch size, which is today's CPU behaviour.
    Whole numbers only: '2.5' or '1e3' is a typo to name, not a size to round."""
    raw = _get("VITRINA_ENCODE_BATCH").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]+", raw) or not 1 <= int(raw) <= 100_000:
        raise ValidationError(f"setting VITRINA_ENCODE_BATCH must be empty or a whole number within [1, 100000], "
                              f"got {raw!r}")
    return int(raw)


def _paths(name: str) -> tuple[Path, ...]:
    """A list of folders separated by os.pathsep, as PATH is; empty pieces (a trailing separator) are no folder,
    not the current one, so that a stray separator cannot make the working directory a media root."""
    return tuple(Path(p) for p in _get(name).split(os.pathsep) if p.strip())


_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")


def normal_host(host: str) -> str | None:
    """A host name as allow-lists compare it (lower case, IDNA ASCII, no trailing dot; an IP address in its
    canonical form, IPv6 without brackets), or None when it is not a bare host name."""
    entry = host.strip().lower().rstrip(".")
    if entry.startswith("[") and entry.endswith("]"):
        entry = entry[1:-1]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        pass
    try:
        entry = entry.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return entry if _HOST.fullmatch(entry) else None


_ORIGIN = re.compile(r"(https?)://([^/:?#\s]+|\[[0-9a-fA-F:.]+\])(?::([0-9]{1,5}))?")


def _origins(name: str) -> tuple[str, ...]:
    """Web origins separated by commas, each as a browser sends it in the Origin header (scheme, host, port
    unless the scheme's own), so the CORS check is an exact comparison. A path, a wildcard or a missing scheme
    is named, not guessed at: a typo must not open the API to pages nobody meant."""
    out: list[str] = []
    for raw in _get(name).split(","):
        entry = raw.strip().rstrip("/")
        if not entry:
            continue
        match = _ORIGIN.fullmatch(entry)
        host = normal_host(match.group(2)) if match else None
        port = int(match.group(3)) if match and match.group(3) else None
        if host is None or (port is not None and not 1 <= port <= 65535):
            raise ValidationError(f"setting {name}: {raw.strip()!r} is not an origin (write "
                                  "https://shop.example.com or http://localhost:8080: no path or wildcard)")
        scheme = match.group(1).lower()
        shown = f"[{host}]" if ":" in host else host
        default = {"http": 80, "https": 443}[scheme]
        out.append(f"{scheme}://{shown}" + (f":{port}" if port not in (None, default) else ""))
    return tuple(dict.fromkeys(out))


def _hosts(name: str) -> tuple[str, ...]:
    """Host names separated by commas. An entry with a scheme, a port, a path or a wildcard is named rather
    than guessed at: a typo must not open downloads to a host nobody meant."""
    out: list[str] = []
    for raw in _get(name).split(","):
        if not raw.strip():
            continue
        host = normal_host(raw)
        if host is None:
            raise ValidationError(f"setting {name}: {raw.strip()!r} is not a host name (write feeds.example.com: "
                                  "no scheme, port, path or wildcard)")
        out.append(host)
    return tuple(dict.fromkeys(out))


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_get("VITRINA_DATA_DIR")))
    database_url: str = field(default_factory=lambda: _get("DATABASE_URL"))
    qdrant_url: str = field(default_factory=lambda: _get("QDRANT_URL"))
    qdrant_api_key: str = field(default_factory=lambda: _get("QDRANT_API_KEY"))
    qdrant_collection: str = field(default_factory=lambda: _get("QDRANT_COLLECTION"))
    redis_url: str = field(default_factory=lambda: _get("REDIS_URL"))
    job_runner: str = field(default_factory=lambda: _choice("VITRINA_JOB_RUNNER", ("inprocess", "celery")))
    celery_broker_url: str = field(default_factory=lambda: _get("CELERY_BROKER_URL"))
    job_visibility_timeout: float = field(default_factory=lambda: _num("VITRINA_JOB_VISIBILITY_TIMEOUT", float, 1, 7 * 86400))
    sync_hour: int = field(default_factory=lambda: _num("VITRINA_SYNC_HOUR", int, 0, 23))
    catalog_dir: Path = field(default_factory=lambda: Path(_get("VITRINA_CATALOG_DIR")))
    media_roots: tuple[Path, ...] = field(default_factory=lambda: _paths("VITRINA_MEDIA_ROOTS"))
    text_encoder: str = field(default_factory=lambda: _get("VITRINA_TEXT_ENCODER"))
    image_encoder: str = field(default_factory=lambda: _get("VITRINA_IMAGE_ENCODER"))
    device: str = field(default_factory=read_device)
    encode_batch: int | None = field(default_factory=read_encode_batch)
    text_weight: float = field(default_factory=lambda: _num("VITRINA_TEXT_WEIGHT", float, 0.0, 1.0))
    max_upload_bytes: int = field(default_factory=lambda: int(_num("VITRINA_MAX_UPLOAD_MB", float, 0.001) * 1024 * 1024))
    max_pixels: int = field(default_factory=lambda: _num("VITRINA_MAX_PIXELS", int, 1))
    max_results: int = field(default_factory=lambda: _num("VITRINA_MAX_RESULTS", int, 1))
    max_query_chars: int = field(default_factory=lambda: _num("VITRINA_MAX_QUERY_CHARS", int, 1))
    batch_size: int = field(default_factory=lambda: _num("VITRINA_BATCH_SIZE", int, 1))
    hnsw_min_points: int = field(default_factory=lambda: _num("VITRINA_HNSW_MIN_POINTS", int, 1, 10 ** 9))
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
    import_roots: tuple[Path, ...] = field(default_factory=lambda: _paths("VITRINA_IMPORT_ROOTS"))
    import_hosts: tuple[str, ...] = field(default_factory=lambda: _hosts("VITRINA_IMPORT_HOSTS"))
    max_feed_bytes: int = field(default_factory=lambda: int(_num("VITRINA_MAX_FEED_MB", float, 0.001, 1e7) * 1024 * 1024))
    feed_timeout: float = field(default_factory=lambda: _num("VITRINA_FEED_TIMEOUT", float, 0.1, 3600))
    feed_deadline: float = field(default_factory=lambda: _num("VITRINA_FEED_DEADLINE", float, 1, 7 * 86400))
    max_catalog_upload_mb: int = field(default_factory=lambda: _num("VITRINA_MAX_CATALOG_UPLOAD_MB", int, 1, 100_000))
    shop_origins: tuple[str, ...] = field(default_factory=lambda: _origins("VITRINA_SHOP_ORIGINS"))
    preview_secret: str = field(default_factory=lambda: _get("VITRINA_PREVIEW_SECRET"), repr=False)

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'vitrina.db'}"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    def as_dict(self) -> dict:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}
