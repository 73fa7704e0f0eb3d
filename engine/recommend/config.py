"""The recommendation config: one versioned YAML document, the contract between the console (which edits
and exports it) and the production service (which loads it).

Loading is all-or-nothing: the JSON Schema (config.schema.json) and the checks a schema cannot express are
run in full, and every problem is reported at once with its JSON path, so a merchant fixes a document in
one pass; a document with any problem yields a ConfigError and no config object at all."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml
from jsonschema import Draft202012Validator

from engine.errors import ConfigError, NotFound
from engine.recommend.looks import DEFAULT_COMPLEMENTARY, ComplementaryMap, ComplementaryTarget, normalise_path
from engine.recommend.rerank import BUILTIN_STRATEGIES, FACTORS, FactorParams, Strategy
from engine.recommend.rules import Rule
from engine.settings import Settings

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("config.schema.json")
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
# The event log's kinds and the analytics defaults (engine/events.py, engine/analytics.py; a test keeps them
# equal), repeated here so loading a config does not pull in the database layer.
EVENT_KINDS = ("impression", "click", "cart_add", "purchase")
DEFAULT_EVENT_WEIGHTS = {"impression": 0.0, "click": 1.0, "cart_add": 3.0, "purchase": 5.0}
# Metadata that labels an export without changing a single result: left out of the fingerprint.
_METADATA = ("version", "created_at")


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
    complementary: ComplementaryMap = field(default_factory=_default_complementary)
    events: EventsConfig = field(default_factory=EventsConfig)
    personalisation: PersonalisationConfig = field(default_factory=PersonalisationConfig)

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
        """The document as plain data, in the order it is written."""
        return {
            "schema_version": self.schema_version,
            "version": self.version,
            "created_at": self.created_at,
            "encoders": {"text": self.encoders.text, "image": self.encoders.image},
            "text_weight": self.text_weight,
            "default_strategy": self.default_strategy,
            "strategies": {name: {"weights": dict(s.weights), "description": s.description}
                           for name, s in self.strategies.items()},
            "factors": {"price_scale": self.factors.price_scale, "price_up_band": self.factors.price_up_band,
                        "stock_saturation": self.factors.stock_saturation,
                        "freshness_half_life_days": self.factors.freshness_half_life_days,
                        "popularity_sales_weight": self.factors.popularity_sales_weight},
            "diversity": {"mmr_lambda": self.diversity.mmr_lambda, "collapse_k": self.diversity.collapse_k},
            "rules": [_rule_dict(r) for r in self.rules],
            "complementary": {cat: [{"category": t.category, "relation": t.relation, "max_items": t.max_items}
                                    for t in targets] for cat, targets in self.complementary.items()},
            "events": {"weights": dict(self.events.weights), "half_life_hours": self.events.half_life_hours},
            "personalisation": {"enabled": self.personalisation.enabled,
                                "history_size": self.personalisation.history_size,
                                "half_life_hours": self.personalisation.half_life_hours,
                                "exclude_seen": self.personalisation.exclude_seen},
        }

    def errors(self) -> list[str]:
        """Every problem of this object as a document (for configs edited in code or in the console)."""
        return validate_document(self.to_dict())

    def validate(self) -> "RecoConfig":
        errs = self.errors()
        if errs:
            raise ConfigError("config is invalid", errs)
        return self


def _rule_dict(r: Rule) -> dict[str, Any]:
    d: dict[str, Any] = {"id": r.id, "action": r.action, "product_id": r.product_id}
    if r.slot is not None:
        d["slot"] = r.slot
    d["scope"] = r.scope
    d["note"] = r.note
    return d


# ---------------------------------------------------------------- validation

@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """$.strategies.balanced.weights / $.rules[2].slot / $.complementary['Men/Tops'][0]"""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _IDENT.match(p):
            out += f".{p}"
        else:
            out += "[" + repr(p) + "]"
    return out


def _schema_errors(doc: Any) -> list[str]:
    errs = sorted(_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{json_path(e.absolute_path)}: {e.message}" for e in errs]


def _non_finite(node: Any, path: list[str | int], out: list[str]) -> None:
    if isinstance(node, float) and not math.isfinite(node):
        out.append(f"{json_path(path)}: must be a finite number, got {node}")
    elif isinstance(node, dict):
        for k, v in node.items():
            _non_finite(v, path + [str(k)], out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _non_finite(v, path + [i], out)


def _semantic_errors(doc: dict[str, Any]) -> list[str]:
    """What the schema cannot say. Defensive: parts of the wrong shape were reported by the schema already."""
    out: list[str] = []
    _non_finite(doc, [], out)
    sv = doc.get("schema_version")
    if isinstance(sv, int) and not isinstance(sv, bool) and sv != SCHEMA_VERSION:
        out.append(f"$.schema_version: this engine reads schema_version {SCHEMA_VERSION}, got {sv}")
    created = doc.get("created_at")
    if isinstance(created, str):
        try:
            datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            out.append(f"$.created_at: not an ISO 8601 date-time: {created!r}")

    strategies = doc.get("strategies", {})
    names = set(BUILTIN_STRATEGIES)
    if isinstance(strategies, dict):
        names |= set(strategies)
        for name, s in strategies.items():
            weights = s.get("weights") if isinstance(s, dict) else None
            if not isinstance(weights, dict):
                continue
            for f in weights:
                if f not in FACTORS:
                    out.append(f"{json_path(['strategies', name, 'weights', f])}: unknown factor {f!r} "
                               f"(known: {', '.join(FACTORS)})")
            nums = [w for w in weights.values() if isinstance(w, (int, float)) and not isinstance(w, bool)]
            if weights and len(nums) == len(weights) and all(math.isfinite(w) for w in nums) \
                    and sum(w for w in nums if w > 0) <= 0:
                out.append(f"{json_path(['strategies', name, 'weights'])}: at least one weight must be positive")
    default = doc.get("default_strategy")
    if isinstance(default, str) and default and default not in names:
        out.append(f"$.default_strategy: unknown strategy {default!r} (known: {', '.join(sorted(names))})")

    events = doc.get("events")
    if isinstance(events, dict) and isinstance(events.get("weights"), dict):
        for kind in events["weights"]:
            if kind not in EVENT_KINDS:
                out.append(f"{json_path(['events', 'weights', kind])}: unknown event kind {kind!r} "
                           f"(known: {', '.join(EVENT_KINDS)})")

    rules = doc.get("rules")
    if isinstance(rules, list):
        max_slot = Settings().max_results
        ids: dict[str, int] = {}
        slots: dict[tuple[str, int], int] = {}
        same: dict[tuple, int] = {}
        for i, r in enumerate(rules):
            if not isinstance(r, dict):
                continue
            rid, action, slot, scope = r.get("id"), r.get("action"), r.get("slot"), r.get("scope", "global")
            if isinstance(rid, str):
                if rid in ids:
                    out.append(f"{json_path(['rules', i, 'id'])}: duplicate rule id {rid!r} (also rules[{ids[rid]}])")
                else:
                    ids[rid] = i
            if action == "hide" and slot is not None:
                out.append(f"{json_path(['rules', i, 'slot'])}: only pins have a slot")
            if action == "pin" and isinstance(slot, int) and not isinstance(slot, bool):
                if slot > max_slot:
                    out.append(f"{json_path(['rules', i, 'slot'])}: slot {slot} is beyond the longest list "
                               f"({max_slot}, VITRINA_MAX_RESULTS)")
                if isinstance(scope, str):
                    if (scope, slot) in slots:
                        out.append(f"{json_path(['rules', i, 'slot'])}: slot {slot} in scope {scope} is already "
                                   f"pinned by rules[{slots[(scope, slot)]}]")
                    else:
                        slots[(scope, slot)] = i
            key = (action, r.get("product_id"), scope)
            if all(isinstance(k, (str, int)) for k in key):
                if key in same:
                    out.append(f"{json_path(['rules', i])}: repeats rules[{same[key]}] ({action} product "
                               f"{r.get('product_id')} in scope {scope})")
                else:
                    same[key] = i

    comp = doc.get("complementary")
    if isinstance(comp, dict):
        keys: dict[str, str] = {}
        for cat, targets in comp.items():
            norm = normalise_path(str(cat)).casefold()
            if norm in keys:
                out.append(f"{json_path(['complementary', str(cat)])}: the same category as {keys[norm]!r}")
            else:
                keys[norm] = str(cat)
            if not isinstance(targets, list):
                continue
            seen: dict[str, int] = {}
            for j, t in enumerate(targets):
                if not isinstance(t, dict) or not isinstance(t.get("category"), (str, int)):
                    continue
                tn = normalise_path(str(t["category"])).casefold()
                where = json_path(["complementary", str(cat), j, "category"])
                if tn == norm:
                    out.append(f"{where}: a category cannot complement itself")
                elif tn in seen:
                    out.append(f"{where}: {t['category']!r} is listed twice (also [{seen[tn]}])")
                else:
                    seen[tn] = j
    return out


def _prepare(node: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes and numeric keys into ints; the document means text."""
    if isinstance(node, datetime):
        return node.isoformat()
    if isinstance(node, date):
        return node.isoformat()
    if isinstance(node, dict):
        return {(k if isinstance(k, str) else str(k)): _prepare(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_prepare(v) for v in node]
    return node


def validate_document(doc: Any) -> list[str]:
    """Every schema and semantic problem of a parsed document, each prefixed by its JSON path."""
    if not isinstance(doc, dict):
        return [f"$: the document must be a mapping, got {type(doc).__name__}"]
    doc = _prepare(doc)
    return sorted(_schema_errors(doc) + _semantic_errors(doc), key=lambda e: tuple(e.partition(": ")[::2]))


def from_dict(doc: dict[str, Any]) -> RecoConfig:
    """A config from parsed data, after full validation (ConfigError lists every problem)."""
    errors = validate_document(doc)
    if errors:
        raise ConfigError("config is invalid", errors)
    doc = _prepare(doc)
    base = RecoConfig.default()
    strategies = _default_strategies()
    for name, s in doc.get("strategies", {}).items():
        strategies[name] = Strategy(name, {f: float(w) for f, w in s["weights"].items()}, s.get("description", ""))
    enc = doc.get("encoders", {})
    div = doc.get("diversity", {})
    ev = doc.get("events", {})
    fac = doc.get("factors", {})
    per = doc.get("personalisation", {})
    return RecoConfig(
        schema_version=doc["schema_version"],
        version=doc["version"],
        created_at=doc.get("created_at"),
        encoders=EncodersConfig(enc.get("text", base.encoders.text), enc.get("image", base.encoders.image)),
        text_weight=float(doc.get("text_weight", base.text_weight)),
        default_strategy=doc.get("default_strategy", base.default_strategy),
        strategies=strategies,
        factors=FactorParams(**{k: (v if k == "stock_saturation" else float(v)) for k, v in fac.items()}),
        diversity=DiversityConfig(
            mmr_lambda=None if div.get("mmr_lambda", base.diversity.mmr_lambda) is None
            else float(div.get("mmr_lambda", base.diversity.mmr_lambda)),
            collapse_k=div.get("collapse_k", base.diversity.collapse_k)),
        rules=[Rule(r["id"], r["action"], r["product_id"], r.get("slot"), r.get("scope", "global"), r.get("note", ""))
               for r in doc.get("rules", [])],
        complementary=({cat: [ComplementaryTarget(str(t["category"]), t["relation"], t.get("max_items", 1))
                              for t in targets] for cat, targets in doc["complementary"].items()}
                       if "complementary" in doc else base.complementary),
        events=EventsConfig({k: float(v) for k, v in ev.get("weights", base.events.weights).items()},
                            float(ev.get("half_life_hours", base.events.half_life_hours))),
        personalisation=PersonalisationConfig(**{**base.personalisation.__dict__, **{
            k: (float(v) if k in ("half_life_hours", "weight") else v) for k, v in per.items()}}),
    )


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


def parse_yaml(text: str) -> tuple[Any, list[str]]:
    """Parsed data and the duplicate keys found (with their lines); ConfigError with the line and column of
    a syntax error."""
    if len(text.encode("utf-8", errors="replace")) > MAX_DOCUMENT_BYTES:
        raise ConfigError("config document is too large", [f"more than {MAX_DOCUMENT_BYTES} bytes"])
    loader = yaml.SafeLoader(text)
    duplicates: list[str] = []
    try:
        node = loader.get_single_node()
        _duplicate_keys(node, [], duplicates)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        raise ConfigError("config is not valid YAML", [_yaml_error_text(e)]) from None
    except yaml.YAMLError as e:
        raise ConfigError("config is not valid YAML", [str(e)]) from None
    finally:
        loader.dispose()
    return data, duplicates


def _read(path_or_text: str | Path | bytes) -> str:
    if isinstance(path_or_text, bytes):
        return path_or_text.decode("utf-8")
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
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", [str(path)]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("config file cannot be read", [f"{path}: {e}"]) from None


def load(path_or_text: str | Path | bytes) -> RecoConfig:
    """A config from a YAML file (Path, or a string naming an existing .yaml/.yml file) or YAML text.
    Either a fully valid config or ConfigError listing every problem: nothing partial is ever returned."""
    data, duplicates = parse_yaml(_read(path_or_text))
    if data is None:
        raise ConfigError("config is invalid", ["$: the document is empty"])
    errors = duplicates + validate_document(data)
    if errors:
        raise ConfigError("config is invalid", errors)
    return from_dict(data)


def dump(config: RecoConfig) -> str:
    header = (f"# Vitrina recommendation config (schema_version {config.schema_version}).\n"
              f"# Validated against engine/config.schema.json when loaded.\n")
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


# ---------------------------------------------------------------- diff

@dataclass(frozen=True)
class Change:
    path: str  # "strategies.balanced.weights.price", "rules['pin-1'].slot", "complementary['Men/Tops']"
    old: Any  # None when added
    new: Any  # None when removed

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


def _diff_path(parts: Sequence[str]) -> str:
    return json_path(parts)[2:] if len(parts) else ""


def _keyed(doc: dict[str, Any]) -> dict[str, Any]:
    """Lists whose items have identities become mappings, so a reorder or an insert is not a change of all."""
    out = dict(doc)
    if isinstance(out.get("rules"), list):
        out["rules"] = {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in out["rules"]}
    if isinstance(out.get("complementary"), dict):
        out["complementary"] = {cat: {t["category"]: {k: v for k, v in t.items() if k != "category"}
                                      for t in targets} for cat, targets in out["complementary"].items()}
    return out


def _walk(a: Any, b: Any, path: list[str], out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in b:
                out.append(Change(_diff_path(path + [k]), a[k], None))
            elif k not in a:
                out.append(Change(_diff_path(path + [k]), None, b[k]))
            else:
                _walk(a[k], b[k], path + [k], out)
    elif a != b:
        out.append(Change(_diff_path(path), a, b))


def diff(a: RecoConfig, b: RecoConfig) -> list[Change]:
    """What changed from a to b, leaf by leaf, in document order; a whole strategy, rule or map entry added
    or removed is one change. Rules are matched by id and look targets by category, so reordering is not
    reported."""
    out: list[Change] = []
    _walk(_keyed(a.to_dict()), _keyed(b.to_dict()), [], out)
    return out


# ---------------------------------------------------------------- history

@dataclass(frozen=True)
class ConfigVersion:
    name: str  # file name
    path: Path
    version: str | None
    created_at: str | None
    fingerprint: str | None
    error: str | None = None  # set when the file no longer loads (edited by hand)


class ConfigHistory:
    """Exported versions in a folder, one YAML file each, named by UTC time so names sort by age."""

    PATTERN = re.compile(r"^config-(\d{8}T\d{12}Z)(?:-(\d+))?\.yaml$")

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def save(self, config: RecoConfig, now: datetime | None = None) -> ConfigVersion:
        """Stamp a new version label and time, validate, write. Invalid → ConfigError, nothing written."""
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        label = now.strftime("%Y%m%dT%H%M%S%fZ")
        stamped = replace(config, version=label, created_at=now.isoformat())
        stamped.validate()
        self.folder.mkdir(parents=True, exist_ok=True)
        name, i = f"config-{label}.yaml", 0
        while (self.folder / name).exists():
            i += 1
            name = f"config-{label}-{i}.yaml"
        path = self.folder / name
        _atomic_write(path, dump(stamped))
        return ConfigVersion(name, path, stamped.version, stamped.created_at, fingerprint(stamped))

    def _names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = [(m.group(1), int(m.group(2) or 0), p.name)
                 for p in self.folder.iterdir() if (m := self.PATTERN.match(p.name))]
        return [name for *_, name in sorted(found, reverse=True)]

    def list(self) -> list[ConfigVersion]:
        """Newest first. A file that no longer validates is listed with its error instead of hidden."""
        out = []
        for name in self._names():
            path = self.folder / name
            try:
                cfg = load(path)
                out.append(ConfigVersion(name, path, cfg.version, cfg.created_at, fingerprint(cfg)))
            except ConfigError as e:
                out.append(ConfigVersion(name, path, None, None, None, error=str(e)))
        return out

    def load(self, name_or_version: str) -> RecoConfig:
        """By file name or by version label."""
        for name in self._names():
            if name == name_or_version or name == f"config-{name_or_version}.yaml":
                return load(self.folder / name)
        for v in self.list():
            if v.version == name_or_version and v.error is None:
                return load(v.path)
        raise NotFound(f"no saved config {name_or_version!r} in {self.folder}")

    def latest(self) -> RecoConfig | None:
        names = self._names()
        return load(self.folder / names[0]) if names else None
