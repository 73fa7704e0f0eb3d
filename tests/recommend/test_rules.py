"""Pin and hide rules: scope, precedence and edge cases, on a hand-made ranked list."""
from __future__ import annotations

import pytest

from engine.errors import ValidationError
from engine.recommend.rules import Rule, apply_rules, hidden_ids, parse_scope, winning_pins
from engine.types import ProductCard, Recommendation

# The source: a jacket (id 100) in Men/Tops/Jackets = categories [11, 10, 1].
SOURCE = ProductCard(id=100, sku="S", title="Source jacket", price=50.0, category_ids=[11, 10, 1], category_id=11)


def card(pid: int) -> ProductCard:
    return ProductCard(id=pid, sku=f"P{pid}", title=f"P{pid}", price=10.0)


def ranked(*pids: int) -> list[Recommendation]:
    return [Recommendation(product=card(p), score=1.0 - i / 10, vector="combined", rank=i + 1)
            for i, p in enumerate(pids)]


def ids(recs):
    return [r.product.id for r in recs]


BASE = ranked(1, 2, 3, 4, 5)


def test_no_rules_keeps_order_and_cuts_to_n():
    out = apply_rules(SOURCE, BASE, [], 3)
    assert ids(out) == [1, 2, 3]
    assert [r.rank for r in out] == [1, 2, 3]


def test_hide_removes_and_backfills():
    assert ids(apply_rules(SOURCE, BASE, [Rule("h", "hide", 2)], 4)) == [1, 3, 4, 5]


def test_hide_scopes():
    def out(scope, source=SOURCE):
        return ids(apply_rules(source, BASE, [Rule("h", "hide", 2, scope=scope)], 3))
    assert out("category:10") == [1, 3, 4]  # Men/Tops is an ancestor of the source's leaf
    assert out("category:11") == [1, 3, 4]  # the leaf itself
    assert out("category:99") == [1, 2, 3]  # another category: the rule does not apply
    assert out("product:100") == [1, 3, 4]
    assert out("product:101") == [1, 2, 3]
    assert out("category:10", source=None) == [1, 2, 3]  # a text query has no source: scoped rules sleep
    assert out("global", source=None) == [1, 3, 4]


def test_pin_moves_a_candidate_into_its_slot():
    out = apply_rules(SOURCE, BASE, [Rule("p", "pin", 4, slot=1)], 4)
    assert ids(out) == [4, 1, 2, 3]
    assert [r.rank for r in out] == [1, 2, 3, 4]


def test_pin_pushes_the_last_one_out():
    assert ids(apply_rules(SOURCE, BASE, [Rule("p", "pin", 5, slot=2)], 3)) == [1, 5, 2]


def test_two_pins_land_exactly_on_their_slots():
    rules = [Rule("a", "pin", 5, slot=3), Rule("b", "pin", 4, slot=1)]
    assert ids(apply_rules(SOURCE, BASE, rules, 5)) == [4, 1, 5, 2, 3]


def test_slot_beyond_list_puts_last_and_beyond_n_is_not_shown():
    short = ranked(1, 2)
    assert ids(apply_rules(SOURCE, short, [Rule("p", "pin", 9, slot=7)], 5, lambda pid: card(pid))) == [1, 2, 9]
    assert ids(apply_rules(SOURCE, BASE, [Rule("p", "pin", 5, slot=4)], 3)) == [1, 2, 3]


def test_pin_scope_must_match_the_source():
    rules = [Rule("p", "pin", 4, slot=1, scope="category:99")]
    assert ids(apply_rules(SOURCE, BASE, rules, 3)) == [1, 2, 3]
    rules = [Rule("p", "pin", 4, slot=1, scope="category:1")]
    assert ids(apply_rules(SOURCE, BASE, rules, 3)) == [4, 1, 2]


def test_pinned_product_outside_candidates_is_fetched():
    fetched: list[int] = []

    def fetch(pid: int):
        fetched.append(pid)
        return card(pid) if pid == 42 else None

    out = apply_rules(SOURCE, BASE, [Rule("p", "pin", 42, slot=2), Rule("q", "pin", 43, slot=1)], 3, fetch)
    assert ids(out) == [1, 42, 2]  # 43 is unknown to the fetcher: its pin is skipped
    assert out[1].score == 0.0 and out[1].vector == "pinned"
    assert sorted(fetched) == [42, 43]
    assert ids(apply_rules(SOURCE, BASE, [Rule("p", "pin", 42, slot=2)], 3)) == [1, 2, 3]  # no fetcher


