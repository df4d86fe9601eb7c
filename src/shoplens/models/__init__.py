"""Architectures and their registry (`create_model("seed_cnn", num_classes=10)`) and model bundles.

Importing the package is light: the torch parts (architectures, weights) load on first use, so serving an
exported bundle reads its description (`read_bundle_spec`) without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shoplens.models.bundle import Bundle, BundleSpec, load_bundle, read_bundle_spec, save_bundle
    from shoplens.models.registry import create_model, list_models, register_model

_HOMES = {
    "Bundle": "shoplens.models.bundle",
    "BundleSpec": "shoplens.models.bundle",
    "load_bundle": "shoplens.models.bundle",
    "read_bundle_spec": "shoplens.models.bundle",
    "save_bundle": "shoplens.models.bundle",
    "create_model": "shoplens.models.registry",
    "list_models": "shoplens.models.registry",
    "register_model": "shoplens.models.registry",
}
__all__ = [
    "Bundle",
    "BundleSpec",
    "create_model",
    "list_models",
    "load_bundle",
    "read_bundle_spec",
    "register_model",
    "save_bundle",
]


def __getattr__(name: str) -> Any:
    """The package's public names, imported from their module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
