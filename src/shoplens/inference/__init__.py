"""Inference: turning photos into categories with a loaded bundle."""

from shoplens.inference.predictor import Prediction, Predictor
from shoplens.inference.runtime import load_predictor

__all__ = ["Prediction", "Predictor", "load_predictor"]
