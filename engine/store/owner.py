"""Who owns an embedded store. qdrant-edge admits one opener per data folder, so in embedded mode one process
owns the store: the console (which serves the HTTP API beside itself) or `python -m engine serve`. The owner
leaves a note in the folder — its pid, its command line and the API it serves — so a second process can say
who holds the store and where to go instead of failing with the engine's bare lock error."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

NOTE = "owner.json"


@dataclass(frozen=True)
class Owner:
    pid: int
    command: str
    since: str
    api: str | None = None  # the HTTP API this process serves the engine on, when it does


def write(folder: Path, api: str | None = None) -> Owner:
    """Record this process as the owner (best effort: a read-only folder just goes without a note)."""
    owner = Owner(os.getpid(), " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:300],
                  datetime.now(timezone.utc).isoformat(timespec="seconds"), api)
    try:
        (folder / NOTE).write_text(json.dumps(asdict(owner)), encoding="utf-8")
    except OSError:
        pass
    return owner


def read(folder: Path) -> Owner | None:
    """The recorded owner, if the note is readable and names a live process."""
    try:
        data = json.loads((folder / NOTE).read_text(encoding="utf-8"))
        owner = Owner(int(data["pid"]), str(data["command"]), str(data["since"]), data.get("api"))
        os.kill(owner.pid, 0)  # signal 0 only checks that the process exists
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner


def clear(folder: Path) -> None:
    """Remove the note when this process wrote it."""
    owner = read(folder)
    if owner is not None and owner.pid == os.getpid():
        (folder / NOTE).unlink(missing_ok=True)


def locked_message(folder: Path) -> str:
    """What a process that cannot open the store should be told: who owns it and what to do."""
    owner = read(folder)
    who = (f"process {owner.pid} (`{owner.command}`, since {owner.since})" if owner is not None
           else "another process")
    via = f"use the HTTP API it serves at {owner.api}, " if owner is not None and owner.api else ""
    return (f"the embedded vector store at {folder} is owned by {who}. In embedded mode one process owns the "
            f"store: {via}stop that process first, or set QDRANT_URL to a Qdrant server so every process opens "
            f"the store itself")
