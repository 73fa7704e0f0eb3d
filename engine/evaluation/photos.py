"""Search by photo on judged sets: another view of a catalog product (its alt or back photo must find it) and the
wild set (engine.evaluation.wild). Recall@1 and Recall@5 of the exact product, for the store's plain vector
order of the whole photo (`image`, what photo search was before engine.photos) and for `search_by_photo` as a
shopper gets it (`image/<strategy>`: product crop, local-feature re-ranking, the strategy), beside a random
ranking and a plain colour histogram of the whole photo (the reference the issue's "barely beats a colour
histogram" speaks of). Also HubOccupancy (the share of queries whose top hit is the most frequent one) and, on the
wild set, NoMatchRate: own style "excluded" for off-catalog photos (the product's whole leaf category left out of
the index: "loosely related" is right), "included" for in-catalog photos and "included-right" for those whose top
hit is the product (where it is wrong); on the tune half a note gives the search.photo_min_confidence the
calibration (engine.photos.confidence.calibrate) supports beside the configured one."""
from __future__ import annotations

import random
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from engine.encoders.images import load_image
from engine.evaluation.items import Catalog
from engine.evaluation.report import Row, mean
from engine.evaluation.splits import SPLIT_SEED
from engine.evaluation.wild import WildRecipe, wild_photos
from engine.metrics import hit_at_k
from engine.photos.confidence import LOOSE, calibrate
from engine.photos.hubness import hub_occupancy
from engine.store.vectors import query_combined
from engine.types import Filters

RECALL_KS = (1, 5)
_HIST_SIDE = 96


