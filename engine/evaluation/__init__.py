"""Offline evaluation: the built-in tasks on a catalog with curated links (engine.evaluation.luma), judged
attribute and nonsense queries (attributes, text), photos of another view and in the wild (photos, wild), a
shop's own judged query file (judged), all split into tune / test halves (splits) and reported as named rows
(report) so that versions can be compared row by row."""
from engine.evaluation.attributes import AttributeQuery, Attributes, attribute_queries, generated, hand_written
from engine.evaluation.items import NoGroundTruth
from engine.evaluation.judged import evaluate_queries
from engine.evaluation.luma import TASKS, Evaluator, encoder_names
from engine.evaluation.report import EvaluationReport, Row
from engine.evaluation.splits import SPLIT_SEED, SPLITS, split_of
from engine.evaluation.text import graded_ndcg, keyword_ranker, no_match, nonsense_queries
from engine.evaluation.wild import WildPhoto, WildRecipe, augment, wild_photos

__all__ = ["AttributeQuery", "Attributes", "EvaluationReport", "Evaluator", "NoGroundTruth", "Row", "SPLITS",
           "SPLIT_SEED", "TASKS", "WildPhoto", "WildRecipe", "attribute_queries", "augment", "encoder_names",
           "evaluate_queries", "generated", "graded_ndcg", "hand_written", "keyword_ranker", "no_match",
           "nonsense_queries", "split_of", "wild_photos"]
