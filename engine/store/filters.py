"""What both stores do identically: our Filters translated once into a backend-neutral plan, and the checks
every write and query passes before it reaches Qdrant (so bad input fails the same way on both backends and
nothing half-written is left behind)."""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Sequence, Union

import numpy as np

from engine.errors import EncoderMismatch, ValidationError
from engine.types import VECTOR_KINDS, Filters
from engine.store.base import PAYLOAD_SCHEMA, CollectionSpec, Nearest, PointRecord

MAX_POINT_ID = 2**63 - 1  # Qdrant ids are unsigned 64-bit; staying below 2^63 keeps every client happy
REINDEX_HINT = "reindex with `python -m engine index --full`"


# ---------------------------------------------------------------- filter plan


@dataclass(frozen=True)
class AnyOf:
    """Payload field holds (one of) these values; for a list field, any element matches."""
    key: str
    values: tuple


@dataclass(frozen=True)
class Equals:
    key: str
    value: int


@dataclass(frozen=True)
class Between:
    key: str
    gte: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class IdIn:
    ids: frozenset[int]


@dataclass(frozen=True)
class HasVector:
    name: str


Condition = Union[AnyOf, Equals, Between, IdIn, HasVector]


@dataclass
class FilterPlan:
    must: list[Condition] = field(default_factory=list)
    must_not: list[Condition] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


def _strings(name: str, values: object) -> tuple[str, ...]:
    # A bare string would otherwise be matched letter by letter.
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValidationError(f"{name} must be a list of strings, got {values!r}")
    out = []
    for v in values:
        if not isinstance(v, str):
            raise ValidationError(f"{name} must be a list of strings, got item {v!r}")
        out.append(v)
    return tuple(out)


def plan(filters: Filters | None, has_vector: str | None = None) -> FilterPlan:
    """Validate `filters` and turn them into conditions. None means no restriction at all (not even
    active_only): callers that want the defaults pass Filters()."""
    p = FilterPlan()
    if has_vector is not None:
        p.must.append(HasVector(check_using(has_vector)))
    if filters is None:
        return p
    if not isinstance(filters, Filters):
        raise ValidationError(f"filters must be a Filters object, got {type(filters).__name__}")
    for name in ("colours", "brands", "exclude_brands", "exclude_groups"):
        _strings(name, getattr(filters, name))  # before validate(), which would split a bare string
    for name in ("category_ids", "exclude_ids"):
        check_ids(getattr(filters, name), name)
    f = filters.validate()
    if f.category_ids:
        p.must.append(AnyOf("category_ids", tuple(f.category_ids)))
    if f.price_min is not None or f.price_max is not None:
        p.must.append(Between("price", f.price_min, f.price_max))
    if f.colours:
        p.must.append(AnyOf("colour", _strings("colours", f.colours)))
    brands = _strings("brands", f.brands)
    if brands:
        p.must.append(AnyOf("brand", brands))
    if f.active_only:
        p.must.append(Equals("is_active", 1))
    if f.in_stock:
        p.must.append(Equals("in_stock", 1))
    excluded_brands = _strings("exclude_brands", f.exclude_brands)
    if excluded_brands:
        p.must_not.append(AnyOf("brand", excluded_brands))
    if f.exclude_ids:
        p.must_not.append(IdIn(frozenset(check_ids(f.exclude_ids))))
    groups = _strings("exclude_groups", f.exclude_groups)
    if groups:
        p.must_not.append(AnyOf("group_key", groups))
    return p


# ---------------------------------------------------------------- input checks


def check_spec(spec: CollectionSpec) -> CollectionSpec:
    if not isinstance(spec, CollectionSpec):
        raise ValidationError(f"expected a CollectionSpec, got {type(spec).__name__}")
    for name in ("text_dim", "image_dim"):
        v = getattr(spec, name)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValidationError(f"{name} must be a positive integer, got {v!r}")
    for name in ("text_encoder", "image_encoder"):
        v = getattr(spec, name)
        if not isinstance(v, str) or not v.strip():
            raise ValidationError(f"{name} must be a non-empty string, got {v!r}")
    w = spec.text_weight
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or math.isnan(w) or not 0.0 <= w <= 1.0:
        raise ValidationError(f"text_weight must be in [0, 1], got {w!r}")
    return spec


def spec_to_json(spec: CollectionSpec) -> dict:
    return asdict(spec)


def spec_from_json(data: object, where: str) -> CollectionSpec:
    """A stored spec back; an unreadable one means the collection cannot be trusted, hence EncoderMismatch."""
    try:
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        return check_spec(CollectionSpec(**data))  # type: ignore[arg-type]
    except (TypeError, ValueError, ValidationError) as exc:
        raise EncoderMismatch(f"the collection spec stored at {where} is unreadable ({exc}); "
                              f"{REINDEX_HINT}") from None


def mismatch_message(what: str, stored: CollectionSpec, requested: CollectionSpec) -> str:
    """`what` names the collection, e.g. "vector collection at data/qdrant"."""
    lines = "\n  - ".join(stored.differences(requested))
    return (f"the {what} was built with another spec:\n  - {lines}\n"
            f"Mixing vectors from different encoders gives meaningless scores: {REINDEX_HINT}.")


def check_using(using: str) -> str:
    if using not in VECTOR_KINDS:
        raise ValidationError(f"unknown vector {using!r}: expected one of {', '.join(VECTOR_KINDS)}")
    return using


