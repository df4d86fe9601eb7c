"""`shoplens models versions|activate|rollback`: the trained versions of a model and which one serves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shoplens.cli.common import friendly_errors, models_app, out
from shoplens.cli.options import MODEL, with_settings
from shoplens.config import Settings

if TYPE_CHECKING:
    from shoplens.inference.store import ModelStore


@models_app.command("versions")
@friendly_errors
@with_settings(MODEL)
def models_versions(settings: Settings) -> None:
    """Versions of a model, newest first, with test accuracy and the active one marked."""
    from shoplens.errors import NotFoundError
    from shoplens.inference.store import ModelStore

    store = ModelStore(settings.models_dir, settings.model_name)  # a bad name is refused first
    if not settings.models_dir.is_dir():
        raise NotFoundError(f"no models folder {settings.models_dir} (train a model, or give --models-dir)")
    if not (settings.models_dir / settings.model_name).is_dir():
        names = sorted(
            d.name for d in settings.models_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        raise NotFoundError(
            f"no model {settings.model_name!r} in {settings.models_dir}; its models: {', '.join(names) or 'none'}"
        )
    table = Table(title=f"{settings.model_name} in {settings.models_dir}")
    for col in ("version", "created (UTC)", "accuracy", "active"):
        table.add_column(col)
    for v in store.versions():
        acc = f"{v.accuracy:.4f}" if v.accuracy is not None else "-"
        table.add_row(v.version, v.created.strftime("%Y-%m-%d %H:%M:%S"), acc, "*" if v.active else "")
    out.print(table)


@models_app.command("activate")
@friendly_errors
@with_settings(MODEL)
def models_activate(
    version: Annotated[str, typer.Argument()],
    settings: Settings,
    force: Annotated[
        bool, typer.Option("--force", help="Activate even a version evaluated near chance.")
    ] = False,
) -> None:
    """Load a version to check it, then make it the active one (a running server follows within seconds)."""
    out.print(f"active: {_store(settings).activate(version, force=force).version}")


@models_app.command("rollback")
@friendly_errors
@with_settings(MODEL)
def models_rollback(settings: Settings) -> None:
    """Make the previously active version active again."""
    out.print(f"active: {_store(settings).rollback().version}")


def _store(settings: Settings) -> ModelStore:
    """The model store, loading trained and zero-shot versions alike."""
    from shoplens.backbones.serving import model_loader
    from shoplens.inference.store import ModelStore

    return ModelStore(settings.models_dir, settings.model_name, model_loader())


# where a refit finds the version's training data, when it moved since training
DataDir = Annotated[
    str | None, typer.Option("--data-dir", help="Where the training data is now, if it moved.")
]


@models_app.command("refit-detector")
@friendly_errors
@with_settings(MODEL)
def models_refit_detector(
    version: Annotated[str, typer.Argument(help="The version whose not-a-product detector is fitted again.")],
    settings: Settings,
    data_dir: DataDir = None,
) -> None:
    """Fit a version's "not a product" detector again with today's photo reader (its model is left as it is)."""
    from shoplens.training.ood_fit import refit_bundle_detector

    path = _store(settings).path_of(version)
    held = refit_bundle_detector(path, data_dir)
    out.print(
        f"{version}: detector refitted; on its held-out photos {held['ood_flagged']:.1%} of non-products flagged, "
        f"{held['ood_false_flag']:.1%} of products falsely flagged, AUROC {held['ood_auroc']:.3f}; a catalogue "
        f"searched with {version} gets its flags from `shoplens reindex --version {version} --refresh`"
    )


@models_app.command("refit-search")
@friendly_errors
@with_settings(MODEL)
def models_refit_search(
    version: Annotated[str, typer.Argument(help="The version whose search projection is fitted again.")],
    settings: Settings,
    as_version: Annotated[
        str | None, typer.Option("--as", help="Name of the new version (default: VERSION-search).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Copy a version, its search projection fitted again with today's fitter, as a new version (not activated)."""
    from shoplens.inference.store import VERSION_PATTERN
    from shoplens.training.pipeline import refit_bundle_search

    path = _store(settings).path_of(version)
    new = as_version or f"{version}-search"
    if not VERSION_PATTERN.match(new):
        raise typer.BadParameter(
            f"{new!r} is no version name (letters, digits, '.', '_' and '-'; a version is a folder beside {version})",
            param_hint="--as",
        )
    width = refit_bundle_search(path, path.parent / new, data_dir)
    fitted = (
        f"its search projection {width} wide" if width else "no search projection (too few validation images)"
    )
    out.print(
        f"{new}: a copy of {version} with {fitted}; to search with it: shoplens models activate {new}, "
        f"then shoplens reindex --version {new}"
    )
