"""engine/merchandising/history.py: what changed between two configs, matched by identity, not position, and
without the labels (version, created_at) that say when, not what."""
from __future__ import annotations



from engine.merchandising.history import Change, diff
from engine.recommend.config import dump, load
from engine.recommend.looks import ComplementaryTarget
from engine.recommend.rules import Rule
from test_config import custom


# ---------------------------------------------------------------- diff

def test_diff_lists_each_change():
    a = custom()
    b = load(dump(a))
    b.strategies["balanced"].weights["stock"] = 0.2
    b.strategies["margin-first"].weights.pop("similarity")
    del b.strategies["upsell"]
    b.rules[0].slot = 1
    b.rules.append(Rule("hide-x", "hide", 8))
    b.complementary["Men/Tops"][0] = ComplementaryTarget("Men/Bottoms", "bottom", 3)
    b.diversity.mmr_lambda = None
    changes = diff(a, b)
    assert changes == [
        Change("strategies.balanced.weights.stock", 0.05, 0.2),
        Change("strategies.upsell", a.to_dict()["strategies"]["upsell"], None),  # built-ins come first
        Change("strategies['margin-first'].weights.similarity", 1.0, None),
        Change("diversity.mmr_lambda", 0.6, None),
        Change("rules['pin-bag'].slot", 2, 1),
        Change("rules['hide-x']", None, {k: v for k, v in b.to_dict()["rules"][-1].items() if k != "id"}),
        Change("complementary['Men/Tops']['Men/Bottoms'].max_items", 2, 3),
    ]
    assert [c.kind for c in changes] == ["changed", "removed", "removed", "removed", "changed", "added", "changed"]
    assert diff(a, load(dump(a))) == []


def test_diff_ignores_rule_reordering():
    a = custom()
    b = load(dump(a))
    b.rules.reverse()
    assert diff(a, b) == []


# ---------------------------------------------------------------- history


def test_diff_leaves_the_labels_out():
    a = custom()
    b = load(dump(a))
    b.version, b.created_at = "99", "2030-01-01T00:00:00+00:00"
    assert diff(a, b) == []
