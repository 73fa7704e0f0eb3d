"""The merchandisers' draft, publishing, history and rollback: the loop from a slider in the console to the
list the production service serves.

Every merchandising page (and `python -m engine config ...`) edits one draft kept in SQL
(engine/catalog/configs.py), so a reload, a second tab or a colleague's console shows the same work. Each
edit is saved at once, with who made it and a line saying what; saving compares the draft's revision, so two
tabs editing at once both land (the second edit is re-applied to the first one's result), never one over the
other.

Publishing validates the draft (every problem listed, rules naming products the catalog lost included) and
appends it as the next immutable version with its author, message and diff to the version it replaces
(engine/recommend/versions.py); the HTTP service and every console process pick it up within a second.
Rolling back publishes an old version's content as a new version, so history only grows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.catalog.configs import ConfigDraftRow, DraftEditRow
from engine.catalog.models import utcnow
from engine.errors import ConfigError, ValidationError
from engine.merchandising.edits import unknown_rule_products
from engine.merchandising.history import Change, as_records, diff
from engine.recommend.config import RecoConfig, fingerprint
from engine.recommend.versions import Conflict, PublishedVersion, VersionTable, config_from_text, document_text
from engine.runtime import Runtime
from engine.text import is_blank, text_problem

DRAFT = "main"
MAX_NAME = 128
MAX_MESSAGE = 2000
SAVE_ATTEMPTS = 20
Edit = Callable[[RecoConfig], RecoConfig]


@dataclass(frozen=True)
class Draft:
    config: RecoConfig
    revision: int
    base_version: int | None  # the live version it was last in step with
    updated_by: str
    updated_at: datetime  # naive UTC


@dataclass(frozen=True)
class DraftEdit:
    revision: int
    editor: str
    summary: str
    at: datetime


@dataclass(frozen=True)
class Published:
    version: PublishedVersion
    changes: list[Change]


def person(name: str, what: str = "editor") -> str:
    """A free-text name (who edited, who published): required, one line, at most 128 characters."""
    if not isinstance(name, str) or is_blank(name):
        raise ValidationError(f"say who you are: the {what} name is empty")
    problem = text_problem(name)
    if problem:
        raise ValidationError(f"the {what} name {problem}")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise ValidationError(f"the {what} name is longer than {MAX_NAME} characters")
    return name


def _message(text: str) -> str:
    problem = text_problem(text or "")
    if problem:
        raise ValidationError(f"the message {problem}")
    if len(text or "") > MAX_MESSAGE:
        raise ValidationError(f"the message is longer than {MAX_MESSAGE} characters")
    return (text or "").strip()


class ConfigWorkflow:
    """One draft of a data location, its published versions and the live one."""

    def __init__(self, runtime: Runtime, name: str = DRAFT):
        self.runtime, self.name = runtime, name
        self.table = VersionTable(runtime.db)

    # ---- the draft ----------------------------------------------------------------------------------
    def draft(self) -> Draft:
        """The shared draft; made from the live version the first time anyone asks."""
        while True:
            with self.runtime.db.session() as s:
                row = s.get(ConfigDraftRow, self.name)
                if row is not None:
                    return Draft(config_from_text(row.document), row.revision, row.base_version, row.updated_by,
                                 row.updated_at)
            live = self.runtime.live.current()
            try:
                with self.runtime.db.session() as s:
                    s.add(ConfigDraftRow(name=self.name, document=document_text(live.config), base_version=live.number,
                                         revision=1, updated_by="vitrina"))
            except IntegrityError:
                pass  # another process made it first: read theirs

    def edit(self, change: Edit, editor: str, summary: str) -> Draft:
        """Apply `change` to the draft and save it at once. When another save landed in between, the change is
        applied again to that result (an edit is a function of the draft, not a snapshot of it). A change that
        raises (ConfigError for an invalid result) saves nothing."""
        editor = person(editor)
        for _ in range(SAVE_ATTEMPTS):
            current = self.draft()
            new = change(current.config).validate()
            with self.runtime.db.session() as s:
                updated = s.execute(
                    ConfigDraftRow.__table__.update()
                    .where(ConfigDraftRow.name == self.name, ConfigDraftRow.revision == current.revision)
                    .values(document=document_text(new), revision=current.revision + 1, updated_by=editor,
                            updated_at=utcnow())).rowcount
                if updated:
                    s.add(DraftEditRow(draft=self.name, revision=current.revision + 1, editor=editor,
                                       summary=summary[:500]))
            if updated:
                return self.draft()
        raise Conflict("the draft is being edited too fast to save this change; try again")

    def replace(self, config: RecoConfig, editor: str, summary: str) -> Draft:
        """Make `config` the draft (an import, a version loaded to edit further)."""
        return self.edit(lambda _: config, editor, summary)

    def discard(self, editor: str) -> Draft:
        """Throw the draft's changes away: it becomes the live version again. Works on a draft that can no longer
        be read too (written by hand, or by a newer release), which no edit can fix."""
        editor, live = person(editor), self.runtime.live.current()
        with self.runtime.db.session() as s:
            row = s.get(ConfigDraftRow, self.name)
            if row is None:
                row = ConfigDraftRow(name=self.name, revision=0)
                s.add(row)
            row.document, row.base_version, row.revision = document_text(live.config), live.number, row.revision + 1
            row.updated_by, row.updated_at = editor, utcnow()
            s.add(DraftEditRow(draft=self.name, revision=row.revision, editor=editor,
                               summary=f"discarded the draft's changes (back to version {live.number})"))
        return self.draft()

    def edits(self, limit: int = 50) -> list[DraftEdit]:
        """Who changed the draft and what, newest first."""
        with self.runtime.db.session() as s:
            rows = s.scalars(select(DraftEditRow).where(DraftEditRow.draft == self.name)
                             .order_by(DraftEditRow.id.desc()).limit(limit))
            return [DraftEdit(r.revision, r.editor, r.summary, r.at) for r in rows]

    def changes(self) -> list[Change]:
        """What the draft changes against the live version (empty: publishing would change nothing)."""
        return diff(self.runtime.live.current().config, self.draft().config)

    def problems(self, config: RecoConfig | None = None) -> list[str]:
        """Why `config` (default: the draft) cannot be published: every document error, and every rule whose
        product the catalog no longer holds."""
        config = config if config is not None else self.draft().config
        return config.errors() + unknown_rule_products(config, self.runtime.catalog)

    # ---- versions -----------------------------------------------------------------------------------
    def publish(self, author: str, message: str = "") -> Published:
        """Make the draft the next live version. ConfigError lists every problem and changes nothing; a draft
        equal to the live version is refused (a version with no change would only blur the history)."""
        author, message = person(author, "publisher"), _message(message)
        draft = self.draft()
        problems = self.problems(draft.config)
        if problems:
            raise ConfigError("the draft cannot be published", problems)
        live = self.runtime.live.refresh()
        if fingerprint(draft.config) == live.fingerprint:
            raise ConfigError("nothing to publish", [f"the draft is the same as live version {live.number}"])

        def within(s: Session, number: int) -> None:
            row = s.get(ConfigDraftRow, self.name)
            if row is None or row.revision != draft.revision:
                raise Conflict("the draft changed while it was being published: review it and publish again")
            row.base_version = number

        return self._append(draft.config, author, message, None, within)

    def rollback(self, number: int, author: str, message: str = "") -> Published:
        """Publish version `number`'s content (migrated to this release's schema) as a new version. A draft
        with no changes of its own follows the new live version; one with changes keeps them."""
        author, message = person(author, "publisher"), _message(message)
        target = self.table.get(number)
        config = target.config()
        live = self.runtime.live.refresh()
        if fingerprint(config) == live.fingerprint:
            raise ConfigError("nothing to roll back", [f"version {number} is what live version {live.number} serves"])
        self.draft()  # made now if missing, so it can follow

        def within(s: Session, new_number: int) -> None:
            row = s.get(ConfigDraftRow, self.name)
            if row is not None and fingerprint(config_from_text(row.document)) == live.fingerprint:
                row.document, row.base_version = document_text(config), new_number
                row.revision += 1
                s.add(DraftEditRow(draft=self.name, revision=row.revision, editor=author,
                                   summary=f"follows the rollback to version {number}"))

        return self._append(config, author, message or f"rollback to version {number}", number, within)

    def _append(self, config: RecoConfig, author: str, message: str, restores: int | None,
                within: Callable[[Session, int], None]) -> Published:
        found: list[Change] = []

        def changes(old: RecoConfig | None) -> list[dict]:
            found[:] = diff(old, config) if old is not None else []
            return as_records(found)

        version = self.table.append(config, author, message, restores=restores, changes=changes, within=within)
        self.runtime.live.refresh()  # this process serves it at once; others within a poll interval
        return Published(version, list(found))

    def history(self, limit: int | None = None) -> list[PublishedVersion]:
        self.runtime.live.current()  # a first run publishes the built-in defaults as version 1
        return self.table.list(limit)

    def version(self, number: int) -> PublishedVersion:
        return self.table.get(number)

    def config_of(self, ref: int | str) -> RecoConfig:
        """A version number, "live" or "draft" as a config."""
        if ref == "draft":
            return self.draft().config
        if ref == "live":
            return self.runtime.live.current().config
        return self.table.get(int(ref)).config()

    def compare(self, a: int | str, b: int | str) -> list[Change]:
        """What changes from a to b (version numbers, "live" or "draft")."""
        return diff(self.config_of(a), self.config_of(b))
