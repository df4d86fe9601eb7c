"""`shoplens train` and `models list`: training model bundles (using them: cli/using.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from shoplens.cli.common import app, err, friendly_errors, models_app, out, stopped_cleanly_by_sigterm
from shoplens.cli.data import FashionMnistDir, Folder, Manifest, Mode, Verify, _source
from shoplens.cli.options import DEVICE, with_settings
from shoplens.config import Settings


class Preset(str, Enum):
    seed = "seed"
    fast = "fast"
    best = "best"


class Optimizer(str, Enum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"


class MetricLoss(str, Enum):
    none = "none"
    supcon = "supcon"
    cosface = "cosface"
    proxy_anchor = "proxy_anchor"


class Schedule(str, Enum):
    onecycle = "onecycle"
    cosine = "cosine"
    constant = "constant"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


@models_app.command("list")
def models_list() -> None:
    """Registered architectures."""
    from shoplens.models import list_models

    for name in list_models():
        out.print(name)


@app.command()
@friendly_errors
@with_settings({"models_dir": ()}, DEVICE)
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
    metric_loss: Annotated[
        MetricLoss | None, typer.Option(help="Metric-learning loss on the search embedding.")
    ] = None,
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
    precision: Annotated[
        Precision | None,
        typer.Option(
            help="The forward pass in bf16 (autocast); auto: where the CPU (AVX-512 BF16, AMX) or GPU multiplies bf16."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Bundle folder (default: <models dir>/<data name>/v<UTC timestamp>).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue from a checkpoint (…/checkpoints/last.pt).")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    nproc: Annotated[
        int,
        typer.Option(
            min=1, help="Train in N local processes (DistributedDataParallel; gloo on CPU, NCCL on GPUs)."
        ),
    ] = 1,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream",
            help="Decode --folder/--manifest photos from disk while training instead of holding them in memory "
            "(default: above 20000 photos).",
            show_default=False,
        ),
    ] = None,
    activate: Annotated[
        bool, typer.Option("--activate", help="Serve the new version (refused if it is near chance).")
    ] = False,
    backbone: Annotated[
        Path | None,
        typer.Option(
            help="Few-shot: train only a linear head on this frozen encoder's cached embeddings of --folder "
            "(an image–text bundle or a ShopLens bundle)."
        ),
    ] = None,
) -> None:
    """Train a category model, calibrate it, save a bundle and evaluate it on held-out data."""
    import dataclasses

    if model is not None:
        from shoplens.models import list_models

        if model not in list_models():
            raise typer.BadParameter(
                f"unknown model {model!r}: one of {', '.join(list_models())}", param_hint="--model"
            )
    if output is not None:
        _check_output(output, resume)
    if backbone is not None:
        few_shot(settings, backbone, folder, output, threads, activate)
        return

    from shoplens.inference.devices import torch_device
    from shoplens.training.pipeline import default_output, run_training
    from shoplens.training.presets import preset_config

    torch_device(settings.device)  # an unusable --device fails before any data is read
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
        metric_loss=metric_loss.value if metric_loss else None,
        val_fraction=val_fraction,
        early_stopping=early_stopping,
        seed=seed,
        tta_flip=tta_flip,
        threads=threads,
        device=settings.device,
        precision=precision.value if precision else None,
    )
    aug = {
        k: v
        for k, v in {"crop_padding": crop_padding, "hflip": hflip, "erasing": erasing}.items()
        if v is not None
    }
    if aug:
        cfg = dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, **aug))
    if nproc > 1:
        from shoplens.training.distributed import under_torchrun

        if under_torchrun():
            raise typer.BadParameter(
                "torchrun already started this process; give one or the other", param_hint="--nproc"
            )
    source = dataclasses.replace(_source(data_dir, folder, manifest, image_size, mode, verify), stream=stream)
    if resume and not resume.is_file():
        raise typer.BadParameter(f"{resume} does not exist", param_hint="--resume")
    if output is None:
        name = (
            source.kind if source.kind == "fashion-mnist" else "custom"
        )  # the bundle is named after its data
        output = resume.parent.parent if resume else default_output(settings.models_dir, name)
        _check_output(output, resume)
    from shoplens.training.metrics import describe_estimate

    given = {"batch_size": batch_size, "epochs": epochs, "lr": lr, "time_budget": time_budget}
    keep = {name for name, value in given.items() if value is not None}
    try:
        with _warnings_shown():
            if nproc > 1:
                from shoplens.training.distributed import launch

                bundle, metrics = launch(nproc, run_training, cfg, source, output, resume, progress, keep)
            else:
                with stopped_cleanly_by_sigterm():  # SIGTERM as Ctrl-C: the message below, exit 143
                    bundle, metrics = run_training(
                        cfg, source, output, resume=resume, progress=progress, keep=keep
                    )
    except (KeyboardInterrupt, SystemExit):
        checkpoint = Path(output) / "checkpoints" / "last.pt"
        if checkpoint.is_file():  # at least one epoch finished
            err.print(
                f"interrupted: continue it with the same options and --resume {checkpoint}", soft_wrap=True
            )
        raise
    if not metrics:  # one of torchrun's other ranks: rank 0 reports
        return
    extra = metrics["extra"]
    for option, (before, after) in extra["adapted_to_small_data"].items():
        out.print(
            f"small training set: {option} {before} → {after} (set --{option.replace('_', '-')} to keep it)"
        )
    out.print(f"review threshold: {extra['review_rule']}", soft_wrap=True)
    out.print(
        f"test accuracy {metrics['accuracy']:.4f}  top-3 {metrics['top3_accuracy']:.4f}  "
        f"macro F1 {metrics['macro_f1']:.4f}  "
        f"({extra['train_seconds']:.0f}s training, {extra['precision']})\n"
        f"ECE {describe_estimate(metrics, 'ece')}  NLL {describe_estimate(metrics, 'nll')}",
        soft_wrap=True,
    )
    out.print(f"bundle: {bundle}\nreport: {bundle / 'report' / 'report.md'}")
    _activate_trained(bundle, activate)


class _WarningLine(logging.Handler):
    """Training's warnings as `warning: …` lines on stderr, when they arise."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[yellow]warning:[/yellow] {record.getMessage()}", soft_wrap=True, highlight=False)