def check_vector(vector: object, using: str, spec: CollectionSpec, what: str = "query vector") -> list[float]:
    """A finite, non-zero vector of the size `using` has in this collection, as a list for the wire."""
    check_using(using)
    try:
        v = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} for {using!r} is not numeric") from None
    size = spec.sizes()[using]
    if v.ndim != 1 or v.shape[0] != size:
        raise ValidationError(f"{what} for {using!r} has shape {v.shape}, expected ({size},) for this collection")
    if not np.all(np.isfinite(v)):
        raise ValidationError(f"{what} for {using!r} contains NaN or infinity")
    if not np.any(v):
        raise ValidationError(f"{what} for {using!r} is all zeros: cosine similarity is undefined")
    return v.astype(np.float32).tolist()


def check_examples(positives: Sequence[object], negatives: Sequence[object], using: str,
                   spec: CollectionSpec) -> tuple[list[list[float]], list[list[float]]]:
    """Recommend examples; best-score ranking needs at least one positive to rank against."""
    check_using(using)
    pos = [check_vector(v, using, spec, what="positive example") for v in positives]
    neg = [check_vector(v, using, spec, what="negative example") for v in negatives]
    if not pos:
        raise ValidationError("recommend needs at least one positive example")
    return pos, neg


def check_ids(ids: Iterable[object], name: str = "ids") -> list[int]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise ValidationError(f"{name} must be a list of integers, got {ids!r}")
    out = []
    for i in ids:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral):
            raise ValidationError(f"{name} must be integers, got {i!r}")
        i = int(i)
        if not 0 <= i <= MAX_POINT_ID:
            raise ValidationError(f"{name}: {i} is out of range 0..{MAX_POINT_ID}")
        out.append(i)
    return out


def check_limit(limit: int, offset: int = 0) -> tuple[int, int]:
    for name, v, lo in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValidationError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(limit), int(offset)


def check_with_vectors(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    return [check_using(n) for n in names]


def check_nearest(q: Nearest, spec: CollectionSpec, offset: int = 0) -> tuple[list[float], int, int, list[str]]:
    """A nearest-neighbour query's vector, limit, offset and the vectors its hits return, checked in that order:
    what either backend builds its request from."""
    vector = check_vector(q.vector, q.using, spec)
    limit, offset = check_limit(q.limit, offset)
    return vector, limit, offset, check_with_vectors(q.with_vectors)


def _datetime(key: str, v: object) -> str:
    """ISO 8601 strings are kept as given once they parse; datetime objects become UTC ISO strings."""
    if isinstance(v, str):
        try:
            datetime.fromisoformat(v)
        except ValueError:
            raise ValidationError(f"payload field {key!r} must be an ISO 8601 datetime, got {v!r}") from None
        return v
    if not isinstance(v, datetime):
        raise ValidationError(f"payload field {key!r} must be a datetime, got {v!r}")
    # Naive datetimes are taken as UTC, so the stored value is unambiguous for range filters.
    v = v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)
    return v.isoformat()


def _scalar(key: str, kind: str, v: object) -> object:
    if isinstance(v, np.generic):
        v = v.item()
    if kind == "integer":
        if isinstance(v, bool):
            return int(v)  # flags are 0/1 integers: bool matching is broken in qdrant-edge 0.9.0
        if isinstance(v, numbers.Integral):
            return int(v)
        raise ValidationError(f"payload field {key!r} must be an integer, got {v!r}")
    if kind == "float":
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValidationError(f"payload field {key!r} must be a finite number, got {v!r}")
        return float(v)
    if kind == "keyword":
        if not isinstance(v, str):
            raise ValidationError(f"payload field {key!r} must be a string, got {v!r}")
        return v
    if kind == "datetime":
        return _datetime(key, v)
    raise AssertionError(f"PAYLOAD_SCHEMA kind {kind!r} has no check")


def _plain(v: object) -> object:
    """JSON-ready copy of a payload value that is not in the schema (numpy scalars, datetimes, bools as 0/1)."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, datetime):
        return _datetime("value", v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        raise ValidationError(f"payload value {v!r} is not finite")
    return v


def clean_payload(payload: object) -> dict:
    """Indexed fields checked against PAYLOAD_SCHEMA (None allowed: the field is simply absent from filters),
    the rest made JSON-ready."""
    if not isinstance(payload, dict):
        raise ValidationError(f"payload must be a dict, got {type(payload).__name__}")
    out: dict = {}
    for key, v in payload.items():
        if not isinstance(key, str):
            raise ValidationError(f"payload keys must be strings, got {key!r}")
        kind = PAYLOAD_SCHEMA.get(key)
        if kind is None or v is None:
            out[key] = _plain(v)
        elif isinstance(v, (list, tuple, np.ndarray)):
            out[key] = [_scalar(key, kind, x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
        else:
            out[key] = _scalar(key, kind, v)
    try:
        json.dumps(out)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"payload is not JSON-serialisable: {exc}") from None
    return out


@dataclass
class CleanPoint:
    id: int
    vectors: dict[str, list[float]]
    payload: dict


def check_points(points: Sequence[PointRecord], spec: CollectionSpec) -> list[CleanPoint]:
    """Every point checked before any is written: one bad vector rejects the whole batch."""
    out = []
    for p in points:
        if not isinstance(p, PointRecord):
            raise ValidationError(f"expected PointRecord, got {type(p).__name__}")
        (pid,) = check_ids([p.id], "point id")
        if not isinstance(p.vectors, dict) or not p.vectors:
            raise ValidationError(f"point {pid} has no vectors")
        vectors = {name: check_vector(v, name, spec, what=f"vector of point {pid}")
                   for name, v in p.vectors.items()}
        out.append(CleanPoint(pid, vectors, clean_payload(p.payload)))
    return out
