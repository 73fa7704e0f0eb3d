"""The recommendation config as a document: pydantic models of what the YAML may say, the JSON Schema
generated from them, and every problem of a parsed document as a message led by its JSON path.

The models check each value where it stands (types, ranges, names, a pin's slot); `read_document` adds the
checks that compare parts with each other (engine/recommend/config_checks.py: the default strategy exists, rule and boost ids are unique, two
pins do not share a slot at the same time, a window ends after it starts, a boost has exactly one condition,
a category is not listed twice). Those run on the raw data, so they are reported even when other parts of
the document are invalid: a merchant fixes a document in one pass.

Older documents are migrated before they are validated (`migrate`: one step per schema version, never
touching its input): published versions are stored whole with the schema_version they were written in, so
a version published years ago loads — and ranks — as it did then. Version 2 added rules' `match`, `starts`,
`ends`, the brand scope and `boosts`; a version 1 rule applied per SKU, so the step writes `match: sku`.

A field left out of a document is unset, not None: the conversion to a RecoConfig (engine/recommend/config.py)
reads only the fields the document sets and takes the built-in value for the others, so the `None` defaults
below are placeholders pydantic needs, never validated and never written to the schema.

config.schema.json is generated from ConfigDocument, never edited by hand. After changing a model, rewrite it:
    .venv/bin/python -c "from engine.recommend.config_document import write_schema; write_schema()"
tests/recommend/test_config.py fails while the committed file differs from the models."""
from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, \
    ValidationInfo, WithJsonSchema, field_validator
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError

from engine.errors import ConfigError
from engine.errors import ValidationError as EngineValidationError
from engine.recommend.config_checks import cross_errors, json_path
from engine.recommend.looks import MAX_ITEMS_LIMIT
from engine.recommend.rerank import FACTORS
from engine.recommend.rules import SCOPE_HELP, parse_scope, parse_time
from engine.search.config import SearchDoc

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("config.schema.json")
SCHEMA_ID = f"urn:vitrina:reco-config:{SCHEMA_VERSION}"
STRATEGY_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
# The event log's kinds and the popularity defaults (engine/insights/events.py, popularity.py; a test keeps
# them equal), repeated here so reading a config does not pull in the database layer.
EVENT_KINDS = ("impression", "click", "cart_add", "purchase")
DEFAULT_EVENT_WEIGHTS = {"impression": 0.0, "click": 1.0, "cart_add": 3.0, "purchase": 5.0}
_OWN = "vitrina"  # the error type of the checks below, whose messages already name the offending value

MAX_PRODUCT_ID = 2**63 - 1  # SQL BIGINT and Qdrant point ids: a larger id can name no product
SCOPE_PATTERN = r"^(global|category:[0-9]+|product:[0-9]+|brand:.*\S.*)$"


def _fail(text: str) -> PydanticCustomError:
    # The text goes in as context: a brace in a user's value must not be read as a template field.
    return PydanticCustomError(_OWN, "{text}", {"text": text})


def _factor(name: str) -> str:
    if name not in FACTORS:
        raise _fail(f"unknown factor {name!r} (known: {', '.join(FACTORS)})")
    return name


def _event_kind(name: str) -> str:
    if name not in EVENT_KINDS:
        raise _fail(f"unknown event kind {name!r} (known: {', '.join(EVENT_KINDS)})")
    return name


def _strategy_name(name: str) -> str:
    if not re.match(STRATEGY_NAME, name):
        raise _fail(f"a strategy name is 1 to 64 letters, digits, '_', '.' or '-', got {name!r}")
    return name


def _category_key(name: str) -> str:
    if not name:
        raise _fail("a category path cannot be empty")
    return name


def _category(value: Any) -> str:
    """A path, or in hand-written configs a category id, which YAML reads as a number: kept as text."""
    if (isinstance(value, str) and value) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise _fail(f"must be a category path or id, got {value!r}")


