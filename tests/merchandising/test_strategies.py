"""Custom strategies: built-ins are read-only, forks start from a base, renames and deletions are refused while
production depends on the name, and every edit returns a validated copy without touching its input."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from engine.errors import ConfigError, NotFound
from engine.merchandising.strategies import (delete_strategy, fork_strategy, is_builtin, rename_strategy,
                                             set_default_strategy, update_strategy)
from engine.recommend.config import DiversityConfig, RecoConfig, dump, load
from engine.recommend.rerank import BUILTIN_STRATEGIES, Strategy

POP = {"similarity": 0.3, "popularity": 0.7}


@pytest.fixture()
def config() -> RecoConfig:
    """The built-ins plus custom `pop_heavy` (the default) and `cheap`; MMR on, collapsing 2 per style."""
    base = RecoConfig()
    strategies = dict(base.strategies)
    strategies["pop_heavy"] = Strategy("pop_heavy", dict(POP), "Popular first.")
    strategies["cheap"] = Strategy("cheap", {"similarity": 0.5, "price": 0.5}, "Close in price.")
    return replace(base, strategies=strategies, default_strategy="pop_heavy",
                   diversity=DiversityConfig(0.7, 2)).validate()


@pytest.fixture()
def live() -> RecoConfig:
    return RecoConfig()  # default strategy: balanced


def unchanged(config: RecoConfig):
    """A check that `config` is exactly as it was when this was called."""
    before = copy.deepcopy(config)
    return lambda: config == before and dump(config) == dump(before)


def test_builtins_are_known_by_name():
    assert all(is_builtin(n) for n in ("relevance", "balanced", "trending", "upsell"))
    assert set(BUILTIN_STRATEGIES) == {"relevance", "balanced", "trending", "upsell"}
    assert not is_builtin("pop_heavy") and not is_builtin("Balanced") and not is_builtin(None)


@pytest.mark.parametrize("name", list(BUILTIN_STRATEGIES))
def test_a_builtin_cannot_be_updated(config, name):
    same = unchanged(config)
    with pytest.raises(ConfigError, match=f"built-in strategy '{name}' is read-only: save your weights under a "
                                          "new name"):
        update_strategy(config, name, {"similarity": 1.0, "popularity": 1.0})
    assert same()


def test_update_changes_one_custom_strategy_and_keeps_the_rest(config):
    same = unchanged(config)
    out = update_strategy(config, "pop_heavy", {"similarity": 0.5, "popularity": 0.5, "margin": 0})
    assert out.strategies["pop_heavy"] == Strategy("pop_heavy", {"similarity": 0.5, "popularity": 0.5},
                                                   "Popular first.")  # zero weight dropped, description kept
    assert out.diversity == DiversityConfig(0.7, 2)  # diversity left as it was
    assert out.strategies["balanced"] == config.strategies["balanced"] and same()
    again = update_strategy(config, "cheap", {"price": 1.0}, mmr_lambda=None, collapse_k=None,
                            description="Price only.")
    assert again.diversity == DiversityConfig(None, None)
    assert again.strategies["cheap"].description == "Price only."
    with pytest.raises(NotFound, match="unknown strategy 'nope'"):
        update_strategy(config, "nope", POP)
    with pytest.raises(ConfigError, match="unknown factor 'colour'"):
        update_strategy(config, "cheap", {"colour": 1.0})
    assert same()


def test_fork_copies_the_base_or_takes_new_weights(config):
    same = unchanged(config)
    out = fork_strategy(config, "balanced", "my_balanced")
    assert out.strategies["my_balanced"].weights == config.strategies["balanced"].weights
    assert "balanced" in out.strategies["my_balanced"].description
    assert out.strategies["balanced"] == BUILTIN_STRATEGIES["balanced"]  # the base is untouched
    assert out.default_strategy == "pop_heavy" and out.diversity == config.diversity
    tuned = fork_strategy(config, "balanced", "pop2", {"similarity": 0.2, "popularity": 0.8, "stock": 0},
                          mmr_lambda=0.5, description="Heavier.", make_default=True)
    assert tuned.strategies["pop2"] == Strategy("pop2", {"similarity": 0.2, "popularity": 0.8}, "Heavier.")
    assert tuned.default_strategy == "pop2" and tuned.diversity == DiversityConfig(0.5, 2)
    assert load(dump(tuned)).strategies["pop2"].weights == {"similarity": 0.2, "popularity": 0.8}
    out.strategies["my_balanced"].weights["similarity"] = 9.0  # the fork owns its weights
    assert config.strategies["balanced"].weights["similarity"] == BUILTIN_STRATEGIES["balanced"].weights[
        "similarity"] and same()


@pytest.mark.parametrize("name, message", [
    ("cheap", "a strategy named 'cheap' already exists"),
    ("Balanced", "a built-in strategy named 'balanced' already exists"),
    ("POP_HEAVY", "a strategy named 'pop_heavy' already exists"),
    ("pop heavy", "not a valid strategy name"),
    ("", "not a valid strategy name"),
    ("x" * 65, "not a valid strategy name"),
    ("naïve", "not a valid strategy name"),
    (42, "must be text"),
])
def test_fork_refuses_a_taken_or_invalid_name(config, name, message):
    same = unchanged(config)
    with pytest.raises(ConfigError, match=message):
        fork_strategy(config, "balanced", name)
    assert same()


def test_fork_needs_a_base_that_exists_and_valid_weights(config):
    with pytest.raises(NotFound, match="unknown strategy 'nope'"):
        fork_strategy(config, "nope", "mine")
    with pytest.raises(ConfigError, match=r"strategies\.mine\.weights\.popularity"):
        fork_strategy(config, "balanced", "mine", {"popularity": -1.0, "similarity": 1.0})


def test_rename_keeps_place_weights_and_carries_the_drafts_default(config, live):
    same = unchanged(config)
    out = rename_strategy(config, "pop_heavy", "popular", live=live, running=set())
    assert list(out.strategies) == ["relevance", "balanced", "trending", "upsell", "popular", "cheap"]
    assert out.strategies["popular"] == Strategy("popular", dict(POP), "Popular first.")
    assert out.default_strategy == "popular" and same()
    other = rename_strategy(config, "cheap", "budget", live=live, running={"balanced"})
    assert other.default_strategy == "pop_heavy" and "cheap" not in other.strategies


@pytest.mark.parametrize("old, new, running, message", [
    ("balanced", "mine", set(), "built-in strategy 'balanced' is read-only"),
    ("cheap", "pop_heavy", set(), "a strategy named 'pop_heavy' already exists"),
    ("cheap", "upsell", set(), "a built-in strategy named 'upsell' already exists"),
    ("cheap", "bad name", set(), "not a valid strategy name"),
    ("cheap", "budget", {"cheap"}, "a running experiment serves it"),
])
def test_rename_refusals_say_why(config, live, old, new, running, message):
    same = unchanged(config)
    with pytest.raises(ConfigError, match=message):
        rename_strategy(config, old, new, live=live, running=running)
    assert same()


def test_the_live_default_can_be_neither_renamed_nor_deleted(config):
    live = replace(config, default_strategy="cheap")
    for call in (lambda: rename_strategy(config, "cheap", "budget", live=live, running=set()),
                 lambda: delete_strategy(config, "cheap", live=live, running=set())):
        with pytest.raises(ConfigError, match="it is the live default strategy"):
            call()


def test_delete_removes_a_custom_strategy_only_when_nothing_depends_on_it(config, live):
    same = unchanged(config)
    out = delete_strategy(config, "cheap", live=live, running={"balanced"})
    assert "cheap" not in out.strategies and "pop_heavy" in out.strategies and same()
    with pytest.raises(ConfigError, match="it is the draft's default strategy"):
        delete_strategy(config, "pop_heavy", live=live, running=set())
    with pytest.raises(ConfigError, match="a running experiment serves it"):
        delete_strategy(config, "cheap", live=live, running={"cheap"})
    with pytest.raises(ConfigError, match="built-in strategy 'trending' is read-only"):
        delete_strategy(config, "trending", live=live, running=set())
    with pytest.raises(NotFound, match="unknown strategy 'nope'"):
        delete_strategy(config, "nope", live=live, running=set())
    assert same()


def test_set_default_strategy(config):
    same = unchanged(config)
    assert set_default_strategy(config, "cheap").default_strategy == "cheap"
    assert set_default_strategy(config, "balanced").default_strategy == "balanced"  # a built-in may be default
    with pytest.raises(NotFound, match="unknown strategy 'nope'"):
        set_default_strategy(config, "nope")
    assert same()
