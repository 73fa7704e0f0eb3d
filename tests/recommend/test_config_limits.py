"""Hostile YAML configs (the document import-config, the console's upload and the service's hot reload all
read through engine.recommend.config.load): each is refused with a ConfigError naming the limit it passed,
quickly and without a RecursionError, while a config that uses aliases sparingly still loads."""
from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.recommend.config import load, parse_yaml

HEAD = "schema_version: 2\nversion: v1\n"


def billion_laughs() -> str:
    """Nine aliases on each of nine levels: 81 aliases written, 9^9 lists once expanded."""
    doc = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        doc += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return doc


def test_billion_laughs_is_refused_naming_the_alias_limit():
    with pytest.raises(ConfigError, match="VITRINA_MAX_YAML_ALIASES") as e:
        load(HEAD + billion_laughs())
    assert "more than 100 alias references" in str(e.value)


@pytest.mark.parametrize("doc", [
    "[" * 100_000 + "]" * 100_000,  # flow style, far past Python's recursion limit
    "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 500)),  # block style
], ids=["flow", "block"])
def test_deep_yaml_is_refused_naming_the_depth_limit(doc):
    with pytest.raises(ConfigError, match=r"nests deeper than 64 levels \(VITRINA_MAX_DOCUMENT_DEPTH\)"):
        load(doc)


def test_the_depth_limit_follows_the_setting(monkeypatch):
    doc = HEAD + "x: " + "[" * 10 + "]" * 10 + "\n"
    assert parse_yaml(doc)[0]["x"] == [[[[[[[[[[]]]]]]]]]]
    monkeypatch.setenv("VITRINA_MAX_DOCUMENT_DEPTH", "5")
    with pytest.raises(ConfigError, match="deeper than 5 levels"):
        parse_yaml(doc)


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(ConfigError, match="cycle"):
        load(HEAD + "rules: &r [*r]\n")


def test_aliases_may_not_multiply_a_large_node():
    """Few references can still expand a big anchored list a hundredfold: refused by the doubling rule."""
    doc = HEAD + "a: &a [" + ", ".join(map(str, range(1000))) + "]\nb: [" + ", ".join(["*a"] * 50) + "]\n"
    with pytest.raises(ConfigError, match="more than double .VITRINA_MAX_YAML_ALIASES"):
        parse_yaml(doc)


def test_a_config_sharing_a_fragment_by_alias_still_loads(monkeypatch):
    doc = HEAD + ("strategies:\n"
                  "  first:\n    weights: &w {similarity: 1.0, margin: 0.5}\n"
                  "  second:\n    weights: *w\n")
    cfg = load(doc)
    assert cfg.strategies["first"].weights == cfg.strategies["second"].weights == {"similarity": 1.0, "margin": 0.5}
    monkeypatch.setenv("VITRINA_MAX_YAML_ALIASES", "0")
    with pytest.raises(ConfigError, match="more than 0 alias references"):
        load(doc)


def test_a_config_over_the_size_limit_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("VITRINA_MAX_CONFIG_KB", "1")
    with pytest.raises(ConfigError, match=r"more than 1024 bytes \(VITRINA_MAX_CONFIG_KB\)"):
        load(("version: 1\n# " + "x" * 2000 + "\n").encode())
