"""`shoplens models versions|activate|rollback`, `keys create|list` and `serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shoplens.cli.common import (
    KeysFile,
    ModelName,
    ModelsDir,
    app,
    err,
    friendly_errors,
    keys_app,
    models_app,
    out,
)


@models_app.command("versions")
@friendly_errors
def models_versions(models_dir: ModelsDir = Path("var/models"), name: ModelName = "fashion-mnist") -> None:
    """Versions of a model, newest first, with test accuracy and the active one marked."""
    from shoplens.inference.store import ModelStore

    table = Table(title=f"{name} in {models_dir}")
    for col in ("version", "created (UTC)", "accuracy", "active"):
        table.add_column(col)
    for v in ModelStore(models_dir, name).versions():
        acc = f"{v.accuracy:.4f}" if v.accuracy is not None else "-"
        table.add_row(v.version, v.created.strftime("%Y-%m-%d %H:%M:%S"), acc, "*" if v.active else "")
    out.print(table)


@models_app.command("activate")
@friendly_errors
def models_activate(
    version: Annotated[str, typer.Argument()],
    models_dir: ModelsDir = Path("var/models"),
    name: ModelName = "fashion-mnist",
) -> None:
    """Load a version to check it, then make it the active one (a running server follows within seconds)."""
    from shoplens.inference.store import ModelStore

    out.print(f"active: {ModelStore(models_dir, name).activate(version).version}")


@models_app.command("rollback")
@friendly_errors
def models_rollback(models_dir: ModelsDir = Path("var/models"), name: ModelName = "fashion-mnist") -> None:
    """Make the previously active version active again."""
    from shoplens.inference.store import ModelStore

    out.print(f"active: {ModelStore(models_dir, name).rollback().version}")


@keys_app.command("create")
@friendly_errors
def keys_create(
    role: Annotated[
        str,
        typer.Option(help="reader (classify, list), merchant (same, for shops) or admin (also activate)."),
    ] = "reader",
    label: Annotated[str, typer.Option(help="A note on who holds the key.")] = "",
    merchant: Annotated[
        str | None, typer.Option(help="The merchant a merchant key acts for (its products only).")
    ] = None,
    keys_file: KeysFile = Path("var/api-keys.json"),
) -> None:
    """Create an API key and print it once (only its salted hash is stored)."""
    from shoplens.api.keys import KeyStore

    key = KeyStore(keys_file).create(role, label, merchant)
    err.print(f"created a {role} key in {keys_file}; it is shown only now:")
    print(key)


@keys_app.command("list")
@friendly_errors
def keys_list(keys_file: KeysFile = Path("var/api-keys.json")) -> None:
    """Stored keys: id, role, label, creation time (never the keys)."""
    from shoplens.api.keys import KeyStore

    for r in KeyStore(keys_file).records():
        out.print(f"{r.id}\t{r.role}\t{r.merchant or '-'}\t{r.created}\t{r.label}")


@app.command()
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535)] = None,
    models_dir: Annotated[Path | None, typer.Option("--models-dir")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name under the models dir.")] = None,
    open_mode: Annotated[
        bool | None, typer.Option("--open", help="Allow anonymous use (loopback hosts only).")
    ] = None,
    batching: Annotated[
        bool | None, typer.Option("--batching/--no-batching", help="Micro-batch concurrent images.")
    ] = None,
    runtime: Annotated[str | None, typer.Option(help="auto, onnxruntime, onnxruntime-int8 or torch.")] = None,
    keys_file: Annotated[Path | None, typer.Option("--keys-file")] = None,
) -> None:
    """Serve the active model over HTTP (every setting is also SHOPLENS_<NAME> in the environment)."""
    from pydantic import ValidationError

    from shoplens.api.server import serve as run_server
    from shoplens.config import Settings

    given = {
        "host": host,
        "port": port,
        "models_dir": models_dir,
        "model_name": name,
        "open_mode": open_mode,
        "batching": batching,
        "runtime": runtime,
        "api_keys_file": keys_file,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise typer.BadParameter(
            "; ".join(str(x["msg"]).removeprefix("Value error, ") for x in e.errors())
        ) from None
    raise typer.Exit(run_server(settings))