def colour_histogram(image: Image.Image) -> np.ndarray:
    """An 8×4×4 HSV histogram of the whole photo, background included (Hellinger-mapped, unit length)."""
    im = image.convert("RGB")
    im.thumbnail((_HIST_SIDE, _HIST_SIDE))
    hsv = np.asarray(im.convert("HSV"), dtype=np.int64).reshape(-1, 3)
    idx = (hsv[:, 0] * 8 // 256) * 16 + (hsv[:, 1] * 4 // 256) * 4 + hsv[:, 2] * 4 // 256
    hist = np.sqrt(np.bincount(idx, minlength=128).astype(float))
    return hist / (np.linalg.norm(hist) or 1.0)


@dataclass
class PhotoTasks:
    runtime: object
    cat: Catalog
    strategies: Sequence[str]
    splits: Sequence[str]
    encoders: dict
    recipe: WildRecipe = field(default_factory=WildRecipe)
    split_seed: int = SPLIT_SEED
    max_queries: int | None = None
    keep_details: bool = False
    details: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _hist: tuple[list[int], np.ndarray] | None = None

    def load_photo(self, path: str | bytes) -> Image.Image:
        s = self.runtime.settings
        return load_image(path, s.max_upload_bytes, s.max_pixels)

    def _histograms(self) -> tuple[list[int], np.ndarray]:
        """The colour histogram of every product's main photo, made once."""
        if self._hist is None:
            ids, rows = [], []
            for pid, it in sorted(self.cat.items.items()):
                if it.main_image:
                    try:
                        rows.append(colour_histogram(self._draft(it.main_image, 2 * _HIST_SIDE)))
                    except (OSError, ValueError):  # a photo that cannot be opened has no histogram
                        continue
                    ids.append(pid)
            self._hist = (ids, np.vstack(rows) if rows else np.zeros((0, 128)))
        return self._hist

    def rank_by_histogram(self, image: Image.Image, k: int) -> list[int]:
        ids, mat = self._histograms()
        if not ids:
            return []
        scores = mat @ colour_histogram(image)
        return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]

    def _vector_order(self, image: Image.Image, kinds: Sequence[str]) -> dict[str, list[int]]:
        rt = self.runtime
        spec = rt.store.spec()
        vec = rt.image_encoder.encode([image])[0]
        out = {}
        for kind in kinds:
            q = vec if kind == "image" else query_combined(None, vec, spec.text_weight, spec.text_dim, spec.image_dim)
            out[kind] = [h.id for h in rt.store.query(q, using=kind, limit=max(RECALL_KS), filters=Filters())]
        return out

    def _rows(self, task: str, split: str, ranked: dict[str, list[list[int]]], targets: list[int]) -> list[Row]:
        rows = []
        for method, lists in ranked.items():
            kind = method.split("/")[0]
            enc = {"image": self.encoders.get("image", ""), "combined":
                   f"{self.encoders.get('text', '')}+{self.encoders.get('image', '')}"}.get(kind, "")
            for k in RECALL_KS:
                vals = [hit_at_k(lst, {t}, k) for lst, t in zip(lists, targets)]
                rows.append(Row(task, f"Recall@{k}", method, "included", mean(vals), len(vals), split, None, enc))
        n = len(self.cat.items)
        for k in RECALL_KS:  # a random ranking holds the one target within k with probability k / n
            rows.append(Row(task, f"Recall@{k}", "random", "included", min(1.0, k / n), len(targets), split))
        return rows

    def _detail(self, task, split, query, method, ranked, target):
        if self.keep_details:
            items = self.cat.items
            self.details.append({"task": task, "split": split, "language": None, "query": query, "method": method,
                                 "relevant": [items[target].sku],
                                 "ranked": [{"sku": items[i].sku, "title": items[i].title, "relevant": i == target}
                                            for i in ranked if i in items]})

    # ---- another view -----------------------------------------------------------------------------------------
    def view_rows(self, tick: Callable[[], None] = lambda: None) -> list[Row]:
        rows = []
        rng = random.Random(self.split_seed)
        for split in self.splits:
            queries = [(pid, it.alt_images[0]) for pid, it in sorted(self.cat.items.items())
                       if it.alt_images and Path(it.alt_images[0]).is_file() and it.split(self.split_seed) == split]
            if self.max_queries is not None and len(queries) > self.max_queries:
                queries = sorted(rng.sample(queries, self.max_queries))
            if not queries:
                continue
            ranked: dict[str, list[list[int]]] = {"image": [], "combined": [], "colour-histogram": []}
            ranked.update({f"image/{s}": [] for s in self.strategies[:1]})
            rec = self.runtime.recommender()
            for pid, path in queries:
                img = self.load_photo(path)
                for kind, lst in self._vector_order(img, ("image", "combined")).items():
                    ranked[kind].append(lst)
                for s in self.strategies[:1]:  # the photo search a shopper gets (crop, local features)
                    ranked[f"image/{s}"].append([r.product.id for r in
                                                 rec.search_by_image(path, n=max(RECALL_KS), strategy=s)])
                ranked["colour-histogram"].append(self.rank_by_histogram(img, max(RECALL_KS)))
                self._detail("view", split, path, "image", ranked["image"][-1], pid)
                tick()
            rows += self._rows("view", split, ranked, [pid for pid, _ in queries])
            rows += self._hub_rows("view", split, ranked)
        return rows

    def view_count(self) -> int:
        return sum(1 for it in self.cat.items.values() if it.alt_images and Path(it.alt_images[0]).is_file())

    # ---- photos in the wild -------------------------------------------------------------------------------------
    @staticmethod
    def _draft(path: str, side: int) -> Image.Image:
        """A catalog photo decoded at about `side` px (JPEG draft mode: a fraction of a full decode's time)."""
        with Image.open(path) as im:
            im.draft("RGB", (side, side))
            return im.convert("RGB")

    def _wild_load(self, path: str) -> Image.Image:
        return self._draft(path, self.recipe.side)

    def wild_rows(self, tick: Callable[[], None] = lambda: None) -> list[Row]:
        rows = []
        products = [(pid, it.sku, it.main_image) for pid, it in self.cat.items.items()
                    if it.main_image and Path(it.main_image).is_file()]
        per_split: dict[str, list] = {s: [] for s in self.splits}

        def wanted(pid: int) -> bool:  # asked before a photo is made: a full split makes no more
            group = per_split.get(self.cat.items[pid].split(self.split_seed))
            return group is not None and (self.max_queries is None or len(group) < self.max_queries)

        for photo in wild_photos(self.recipe, products, self._wild_load, keep=wanted):
            per_split[self.cat.items[photo.product_id].split(self.split_seed)].append(photo)
        rec = self.runtime.recommender()
        for split, photos in per_split.items():
            if not photos:
                continue
            methods = ["image"] + [f"image/{s}" for s in self.strategies] + ["colour-histogram"]
            ranked: dict[str, list[list[int]]] = {m: [] for m in methods}
            matches: dict[str, list[str]] = {"included": [], "included-right": [], "excluded": []}
            sure: dict[str, list[float]] = {"right": [], "excluded": []}  # confidences, for the calibration note
            for photo in photos:
                img = self.load_photo(photo.jpeg)
                ranked["image"].append(self._vector_order(img, ("image",))["image"])
                for i, s in enumerate(self.strategies):
                    found = rec.search_by_photo(photo.jpeg, n=max(RECALL_KS), strategy=s)
                    ranked[f"image/{s}"].append([r.product.id for r in found.items])
                    if i == 0:  # the confidence does not depend on the strategy
                        matches["included"].append(found.match)
                        if found.items and found.items[0].product.id == photo.product_id:
                            matches["included-right"].append(found.match)
                            sure["right"].append(found.confidence)
                        off = rec.search_by_photo(photo.jpeg, n=max(RECALL_KS), strategy=s,
                                                  filters=Filters(exclude_ids=self._category_of(photo.product_id)))
                        matches["excluded"].append(off.match)
                        sure["excluded"].append(off.confidence)
                ranked["colour-histogram"].append(self.rank_by_histogram(img, max(RECALL_KS)))
                self._detail("wild", split, f"wild photo #{photo.index} of {self.cat.items[photo.product_id].sku}",
                             f"image/{self.strategies[0]}" if self.strategies else "image",
                             ranked[f"image/{self.strategies[0]}" if self.strategies else "image"][-1],
                             photo.product_id)
                tick()
            rows += self._rows("wild", split, ranked, [p.product_id for p in photos])
            rows += self._hub_rows("wild", split, ranked)
            if self.strategies:
                rows += self._no_match_rows(split, f"image/{self.strategies[0]}", matches)
                if split == "tune":
                    self._calibration_note(sure)
        return rows

    def _calibration_note(self, sure: dict[str, list[float]]) -> None:
        """The photo threshold the tune half supports (engine.photos.confidence.calibrate) beside the configured."""
        now = self.runtime.config.search.photo_min_confidence
        if not sure["right"] or not sure["excluded"]:
            self.notes.append("photo no-good-match threshold: the tune split has no correctly answered in-catalog or "
                              "no off-catalog photo to calibrate on")
            return
        t = calibrate(sure["right"], sure["excluded"])
        off = sum(c < t for c in sure["excluded"]) / len(sure["excluded"])
        self.notes.append(f"photo no-good-match threshold: the tune split supports {t:.3f} (at most 10 % of the "
                          f"correctly answered in-catalog photos below, {off:.3f} of the off-catalog ones); "
                          f"configured search.photo_min_confidence {now:.3f}")

    def _category_of(self, pid: int) -> list[int]:
        """Every product of `pid`'s leaf category: left out of the index, the photo is an off-catalog photo."""
        leaf = self.cat.items[pid].leaf
        return sorted(i for i, it in self.cat.items.items() if i == pid or (leaf is not None and it.leaf == leaf))

    def _hub_rows(self, task: str, split: str, ranked: dict[str, list[list[int]]]) -> list[Row]:
        """HubOccupancy: the share of queries whose top hit is the most frequent top hit (hubness)."""
        rows = []
        for method, lists in ranked.items():
            if method.startswith("image"):
                rows.append(Row(task, "HubOccupancy", method, "included",
                                hub_occupancy([lst[0] if lst else None for lst in lists]), len(lists), split, None,
                                self.encoders.get("image", "")))
        return rows

    def _no_match_rows(self, split: str, method: str, matches: dict[str, list[str]]) -> list[Row]:
        """NoMatchRate of photo search: own style "excluded" = off-catalog photos (the product's whole category
        left out of the index), where "loosely related" is right; "included" = in-catalog photos, where it is wrong."""
        return [Row("wild", "NoMatchRate", method, own, sum(m == LOOSE for m in ms) / len(ms), len(ms), split, None,
                    self.encoders.get("image", "")) for own, ms in matches.items() if ms]

    def wild_count(self) -> int:
        return min(self.recipe.size, sum(1 for it in self.cat.items.values()
                                         if it.main_image and Path(it.main_image).is_file()))