@contextmanager
def _warnings_shown() -> Iterator[None]:
    """Within the block, the training pipeline's warnings are printed once, as they happen."""
    logger = logging.getLogger("shoplens.training")
    handler = _WarningLine(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _check_output(output: Path, resume: Path | None) -> None:
    """Refuse to write a new model over a bundle (a resumed run finishes its own), and ever over the active one."""
    active = output.parent / "ACTIVE"
    if active.is_file() and active.read_text().strip() == output.name and (output / "config.json").exists():
        raise typer.BadParameter(
            f"{output} is the active version of {output.parent.name}", param_hint="--output"
        )
    if resume is None and (output / "config.json").exists():
        raise typer.BadParameter(
            f"{output} already holds a model bundle: give a new folder (or none, for a new version)",
            param_hint="--output",
        )


def _activate_trained(bundle: Path, activate: bool) -> None:
    """Activate the new version when asked; otherwise say how (a trained version never serves by itself)."""
    from shoplens.backbones.serving import model_loader
    from shoplens.inference.store import ModelStore

    bundle = bundle.resolve()  # a relative --output has a parent folder and a name too
    name, version = bundle.parent.name, bundle.name
    if activate:
        out.print(
            f"active: {ModelStore(bundle.parent.parent, name, model_loader()).activate(version).version}"
        )
        return
    command = f"shoplens models activate {version} --name {name} --models-dir {bundle.parent.parent}"
    out.print(f"not active yet (servers keep their current version); to serve it: {command}", soft_wrap=True)


def few_shot(
    settings: Settings,
    backbone: Path,
    folder: Path | None,
    output: Path | None,
    threads: int | None,
    activate: bool = False,
) -> None:
    """`train --backbone`: a head on frozen embeddings of a labelled folder, written as a model version."""
    from shoplens.training.fewshot import train_few_shot
    from shoplens.training.pipeline import default_output, unread

    if folder is None:
        raise typer.BadParameter(
            "few-shot training needs --folder (root/<category>/<photos>)", param_hint="--backbone"
        )
    output = output or default_output(settings.models_dir, "custom")
    path, facts = train_few_shot(backbone, folder, output, threads=threads, log=out.print)
    for warning in unread(facts["skipped"]):
        err.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    held_out = facts["held_out_accuracy"]
    out.print(
        f"{len(facts['classes'])} categories, {facts['photos']} photos ({facts['from_cache']} embeddings cached), "
        f"training accuracy {facts['train_accuracy']:.4f}, "
        + (
            "held-out accuracy unmeasured (a category has one photo)"
            if held_out is None
            else f"held-out {held_out:.4f}"
        )
        + f", {facts['seconds']:.1f}s"
    )
    out.print(f"model version: {path}")
    _activate_trained(path, activate)
