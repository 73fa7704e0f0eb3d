"""The recommendation config: one versioned YAML document, the contract between the console (which edits
and exports it) and the production service (which loads it).

RecoConfig and its sections are the plain objects the recommender reads and the console edits (mutable,
dataclasses.replace works on them, nothing is checked when they are built). The document they are written
as is described by the pydantic models of engine/recommend/config_document.py, which validate what is read
and generate config.schema.json. To rewrite that file after a change of the models:
    .venv/bin/python -c "from engine.recommend.config import write_schema; write_schema()"

Loading is all-or-nothing: every problem is reported at once with its JSON path, so a merchant fixes a
document in one pass; a document with any problem yields a ConfigError and no config object at all. A
document of an older schema_version is migrated first (config_document.migrate), so it ranks as it did.
Saved versions and the differences between configs: engine/merchandising/history.py."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ConfigError, NotFound
from engine.recommend.boosts import Boost
from engine.recommend.config_document import (DEFAULT_EVENT_WEIGHTS, EVENT_KINDS, SCHEMA_PATH, SCHEMA_VERSION,
                                              ConfigDocument, json_path, migrate, read_document, schema,
                                              write_schema)
from engine.recommend.looks import DEFAULT_COMPLEMENTARY, ComplementaryMap, ComplementaryTarget
from engine.recommend.rerank import BUILTIN_STRATEGIES, FactorParams, Strategy
from engine.recommend.rules import Rule
from engine.search.config import SearchConfig
from engine.settings import Settings

# The public names; those of the document (schema, paths, event kinds) are re-exported from config_document
# so that callers need one import.
__all__ = ["DEFAULT_EVENT_WEIGHTS", "EVENT_KINDS", "SCHEMA_PATH", "SCHEMA_VERSION",
           "DiversityConfig", "EncodersConfig", "EventsConfig", "PersonalisationConfig", "RecoConfig", "SearchConfig", "dump",
           "fingerprint", "from_dict", "json_path", "load", "migrate", "parse_yaml", "save", "schema",
           "validate_document", "write_schema"]

# Metadata that labels an export without changing a single result: left out of the fingerprint.
_METADATA = ("version", "created_at")
# Sections whose keys are the fields of one dataclass: a document sets some keys, the rest stay built-in.
_SECTIONS = ("encoders", "factors", "diversity", "events", "personalisation", "search")
_VALUES = ("schema_version", "version", "created_at", "text_weight", "default_strategy")


@dataclass
class EncodersConfig:
    text: str = "use"
    image: str = "auto"


@dataclass
class DiversityConfig:
    mmr_lambda: float | None = None  # None: no MMR (the store's order after reranking)
    collapse_k: int | None = 1  # one variant per style by default: colours of one style are near-duplicates


@dataclass
class EventsConfig:
    """How much each event kind says about interest, and how fast it fades."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    half_life_hours: float = 72.0


@dataclass
class PersonalisationConfig:
    enabled: bool = True
    history_size: int = 20  # most recent events a profile is built from
    half_life_hours: float = 168.0
    exclude_seen: bool = True


def _default_strategies() -> dict[str, Strategy]:
    return {k: Strategy(s.name, dict(s.weights), s.description) for k, s in BUILTIN_STRATEGIES.items()}


def _default_complementary() -> ComplementaryMap:
    return {k: list(v) for k, v in DEFAULT_COMPLEMENTARY.items()}


