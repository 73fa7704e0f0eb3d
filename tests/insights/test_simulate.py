"""The demo traffic simulator: determinism, attribution, the A/B data, algorithm differences and removal."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from engine.insights import analytics as A
from engine.insights import experiments as X
from engine.catalog.db import Database
from engine.catalog.models import Category, Product
from engine.errors import ValidationError
from engine.insights.events import Event, EventLog
from engine.catalog.events import EventRow
from engine.insights.simulate import SIM_EXPERIMENT, ProductMeta, remove_simulated, simulate, simulated_count

END = datetime(2024, 6, 1)
COLOURS = ["red", "blue", "black", "white"]


def make_db(path) -> Database:
    """60 active products in 4 categories and 4 colours, prices 10..69; one inactive product."""
    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        s.add_all([Category(id=c, name=f"Cat {c}", path=f"Cat {c}") for c in range(1, 5)])
        s.flush()
        s.add_all([Product(id=i, sku=f"S{i}", title=f"P{i}", price=10.0 + i, category_id=1 + i % 4,
                           colour=COLOURS[(i // 4) % 4]) for i in range(60)])
        s.add(Product(id=999, sku="OFF", title="off", price=5.0, category_id=1, is_active=False))
    return db


def events(db: Database) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(EventRow.ts, EventRow.kind, EventRow.user_id, EventRow.session_id, EventRow.product_id,
                   EventRow.source_product_id, EventRow.algorithm, EventRow.strategy, EventRow.position,
                   EventRow.score, EventRow.experiment, EventRow.variant, EventRow.simulated).order_by(EventRow.id))]


def test_same_seed_same_events_and_all_marked_simulated(tmp_path):
    a, b, c = (make_db(tmp_path / f"{n}.db") for n in "abc")
    ra = simulate(a, shoppers=30, days=5, seed=7, end=END)
    simulate(b, shoppers=30, days=5, seed=7, end=END)
    simulate(c, shoppers=30, days=5, seed=8, end=END)
    ea = events(a)
    assert ea == events(b) and ea != events(c)
    assert ra.events == len(ea) > 0
    assert ra.served + ra.impressions + ra.clicks + ra.carts + ra.purchases == ra.events
    assert 0 < ra.impressions < ra.served  # some sessions report the tiles they saw, the others do not
    assert {e[-1] for e in ea} == {1}
    assert all(END - timedelta(days=5) <= e[0] < END for e in ea)
    assert 999 not in {e[4] for e in ea}  # inactive products are never served


def test_every_action_is_attributed_to_a_shown_slot(tmp_path):
    db = make_db(tmp_path / "s.db")
    simulate(db, shoppers=40, days=3, seed=1, end=END)
    ev = events(db)
    shown = {(e[3], e[4], e[6], e[7], e[8]) for e in ev if e[1] == "served"}
    seen = {(e[3], e[4], e[6], e[7], e[8]) for e in ev if e[1] == "impression"}
    assert seen and seen <= shown  # a reported tile is a served one
    actions = [e for e in ev if e[1] not in ("served", "impression")]
    assert actions
    assert all((e[3], e[4], e[6], e[7], e[8]) in shown for e in actions)
    clicks = {(e[3], e[4], e[8]) for e in ev if e[1] == "click"}
    assert all((e[3], e[4], e[8]) in clicks for e in ev if e[1] in ("cart_add", "purchase"))


def test_the_example_experiment_has_assigned_traffic(tmp_path):
    db = make_db(tmp_path / "x.db")
    report = simulate(db, shoppers=60, days=7, seed=2, end=END)
    assert report.experiment == SIM_EXPERIMENT
    exp = X.get_experiment(db, SIM_EXPERIMENT)
    in_exp = [e for e in events(db) if e[10] == SIM_EXPERIMENT]
    assert {e[11] for e in in_exp} == {"A", "B"}
    assert {e[6] for e in in_exp} == {"vector_combined"}
    for e in in_exp:  # each shopper sees the variant `assign` gives them, with that variant's strategy
        v = X.assign(exp, e[2])
        assert (e[11], e[7]) == (v.name, v.config)
    table = X.results(db, SIM_EXPERIMENT).table
    # impressions: per list (request id), its reported tiles if it has any, else its served rows
    with db.engine.connect() as conn:
        lists = conn.execute(text(
            "SELECT request_id, SUM(kind = 'served'), SUM(kind = 'impression') FROM events "
            "WHERE experiment = :x GROUP BY request_id"), {"x": SIM_EXPERIMENT}).all()
    assert table.impressions.sum() == sum(seen if seen else served for _, served, seen in lists)


def test_better_algorithms_and_top_slots_get_more_clicks(tmp_path):
    db = make_db(tmp_path / "q.db")
    simulate(db, shoppers=250, days=7, seed=3, end=END, algorithms={"good": 1.0, "poor": 0.0},
             strategies=["balanced"], experiment=False)
    m = A.metrics(db, "algorithm").set_index("algorithm")
    assert m.loc["good", "ctr_low"] > m.loc["poor", "ctr_high"]
    pos = A.ctr_by_position(db).set_index("position")
    assert pos.loc[0, "ctr_low"] > pos.loc[pos.index.max(), "ctr_high"]


def test_remove_simulated_keeps_real_events(tmp_path):
    db = make_db(tmp_path / "r.db")
    EventLog(db).log(Event("purchase", "real", 3, ts=END))
    report = simulate(db, shoppers=20, days=2, seed=4, end=END)
    assert simulated_count(db) == report.events  # rolled up by the simulator
    EventLog(db).log(Event("click", "more", 3, ts=END, simulated=True))  # past the rollup: read raw
    assert simulated_count(db) == report.events + 1
    assert remove_simulated(db) == report.events + 1
    assert [(e[1], e[3]) for e in events(db)] == [("purchase", "real")]
    assert X.list_experiments(db) == []
    assert remove_simulated(db) == 0 == simulated_count(db)


def test_explicit_products_and_progress(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    products = [ProductMeta(i, i % 2, 20.0 + i, "red") for i in range(1, 11)]
    seen = []
    report = simulate(db, products, shoppers=10, days=2, seed=5, end=END, list_size=20,
                      progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (10, 10)
    got = events(db)
    assert {e[4] for e in got} <= set(range(1, 11))
    assert max(e[8] for e in got) <= 8  # lists never exceed the catalog minus the source product
    assert report.sessions >= 10


@pytest.mark.parametrize("kwargs, message", [
    ({"days": 0}, "days"), ({"shoppers": -1}, "shoppers"), ({"algorithms": {"x": 1.5}}, "quality"),
    ({"strategies": []}, "must not be empty"), ({"list_size": 0}, "list_size"),
    ({"algorithms": ["has spaces"]}, "short identifiers"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    db = make_db(tmp_path / "b.db")
    with pytest.raises(ValidationError, match=message):
        simulate(db, end=END, **kwargs)
    assert events(db) == []


def test_an_empty_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(ValidationError, match="at least 2 active products"):
        simulate(Database(f"sqlite:///{tmp_path / 'e.db'}"), end=END)


def test_purchases_carry_the_catalog_price_and_revenue_adds_up(tmp_path):
    db = make_db(tmp_path / "m.db")
    report = simulate(db, shoppers=80, days=4, seed=6, end=END)
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.price, e.quantity, p.price FROM events e JOIN products p ON p.id = e.product_id "
            "WHERE e.kind = 'purchase'")).all()
        unpriced = conn.execute(text("SELECT COUNT(*) FROM events WHERE kind NOT IN ('purchase', 'cart_add') "
                                     "AND (price IS NOT NULL OR quantity IS NOT NULL)")).scalar_one()
    assert rows and unpriced == 0
    assert all(price == pytest.approx(catalog) and 1 <= q <= 3 for price, q, catalog in rows)
    assert report.revenue == pytest.approx(sum(price * q for price, q, _ in rows), abs=0.01)
