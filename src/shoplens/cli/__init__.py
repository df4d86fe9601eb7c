"""The `shoplens` command line: thin sub-commands over the package, one module per group."""

from shoplens.cli import (  # noqa: F401  (each module registers its commands)
    ads,
    backbone,
    behaviour,
    catalog,
    data,
    keys,
    products,
    serve,
    training,
    using,
    versions,
)
from shoplens.cli.common import app

__all__ = ["app"]