@dataclass
class RecoConfig:
    """Everything that shapes recommendations besides the catalog and the vectors."""

    schema_version: int = SCHEMA_VERSION
    version: str = "builtin"
    created_at: str | None = None
    encoders: EncodersConfig = field(default_factory=EncodersConfig)
    text_weight: float = 0.5
    default_strategy: str = "balanced"
    strategies: dict[str, Strategy] = field(default_factory=_default_strategies)
    factors: FactorParams = field(default_factory=FactorParams)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    rules: list[Rule] = field(default_factory=list)
    boosts: list[Boost] = field(default_factory=list)
    complementary: ComplementaryMap = field(default_factory=_default_complementary)
    events: EventsConfig = field(default_factory=EventsConfig)
    personalisation: PersonalisationConfig = field(default_factory=PersonalisationConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    @classmethod
    def default(cls, settings: Settings | None = None) -> "RecoConfig":
        """The built-ins, with encoders and text weight from the settings (environment by default)."""
        s = settings or Settings()
        return cls(encoders=EncodersConfig(s.text_encoder, s.image_encoder), text_weight=s.text_weight)

    @classmethod
    def load(cls, path_or_text: str | Path | bytes) -> "RecoConfig":
        return load(path_or_text)

    def strategy(self, name: str | None = None) -> Strategy:
        name = name or self.default_strategy
        if name not in self.strategies:
            raise NotFound(f"unknown strategy {name!r} (known: {', '.join(self.strategies)})")
        return self.strategies[name]

    def to_dict(self) -> dict[str, Any]:
        """The document as plain data, in the order it is written. Works on an invalid config too: that is
        how errors() finds what is wrong with it."""
        doc = asdict(self)  # a deep copy: editing the result never reaches the config
        doc["strategies"] = {name: {"weights": s["weights"], "description": s["description"]}
                             for name, s in doc["strategies"].items()}  # the key is the name
        # Left-out optional fields are absent, not null: the document has no null for them.
        doc["rules"] = [{k: v for k, v in r.items() if k not in ("slot", "starts", "ends") or v is not None}
                        for r in doc["rules"]]
        doc["boosts"] = [{k: v for k, v in b.items() if k not in ("starts", "ends") or v is not None}
                         for b in doc["boosts"]]
        return doc

    def errors(self) -> list[str]:
        """Every problem of this object as a document (for configs edited in code or in the console)."""
        return validate_document(self.to_dict())

    def validate(self) -> "RecoConfig":
        errs = self.errors()
        if errs:
            raise ConfigError("config is invalid", errs)
        return self


def _from_document(doc: ConfigDocument) -> RecoConfig:
    """The config a valid document describes: what it sets, over the built-ins (strategies add to them)."""
    given = doc.model_dump(exclude_unset=True)
    base = RecoConfig.default()
    return replace(
        base,
        **{k: given[k] for k in _VALUES if k in given},
        **{k: replace(getattr(base, k), **given[k]) for k in _SECTIONS if k in given},
        strategies=_default_strategies() | {n: Strategy(n, **s) for n, s in given.get("strategies", {}).items()},
        rules=[Rule(**r) for r in given.get("rules", [])],
        boosts=[Boost(**b) for b in given.get("boosts", [])],
        complementary=({cat: [ComplementaryTarget(**t) for t in targets]
                        for cat, targets in given["complementary"].items()}
                       if "complementary" in given else base.complementary),
    )


def validate_document(doc: Any) -> list[str]:
    """Every problem of a parsed document, each led by its JSON path, in path order."""
    return read_document(doc)[1]


def from_dict(doc: dict[str, Any]) -> RecoConfig:
    """A config from parsed data, after full validation (ConfigError lists every problem)."""
    model, errors = read_document(doc)
    if model is None:
        raise ConfigError("config is invalid", errors)
    return _from_document(model)


# ---------------------------------------------------------------- YAML

def _duplicate_keys(node: yaml.Node | None, path: list[str | int], out: list[str],
                    visited: set[int] | None = None) -> None:
    """Every repeated mapping key with its JSON path and line (plain PyYAML silently keeps the last one).
    An aliased node is walked once: nested aliases must not turn into an exponential walk."""
    visited = set() if visited is None else visited
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None:
                if key in seen:
                    out.append(f"{json_path(path)}: duplicate key {key!r} at line {key_node.start_mark.line + 1}")
                seen.add(key)
            _duplicate_keys(value_node, path + [str(key)], out, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(item, path + [i], out, visited)


def _yaml_error_text(e: yaml.MarkedYAMLError) -> str:
    """'line 3, column 2: expected ',' or ']', but got ':' (while parsing a flow sequence that starts at
    line 2, column 4)': the line where the parser gave up, and where the unfinished construct began."""
    mark = e.problem_mark or e.context_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    text += e.problem or e.context or "syntax error"
    if e.context and e.problem:
        ctx = e.context_mark
        start = f" that starts at line {ctx.line + 1}, column {ctx.column + 1}" if ctx else ""
        text += f" ({e.context}{start})"
    return text


class _LimitedLoader(yaml.SafeLoader):
    """A SafeLoader that measures the node tree while composing it, before anything is constructed: a
    document nested deeper than VITRINA_MAX_DOCUMENT_DEPTH, whose aliases expand to more than
    VITRINA_MAX_YAML_ALIASES references (nine aliases nine levels deep are a billion nodes: the "billion
    laughs"), or whose aliases add more nodes than the document itself holds, or an alias inside the node
    it names (a cycle), is refused with ConfigError. Composing is linear in the text, so the refusal is quick."""

    def __init__(self, text: str, max_depth: int, max_aliases: int):
        super().__init__(text)
        self.max_depth, self.max_aliases = max_depth, max_aliases
        self.open_anchors: list[str | None] = []  # anchors of the collections being composed
        self.refs: list[int] = [0]  # alias references expanded under each open node, root total first
        self.sizes: list[int] = [0]  # nodes under each open node once aliases are expanded
        self.expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (alias references, nodes) it expands to
        self.nodes = 0  # nodes as written

    def _refuse(self, event: yaml.Event, problem: str) -> None:
        raise ConfigError("config is refused", [f"line {event.start_mark.line + 1}: {problem}"])

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.open_anchors:
                self._refuse(event, f"alias *{event.anchor} lies inside the node it names (a cycle)")
            node = super().compose_node(parent, index)  # an undefined alias is the parser's error
            refs, size = self.expanded.get(id(node), (0, 1))
            self.refs[-1] += 1 + refs
            self.sizes[-1] += size
            if self.refs[-1] > self.max_aliases:
                self._refuse(event, f"the document expands to more than {self.max_aliases} alias references "
                                    "(VITRINA_MAX_YAML_ALIASES)")
            return node
        collection = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if collection and len(self.open_anchors) >= self.max_depth:
            self._refuse(event, f"the document nests deeper than {self.max_depth} levels "
                                "(VITRINA_MAX_DOCUMENT_DEPTH)")
        self.open_anchors.append(event.anchor)
        self.refs.append(0)
        self.sizes.append(1)
        self.nodes += 1
        node = super().compose_node(parent, index)
        self.open_anchors.pop()
        refs, size = self.refs.pop(), self.sizes.pop()
        self.expanded[id(node)] = (refs, size)
        self.refs[-1] += refs
        self.sizes[-1] += size
        if self.refs[-1] > self.max_aliases:
            self._refuse(event, f"the document expands to more than {self.max_aliases} alias references "
                                "(VITRINA_MAX_YAML_ALIASES)")
        if not self.open_anchors and self.sizes[-1] > 2 * self.nodes:
            self._refuse(event, f"its aliases expand the document from {self.nodes} to {self.sizes[-1]} nodes, "
                                "more than double (VITRINA_MAX_YAML_ALIASES)")
        return node


def parse_yaml(text: str) -> tuple[Any, list[str]]:
    """Parsed data and the duplicate keys found (with their lines); ConfigError with the line and column of
    a syntax error, or naming the limit (size, VITRINA_MAX_DOCUMENT_DEPTH, VITRINA_MAX_YAML_ALIASES) a
    hostile document passes: it is refused before any of it is constructed."""
    settings = Settings()
    if len(text.encode("utf-8", errors="replace")) > settings.max_config_bytes:
        raise ConfigError("config document is too large",
                          [f"more than {settings.max_config_bytes} bytes (VITRINA_MAX_CONFIG_KB)"])
    duplicates: list[str] = []
    loader = None
    try:  # the reader checks the characters as it is made: a NUL or a control character fails right here
        loader = _LimitedLoader(text, settings.max_document_depth, settings.max_yaml_aliases)
        node = loader.get_single_node()
        _duplicate_keys(node, [], duplicates)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        raise ConfigError("config is not valid YAML", [_yaml_error_text(e)]) from None
    except yaml.YAMLError as e:
        raise ConfigError("config is not valid YAML", [str(e)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, duplicates


def _read(path_or_text: str | Path | bytes) -> str:
    if isinstance(path_or_text, bytes):
        try:
            return path_or_text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError("config document cannot be read", [f"not UTF-8 text: {e}"]) from None
    if isinstance(path_or_text, Path):
        path = path_or_text
    else:
        s = path_or_text
        looks_like_path = "\n" not in s and len(s) < 4096 and ":" not in s.split("/")[-1] and (
            s.endswith((".yaml", ".yml", ".json")) or os.path.isfile(s))
        if not looks_like_path:
            return s
        path = Path(s)
    try:
        return read_config_file(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError("config file cannot be read", [f"{path}: {e}"]) from None


def read_config_file(path: Path) -> bytes:
    """The bytes of a config file: a regular file only (a FIFO or a device would block or never end), at most
    VITRINA_MAX_CONFIG_KB + 1 byte of them (parse_yaml names the size limit)."""
    try:
        if not path.is_file():
            raise ConfigError("config file not found" if not path.exists() else
                              "config file is not a regular file", [str(path)])
        with path.open("rb") as f:
            return f.read(Settings().max_config_bytes + 1)
    except OSError as e:
        raise ConfigError("config file cannot be read", [f"{path}: {e}"]) from None


def load(path_or_text: str | Path | bytes) -> RecoConfig:
    """A config from a YAML file (Path, or a string naming an existing .yaml/.yml file) or YAML text.
    Either a fully valid config or ConfigError listing every problem: nothing partial is ever returned."""
    data, duplicates = parse_yaml(_read(path_or_text))
    if data is None:
        raise ConfigError("config is invalid", ["$: the document is empty"])
    model, errors = read_document(data)
    if duplicates or model is None:
        raise ConfigError("config is invalid", duplicates + errors)
    return _from_document(model)


def dump(config: RecoConfig) -> str:
    header = (f"# Vitrina recommendation config (schema_version {config.schema_version}).\n"
              f"# Validated against engine/recommend/config.schema.json when loaded.\n")
    return header + yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True,
                                   default_flow_style=False, width=120)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(config: RecoConfig, path: str | Path) -> Path:
    """Validate, then write atomically: an invalid config never reaches the disk, a crash never half-writes."""
    config.validate()
    path = Path(path)
    _atomic_write(path, dump(config))
    return path


def fingerprint(config: RecoConfig) -> str:
    """sha256 of the canonical content (sorted keys, metadata left out): equal settings give equal keys
    whatever their export label or time, and any change to a result-shaping value gives a new one."""
    doc = {k: v for k, v in config.to_dict().items() if k not in _METADATA}
    canon = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()
