"""Tiny CLIP and SigLIP checkpoints (real architectures, random weights) and their imported bundles, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplens.backbones.importer import import_backbone
from shoplens.backbones.tiny import save_checkpoint
from tests.support.backbones import FAMILIES, SCORING


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family → a tiny checkpoint folder as `save_pretrained` writes it."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {f: save_checkpoint(root / f"tiny-{f}", f, **SCORING[f]) for f in FAMILIES}


@pytest.fixture(scope="session")
def bundles(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family → the bundle `import_backbone` made from its tiny checkpoint."""
    root = tmp_path_factory.mktemp("bundles")
    return {f: import_backbone(checkpoints[f], root / f) for f in FAMILIES}
