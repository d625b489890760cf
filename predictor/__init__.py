"""Zero-shot schedules for workloads with no tuned record: candidates ranked by a cost model."""

from lorien.predictor.neighbours import Neighbour, NeighbourIndex
from lorien.predictor.predictor import Prediction, PredictOptions, ZeroShotPredictor
from lorien.predictor.scoring import CostModelScorer

__all__ = ["CostModelScorer", "Neighbour", "NeighbourIndex", "PredictOptions", "Prediction",
           "ZeroShotPredictor"]
