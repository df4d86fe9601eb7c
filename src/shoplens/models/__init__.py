"""Architectures and their registry: `create_model("seed_cnn", num_classes=10)`."""

from shoplens.models import seed_cnn as _seed_cnn  # noqa: F401  (registers)
from shoplens.models import shopnet as _shopnet  # noqa: F401  (registers)
from shoplens.models.bundle import Bundle, load_bundle, save_bundle
from shoplens.models.registry import create_model, list_models, register_model

__all__ = ["Bundle", "create_model", "list_models", "load_bundle", "register_model", "save_bundle"]
