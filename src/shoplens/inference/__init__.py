"""Inference: turning photos into categories with a loaded bundle."""

from shoplens.inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
