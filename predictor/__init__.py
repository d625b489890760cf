"""Zero-shot schedules for workloads with no tuned record: candidates ranked by a cost model,
measured and searched locally within a time budget, or for a measuring job."""

from lorien.predictor.budget import BudgetedPredictor, BudgetOptions, BudgetReport, KernelDelivery
from lorien.predictor.measuring import JobMeasurer
from lorien.predictor.neighbours import Neighbour, NeighbourIndex
from lorien.predictor.predictor import (
           Prediction,
           PredictOptions,
           Ranked,
           ZeroShotPredictor,
           store_predictions,
)
from lorien.predictor.scoring import CostModelScorer

__all__ = ["BudgetOptions", "BudgetReport", "BudgetedPredictor", "CostModelScorer", "JobMeasurer",
           "KernelDelivery", "Neighbour", "NeighbourIndex", "PredictOptions", "Prediction", "Ranked",
           "ZeroShotPredictor", "store_predictions"]
