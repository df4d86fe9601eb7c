"""`shoplens train|evaluate|export|predict` and `models list`: training and using model bundles."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from shoplens.cli.common import app, friendly_errors, models_app, out
from shoplens.cli.data import FashionMnistDir, Folder, Manifest, Mode, Verify, _source
from shoplens.cli.options import with_settings
from shoplens.config import Settings
from shoplens.errors import ImageError


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


@models_app.command("list")
def models_list() -> None:
    """Registered architectures."""
    from shoplens.models import list_models

    for name in list_models():
        out.print(name)


@app.command()
@friendly_errors
@with_settings({"models_dir": ()})
def train(
    settings: Settings,
    preset: Annotated[Preset, typer.Option(help="Defaults for every option below.")] = Preset.fast,
    data_dir: FashionMnistDir = None,
    folder: Folder = None,
    manifest: Manifest = None,
    verify: Verify = True,
    image_size: Annotated[
        int, typer.Option(min=8, max=512, help="Input size for --folder/--manifest data.")
    ] = 28,
    mode: Annotated[Mode, typer.Option(help="Colour mode for --folder/--manifest data.")] = Mode.L,
    model: Annotated[str | None, typer.Option(help="Architecture (see `shoplens models list`).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    time_budget: Annotated[
        float | None, typer.Option(min=1, help="Seconds of training; the LR schedule follows the clock.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    optimizer: Annotated[Optimizer | None, typer.Option()] = None,
    lr: Annotated[float | None, typer.Option(min=0)] = None,
    weight_decay: Annotated[float | None, typer.Option(min=0)] = None,
    schedule: Annotated[Schedule | None, typer.Option()] = None,
    label_smoothing: Annotated[float | None, typer.Option(min=0, max=0.99)] = None,
    crop_padding: Annotated[
        int | None, typer.Option(min=0, help="Random translation by up to N pixels.")
    ] = None,
    hflip: Annotated[bool | None, typer.Option("--hflip/--no-hflip")] = None,
    erasing: Annotated[float | None, typer.Option(min=0, max=1, help="Random-erasing probability.")] = None,
    val_fraction: Annotated[float | None, typer.Option(min=0, max=0.9)] = None,
    early_stopping: Annotated[
        int | None, typer.Option(min=1, help="Stop after N epochs without validation gain.")
    ] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    tta_flip: Annotated[bool | None, typer.Option("--tta-flip/--no-tta-flip")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all cores).")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Bundle folder (default: <models dir>/<data name>/v<UTC timestamp>).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue from a checkpoint (…/checkpoints/last.pt).")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Train a category model, calibrate it, save a bundle and evaluate it on held-out data."""
    import dataclasses

    from shoplens.training.pipeline import default_output, run_training
    from shoplens.training.presets import preset_config

    cfg = preset_config(
        preset.value,
        model=model,
        epochs=epochs,
        time_budget=time_budget,
        batch_size=batch_size,
        optimizer=optimizer.value if optimizer else None,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule.value if schedule else None,
        label_smoothing=label_smoothing,
        val_fraction=val_fraction,
        early_stopping=early_stopping,
        seed=seed,
        tta_flip=tta_flip,
        threads=threads,
    )
    aug = {
        k: v
        for k, v in {"crop_padding": crop_padding, "hflip": hflip, "erasing": erasing}.items()
        if v is not None
    }
    if aug:
        cfg = dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, **aug))
    source = _source(data_dir, folder, manifest, image_size, mode, verify)
    if resume and not resume.is_file():
        raise typer.BadParameter(f"{resume} does not exist", param_hint="--resume")
    if output is None:
        name = (
            source.kind if source.kind == "fashion-mnist" else "custom"
        )  # the bundle is named after its data
        output = resume.parent.parent if resume else default_output(settings.models_dir, name)
    bundle, metrics = run_training(cfg, source, output, resume=resume, progress=progress)
    out.print(
        f"test accuracy {metrics['accuracy']:.4f}  top-3 {metrics['top3_accuracy']:.4f}  "
        f"macro F1 {metrics['macro_f1']:.4f}  "
        f"ECE {metrics['ece']:.4f}  ({metrics['extra']['train_seconds']:.0f}s training)"
    )
    out.print(f"bundle: {bundle}\nreport: {bundle / 'report' / 'report.md'}")


@app.command()
@friendly_errors
def evaluate(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    data_dir: FashionMnistDir = None,
    folder: Folder = None,
    manifest: Manifest = None,
    verify: Verify = True,
    report: Annotated[Path | None, typer.Option(help="Report folder (default BUNDLE/report).")] = None,
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
def export(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    int8: Annotated[
        bool,
        typer.Option(
            "--int8", help="Also try a static int8 model, calibrated on the bundle's own training images."
        ),
    ] = False,
    data_dir: FashionMnistDir = None,
    verify: Verify = True,
    max_drop: Annotated[
        float,
        typer.Option(
            min=0, help="Keep the int8 model only if test accuracy drops by at most this many points."
        ),
    ] = 0.3,
) -> None:
    """Write BUNDLE/model.onnx (BatchNorm folded, checked against torch); loading the bundle then uses ONNX Runtime."""
    from shoplens.inference.export import export_onnx
    from shoplens.models.bundle import read_config

    path = export_onnx(bundle, int8=int8, data_dir=data_dir, verify=verify, max_accuracy_drop=max_drop)
    config = read_config(bundle)
    diff = config["onnx"]["max_abs_diff_vs_torch"]
    out.print(f"onnx: {path}", soft_wrap=True)
    out.print(f"max abs difference vs torch: logits {diff['logits']:.2e}, embedding {diff['embedding']:.2e}")
    if int8:
        t = config["onnx_int8"]
        out.print(
            f"int8: test accuracy {t['int8_accuracy']:.4f} vs fp32 {t['fp32_accuracy']:.4f} "
            f"({-t['accuracy_drop_points']:+.2f} points), "
            f"{t['int8_images_per_second']:.0f} vs {t['fp32_images_per_second']:.0f} images/s ({t['int8_speedup']}×)",
            soft_wrap=True,
        )
        kept = (
            f"kept: {bundle / t['file']}" if t["kept"] else f"discarded: it loses more than {max_drop} points"
        )
        out.print(f"int8 model {kept}", soft_wrap=True)


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
    from shoplens.inference import load_predictor

    predictor = load_predictor(bundle, top_k=top_k)  # ONNX Runtime when the bundle was exported
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
