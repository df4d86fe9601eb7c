"""What every `shoplens` sub-command shares: the Typer apps, consoles and error handling."""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from shoplens.errors import ShopLensError

app = typer.Typer(
    help="ShopLens: image recognition for e-commerce.", no_args_is_help=True, add_completion=False
)
data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
models_app = typer.Typer(help="Architectures and model versions.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for `shoplens serve`.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(keys_app, name="keys")
out = Console()
err = Console(stderr=True, soft_wrap=True)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ShopLensError, ValueError and OSError into `error: …` on stderr and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShopLensError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(e.exit_code) from None
        except ValueError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2) from None
        except OSError as e:  # a path given that cannot be read or written
            where = f"{e.filename}: " if e.filename else ""
            why = e.strerror or e
            if (
                isinstance(e, FileExistsError | NotADirectoryError)
                and e.filename
                and Path(e.filename).is_file()
            ):
                why = "is a file, not a folder"  # mkdir's "File exists" under a path through a file
            err.print(f"[red]error:[/red] {where}{why}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


@contextlib.contextmanager
def stopped_cleanly_by_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM (a supervisor's or `timeout`'s stop) raises SystemExit like Ctrl-C raises
    KeyboardInterrupt, so the command's cleanup runs instead of the process dying mid-write."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
