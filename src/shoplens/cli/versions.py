"""`shoplens models versions|activate|rollback`: the trained versions of a model and which one serves."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shoplens.cli.common import friendly_errors, models_app, out
from shoplens.cli.options import MODEL, with_settings
from shoplens.config import Settings


@models_app.command("versions")
@friendly_errors
@with_settings(MODEL)
def models_versions(settings: Settings) -> None:
    """Versions of a model, newest first, with test accuracy and the active one marked."""
    from shoplens.inference.store import ModelStore

    table = Table(title=f"{settings.model_name} in {settings.models_dir}")
    for col in ("version", "created (UTC)", "accuracy", "active"):
        table.add_column(col)
    for v in ModelStore(settings.models_dir, settings.model_name).versions():
        acc = f"{v.accuracy:.4f}" if v.accuracy is not None else "-"
        table.add_row(v.version, v.created.strftime("%Y-%m-%d %H:%M:%S"), acc, "*" if v.active else "")
    out.print(table)


@models_app.command("activate")
@friendly_errors
@with_settings(MODEL)
def models_activate(version: Annotated[str, typer.Argument()], settings: Settings) -> None:
    """Load a version to check it, then make it the active one (a running server follows within seconds)."""
    from shoplens.inference.store import ModelStore

    out.print(f"active: {ModelStore(settings.models_dir, settings.model_name).activate(version).version}")


@models_app.command("rollback")
@friendly_errors
@with_settings(MODEL)
def models_rollback(settings: Settings) -> None:
    """Make the previously active version active again."""
    from shoplens.inference.store import ModelStore

    out.print(f"active: {ModelStore(settings.models_dir, settings.model_name).rollback().version}")
