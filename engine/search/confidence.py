"""How sure a text search is that it found what the query asks for, in [0, 1]; below the config's
search.min_confidence the results are "loosely related".

Evidence of several kinds, because each alone fails on one side: the dense cosine of the best product is
high for a real query but also middling for keyboard mash (a multilingual encoder maps any string
somewhere); the lexical coverage (the share of the query's words some product holds) is exact for words
the catalog uses but zero for a query in another language than the catalog; attributes read from the query
(a colour, a category, a gender, a price) mean it names things shoppers name. The confidence is the strongest
of them, each mapped to [0, 1]:
- an exact sku or product-name match: 1;
- coverage: the share itself;
- attributes: ATTRIBUTE_BASE + ATTRIBUTE_STEP per attribute (capped at 1);
- dense: the best cosine, rescaled from [DENSE_FLOOR, DENSE_CEIL] to [0, 1].
The constants and the threshold are tuned on the tune split of the judged and nonsense queries."""
from __future__ import annotations

from dataclasses import dataclass

DENSE_FLOOR = 0.2
DENSE_CEIL = 0.7
ATTRIBUTE_BASE = 0.3
ATTRIBUTE_STEP = 0.2


@dataclass(frozen=True)
class Evidence:
    dense_top: float  # best dense cosine (0 when no dense list ran)
    coverage: float  # share of the query's words the catalog's lexical fields hold (0 without lexical)
    attributes: int  # attributes read from the query
    exact: bool  # an exact sku or product-name match
    words: int  # words in the query


def dense_score(cosine: float) -> float:
    return min(1.0, max(0.0, (cosine - DENSE_FLOOR) / (DENSE_CEIL - DENSE_FLOOR)))


def confidence(e: Evidence) -> float:
    if e.exact:
        return 1.0
    attrs = min(1.0, ATTRIBUTE_BASE + ATTRIBUTE_STEP * e.attributes) if e.attributes else 0.0
    return max(dense_score(e.dense_top), min(1.0, max(0.0, e.coverage)), attrs)
