"""Search insights: every text and photo search the service answers is recorded (`record_search`), and the
readers answer a merchandiser's questions for a period — what do shoppers search for most (`top_queries`),
which searches find nothing or nothing good (`failed_queries`: the ones a rule could fix), and which find
results nobody clicks (`queries_without_clicks`, joined to click events by the search's request id).

Queries are grouped by their folded form (lower case, accents kept, runs of white space as one space), so
"Red Dress " and "red dress" are one query; the most recent spelling is shown. A photo search without text
has no query and is counted under PHOTO. Every frame carries its period and the reasons it may be incomplete in
`frame.attrs` ("period", "incomplete"), as every figure for a period does (engine.insights.period).
"""
from __future__ import annotations

import importlib
import json
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, insert, literal, select

from engine.catalog.db import Database
from engine.catalog.events import EventRow, SearchRow, day_number
from engine.catalog.importers.limits import unstorable
from engine.errors import ValidationError
from engine.insights.events import MAX_QUERY_CHARS, REQUEST_ID, to_utc_naive, utc_now, whole_number
from engine.insights.period import Period, notes
from engine.insights.popularity import top_n

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("text", "photo")
PHOTO = "(photo)"
MAX_ATTRIBUTES_CHARS = 4000
_SPACE = re.compile(r"\s+")


def fold(query: str) -> str:
    return _SPACE.sub(" ", query).strip().lower()[:200]


def record_search(db: Database, *, kind: str, results: int, query: str | None = None, language: str | None = None,
                  attributes: dict | None = None, no_good_match: bool = False, request_id: str | None = None,
                  session_id: str | None = None, ts: datetime | None = None, simulated: bool = False) -> None:
    """Record one search as the service answered it; a bad value is a ValidationError naming it."""
    if kind not in KINDS:
        raise ValidationError(f"a search is of kind {' or '.join(KINDS)}, got {kind!r}")
    results = whole_number(results, "results", minimum=0, maximum=100_000)
    if query is not None:
        if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
            raise ValidationError(f"query must be text of at most {MAX_QUERY_CHARS} characters")
        if reason := unstorable(query, "query"):
            raise ValidationError(reason)
        query = query.strip() or None
    if kind == "text" and query is None:
        raise ValidationError("a text search needs its query")
    if language is not None and (not isinstance(language, str) or not 1 <= len(language) <= 16):
        raise ValidationError(f"language must be a short code such as en, got {language!r}")
    if attributes is not None:
        try:
            if not isinstance(attributes, dict) or len(json.dumps(attributes, allow_nan=False)) > MAX_ATTRIBUTES_CHARS:
                raise ValueError("not a JSON object of at most 4000 characters")
        except (TypeError, ValueError) as e:
            raise ValidationError(f"attributes must be a JSON object: {e}") from None
        if reason := unstorable(attributes, "attributes"):
            raise ValidationError(reason)
    if request_id is not None and (not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id)):
        raise ValidationError(f"request_id must be a served list's id, got {request_id!r}")
    if session_id is not None and (not isinstance(session_id, str) or not 0 < len(session_id) <= 128):
        raise ValidationError(f"session_id must be text of at most 128 characters, got {session_id!r}")
    ts = utc_now() if ts is None else to_utc_naive(ts)
    with db.engine.begin() as conn:
        conn.execute(insert(SearchRow).values(
            ts=ts, day=day_number(ts), kind=kind, query=query, norm=fold(query) if query else None,
            language=language, attributes=attributes or None, results=results, no_good_match=int(bool(no_good_match)),
            request_id=request_id, session_id=session_id, simulated=int(bool(simulated))))


def _conds(period: Period, kind: str | None) -> list[Any]:
    lo = day_number(datetime.combine(period.start, datetime.min.time()))
    hi = day_number(datetime.combine(period.end, datetime.min.time()))
    conds = [SearchRow.day >= lo, SearchRow.day <= hi]
    if kind is not None:
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        conds.append(SearchRow.kind == kind)
    return conds


COLUMNS = ["query", "searches", "zero_results", "no_good_match", "clicked", "avg_results", "last_seen"]


def _frame(db: Database, period: Period, kind: str | None, n: int, having: Any = None, order: str = "searches"
           ) -> pd.DataFrame:
    n = top_n(n)
    label = func.coalesce(SearchRow.norm, literal(PHOTO))
    # one uncorrelated list of clicked request ids (a click never precedes its search), not an EXISTS per row
    clicked = select(EventRow.request_id).where(EventRow.kind == "click", EventRow.request_id.is_not(None),
                                                EventRow.day >= day_number(datetime.combine(period.start,
                                                                                            datetime.min.time())))
    cols = {
        "searches": func.count(),
        "zero_results": func.sum(case((SearchRow.results == 0, 1), else_=0)),
        "no_good_match": func.sum(case((and_(SearchRow.results > 0, SearchRow.no_good_match == 1), 1), else_=0)),
        "clicked": func.sum(case((and_(SearchRow.request_id.is_not(None), SearchRow.request_id.in_(clicked)), 1),
                                 else_=0)),
        "avg_results": func.avg(SearchRow.results),
        "last_seen": func.max(SearchRow.ts),
    }
    q = select(label, func.max(SearchRow.query), *cols.values()).where(*_conds(period, kind)).group_by(label)
    if having is not None:
        q = q.having(having(cols))
    q = q.order_by(cols[order].desc(), label).limit(n)
    with db.engine.connect() as conn:
        rows = conn.execute(q).all()
    df = importlib.import_module("pandas").DataFrame([(PHOTO if norm == PHOTO else (shown or norm), *rest) for norm, shown, *rest in rows],
                      columns=COLUMNS)
    for c in ("searches", "zero_results", "no_good_match", "clicked"):
        df[c] = df[c].astype("int64")
    df["avg_results"] = df["avg_results"].astype("float64")
    df["click_rate"] = df["clicked"] / df["searches"].where(df["searches"] > 0)
    df.attrs["period"] = period.as_dict()
    df.attrs["incomplete"] = notes(db, period.start, period.end)
    return df


def top_queries(db: Database, start: date, end: date, n: int = 20, kind: str | None = None) -> pd.DataFrame:
    """The most searched queries of [start, end]: searches, how many found nothing, found nothing good, were
    clicked, their average result count and when last searched."""
    return _frame(db, Period(start, end), kind, n)


def failed_queries(db: Database, start: date, end: date, n: int = 20, kind: str | None = None) -> pd.DataFrame:
    """Queries that found nothing (zero_results) or nothing close enough (no_good_match), most frequent first:
    what a merchandiser's rules or the catalog should answer."""
    return _frame(db, Period(start, end), kind, n,
                  having=lambda c: c["zero_results"] + c["no_good_match"] > 0)


def queries_without_clicks(db: Database, start: date, end: date, n: int = 20, kind: str | None = None
                           ) -> pd.DataFrame:
    """Queries that found results, none of whose searches led to a click (by request id) in [start, end]."""
    return _frame(db, Period(start, end), kind, n,
                  having=lambda c: (c["clicked"] == 0) & (c["searches"] > c["zero_results"]))