def _scope(value: str) -> str:
    """As strict as the schema's pattern (no spaces around the kind or an id), in a merchant's words."""
    try:
        parse_scope(value)
    except EngineValidationError:
        raise _fail(f"{SCOPE_HELP}, got {value!r}") from None
    if not re.match(SCOPE_PATTERN, value):
        raise _fail(f"{SCOPE_HELP}, got {value!r}")
    return value


def _time(value: str) -> str:
    try:
        parse_time(value)
    except EngineValidationError:
        raise _fail(f"not an ISO 8601 date-time: {value!r}") from None
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise _fail("a name cannot be empty")
    return value


Factor = Annotated[str, AfterValidator(_factor)]
EventKind = Annotated[str, AfterValidator(_event_kind)]
StrategyName = Annotated[str, AfterValidator(_strategy_name)]
CategoryKey = Annotated[str, AfterValidator(_category_key)]
Category = Annotated[str, PlainValidator(_category), WithJsonSchema({"type": ["string", "integer"], "minLength": 1})]
NonNegative = Annotated[float, Field(ge=0)]
Scope = Annotated[str, AfterValidator(_scope), WithJsonSchema({"type": "string", "pattern": SCOPE_PATTERN})]
Time = Annotated[str, AfterValidator(_time), WithJsonSchema({"type": "string", "format": "date-time"})]
Name = Annotated[str, AfterValidator(_name), WithJsonSchema({"type": "string", "pattern": r"\S"})]
STARTS_TEXT = "ISO 8601 date-time (naive means UTC), included. Left out: acting already."
ENDS_TEXT = "ISO 8601 date-time (naive means UTC), excluded; after starts. Left out: never ends."
SCOPE_TEXT = ("Where it applies: global, category:<id>, brand:<name> or product:<id> of the source product; "
              "left out: global.")


