"""What the zero-shot tests share: a taxonomy in the tiny tokenizers' words, its file, settings, photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shoplens.config import Settings

# Words the tiny tokenizers were trained on, so that prompts do not collapse into <unk>.
TAXONOMY: dict[str, Any] = {
    "name": "tiny",
    "templates": {"en": ["a photo of a {}", "{} with a slim fit"], "de": ["{}"]},
    "categories": {
        "dress": {"en": ["red summer dress"], "de": ["green floral midi skirt"]},
        "jeans": ["blue denim jeans"],
        "boots": ["black leather ankle boots", "silver sandals"],
        "sweater": ["striped wool sweater"],
    },
    "calibration": {"temperature": 0.5, "review_threshold": 0.3},
    "attributes": {
        "colour": {
            "templates": ["{} cotton"],
            "threshold": 0.4,
            "values": {"red": ["red"], "blue": ["blue"]},
        },
        "material": {
            "threshold": 0.0,
            "values": {"wool": ["wool"], "leather": ["leather"], "denim": ["denim"]},
        },
    },
}


def write(folder: Path, taxonomy: dict[str, Any], name: str = "taxonomy.json") -> Path:
    """A taxonomy file in a fresh folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(taxonomy))
    return folder / name


def zero_shot_settings(tmp_path: Path, bundle: Path, taxonomy: Path, **changes: Any) -> Settings:
    """Open-mode settings serving a backbone with a taxonomy."""
    return Settings(
        models_dir=tmp_path / "models",
        catalog_dir=tmp_path / "catalog",
        api_keys_file=tmp_path / "keys.json",
        open_mode=True,
        open_write=True,
        reload_interval_s=0,
        backbone=bundle,
        taxonomy_file=taxonomy,
        **changes,
    )


def photos(n: int = 5, seed: int = 1) -> list[Image.Image]:
    """Random RGB photos of assorted shapes."""
    rng = np.random.default_rng(seed)
    shapes = [(40 + 9 * i, 70 - 7 * i) for i in range(n)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]
