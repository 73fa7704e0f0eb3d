"""Published config versions in SQL, and the live version every process follows.

The live config is the highest-numbered row of `config_versions` (engine/catalog/configs.py): publishing
and rolling back append a row, so going live is one INSERT, atomic in any SQL database, and a version once
written never changes. A process learns of a new live version from `LiveConfig`, which asks the database
for the highest number at most once per poll interval (1 s), never once per request, and parses a version
only when the number moved.

A code release never changes what is live: the first process to find no version at all publishes the
built-in defaults of its release as version 1, and from then on new built-in defaults reach production only
through a publish. Each version keeps its schema_version; an older document is migrated when it is read
(engine/recommend/config_document.py), so a rollback to it ranks as it did.

Drafts, publishing and rollback, which need the catalog and the diff, are merchandising work:
engine/merchandising/drafts.py."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.catalog.configs import ConfigVersionRow
from engine.catalog.db import Database
from engine.errors import ConfigError, NotFound, VitrinaError
from engine.recommend.config import RecoConfig, fingerprint, from_dict

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how stale a process's view of the live version may be
FIRST_AUTHOR = "vitrina"
APPEND_ATTEMPTS = 50  # racing publishers each retry with the next free number


def document_text(config: RecoConfig) -> str:
    """The whole document as stored: JSON of every section, built-in strategies included."""
    return json.dumps(config.to_dict(), ensure_ascii=False, sort_keys=False, default=str)


def config_from_text(text: str) -> RecoConfig:
    """A stored document as a config, migrated from an older schema_version when needed (ConfigError when
    it cannot be read by this release)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError("stored config is not JSON", [str(e)]) from None
    return from_dict(data)


def stamp(config: RecoConfig, number: int, at: datetime) -> RecoConfig:
    """The config labelled as version `number`, published at `at` (UTC): the label every response carries."""
    return replace(config, version=str(number), created_at=at.replace(tzinfo=timezone.utc).isoformat())


@dataclass(frozen=True)
class PublishedVersion:
    number: int
    schema_version: int
    fingerprint: str
    author: str
    message: str
    created_at: datetime  # naive UTC
    previous: int | None
    restores: int | None
    changes: list[dict[str, Any]] = field(default_factory=list)
    document: str = field(default="", repr=False)

    def config(self) -> RecoConfig:
        return config_from_text(self.document)

    @classmethod
    def of(cls, row: ConfigVersionRow) -> "PublishedVersion":
        return cls(row.number, row.schema_version, row.fingerprint, row.author, row.message or "", row.created_at,
                   row.previous, row.restores, list(row.changes or []), row.document)


class Conflict(VitrinaError):
    """What a publish was based on moved underneath it (another publish, another edit of the draft)."""


# Called inside the publishing transaction with the new number: more writes that must land with the version
# (the draft's new base), or a Conflict that abandons the attempt.
Within = Callable[[Session, int], None]


