"""Demo traffic: simulated shoppers browse recommendation lists so the dashboard has believable numbers.

The model, kept small on purpose:

* each shopper has a taste — one or two favourite categories, a favourite colour or two, a price band — and a
  product's relevance to them is 0.5·[category matches] + 0.2·[colour matches] + 0.3·(price closeness);
* an algorithm builds a list by ranking a candidate pool on q·relevance + (1−q)·noise, where its quality q
  differs per algorithm (personalised and combined vectors best, trending worst), so the dashboard shows
  real, explainable differences; a strategy scales how attractive its lists are (STRATEGY_LIFT);
* the shopper examines slot p with probability 1/(1+p)^0.8 (position bias), clicks an examined product with
  probability strategy_lift·(0.01 + 0.3·relevance²), adds clicked products to the cart and buys carted ones likewise;
* clicks, carts and purchases carry the list's algorithm, strategy, position and experiment variant (and the
  `config_version` the caller gives).

Strategies: the caller names them — the demo passes its config's strategies, so every simulated event carries
a name the config has (the log, the analytics and the experiments then speak of the same strategies). A name's
lift is deterministic: STRATEGY_LIFT for the four built-ins (relevance, balanced, trending, upsell — the names of
engine.recommend.rerank.BUILTIN_STRATEGIES, which this layer may not import; a test keeps them equal), 1 for a
custom strategy. Without names the simulator uses the built-ins.

A/B experiment: lists of one algorithm (vector_combined when simulated) serve the strategy of the variant the
shopper is assigned to in `SIM_EXPERIMENT` (50/50: `default_strategy` or else the first name as A, the first
other name as B), so the experiments page has data. An earlier run's experiment is reused while it is running
and serves only names of this run; otherwise this run has no experiment.

Served and seen: every list is logged as `served` rows (one per item, as the service logs them) under a request
id; in the sessions that use the storefront widget (WIDGET_SHARE) the tiles the shopper scrolled to are also
reported as `impression` rows — always the clicked ones, since a shopper clicks only what they saw — so the
analytics see both kinds of list. Cart adds and purchases carry the catalog price and a quantity (mostly 1).

Everything is drawn from one numpy Generator seeded by `seed`: the same catalog, arguments and `end` give the
same events. Every row is marked simulated=1; `remove_simulated` deletes them and the simulator's experiments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from sqlalchemy import Select, delete, select

from engine.catalog.db import Database
from engine.catalog.models import Category, Product
from engine.errors import NotFound, ValidationError
from engine.insights.events import ALGORITHM_NAME, insert_rows, to_utc_naive, utc_now, valid_config_version
from engine.catalog.events import EventRow, ExperimentRow
from engine.insights.experiments import Experiment, assign, create_experiment, get_experiment
from engine.insights.rollups import mark_dirty, read, refresh, reset

# List quality q per algorithm: the weight of true relevance against noise in the list's ranking.
ALGORITHM_QUALITY: dict[str, float] = {
    "personalised": 0.9, "vector_combined": 0.8, "search_text": 0.7, "vector_text": 0.65, "vector_image": 0.55,
    "search_image": 0.55, "complete_the_look": 0.5, "fbt": 0.45, "trending": 0.25}
DEFAULT_ALGORITHMS = ("vector_text", "vector_image", "vector_combined", "personalised", "complete_the_look",
                      "trending")
# Attractiveness multiplier of the built-in strategies (balanced lists the likeliest alternatives first, upsell
# pricier ones); any other strategy name gets 1.
STRATEGY_LIFT: dict[str, float] = {"relevance": 1.0, "balanced": 1.12, "trending": 1.05, "upsell": 0.9}
SIM_EXPERIMENT = "sim-strategy-ab"
EXAMINE_DECAY = 0.8
CART_BASE, CART_SLOPE = 0.05, 0.25  # P(cart | click) = base + slope·relevance
BUY_BASE, BUY_SLOPE = 0.25, 0.35  # P(purchase | cart)
POOL = 40  # random candidates per list, plus as many from the source's category
WIDGET_SHARE = 0.6  # sessions whose client reports the tiles it showed
QUANTITY_P = np.array([0.85, 0.1, 0.05])  # P(quantity = 1, 2, 3) of a cart add
HOUR_WEIGHTS = np.array([1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 6, 6, 5, 5, 6, 7, 8, 9, 9, 8, 5, 2], dtype=float)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ProductMeta:
    id: int
    category_id: int | None
    price: float
    colour: str | None = None


@dataclass
class SimulationReport:
    shoppers: int
    sessions: int
    lists: int
    events: int
    impressions: int
    clicks: int
    carts: int
    purchases: int
    start: datetime
    end: datetime
    experiment: str | None
    served: int = 0  # served rows (every item of every list); `impressions` are the reported tiles
    revenue: float = 0.0


def _products(db: Database, products: Any) -> list[ProductMeta]:
    if products is None:
        products = (select(Product.id, Product.category_id, Product.price, Product.colour)
                    .where(Product.is_active.is_(True)).order_by(Product.id))
    if isinstance(products, Select):
        with db.engine.connect() as conn:
            rows = conn.execute(products).all()
        products = [tuple(r)[:4] for r in rows]
    if isinstance(products, (str, bytes)) or not isinstance(products, Sequence):
        raise ValidationError("products must be a list of ProductMeta / dicts / (id, category_id, price, colour) "
                              "or a select() of those columns")
    out = []
    for i, p in enumerate(products):
        if isinstance(p, ProductMeta):
            m = p
        elif isinstance(p, Mapping):
            m = ProductMeta(p.get("id"), p.get("category_id"), p.get("price"), p.get("colour"))
        elif isinstance(p, (tuple, list)) and len(p) in (3, 4):
            m = ProductMeta(*p)
        else:
            raise ValidationError(f"product {i} must be ProductMeta, a dict or a tuple, got {p!r}")
        if isinstance(m.id, bool) or not isinstance(m.id, (int, np.integer)) or m.id < 0:
            raise ValidationError(f"product {i} id must be a whole number ≥ 0, got {m.id!r}")
        price = m.price if m.price is not None else 0.0
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) or price < 0:
            raise ValidationError(f"product {m.id} price must be a finite number ≥ 0, got {m.price!r}")
        out.append(ProductMeta(int(m.id), m.category_id, float(price), (m.colour or None)))
    if len(out) < 2:
        raise ValidationError(f"the simulator needs at least 2 active products, the catalog has {len(out)}")
    return out


def _choices(value: Any, defaults: Mapping[str, float], known: Mapping[str, float], what: str,
             fallback: float) -> dict[str, float]:
    """Names (quality from `known`, else `fallback`) or an explicit {name: number} map."""
    if value is None:
        return dict(defaults)
    if isinstance(value, str) or not isinstance(value, (Mapping, Sequence)):
        raise ValidationError(f"{what} must be a list of names or a {{name: number}} map, got {value!r}")
    pairs = value.items() if isinstance(value, Mapping) else [(n, known.get(n, fallback)) for n in value]
    out: dict[str, float] = {}
    for name, q in pairs:
        if not isinstance(name, str) or not name.strip() or len(name) > 64 \
                or (what == "algorithm" and not ALGORITHM_NAME.fullmatch(name)):
            raise ValidationError(f"{what} names must be short identifiers such as "
                                  f"{next(iter(defaults))}, got {name!r}")
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or q < 0:
            raise ValidationError(f"{what} {name!r} needs a finite number ≥ 0, got {q!r}")
        out[name] = float(q)
    if not out:
        raise ValidationError(f"{what} must not be empty")
    return out


def strategy_lifts(names: Sequence[str]) -> dict[str, float]:
    """The attractiveness multiplier the simulator gives each named strategy: STRATEGY_LIFT, else 1."""
    return _choices(names, STRATEGY_LIFT, STRATEGY_LIFT, "strategy", 1.0)


def _whole(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValidationError(f"{name} must be a whole number in [{lo}, {hi}], got {v!r}")
    return int(v)


def simulate(db: Database, products: Any = None, *, days: int = 14, shoppers: int = 200, seed: int = 0,
             algorithms: Sequence[str] | Mapping[str, float] | None = None,
             strategies: Sequence[str] | Mapping[str, float] | None = None, list_size: int = 8,
             end: datetime | None = None, experiment: bool = True, progress: Progress | None = None,
             batch_size: int = 20_000, default_strategy: str | None = None,
             config_version: int | None = None) -> SimulationReport:
    """Simulate `shoppers` over the `days` before `end` (default now) and write their events (simulated=1).

    `algorithms` maps names to list quality in [0, 1] (or lists names: known ones get ALGORITHM_QUALITY);
    `strategies` maps names to an attractiveness multiplier (or lists names: STRATEGY_LIFT, else 1);
    `default_strategy` (one of them) is the experiment's control; `config_version` stamps every event."""
    days = _whole(days, "days", 1, 366)
    shoppers = _whole(shoppers, "shoppers", 1, 10_000_000)
    seed = _whole(seed, "seed", 0, 2 ** 63 - 1)
    list_size = _whole(list_size, "list_size", 1, 50)
    batch_size = _whole(batch_size, "batch_size", 1, 10_000_000)
    algos = _choices(algorithms, {a: ALGORITHM_QUALITY[a] for a in DEFAULT_ALGORITHMS}, ALGORITHM_QUALITY,
                     "algorithm", 0.5)
    if any(q > 1 for q in algos.values()):
        raise ValidationError(f"algorithm quality must be in [0, 1], got {algos}")
    strats = _choices(strategies, STRATEGY_LIFT, STRATEGY_LIFT, "strategy", 1.0)
    if default_strategy is not None and default_strategy not in strats:
        raise ValidationError(f"default_strategy {default_strategy!r} is not one of the strategies "
                              f"{', '.join(strats)}")
    config_version = valid_config_version(config_version)
    end = utc_now() if end is None else to_utc_naive(end)
    start = end - timedelta(days=days)
    catalog = _products(db, products)
    list_size = min(list_size, len(catalog) - 1)

    with db.engine.connect() as conn:
        cat_names = dict(conn.execute(select(Category.id, Category.name)).all())

    exp = _experiment(db, strats, algos, default_strategy) if experiment else None
    exp_algo = None
    if exp is not None:
        exp_algo = "vector_combined" if "vector_combined" in algos else next(iter(algos))

    sim = _Simulator(catalog, cat_names, algos, strats, list_size, np.random.default_rng(seed), seed, start,
                     days, exp, exp_algo, config_version)
    counts = dict.fromkeys(("served", "impression", "click", "cart_add", "purchase"), 0)
    revenue = 0.0
    buffer: list[dict[str, Any]] = []
    step = max(1, shoppers // 100)
    for u in range(shoppers):
        for row in sim.shopper(u):
            buffer.append(row)
            counts[row["kind"]] += 1
            if row["kind"] == "purchase":
                revenue += row["price"] * row["quantity"]
        if len(buffer) >= batch_size:
            _write(db, buffer)
        if progress is not None and ((u + 1) % step == 0 or u + 1 == shoppers):
            progress(u + 1, shoppers)
    _write(db, buffer)
    refresh(db)  # the simulated days are past days: roll them up now, not on the first dashboard read
    return SimulationReport(shoppers, sim.sessions, sim.lists, sum(counts.values()), counts["impression"],
                            counts["click"], counts["cart_add"], counts["purchase"], start, end,
                            exp.name if exp is not None else None, counts["served"], round(revenue, 2))


def _write(db: Database, buffer: list[dict[str, Any]]) -> None:
    if buffer:
        with db.engine.begin() as conn:
            insert_rows(conn, buffer)
            mark_dirty(conn, {r["day"] for r in buffer})  # a second run adds to days already rolled up
        buffer.clear()


def _experiment(db: Database, strats: dict[str, float], algos: dict[str, float],
                control: str | None) -> Experiment | None:
    """The simulator's A/B test: reuse it if it exists (a second run adds traffic), else create it. One serving
    a strategy this run does not have (an older run's names) is left alone: its events would carry that name."""
    try:
        exp = get_experiment(db, SIM_EXPERIMENT)
    except NotFound:
        if len(strats) < 2:
            return None
        a = control if control is not None else next(iter(strats))
        b = next(n for n in strats if n != a)
        exp = create_experiment(db, SIM_EXPERIMENT, [("A", a, 0.5), ("B", b, 0.5)], control="A",
                                description=f"Simulated: strategy {a} (A) against {b} (B) on "
                                            f"{'vector_combined' if 'vector_combined' in algos else next(iter(algos))}",
                                simulated=True)
    served = all(v.config in strats for v in exp.variants)
    return exp if exp.status == "running" and served else None


class _Simulator:
    def __init__(self, catalog: list[ProductMeta], cat_names: dict[int, str], algos: dict[str, float],
                 strats: dict[str, float], list_size: int, rng: np.random.Generator, seed: int, start: datetime,
                 days: int, exp: Experiment | None, exp_algo: str | None, config_version: int | None = None):
        self.rng, self.seed, self.start, self.days = rng, seed, start, days
        self.algos, self.strats, self.k = list(algos.items()), strats, list_size
        self.exp, self.exp_algo = exp, exp_algo
        self.ids = np.array([p.id for p in catalog], dtype=np.int64)
        cats = sorted({p.category_id for p in catalog if p.category_id is not None})
        cols = sorted({p.colour for p in catalog if p.colour})
        cat_code, col_code = {c: i for i, c in enumerate(cats)}, {c: i for i, c in enumerate(cols)}
        self.cat = np.array([cat_code.get(p.category_id, -1) for p in catalog], dtype=np.int64)
        self.col = np.array([col_code.get(p.colour, -1) if p.colour else -1 for p in catalog], dtype=np.int64)
        self.prices = np.array([p.price for p in catalog], dtype=float)
        self.logp = np.log1p(self.prices)
        self.run = f"sim{seed}-{start:%Y%m%d%H%M%S}"  # request ids unique per run: lists never merge
        self.cat_members = [np.flatnonzero(self.cat == c) for c in range(len(cats))]
        self.cat_label = [cat_names.get(c, f"category {c}") for c in cats]
        self.col_label = cols
        self.hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
        self.sessions = 0
        self.lists = 0
        self.config_version = config_version

    def _taste(self) -> tuple[np.ndarray, np.ndarray, float]:
        rng, n = self.rng, len(self.ids)
        favs = self.cat[rng.integers(0, n, size=2)]  # popular categories are liked more often
        cols = self.col[rng.integers(0, n, size=2)]
        if rng.random() < 0.5:
            favs, cols = favs[:1], cols[:1]
        return favs[favs >= 0], cols[cols >= 0], float(self.logp[rng.integers(0, n)])

    def _relevance(self, idx: np.ndarray, taste: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
        favs, cols, centre = taste
        rel = 0.5 * (self.cat[idx][:, None] == favs).any(axis=1) + 0.2 * (self.col[idx][:, None] == cols).any(axis=1)
        return rel + 0.3 * np.exp(-((self.logp[idx] - centre) ** 2) / (2 * 0.5 ** 2))

    def shopper(self, u: int) -> list[dict[str, Any]]:
        rng = self.rng
        user = f"sim-u{self.seed}-{u}"
        taste = self._taste()
        variant = assign(self.exp, user) if self.exp is not None else None
        rows: list[dict[str, Any]] = []
        for s in range(1 + int(rng.poisson(self.days / 7))):
            self.sessions += 1
            day = int(rng.integers(0, self.days))
            second = (int(rng.choice(24, p=self.hour_p)) * 3600 + int(rng.integers(0, 3600))) % (22 * 3600)
            t = self.start + timedelta(days=day, seconds=second)
            session = f"sim-s{self.seed}-{u}-{s}"
            self.widget = bool(rng.random() < WIDGET_SHARE)
            source = self._pick_source(taste)
            for _ in range(min(8, int(rng.geometric(0.45)))):
                clicked = self._page(rows, user, session, source, taste, variant, t)
                t += timedelta(seconds=int(rng.integers(20, 180)))
                source = clicked if clicked is not None and rng.random() < 0.6 else self._pick_source(taste)
        return rows

    def _pick_source(self, taste) -> int:
        favs = taste[0]
        if len(favs) and self.rng.random() < 0.8:
            members = self.cat_members[int(favs[self.rng.integers(0, len(favs))])]
            return int(members[self.rng.integers(0, len(members))])
        return int(self.rng.integers(0, len(self.ids)))

    def _page(self, rows: list[dict[str, Any]], user: str, session: str, source: int, taste, variant,
              t: datetime) -> int | None:
        """Serve one list for `source`, log its impressions and what the shopper did; returns a clicked index."""
        rng, k = self.rng, self.k
        self.lists += 1
        algo, quality = self.algos[int(rng.integers(0, len(self.algos)))]
        exp_name = var_name = None
        if variant is not None and algo == self.exp_algo:
            strategy, exp_name, var_name = variant.config, self.exp.name, variant.name  # type: ignore[union-attr]
        else:
            strategy = list(self.strats)[int(rng.integers(0, len(self.strats)))]
        lift = self.strats.get(strategy, 1.0)
        pool = rng.integers(0, len(self.ids), size=POOL)
        if self.cat[source] >= 0:
            members = self.cat_members[int(self.cat[source])]
            pool = np.concatenate([pool, members[rng.integers(0, len(members), size=POOL)]])
        pool = np.unique(pool[pool != source])
        if len(pool) < k:
            pool = np.setdiff1d(np.arange(len(self.ids)), [source])
        rel = self._relevance(pool, taste)
        rank_score = quality * rel + (1 - quality) * rng.random(len(pool))
        order = np.argsort(-rank_score, kind="stable")[:k]
        shown, shown_rel, shown_score = pool[order], rel[order], rank_score[order]
        search = algo.startswith("search_")
        query = None
        if search:
            favs, cols, _ = taste
            words = ([self.col_label[int(cols[0])]] if len(cols) else []) + \
                    ([self.cat_label[int(favs[0])]] if len(favs) else [])
            query = " ".join(words) or "new arrivals"
        base = {"user_id": user, "session_id": session, "source_product_id": None if search else int(self.ids[source]),
                "query": query, "algorithm": algo, "strategy": strategy, "filters": None, "experiment": exp_name,
                "variant": var_name, "simulated": 1, "external_id": None, "config_version": self.config_version,
                "request_id": f"{self.run}-{self.lists}", "price": None, "quantity": None}
        ts = t.replace(microsecond=(t.microsecond // 1000) * 1000)
        for p in range(len(shown)):
            rows.append(base | {"kind": "served", "ts": ts, "product_id": int(self.ids[shown[p]]),
                                "position": p, "score": round(float(shown_score[p]), 4)})
        positions = np.arange(len(shown))
        examine = 1.0 / (1.0 + positions) ** EXAMINE_DECAY
        attract = np.minimum(0.95, lift * (0.01 + 0.3 * shown_rel ** 2))
        draws = rng.random((3, len(shown)))
        clicks = np.flatnonzero(draws[0] < examine * attract)
        if self.widget:  # the widget reports the tiles scrolled into view: at least up to the last one clicked
            seen = max(int(rng.integers(min(3, len(shown)), len(shown) + 1)), int(clicks.max()) + 1 if len(clicks) else 0)
            for p in range(seen):
                rows.append(base | {"kind": "impression", "ts": ts + timedelta(seconds=1),
                                    "product_id": int(self.ids[shown[p]]), "position": p,
                                    "score": round(float(shown_score[p]), 4)})
        clicked = None
        for p in clicks:
            pid = int(self.ids[shown[p]])
            r = float(shown_rel[p])
            ev = base | {"product_id": pid, "position": int(p), "score": round(float(shown_score[p]), 4)}
            tc = ts + timedelta(seconds=int(rng.integers(3, 40)))
            rows.append(ev | {"kind": "click", "ts": tc})
            clicked = int(shown[p]) if clicked is None else clicked
            if draws[1, p] < CART_BASE + CART_SLOPE * r:
                tcart = tc + timedelta(seconds=int(rng.integers(10, 120)))
                money = {"price": round(float(self.prices[shown[p]]), 2),
                         "quantity": 1 + int(rng.choice(len(QUANTITY_P), p=QUANTITY_P))}
                rows.append(ev | money | {"kind": "cart_add", "ts": tcart})
                if draws[2, p] < BUY_BASE + BUY_SLOPE * r:
                    rows.append(ev | money | {"kind": "purchase",
                                              "ts": tcart + timedelta(seconds=int(rng.integers(60, 900)))})
        return clicked


def remove_simulated(db: Database) -> int:
    """Delete every simulated event and the simulator's experiments; returns the number of events deleted."""
    with db.engine.begin() as conn:
        n = conn.execute(delete(EventRow).where(EventRow.simulated == 1)).rowcount
    if n:
        reset(db)  # the rolled-up days held simulated rows: rebuilt from what is left
    with db.session() as s:
        for row in s.scalars(select(ExperimentRow).where(ExperimentRow.simulated.is_(True))).all():
            s.delete(row)
    return int(n or 0)


def simulated_count(db: Database) -> int:
    """Simulated events in the log, from the rollups and the raw events past them (rollups.read), as the dashboards
    count: a count over the events table walked every row (0.2 s an Analytics run at 3.4 M events)."""
    refresh(db, wait=False)  # events landed on rolled days since the last refresh: their days rolled again
    return int(sum(r[1] for r in read(db, [], lambda t: [t.simulated == 1])))