def test_fetcher_cannot_substitute_another_product():
    out = apply_rules(SOURCE, BASE, [Rule("p", "pin", 42, slot=1)], 3, lambda pid: card(7))
    assert ids(out) == [1, 2, 3]


def test_pinned_but_hidden_stays_hidden():
    rules = [Rule("p", "pin", 4, slot=1), Rule("h", "hide", 4)]
    assert ids(apply_rules(SOURCE, BASE, rules, 4)) == [1, 2, 3, 5]
    rules = [Rule("p", "pin", 42, slot=1), Rule("h", "hide", 42)]
    assert ids(apply_rules(SOURCE, BASE, rules, 3, lambda pid: card(pid))) == [1, 2, 3]


def test_source_is_never_shown():
    with_source = ranked(100, 1, 2)
    assert ids(apply_rules(SOURCE, with_source, [], 3)) == [1, 2]
    rules = [Rule("p", "pin", 100, slot=1)]
    assert ids(apply_rules(SOURCE, BASE, rules, 3, lambda pid: SOURCE)) == [1, 2, 3]


def test_conflicting_pins_most_specific_wins_then_first_listed():
    glob = Rule("g", "pin", 3, slot=1)
    cat_root = Rule("c1", "pin", 4, slot=1, scope="category:1")
    cat_leaf = Rule("c11", "pin", 5, slot=1, scope="category:11")
    prod = Rule("p", "pin", 2, slot=1, scope="product:100")
    # product beats category beats global, whatever the listing order
    assert ids(apply_rules(SOURCE, BASE, [glob, cat_root, cat_leaf, prod], 3)) == [2, 1, 3]
    # the leaf category (more specific) beats its ancestor
    assert ids(apply_rules(SOURCE, BASE, [glob, cat_root, cat_leaf], 3)) == [5, 1, 2]
    assert ids(apply_rules(SOURCE, BASE, [glob, cat_root], 3)) == [4, 1, 2]
    # between equals the first listed wins; the loser keeps its organic place
    first, second = Rule("a", "pin", 5, slot=1), Rule("b", "pin", 4, slot=1)
    assert ids(apply_rules(SOURCE, BASE, [first, second], 5)) == [5, 1, 2, 3, 4]
    assert ids(apply_rules(SOURCE, BASE, [second, first], 5)) == [4, 1, 2, 3, 5]
    assert winning_pins(SOURCE, [first, second]) == {1: first}


def test_same_product_pinned_twice_gets_one_slot():
    general = Rule("g", "pin", 5, slot=1)
    specific = Rule("s", "pin", 5, slot=3, scope="product:100")
    assert ids(apply_rules(SOURCE, BASE, [general, specific], 4)) == [1, 2, 5, 3]


def test_hidden_ids_and_duplicate_candidates():
    assert hidden_ids(SOURCE, [Rule("h", "hide", 3), Rule("x", "hide", 4, scope="product:1")]) == {3}
    assert ids(apply_rules(SOURCE, ranked(1, 1, 2), [], 3)) == [1, 2]


def test_rule_validation():
    assert Rule("p", "pin", 1, slot=1).errors() == []
    assert Rule("h", "hide", 1, scope="category:5").errors() == []
    assert "a pin needs a slot (1 = first position)" in Rule("p", "pin", 1).errors()
    assert any("slot must be" in e for e in Rule("p", "pin", 1, slot=0).errors())
    assert "only pins have a slot" in Rule("h", "hide", 1, slot=2).errors()
    assert any("action" in e for e in Rule("x", "boost", 1).errors())
    assert any("product_id" in e for e in Rule("x", "hide", "1").errors())
    assert any("scope" in e for e in Rule("x", "hide", 1, scope="shelf:3").errors())
    assert Rule("x", "hide", 1, scope="brand:3").errors() == []  # a brand may be named by digits
    assert any("id" in e for e in Rule("", "hide", 1).errors())
    with pytest.raises(ValidationError, match="'bad'"):
        Rule("bad", "pin", 1).validate()


def test_apply_rules_refuses_invalid_rules():
    with pytest.raises(ValidationError, match="slot"):
        apply_rules(SOURCE, BASE, [Rule("p", "pin", 4)], 3)


def test_parse_scope():
    assert parse_scope("global") == ("global", None)
    assert parse_scope("category:12") == ("category", 12)
    assert parse_scope(" product:7 ") == ("product", 7)
    assert parse_scope("brand: Luma ") == ("brand", "Luma")
    for bad in ("category:", "category:x", "brand:", "brand:  ", "shelf:1", "", None):
        with pytest.raises(ValidationError):
            parse_scope(bad)
