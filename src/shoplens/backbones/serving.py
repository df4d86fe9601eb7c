"""What a server or the catalogue needs to serve zero-shot and few-shot versions beside trained ones (light to
import: the backbone runtime loads with the first such version)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from shoplens.inference.kinds import FEW_SHOT, ZERO_SHOT, Device, Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.store import LoadedModel, ModelStore, PredictorLoader, predictor_loader


def version_kind(path: str | os.PathLike) -> str | None:
    """The `kind` a model version's config.json names (None for a trained bundle, which names none)."""
    try:
        kind = json.loads((Path(path) / "config.json").read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def model_loader(
    runtime: Runtime = "auto", threads: int | None = None, device: Device = "cpu"
) -> PredictorLoader:
    """A model-store loader for trained bundles, zero-shot and few-shot versions alike (trained ones on `device`)."""
    trained = predictor_loader(runtime, threads, device)

    def load(path: Path) -> Predictor:
        kind = version_kind(path)
        if kind == ZERO_SHOT:
            from shoplens.backbones.zeroshot import load_zero_shot

            return load_zero_shot(path, threads)
        if kind == FEW_SHOT:
            from shoplens.backbones.fewshot import load_few_shot

            return load_few_shot(path, threads)
        return trained(path)

    return load


def use_backbone(
    store: ModelStore, backbone: str | os.PathLike, taxonomy: str | os.PathLike
) -> tuple[str, LoadedModel | None]:
    """Make the zero-shot version of this backbone and taxonomy the store's active one: its name, and the model
    when activating it loaded it (None when it was active already)."""
    from shoplens.backbones.zeroshot import create_zero_shot_version

    version = create_zero_shot_version(store.root, store.name, backbone, taxonomy).name
    if store.marked_active() == version:
        return version, None
    return version, store.activate(
        version, force=True
    )  # no labelled data to evaluate it: serving it is the ask
