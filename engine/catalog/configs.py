"""SQL tables of the recommendation config's life: the published versions and the shared draft.

They live in the engine's database, not in a browser session or a process, so every console tab, every
console process, the CLI and a service on another machine see the same draft and the same live version.

- `config_versions`: every published document, whole (every strategy's full weights, built-ins included)
  with its schema_version, immutable once written. The live version is the highest number: publishing
  and rolling back both append, so "make live" is one INSERT, atomic in any SQL database, and two
  publishers racing get two distinct numbers (the primary key refuses the second, which retries).
- `config_drafts`: the working document merchandisers edit (one row per draft name; the console uses
  "main"), with a revision number every save must match, so two tabs never overwrite each other's edit.
- `config_draft_edits`: who changed the draft, when, and what (a line per save).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.catalog.models import Base, utcnow


class ConfigVersionRow(Base):
    __tablename__ = "config_versions"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    schema_version: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)  # the whole config as JSON
    fingerprint: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)  # naive UTC
    previous: Mapped[int | None] = mapped_column(Integer)  # the live version it replaced
    restores: Mapped[int | None] = mapped_column(Integer)  # set by a rollback: the version whose content it is
    changes: Mapped[list] = mapped_column(JSON, default=list)  # [{path, old, new}] against `previous`


class ConfigDraftRow(Base):
    __tablename__ = "config_drafts"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    base_version: Mapped[int | None] = mapped_column(Integer)  # the live version the draft was last in step with
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DraftEditRow(Base):
    __tablename__ = "config_draft_edits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft: Mapped[str] = mapped_column(String(32), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    editor: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
