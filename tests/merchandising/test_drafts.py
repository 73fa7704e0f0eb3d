"""engine/merchandising/drafts.py and engine/recommend/versions.py: the shared draft in SQL (saved per edit,
with who and what; two editors never overwrite each other), publishing (validated, numbered, immutable,
atomic: two processes racing on SQLite and on PostgreSQL get distinct numbers and whole documents), history,
diff and rollback (an older schema_version migrated), and how a process follows the live version."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from engine.catalog.configs import ConfigDraftRow, ConfigVersionRow
from engine.catalog.importers import import_generic
from engine.catalog.models import Product
from engine.errors import ConfigError, NotFound, ValidationError
from engine.merchandising.drafts import ConfigWorkflow
from engine.recommend.config import RecoConfig, fingerprint
from engine.recommend.rules import Rule
from engine.recommend.versions import LiveConfig, VersionTable, document_text
from engine.runtime import Runtime
from engine.settings import Settings
from pg_server import postgres_server  # noqa: F401  (session fixture)

ROOT = Path(__file__).resolve().parents[2]
FEED = "sku,title,price,stock\nTEE-1,Red tee,10,3\nTEE-2,Blue tee,12,0\nCAP-1,Cap,5,9\n"


def _runtime(tmp_path: Path, sql_url: str = "") -> Runtime:
    s = Settings()
    s.data_dir, s.database_url, s.qdrant_url, s.redis_url = tmp_path / "data", sql_url, "", ""
    rt = Runtime(s)
    (tmp_path / "feed.csv").write_text(FEED, encoding="utf-8")
    import_generic(rt.db, tmp_path / "feed.csv")
    return rt


@pytest.fixture
def desk(tmp_path) -> ConfigWorkflow:
    return ConfigWorkflow(_runtime(tmp_path))


def _weight(config: RecoConfig, w: float) -> RecoConfig:
    strategies = dict(config.strategies)
    old = strategies["balanced"]
    strategies["mine"] = replace(old, name="mine", weights={**old.weights, "similarity": w})
    return replace(config, strategies=strategies)


def test_the_first_run_publishes_the_builtin_defaults_as_version_1(desk):
    assert desk.history() and [v.number for v in desk.history()] == [1]
    v1 = desk.version(1)
    assert v1.author == "vitrina" and v1.schema_version == RecoConfig().schema_version
    stored = json.loads(v1.document)
    assert set(stored["strategies"]) == set(RecoConfig.default().strategies)  # whole: built-ins included
    assert fingerprint(v1.config()) == fingerprint(RecoConfig.default(desk.runtime.settings))
    assert desk.runtime.config_version == 1 and desk.runtime.config.version == "1"


def test_edits_persist_with_who_and_what_and_a_diff_to_live(desk, tmp_path):
    desk.edit(lambda c: _weight(c, 0.9), "Ann", "new strategy mine")
    desk.edit(lambda c: replace(c, default_strategy="mine"), "Bob", "mine by default")
    again = ConfigWorkflow(Runtime(desk.runtime.settings))  # another process: a reload, a second tab
    draft = again.draft()
    assert draft.config.default_strategy == "mine" and draft.config.strategies["mine"].weights["similarity"] == 0.9
    assert draft.updated_by == "Bob" and draft.revision == 3
    assert [(e.editor, e.summary) for e in again.edits()] == [("Bob", "mine by default"), ("Ann", "new strategy mine")]
    assert sorted(c.path for c in again.changes()) == ["default_strategy", "strategies.mine"]
    assert desk.runtime.config_version == 1  # nothing is live before a publish


def test_two_editors_at_once_both_land(desk):
    """Each edit is re-applied to the other's result: neither overwrites the other."""
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        desk.edit(lambda c: replace(c, rules=[*c.rules, Rule(f"hide-{i}", "hide", 1 + i % 3, scope=f"product:{100 + i}")]),
                  f"editor {i}", f"hide {i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    draft = desk.draft()
    assert sorted(r.id for r in draft.config.rules) == sorted(f"hide-{i}" for i in range(8))
    assert draft.revision == 9 and len(desk.edits()) == 8


def test_an_invalid_edit_saves_nothing(desk):
    before = desk.draft()
    with pytest.raises(ConfigError):
        desk.edit(lambda c: replace(c, default_strategy="nope"), "Ann", "bad")
    with pytest.raises(ValidationError, match="editor name is empty"):
        desk.edit(lambda c: c, "  ", "no name")
    assert desk.draft().revision == before.revision and desk.edits() == []


def test_publish_makes_the_draft_live_and_records_it(desk):
    desk.edit(lambda c: replace(_weight(c, 0.8), default_strategy="mine"), "Ann", "mine")
    out = desk.publish("Ann", "similarity first")
    v = out.version
    assert (v.number, v.author, v.message, v.previous, v.restores) == (2, "Ann", "similarity first", 1, None)
    assert sorted(c["path"] for c in v.changes) == ["default_strategy", "strategies.mine"] == sorted(
        c.path for c in out.changes)
    assert desk.runtime.config.default_strategy == "mine" and desk.runtime.config_version == 2
    assert desk.changes() == [] and desk.draft().base_version == 2
    with pytest.raises(ConfigError, match="nothing to publish"):
        desk.publish("Ann")
    assert [x.number for x in desk.history()] == [2, 1]


def test_an_invalid_draft_is_not_published_and_every_problem_is_listed(desk):
    with desk.runtime.db.session() as s:  # a draft broken behind the engine's back (an older release, by hand)
        doc = json.loads(document_text(desk.draft().config))
        doc["default_strategy"], doc["text_weight"] = "gone", 7
        doc["rules"] = [{"id": "r", "action": "pin", "product_id": 99999, "slot": 1, "scope": "global", "note": ""}]
        s.execute(update(ConfigDraftRow).values(document=json.dumps(doc)))
    with pytest.raises(ConfigError) as e:
        desk.draft()
    assert "default_strategy" in str(e.value) and "text_weight" in str(e.value)
    with pytest.raises(ConfigError):
        desk.publish("Ann")
    assert desk.runtime.live.refresh().number == 1
    desk.discard("Ann")  # the one way out, which needs no reading of the broken draft
    assert desk.changes() == [] and desk.edits()[0].summary.startswith("discarded")


def test_a_rule_whose_product_left_the_catalog_stops_the_publish(desk):
    tee = desk.runtime.catalog.get("TEE-2").id
    desk.edit(lambda c: replace(c, rules=[Rule("pin-tee", "pin", tee, slot=1)]), "Ann", "pin tee")
    with desk.runtime.db.session() as s:
        s.query(Product).filter(Product.id == tee).delete()
    with pytest.raises(ConfigError) as e:
        desk.publish("Ann")
    assert f"no product with id {tee}" in str(e.value) and "pin-tee" in str(e.value)
    assert desk.runtime.live.refresh().number == 1


def test_rollback_publishes_the_old_content_as_a_new_version(desk):
    desk.edit(lambda c: _weight(c, 0.7), "Ann", "mine")
    desk.publish("Ann")
    out = desk.rollback(1, "Bob")
    assert (out.version.number, out.version.restores, out.version.message) == (3, 1, "rollback to version 1")
    assert fingerprint(desk.runtime.live.refresh().config) == fingerprint(desk.version(1).config())
    assert [c.path for c in out.changes] == ["strategies.mine"] and out.changes[0].kind == "removed"
    assert "mine" not in desk.draft().config.strategies  # a draft with no changes of its own follows
    with pytest.raises(ConfigError, match="nothing to roll back"):
        desk.rollback(3, "Bob")
    with pytest.raises(NotFound, match="versions 1 to 3"):
        desk.rollback(9, "Bob")
    assert [c.path for c in desk.compare(2, 3)] == ["strategies.mine"] and desk.compare("live", "draft") == []


def test_a_draft_with_changes_of_its_own_keeps_them_through_a_rollback(desk):
    desk.edit(lambda c: _weight(c, 0.7), "Ann", "mine")
    desk.publish("Ann")
    desk.edit(lambda c: replace(c, text_weight=0.3), "Ann", "text weight")
    desk.rollback(1, "Bob")
    assert desk.draft().config.text_weight == 0.3 and "mine" in desk.draft().config.strategies


def test_a_version_of_an_older_schema_is_migrated_when_rolled_back(tmp_path):
    """Version 1 as an earlier release stored it: schema_version 1, whose rules applied per SKU."""
    rt = _runtime(tmp_path)
    tee = rt.catalog.get("TEE-1").id
    old = json.loads(document_text(RecoConfig.default(rt.settings)))
    old["schema_version"] = 1
    old["rules"] = [{"id": "hide-tee", "action": "hide", "product_id": tee, "scope": "global", "note": ""}]
    with rt.db.session() as s:
        s.add(ConfigVersionRow(number=1, schema_version=1, document=json.dumps(old), fingerprint="-", author="v1"))
    desk = ConfigWorkflow(rt)
    assert [r.id for r in rt.config.rules] == ["hide-tee"]
    desk.edit(lambda c: replace(c, rules=[]), "Ann", "no rules")
    desk.publish("Ann")
    out = desk.rollback(1, "Bob")
    live = desk.runtime.live.refresh().config
    assert out.version.schema_version == RecoConfig().schema_version == live.schema_version
    assert [r.id for r in live.rules] == ["hide-tee"]
    assert live.rules[0].match == "sku"  # v2 rules default to the style: v1's meant the SKU


def test_a_process_sees_a_publish_within_its_poll_interval(desk):
    follower = LiveConfig(desk.runtime.db, RecoConfig.default, poll_seconds=0.2)
    assert follower.current().number == 1
    desk.edit(lambda c: _weight(c, 0.6), "Ann", "mine")
    desk.publish("Ann")
    assert follower.current().number == 1  # asked less than a poll interval ago: no query
    time.sleep(0.25)
    assert follower.current().number == 2 and "mine" in follower.current().config.strategies


RACER = """
import sys
from dataclasses import replace
from engine.catalog.db import Database
from engine.recommend.config import RecoConfig
from engine.recommend.versions import VersionTable
url, weight, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
base = RecoConfig.default()
old = base.strategies["balanced"]
config = replace(base, strategies={**base.strategies, "racer": replace(old, name="racer",
                 weights={**old.weights, "similarity": weight})})
table = VersionTable(Database(url))
for i in range(n):
    table.append(config, f"racer {weight}", f"round {i}")
"""


def _race(url: str, tmp_path: Path) -> None:
    """Two processes publish their own document 15 times each, at once."""
    table = VersionTable(Runtime(replace(Settings(), data_dir=tmp_path / "d", database_url=url)).db)
    table.append(RecoConfig.default(), "seed", only_first=True)
    procs = [subprocess.Popen([sys.executable, "-c", RACER, url, w, "15"], cwd=ROOT, stderr=subprocess.PIPE)
             for w in ("0.2", "0.9")]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()[-2000:]
    versions = table.list()
    assert [v.number for v in versions] == list(range(31, 0, -1))  # distinct and gap-free
    weights = [v.config().strategies["racer"].weights["similarity"] for v in versions[:-1]]
    assert sorted(weights) == [0.2] * 15 + [0.9] * 15  # every document whole: one racer's or the other's
    for v in versions[:-1]:
        assert v.author == f"racer {v.config().strategies['racer'].weights['similarity']}"
        assert fingerprint(v.config()) == v.fingerprint


def test_two_publishers_racing_on_sqlite_get_distinct_whole_versions(tmp_path):
    _race(f"sqlite:///{tmp_path / 'race.db'}", tmp_path)


def test_two_publishers_racing_on_postgresql_get_distinct_whole_versions(tmp_path, postgres_server):  # noqa: F811
    _race(postgres_server.create_database("config_race"), tmp_path)