class VersionTable:
    """Reads and appends `config_versions`."""

    def __init__(self, db: Database):
        self.db = db

    def latest_number(self) -> int | None:
        with self.db.engine.connect() as conn:
            return conn.execute(select(func.max(ConfigVersionRow.number))).scalar()

    def get(self, number: int) -> PublishedVersion:
        with self.db.session() as s:
            row = s.get(ConfigVersionRow, number)
            if row is None:
                known = self.latest_number()
                raise NotFound(f"no config version {number}" + (f" (versions 1 to {known})" if known else
                                                                 " (nothing has been published yet)"))
            return PublishedVersion.of(row)

    def latest(self) -> PublishedVersion | None:
        number = self.latest_number()
        return self.get(number) if number is not None else None

    def list(self, limit: int | None = None) -> list[PublishedVersion]:
        """Newest first."""
        with self.db.session() as s:
            q = select(ConfigVersionRow).order_by(ConfigVersionRow.number.desc())
            if limit is not None:
                q = q.limit(limit)
            return [PublishedVersion.of(r) for r in s.scalars(q)]

    def append(self, config: RecoConfig, author: str, message: str = "", *, restores: int | None = None,
               changes: Callable[[RecoConfig | None], list[dict[str, Any]]] | None = None,
               within: Within | None = None, only_first: bool = False) -> PublishedVersion:
        """Store `config` (validated) as the next version and so make it live. Two appenders racing get two
        numbers: the primary key refuses the slower one, which retries with the next. `changes` computes the
        diff from the version it replaces; with only_first, nothing is written when a version exists already
        (the first-run seed of two processes racing)."""
        config.validate()
        for _ in range(APPEND_ATTEMPTS):
            try:
                with self.db.session() as s:
                    previous = s.execute(select(func.max(ConfigVersionRow.number))).scalar()
                    if only_first and previous is not None:
                        return self.get(previous)
                    number = (previous or 0) + 1
                    now = datetime.now(timezone.utc).replace(tzinfo=None)
                    stamped = stamp(config, number, now)
                    old = None
                    if changes is not None and previous is not None:
                        try:
                            old = config_from_text(s.get(ConfigVersionRow, previous).document)
                        except ConfigError:  # written by a newer release: no diff against it
                            old = None
                    row = ConfigVersionRow(
                        number=number, schema_version=stamped.schema_version, document=document_text(stamped),
                        fingerprint=fingerprint(stamped), author=author, message=message, created_at=now,
                        previous=previous, restores=restores, changes=changes(old) if changes else [])
                    s.add(row)
                    s.flush()  # the primary key check, before `within` writes anything else
                    if within is not None:
                        within(s, number)
                    result = PublishedVersion.of(row)
                return result
            except IntegrityError:
                time.sleep(0.005)
        raise Conflict(f"could not publish after {APPEND_ATTEMPTS} attempts: other publishers kept winning")


@dataclass(frozen=True)
class Live:
    number: int
    config: RecoConfig
    fingerprint: str


class LiveConfig:
    """The live version as this process knows it: re-checked at most once per `poll_seconds`."""

    def __init__(self, db: Database, first: Callable[[], RecoConfig], poll_seconds: float = POLL_SECONDS):
        self.table = VersionTable(db)
        self.first = first  # the built-in defaults published as version 1 when there is none
        self.poll_seconds = poll_seconds
        self.error: str | None = None  # why the newest version is not the one in use
        self._lock = threading.Lock()
        self._current: Live | None = None
        self._checked = 0.0
        self._refused: int | None = None

    def due(self) -> bool:
        """Whether the next `current()` asks the database (so an event loop can hand that to a thread)."""
        return self._current is None or time.monotonic() - self._checked >= self.poll_seconds

    def current(self) -> Live:
        now = time.monotonic()
        if self._current is not None and now - self._checked < self.poll_seconds:
            return self._current
        with self._lock:
            if self._current is None or time.monotonic() - self._checked >= self.poll_seconds:
                self._refresh()
            return self._current

    def refresh(self) -> Live:
        """Look now (after this process published, or in a test)."""
        with self._lock:
            self._refresh()
            return self._current

    def _refresh(self) -> None:
        number = self.table.latest_number()
        if number is None:
            number = self.table.append(self.first(), FIRST_AUTHOR, "the built-in defaults (first run)",
                                       only_first=True).number
        self._checked = time.monotonic()
        if (self._current is not None and number == self._current.number) or number == self._refused:
            return
        version = self.table.get(number)
        try:
            config = version.config()
        except ConfigError as e:
            if self._current is None:
                raise
            self._refused = number
            self.error = f"version {number} cannot be read by this release; still serving {self._current.number}: {e}"
            log.error(self.error)
            return
        old = self._current.number if self._current else None
        self._current, self.error, self._refused = Live(number, config, fingerprint(config)), None, None
        if old is not None:
            log.info("config version %s is live (was %s)", number, old)
