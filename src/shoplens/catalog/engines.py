"""Batch jobs by engine: the local one (this process) or Ray Data, behind one call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shoplens.catalog.batch import PredictionsFile, Source, classify_batch_local
from shoplens.catalog.ray_jobs import classify_batch_ray
from shoplens.inference.store import LoadedModel


def classify_batch(
    model: LoadedModel,
    sources: Sequence[Source],
    out: Path,
    *,
    engine: str = "local",
    workers: int = 1,
    max_pixels: int = 40_000_000,
) -> PredictionsFile:
    """Predictions and embeddings of every source into a Parquet file, here (local) or on Ray (ray)."""
    if engine == "ray":
        return classify_batch_ray(model, sources, out, workers, max_pixels)
    return classify_batch_local(model, sources, out, max_pixels)
