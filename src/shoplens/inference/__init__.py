"""Inference: turning photos into categories with a loaded bundle."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shoplens.inference.predictor import Prediction, Predictor
    from shoplens.inference.runtime import load_predictor

__all__ = ["Prediction", "Predictor", "load_predictor"]
_HOMES = {"Prediction": "predictor", "Predictor": "predictor", "load_predictor": "runtime"}


def __getattr__(name: str) -> Any:
    """Import the heavy parts on first use, so `shoplens.inference.kinds` stays light for settings."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
