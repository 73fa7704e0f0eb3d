"""Config documents as a careless or hostile editor writes them: `RecoConfig.load` returns a valid config or
raises ConfigError listing every problem with its path — never another exception — whatever the text, and
whatever the structure of an otherwise well-formed document."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.recommend.config import RecoConfig, dump

SCALARS = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=16)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=16)
BASE = RecoConfig.default().to_dict()


def _load(text: str | bytes) -> RecoConfig | None:
    try:
        config = RecoConfig.load(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    except ConfigError as e:
        assert e.errors or str(e), "a refusal lists its problems"
        assert all(msg.startswith("$") or msg for msg in e.errors)
        return None
    assert config.errors() == []
    return config


@given(st.text(max_size=400))
def test_any_text_loads_or_is_refused(text):
    _load(text)


@given(st.binary(max_size=400))
def test_any_bytes_load_or_are_refused(data):
    _load(data)


@given(st.sampled_from(sorted(BASE)), VALUES)
def test_a_section_replaced_by_anything_loads_or_is_refused_with_its_path(section, value):
    doc = dict(BASE, **{section: value})
    text = yaml.safe_dump(doc, allow_unicode=True)
    config = _load(text)
    if config is not None:  # what loads round-trips through the exported document
        again = RecoConfig.load(dump(config).encode("utf-8"))
        assert again.to_dict() == config.to_dict()


@given(st.sampled_from(["text_weight"]), st.floats(allow_nan=True, allow_infinity=True))
def test_non_finite_or_out_of_range_weights_are_refused(field, value):
    doc = dict(BASE, **{field: value})
    config = _load(yaml.safe_dump(doc))
    if config is not None:
        assert math.isfinite(value) and 0.0 <= value <= 1.0


CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "configs"


@pytest.mark.parametrize(("name", "message"), [
    ("nul-byte.yaml", "special characters are not allowed"),
    ("billion-laughs.yaml", "VITRINA_MAX_YAML_ALIASES"),
    ("deep.yaml", "VITRINA_MAX_DOCUMENT_DEPTH"),
    ("latin1.yaml", "not UTF-8"),
    ("pin-id-overflow.yaml", r"\$\.rules\[0\]\.product_id: Input should be less than or equal to 9223372036854775807"),
])
def test_corpus_documents_are_refused_naming_the_problem(name, message):
    with pytest.raises(ConfigError, match=message):
        RecoConfig.load((CORPUS / name).read_bytes())


@given(st.sampled_from(["pin", "hide"]), st.one_of(st.integers(max_value=0), st.integers(min_value=2**63)))
def test_rule_product_ids_outside_1_to_2_63_are_refused_at_validation(action, product_id):
    rule = {"id": f"{action}-1", "action": action, "product_id": product_id}
    if action == "pin":
        rule["slot"] = 1
    with pytest.raises(ConfigError, match=r"\$\.rules\[0\]\.product_id"):
        RecoConfig.load(yaml.safe_dump(dict(BASE, rules=[rule])).encode("utf-8"))
