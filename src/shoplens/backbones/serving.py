"""What a server or the catalogue needs to serve zero-shot versions beside trained ones (light to import)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from shoplens.inference.kinds import Runtime
from shoplens.inference.predictor import Predictor
from shoplens.inference.store import ModelStore, PredictorLoader, predictor_loader

ZERO_SHOT = "zero-shot"


def is_zero_shot(path: str | os.PathLike) -> bool:
    """Whether a model version folder is a zero-shot one (kind "zero-shot" in its config.json)."""
    try:
        return json.loads((Path(path) / "config.json").read_text()).get("kind") == ZERO_SHOT
    except (OSError, ValueError, AttributeError):
        return False


def model_loader(runtime: Runtime = "auto", threads: int | None = None) -> PredictorLoader:
    """A model-store loader for trained bundles and zero-shot versions alike."""
    trained = predictor_loader(runtime, threads)

    def load(path: Path) -> Predictor:
        if is_zero_shot(path):
            from shoplens.backbones.zeroshot import load_zero_shot

            return load_zero_shot(path, threads)
        return trained(path)

    return load


def use_backbone(store: ModelStore, backbone: str | os.PathLike, taxonomy: str | os.PathLike) -> str:
    """Make the zero-shot version of this backbone and taxonomy the store's active one; its version name."""
    from shoplens.backbones.zeroshot import create_zero_shot_version

    version = create_zero_shot_version(store.root, store.name, backbone, taxonomy).name
    if store.marked_active() != version:
        store.activate(version)
    return version
