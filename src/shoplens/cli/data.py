"""`shoplens data …`: where Fashion-MNIST is, fetching it, sample images."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shoplens.cli.common import data_app, friendly_errors, out


class Mode(str, Enum):
    L = "L"
    RGB = "RGB"


FashionMnistDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder with the Fashion-MNIST IDX files (else $SHOPLENS_DATA_DIR, the Debian package, the user cache).",
    ),
]
Folder = Annotated[
    Path | None, typer.Option(help="A labelled folder root/<category>/*.jpg instead of Fashion-MNIST.")
]
Manifest = Annotated[Path | None, typer.Option(help="A CSV manifest (path,label) instead of Fashion-MNIST.")]


Verify = Annotated[
    bool,
    typer.Option("--verify/--no-verify", help="Require the official Fashion-MNIST checksums and counts."),
]


def _source(
    data_dir: Path | None,
    folder: Path | None,
    manifest: Path | None,
    image_size: int = 28,
    mode: Mode = Mode.L,
    verify: bool = True,
):
    from shoplens.training.pipeline import DataSource

    if folder and manifest:
        raise typer.BadParameter("give --folder or --manifest, not both")
    if folder:
        return DataSource("folder", str(folder.resolve()), image_size, mode.value)
    if manifest:
        return DataSource("manifest", str(manifest.resolve()), image_size, mode.value)
    return DataSource("fashion-mnist", str(data_dir) if data_dir else None, verify=verify)


@data_app.command("info")
@friendly_errors
def data_info(data_dir: FashionMnistDir = None) -> None:
    """Where Fashion-MNIST was found, its files, shapes and whether they are the official ones."""
    from shoplens.data.fashion_mnist import CLASS_NAMES, describe

    root, infos = describe(data_dir)
    table = Table(title=f"Fashion-MNIST in {root}")
    for col in ("file", "shape", "sha256 (decompressed)", "official"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.name, "×".join(map(str, i.shape)), i.sha256[:16] + "…", "yes" if i.verified else "[red]no[/red]"
        )
    out.print(table)
    out.print("classes: " + ", ".join(f"{n}={c}" for n, c in enumerate(CLASS_NAMES)))


@data_app.command("download")
@friendly_errors
def data_download(
    dest: Annotated[Path | None, typer.Option(help="Target folder (default: user cache).")] = None,
) -> None:
    """Download the official Fashion-MNIST files (internet needed), verifying checksums."""
    from shoplens.data.fashion_mnist import download

    out.print(f"saved to {download(dest)}")


@data_app.command("sample")
@friendly_errors
def data_sample(
    out_path: Annotated[Path, typer.Argument(help="PNG file to write.")],
    index: Annotated[int, typer.Option(min=0, help="Which test image.")] = 0,
    data_dir: FashionMnistDir = None,
) -> None:
    """Write a Fashion-MNIST test image as a shop-style PNG (dark product on white), e.g. to try `serve`."""
    from PIL import Image

    from shoplens.data import load_fashion_mnist

    test = load_fashion_mnist("test", data_dir, verify=False)
    if index >= len(test):
        raise typer.BadParameter(f"the test split has {len(test)} images", param_hint="--index")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - test.images[index, 0]).save(out_path, "PNG")
    out.print(f"{out_path}: a {test.class_names[test.labels[index]]} (test image {index})")
