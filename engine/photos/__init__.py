"""Search by photos from the real world: the product found in a cluttered photo (crop), hubness reduction
(hubness), re-ranking by local features with geometric verification (verify), a calibrated "no good match"
(confidence), and the two stages put together (search). Exports are lazy (engine.lazy): OpenCV is imported by
the first photo search, not by every command that imports the recommender."""
from engine.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("GOOD", "LOOSE", "LOOSE_LABEL", "Evidence", "calibrate", "match_confidence", "match_kind",
                     "no_match_rate"), "engine.photos.confidence"),
    **dict.fromkeys(("CropParams", "product_crop", "query_crops"), "engine.photos.crop"),
    **dict.fromkeys(("CatalogMean", "centred", "hub_occupancy"), "engine.photos.hubness"),
    **dict.fromkeys(("Candidate", "PhotoMatch", "PhotoParams", "PhotoResult", "first_stage", "search"),
                    "engine.photos.search"),
    **dict.fromkeys(("CatalogFeatures", "VerifyParams", "features", "inliers"), "engine.photos.verify"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