class Part(BaseModel):
    """Strict like the JSON Schema it generates: no text read as a number, no unknown keys, no NaN."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class EncodersDoc(Part):
    text: str = Field(None, min_length=1, description="Left out: the VITRINA_TEXT_ENCODER setting.")
    image: str = Field(None, min_length=1, description="Left out: the VITRINA_IMAGE_ENCODER setting.")


class StrategyDoc(Part):
    weights: dict[Factor, NonNegative] = Field(
        json_schema_extra={"propertyNames": {"enum": list(FACTORS)}, "minProperties": 1},
        description="Factor weights; the score is their weighted mean, so they need not sum to 1.")
    description: str = None

    @field_validator("weights")
    @classmethod
    def _some_positive(cls, weights: dict[str, float]) -> dict[str, float]:
        if not weights:  # checked here rather than by min_length, for a message a merchant reads
            raise _fail("at least one weight is needed")
        if sum(weights.values()) <= 0:
            raise _fail("at least one weight must be positive")
        return weights


class FactorsDoc(Part):
    price_scale: float = Field(None, gt=0)
    price_up_band: float = Field(None, gt=1)
    stock_saturation: int = Field(None, ge=1)
    freshness_half_life_days: float = Field(None, gt=0)
    popularity_sales_weight: float = Field(None, ge=0)


class DiversityDoc(Part):
    mmr_lambda: float | None = Field(None, ge=0, le=1, description="null: no MMR.")
    collapse_k: int | None = Field(None, ge=1, description="Variants kept per style; null: all.")


class RuleDoc(Part):
    model_config = ConfigDict(json_schema_extra={  # what the slot validator says, for other readers
        "if": {"properties": {"action": {"const": "pin"}}, "required": ["action"]},
        "then": {"required": ["slot"], "properties": {"slot": {"type": "integer"}}},
        "else": {"properties": {"slot": {"type": "null"}}}})

    id: str = Field(min_length=1)
    action: Literal["pin", "hide"]
    product_id: int = Field(ge=1, le=MAX_PRODUCT_ID, description="A catalog product id (1 .. 2^63-1).")
    # validate_default: a pin that leaves the slot out must still reach the check below
    slot: int | None = Field(None, ge=1, validate_default=True, description="1-based; pins only.")
    scope: Scope = Field(None, description=SCOPE_TEXT)
    note: str = None
    match: Literal["sku", "style"] = Field(
        None, description="sku: that product; style: every variant sharing its group_key. Left out: style.")
    starts: Time = Field(None, description=STARTS_TEXT)
    ends: Time = Field(None, description=ENDS_TEXT)

    @field_validator("slot")
    @classmethod
    def _slot_for_pins_only(cls, slot: int | None, info: ValidationInfo) -> int | None:
        action = info.data.get("action")  # absent when the action itself was invalid
        if action == "pin" and slot is None:
            raise _fail("a pin needs a slot (1 = first position)")
        if action == "hide" and slot is not None:
            raise _fail("only pins have a slot")
        return slot


class WhenDoc(Part):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    stock_below: int = Field(None, ge=1, description="Stock quantity below N.")
    margin_above: float = Field(None, ge=0, le=1, description="(price − cost) / price above X; needs a cost.")
    new_within_days: int = Field(None, ge=1, description="Added to the catalog within the last N days.")
    brand_in: list[Name] = Field(None, min_length=1, description="Brand in the list (any case).")
    colour_in: list[Name] = Field(None, min_length=1, description="Colour in the list (any case; grey = gray).")


class BoostDoc(Part):
    id: str = Field(min_length=1)
    when: WhenDoc = Field(description="Exactly one condition.")
    strength: float = Field(ge=-1, le=1, description="Added to a matching candidate's score (a weighted mean "
                                                     "in [0, 1]): positive boosts, negative buries; not 0.")
    scope: Scope = Field(None, description=SCOPE_TEXT)
    starts: Time = Field(None, description=STARTS_TEXT)
    ends: Time = Field(None, description=ENDS_TEXT)
    note: str = None

    @field_validator("strength")
    @classmethod
    def _non_zero(cls, v: float) -> float:
        if v == 0:
            raise _fail("a strength of 0 changes nothing: positive boosts, negative buries")
        return v


class TargetDoc(Part):
    category: Category
    relation: str = Field(min_length=1)
    max_items: int = Field(None, ge=1, le=MAX_ITEMS_LIMIT)


class EventsDoc(Part):
    weights: dict[EventKind, NonNegative] = Field(
        None, json_schema_extra={"propertyNames": {"enum": list(EVENT_KINDS)}})
    half_life_hours: float = Field(None, gt=0)


class PersonalisationDoc(Part):
    enabled: bool = None
    history_size: int = Field(None, ge=1, le=1000)
    half_life_hours: float = Field(None, gt=0)
    exclude_seen: bool = None


class ConfigDocument(Part):
    """The one versioned document the console exports and the production service loads. Sections left out
    take the built-in values; strategies add to and override the built-in ones. The engine also checks what
    a schema cannot express (the default strategy exists, unique rule and boost ids, one pin per slot and
    scope at a time, windows that end after they start, no category listed twice):
    engine/recommend/config_document.py. Older schema versions are migrated when read."""

    model_config = ConfigDict(title="Vitrina recommendation config")

    schema_version: int = Field(ge=1, description="Layout of this document; older ones are migrated, newer "
                                                  "ones refused.")
    version: str = Field(min_length=1, max_length=100, description="Export label, e.g. 20261126T101500123456Z.")
    created_at: str | None = Field(None, description="ISO 8601 time of the export.")
    encoders: EncodersDoc = None
    text_weight: float = Field(None, ge=0, le=1, description="Left out: the VITRINA_TEXT_WEIGHT setting.")
    default_strategy: str = Field(None, min_length=1)
    strategies: dict[StrategyName, StrategyDoc] = Field(
        None, json_schema_extra={"propertyNames": {"pattern": STRATEGY_NAME}})
    factors: FactorsDoc = None
    diversity: DiversityDoc = None
    rules: list[RuleDoc] = None
    boosts: list[BoostDoc] = Field(None, description="Boost or bury candidates by condition, before the rules.")
    complementary: dict[CategoryKey, list[TargetDoc]] = Field(
        None, json_schema_extra={"propertyNames": {"minLength": 1}})
    events: EventsDoc = None
    personalisation: PersonalisationDoc = None
    search: SearchDoc = None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:  # an older one was migrated before it got here
            raise _fail(f"this engine reads schema_version 1 to {SCHEMA_VERSION}, got {v}")
        return v

    @field_validator("created_at")
    @classmethod
    def _iso_time(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                datetime.fromisoformat(v)  # reads a trailing Z too
            except ValueError:
                raise _fail(f"not an ISO 8601 date-time: {v!r}") from None
        return v


# ---------------------------------------------------------------- the generated JSON Schema

class _SchemaGenerator(GenerateJsonSchema):
    """No defaults (a field left out takes the engine's built-in value, not the placeholder), and no titles
    derived from field names (they only repeat the key)."""

    def default_schema(self, schema: Any) -> dict[str, Any]:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def schema() -> dict[str, Any]:
    """The JSON Schema of the document (draft 2020-12), as config.schema.json holds it."""
    body = ConfigDocument.model_json_schema(schema_generator=_SchemaGenerator)
    return {"$schema": _SchemaGenerator.schema_dialect, "$id": SCHEMA_ID, **body}


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Rewrite config.schema.json from the models (see the module docstring)."""
    path = Path(path)
    path.write_text(schema_text(), encoding="utf-8")
    return path


# ---------------------------------------------------------------- reading a document

def _message(err: Any) -> str:
    """One pydantic error as `<path>: <what is wrong>, got <value>`. A key's error is placed at the key."""
    path = json_path(p for p in err["loc"] if p != "[key]")
    if err["type"] == "finite_number":
        return f"{path}: must be a finite number, got {err['input']}"
    text = err["msg"]
    value = err.get("input")
    if err["type"] not in (_OWN, "missing", "extra_forbidden") and isinstance(value, (str, int, float, type(None))):
        text += f", got {value!r}"
    return f"{path}: {text}"


# ---------------------------------------------------------------- migration

def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 rules applied per SKU; in version 2 a rule without `match` means its whole style, so the
    old meaning is written out. A `match` a version 1 document already holds is left as written."""
    rules = doc.get("rules")
    if isinstance(rules, list):
        doc["rules"] = [({"match": "sku"} | r) if isinstance(r, dict) else r for r in rules]
    return doc | {"schema_version": 2}


# schema_version N → the step that rewrites a version N document as version N + 1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """A parsed document of any known schema_version rewritten, step by step, as a SCHEMA_VERSION one; the
    input is never changed. ConfigError (at $.schema_version) when its version is unknown or not a number.
    The result is not validated: read_document does that."""
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise ConfigError("config cannot be migrated", [
            f"$.schema_version: this engine reads schema_version 1 to {SCHEMA_VERSION}, got {version!r}"])
    out = copy.deepcopy(doc)
    while out["schema_version"] < SCHEMA_VERSION:
        out = MIGRATIONS[out["schema_version"]](out)
    return out


def _as_text(node: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes and numeric keys into ints; the document means text."""
    if isinstance(node, (datetime, date)):
        return node.isoformat()
    if isinstance(node, dict):
        return {(k if isinstance(k, str) else str(k)): _as_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_as_text(v) for v in node]
    return node


def read_document(doc: Any) -> tuple[ConfigDocument | None, list[str]]:
    """The validated document and every problem, each led by its JSON path and sorted by it; the document is
    None whenever there is a problem, so nothing partial is ever used."""
    if not isinstance(doc, dict):
        return None, [f"$: the document must be a mapping, got {type(doc).__name__}"]
    doc = _as_text(doc)
    version = doc.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version < SCHEMA_VERSION:
        doc = migrate(doc)
    errors = cross_errors(doc)
    model: ConfigDocument | None = None
    try:
        model = ConfigDocument.model_validate(doc)
    except ValidationError as e:
        errors += [_message(err) for err in e.errors(include_url=False)]
    errors.sort(key=lambda e: tuple(e.partition(": ")[::2]))
    return (None if errors else model), errors
