"""Image–text backbones (CLIP, SigLIP) as bundles: ONNX encoders + tokenizer, served without torch.

`shoplens.backbones.importer` (torch + transformers) turns a local Hugging Face checkpoint into a bundle;
everything importable from here runs on ONNX Runtime, `tokenizers`, numpy and Pillow only, and is imported on
first use (so that `shoplens.backbones.serving` stays light for the server's start).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BackboneConfig": "shoplens.backbones.config",
    "read_config": "shoplens.backbones.config",
    "ImageTextBackbone": "shoplens.backbones.runtime",
    "load_backbone": "shoplens.backbones.runtime",
    "logits": "shoplens.backbones.runtime",
    "probabilities": "shoplens.backbones.runtime",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'shoplens.backbones' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
