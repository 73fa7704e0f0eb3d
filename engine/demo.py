"""The demo catalog: find (or fetch) the Magento Luma sample data, import it, index it, show a few results.

First start does the work; later starts find everything in place and return at once."""
from __future__ import annotations

import io
import logging
import tarfile
import urllib.request
from pathlib import Path
from typing import Callable

from engine.catalog.importers import import_magento
from engine.errors import VitrinaError
from engine.insights.events import EventLog
from engine.insights.simulate import simulate

log = logging.getLogger(__name__)
LUMA_COMMIT = "53807565ba9f23c9409268c02bb995cf39ef553d"
LUMA_ARCHIVE = f"https://codeload.github.com/magento/magento2-sample-data/tar.gz/{LUMA_COMMIT}"
Progress = Callable[[int, int], None]


def fetch_luma(dest: Path, url: str = LUMA_ARCHIVE, timeout: float = 60.0) -> Path:
    """Download the public sample-data archive and lay it out as `fixtures/<Module>/...` + `media/...`
    (the layout the importer reads). Only the fixtures and product photos are kept."""
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except OSError as e:
        raise VitrinaError(f"the demo catalog is not on this machine and could not be fetched from {url}: {e}. "
                           "Set VITRINA_CATALOG_DIR to a copy of the Magento sample data.") from None
    tmp = dest.with_name(dest.name + ".partial")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            parts = Path(m.name).parts[1:]  # drop the archive's top folder
            target = None
            if len(parts) >= 6 and parts[:3] == ("app", "code", "Magento") and parts[4] == "fixtures":
                module = parts[3]
                target = tmp / "fixtures" / module / Path(*parts[5:])
            elif len(parts) >= 5 and parts[:4] == ("pub", "media", "catalog", "product"):
                target = tmp / "media" / "catalog" / "product" / Path(*parts[4:])
            if target is None or ".." in target.parts:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            if src is not None:
                target.write_bytes(src.read())
    if not (tmp / "fixtures").exists():
        raise VitrinaError(f"the archive from {url} does not hold the Magento sample-data fixtures")
    tmp.rename(dest)
    return dest


def locate_catalog(settings) -> Path:
    """The configured folder, else a copy fetched earlier into the data folder, else fetch one now."""
    if Path(settings.catalog_dir).exists():
        return Path(settings.catalog_dir)
    local = Path(settings.data_dir) / "magento-luma"
    if local.exists():
        return local
    log.warning("demo catalog not found at %s: fetching it from the public source", settings.catalog_dir)
    return fetch_luma(local)


def prepare_demo(rt, progress: Progress | None = None, log: Callable[[str], None] | None = print,
                 simulate_events: bool = True) -> dict:
    """Import + index the demo catalog when needed; returns what was done (fast when nothing is)."""
    out: dict = {}
    say = log or (lambda _msg: None)
    stats = rt.catalog.stats()
    if stats.products == 0:
        folder = locate_catalog(rt.settings)
        say(f"importing the demo catalog from {folder} ...")
        rep = import_magento(rt.db, folder, progress=progress)
        out["import"] = {"created": rep.created, "updated": rep.updated, "rejected": len(rep.rejected)}
        say(f"imported {rep.created} products ({len(rep.rejected)} rows rejected)")
    idx = rt.indexer.run(progress=progress)
    out["index"] = {"encoded": idx.encoded, "errors": len(idx.errors), "seconds": round(idx.seconds, 1)}
    if idx.encoded:
        say(f"indexed {idx.encoded} products in {idx.seconds:.1f}s ({len(idx.errors)} errors)")
    if simulate_events:
        if EventLog(rt.db).count() == 0:
            sim = simulate(rt.db, seed=7, strategies=list(rt.config.strategies),
                           default_strategy=rt.config.default_strategy, config_version=rt.config_version)
            out["simulated_events"] = sim.events
            say(f"simulated {sim.events} shopper events for the dashboards")
    if log is not None:
        sample = rt.catalog.list_products(limit=3)
        for p in sample:
            recs = rt.recommender().similar(p.id, n=5)
            say(f"\nsimilar to {p.sku} {p.title}:")
            for r in recs:
                say(f"  {r.rank}. {r.product.sku:<14} {r.product.title[:40]:<40} {r.match_percent:>3}% "
                    f"{', '.join(r.reasons)}")
    return out
