"""`shoplens serve`: the HTTP service."""

from __future__ import annotations

import typer

from shoplens.cli.common import app, friendly_errors
from shoplens.cli.options import SERVE, with_settings
from shoplens.config import Settings


@app.command()
@friendly_errors
@with_settings(SERVE)
def serve(settings: Settings) -> None:
    """Serve the active model over HTTP (every setting is also SHOPLENS_<NAME> in the environment)."""
    from shoplens.api.server import serve as run_server
    from shoplens.inference.devices import ort_providers, torch_device

    (torch_device if settings.runtime == "torch" else ort_providers)(settings.device)  # fail before binding
    raise typer.Exit(run_server(settings))
