"""Lexical (BM25-style) sparse vectors, computed here for both stores with the one tokenizer of
engine.search.tokens (a store's own BM25 would tokenize differently per backend, and qdrant-client's local
BM25 downloads a model).

A document's vector holds, per term, BM25's saturated term frequency
    tf·(k1 + 1) / (tf + k1·(1 − b + b·len/AVG_LENGTH))
where tf sums the weights of the fields the term appears in (a title word counts more than a category word)
and len is the document's word count. AVG_LENGTH is a constant rather than the catalog's running mean, so a
product's vector never changes because other products were added. The store multiplies each term by its IDF
over the collection (Qdrant's IDF modifier), so the dot product with a query vector of term weights is BM25.

Term ids are the first four bytes of the term's BLAKE2b digest: stable across processes and versions (Python's
hash() is salted per process), and within Qdrant's 32-bit sparse indices. Two terms sharing an id are rare
(about 1 in 10⁵ for a 10⁴-term catalog) and only merge their weights."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from engine.search.tokens import Term, looks_like_sku, sku_term, terms
from engine.store.vectors import SparseVector

K1 = 1.2
B = 0.75
AVG_LENGTH = 12.0  # words in a typical product's indexed fields (title, category path, brand, colour)
STEM_WEIGHT = 0.5  # a shared stem counts half of the same word
# How much one occurrence counts, per field: the title and the sku say what a product is; the category path,
# brand and attributes say what kind it is.
FIELD_WEIGHTS = {"title": 1.0, "sku": 1.0, "brand": 1.0, "category": 0.8, "attributes": 0.8}
SKU_WEIGHT = 3.0  # the whole-sku term of a document and of a sku-like query chunk


def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


@dataclass(frozen=True)
class ProductText:
    """The fields of a product the lexical vector is made of."""

    title: str
    sku: str = ""
    brand: str = ""
    category: str = ""  # the category path, "Women/Tops/Jackets"
    attributes: tuple[str, ...] = ()  # colour name and other attribute values

    def fields(self) -> dict[str, str]:
        return {"title": self.title, "sku": self.sku, "brand": self.brand,
                "category": self.category.replace("/", " "), "attributes": " ".join(self.attributes)}


def _weight(term: Term) -> float:
    return STEM_WEIGHT if term.kind == "stem" else 1.0


def _sparse(weights: dict[int, float]) -> SparseVector | None:
    items = sorted((i, w) for i, w in weights.items() if w > 0)
    if not items:
        return None
    return SparseVector(tuple(i for i, _ in items), tuple(float(w) for _, w in items))


def encode_document(doc: ProductText) -> SparseVector | None:
    """The product's lexical vector; None when its fields hold no word (nothing to match)."""
    tf: dict[int, float] = defaultdict(float)
    length = 0
    for name, text in doc.fields().items():
        field_weight = FIELD_WEIGHTS[name]
        for term in terms(text):
            tf[term_id(term.text)] += field_weight * _weight(term)
            length += term.kind == "word"
    whole = sku_term(doc.sku)
    if whole is not None:
        tf[term_id(whole.text)] += SKU_WEIGHT
    norm = K1 * (1 - B + B * max(length, 1) / AVG_LENGTH)
    return _sparse({i: f * (K1 + 1) / (f + norm) for i, f in tf.items()})


def query_terms(text: str) -> list[Term]:
    """The terms a query is matched on: its words and stems, and each sku-like chunk as a whole sku."""
    out = terms(text)
    for chunk in (text or "").split():
        if looks_like_sku(chunk):
            t = sku_term(chunk)
            if t is not None:
                out.append(t)
    return out


def encode_query(text: str | Iterable[Term]) -> SparseVector | None:
    """The query's lexical vector: one weight per distinct term (a repeated word does not count twice);
    None when the query holds no word."""
    weights: dict[int, float] = {}
    for term in (query_terms(text) if isinstance(text, str) else text):
        w = SKU_WEIGHT if term.kind == "sku" else _weight(term)
        weights[term_id(term.text)] = max(weights.get(term_id(term.text), 0.0), w)
    return _sparse(weights)
