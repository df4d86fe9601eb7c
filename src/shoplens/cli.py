"""The `shoplens` command line: thin sub-commands over the package."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from shoplens.errors import ImageError, ShopLensError

app = typer.Typer(help="ShopLens: image recognition for e-commerce.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
models_app = typer.Typer(help="Architectures.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
out = Console()
err = Console(stderr=True, soft_wrap=True)


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ShopLensError into `error: …` on stderr and its exit code, never a traceback."""

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

    return wrapper


class Preset(str, Enum):
    seed = "seed"
    fast = "fast"
    best = "best"


class Optimizer(str, Enum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"


class Schedule(str, Enum):
    onecycle = "onecycle"
    cosine = "cosine"
    constant = "constant"


class Mode(str, Enum):
    L = "L"
    RGB = "RGB"


DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Folder with the Fashion-MNIST IDX files (else $SHOPLENS_DATA_DIR, the Debian package, the user cache).")]
Folder = Annotated[Optional[Path], typer.Option(help="A labelled folder root/<category>/*.jpg instead of Fashion-MNIST.")]
Manifest = Annotated[Optional[Path], typer.Option(help="A CSV manifest (path,label) instead of Fashion-MNIST.")]


Verify = Annotated[bool, typer.Option("--verify/--no-verify", help="Require the official Fashion-MNIST checksums and counts.")]


def _source(data_dir: Path | None, folder: Path | None, manifest: Path | None, image_size: int = 28, mode: Mode = Mode.L, verify: bool = True):
    from shoplens.training.pipeline import DataSource

    if folder and manifest:
        raise typer.BadParameter("give --folder or --manifest, not both")
    if folder:
        return DataSource("folder", str(folder), image_size, mode.value)
    if manifest:
        return DataSource("manifest", str(manifest), image_size, mode.value)
    return DataSource("fashion-mnist", str(data_dir) if data_dir else None, verify=verify)


@data_app.command("info")
@friendly_errors
def data_info(data_dir: DataDir = None) -> None:
    """Where Fashion-MNIST was found, its files, shapes and whether they are the official ones."""
    from shoplens.data.fashion_mnist import CLASS_NAMES, describe

    root, infos = describe(data_dir)
    table = Table(title=f"Fashion-MNIST in {root}")
    for col in ("file", "shape", "sha256 (decompressed)", "official"):
        table.add_column(col)
    for i in infos:
        table.add_row(i.name, "×".join(map(str, i.shape)), i.sha256[:16] + "…", "yes" if i.verified else "[red]no[/red]")
    out.print(table)
    out.print("classes: " + ", ".join(f"{n}={c}" for n, c in enumerate(CLASS_NAMES)))


@data_app.command("download")
@friendly_errors
def data_download(dest: Annotated[Optional[Path], typer.Option(help="Target folder (default: user cache).")] = None) -> None:
    """Download the official Fashion-MNIST files (internet needed), verifying checksums."""
    from shoplens.data.fashion_mnist import download

    out.print(f"saved to {download(dest)}")


@models_app.command("list")
def models_list() -> None:
    """Registered architectures."""
    from shoplens.models import list_models

    for name in list_models():
        out.print(name)


@app.command()
@friendly_errors
def train(
    preset: Annotated[Preset, typer.Option(help="Defaults for every option below.")] = Preset.fast,
    data_dir: DataDir = None,
    folder: Folder = None,
    manifest: Manifest = None,
    verify: Verify = True,
    image_size: Annotated[int, typer.Option(min=8, max=512, help="Input size for --folder/--manifest data.")] = 28,
    mode: Annotated[Mode, typer.Option(help="Colour mode for --folder/--manifest data.")] = Mode.L,
    model: Annotated[Optional[str], typer.Option(help="Architecture (see `shoplens models list`).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1)] = None,
    time_budget: Annotated[Optional[float], typer.Option(min=1, help="Seconds of training; the LR schedule follows the clock.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1)] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option(min=0)] = None,
    weight_decay: Annotated[Optional[float], typer.Option(min=0)] = None,
    schedule: Annotated[Optional[Schedule], typer.Option()] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(min=0, max=0.99)] = None,
    crop_padding: Annotated[Optional[int], typer.Option(min=0, help="Random translation by up to N pixels.")] = None,
    hflip: Annotated[Optional[bool], typer.Option("--hflip/--no-hflip")] = None,
    erasing: Annotated[Optional[float], typer.Option(min=0, max=1, help="Random-erasing probability.")] = None,
    val_fraction: Annotated[Optional[float], typer.Option(min=0, max=0.9)] = None,
    early_stopping: Annotated[Optional[int], typer.Option(min=1, help="Stop after N epochs without validation gain.")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    tta_flip: Annotated[Optional[bool], typer.Option("--tta-flip/--no-tta-flip")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: all cores).")] = None,
    output: Annotated[Optional[Path], typer.Option(help="Bundle folder (default var/models/<name>/v<timestamp>).")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue from a checkpoint (…/checkpoints/last.pt).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Train a category model, calibrate it, save a bundle and evaluate it on held-out data."""
    import dataclasses

    from shoplens.training.pipeline import default_output, run_training
    from shoplens.training.presets import preset_config

    cfg = preset_config(
        preset.value, model=model, epochs=epochs, time_budget=time_budget, batch_size=batch_size,
        optimizer=optimizer.value if optimizer else None, lr=lr, weight_decay=weight_decay,
        schedule=schedule.value if schedule else None, label_smoothing=label_smoothing, val_fraction=val_fraction,
        early_stopping=early_stopping, seed=seed, tta_flip=tta_flip, threads=threads,
    )  # fmt: skip
    aug = {k: v for k, v in {"crop_padding": crop_padding, "hflip": hflip, "erasing": erasing}.items() if v is not None}
    if aug:
        cfg = dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, **aug))
    source = _source(data_dir, folder, manifest, image_size, mode, verify)
    if resume and not resume.is_file():
        raise typer.BadParameter(f"{resume} does not exist", param_hint="--resume")
    if output is None:
        output = resume.parent.parent if resume else default_output("fashion-mnist" if source.kind == "fashion-mnist" else "custom")
    bundle, metrics = run_training(cfg, source, output, resume=resume, progress=progress)
    out.print(
        f"test accuracy {metrics['accuracy']:.4f}  top-3 {metrics['top3_accuracy']:.4f}  macro F1 {metrics['macro_f1']:.4f}  "
        f"ECE {metrics['ece']:.4f}  ({metrics['extra']['train_seconds']:.0f}s training)"
    )
    out.print(f"bundle: {bundle}\nreport: {bundle / 'report' / 'report.md'}")


@app.command()
@friendly_errors
def evaluate(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    data_dir: DataDir = None,
    folder: Folder = None,
    manifest: Manifest = None,
    verify: Verify = True,
    report: Annotated[Optional[Path], typer.Option(help="Report folder (default BUNDLE/report).")] = None,
) -> None:
    """Evaluate a bundle on the Fashion-MNIST test split (or a folder/manifest) and write a report."""
    from shoplens.data import load_fashion_mnist
    from shoplens.models import load_bundle
    from shoplens.training.evaluate import evaluate_bundle
    from shoplens.training.pipeline import load_data

    b = load_bundle(bundle)
    source = _source(data_dir, folder, manifest, b.preprocess.size[0], Mode(b.preprocess.mode), verify)
    if source.kind == "fashion-mnist":
        test = load_fashion_mnist("test", source.path, verify)
    else:
        test = load_data(source, b.preprocess, int(b.config.get("train_config", {}).get("seed", 0)))[1]
    metrics = evaluate_bundle(b, test, report_dir=report)
    out.print(json.dumps({k: metrics[k] for k in ("accuracy", "top3_accuracy", "macro_f1", "ece")}, indent=2))
    out.print(f"report: {(report or b.path / 'report') / 'report.md'}")


@app.command()
@friendly_errors
def predict(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    images: Annotated[list[Path], typer.Argument(help="JPEG, PNG, WebP or GIF photos.")],
    top_k: Annotated[int, typer.Option(min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Top-k categories with probabilities, one line per photo; unreadable photos get an error line."""
    from shoplens.imaging import read_image_file
    from shoplens.inference import Predictor
    from shoplens.models import load_bundle

    predictor = Predictor(load_bundle(bundle), top_k=top_k)
    failed = 0
    for path in images:
        try:
            pred = predictor.predict_images([read_image_file(path)])[0]
        except ImageError as e:
            failed += 1
            line = json.dumps({"file": str(path), "error": str(e)}) if as_json else f"{path}\terror: {e}"
            print(line, file=sys.stderr if not as_json else sys.stdout)
            continue
        if as_json:
            top = [{"label": lbl, "probability": round(p, 4)} for lbl, p in pred.top]
            print(json.dumps({"file": str(path), "top": top, "needs_review": pred.needs_review}))
        else:
            flag = "\tneeds review" if pred.needs_review else ""
            print(f"{path}\t" + "\t".join(f"{lbl} {p:.3f}" for lbl, p in pred.top) + flag)
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
