"""The `shoplens` command line: thin sub-commands over the package, one module per group."""

import shoplens.cli.backbone  # noqa: F401  (image–text backbones)
from shoplens.cli import ads, behaviour, catalog, data, models, training  # noqa: F401  (each module registers its commands)
from shoplens.cli.common import app

__all__ = ["app"]
