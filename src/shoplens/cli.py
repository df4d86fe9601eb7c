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
models_app = typer.Typer(help="Architectures and model versions.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for `shoplens serve`.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(keys_app, name="keys")
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


@data_app.command("sample")
@friendly_errors
def data_sample(
    out_path: Annotated[Path, typer.Argument(help="PNG file to write.")],
    index: Annotated[int, typer.Option(min=0, help="Which test image.")] = 0,
    data_dir: DataDir = None,
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
def export(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    int8: Annotated[bool, typer.Option("--int8", help="Also try a static int8 model, calibrated on Fashion-MNIST training images.")] = False,
    data_dir: DataDir = None,
    verify: Verify = True,
    max_drop: Annotated[float, typer.Option(min=0, help="Keep the int8 model only if test accuracy drops by at most this many points.")] = 0.3,
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
            f"int8: test accuracy {t['int8_accuracy']:.4f} vs fp32 {t['fp32_accuracy']:.4f} ({-t['accuracy_drop_points']:+.2f} points), "
            f"{t['int8_images_per_second']:.0f} vs {t['fp32_images_per_second']:.0f} images/s ({t['int8_speedup']}×)",
            soft_wrap=True,
        )
        kept = f"kept: {bundle / t['file']}" if t["kept"] else f"discarded: it loses more than {max_drop} points"
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


ModelsDir = Annotated[Path, typer.Option("--models-dir", envvar="SHOPLENS_MODELS_DIR", help="Root of <name>/<version>/ bundles.")]
ModelName = Annotated[str, typer.Option("--name", envvar="SHOPLENS_MODEL_NAME", help="Model name under the models dir.")]
KeysFile = Annotated[Path, typer.Option("--keys-file", envvar="SHOPLENS_API_KEYS_FILE", help="The hashed API keys file.")]


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
def models_activate(version: Annotated[str, typer.Argument()], models_dir: ModelsDir = Path("var/models"), name: ModelName = "fashion-mnist") -> None:
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
    role: Annotated[str, typer.Option(help="reader (classify, list), merchant (same, for shops) or admin (also activate).")] = "reader",
    label: Annotated[str, typer.Option(help="A note on who holds the key.")] = "",
    keys_file: KeysFile = Path("var/api-keys.json"),
) -> None:
    """Create an API key and print it once (only its salted hash is stored)."""
    from shoplens.api.keys import KeyStore

    key = KeyStore(keys_file).create(role, label)
    err.print(f"created a {role} key in {keys_file}; it is shown only now:")
    print(key)


@keys_app.command("list")
@friendly_errors
def keys_list(keys_file: KeysFile = Path("var/api-keys.json")) -> None:
    """Stored keys: id, role, label, creation time (never the keys)."""
    from shoplens.api.keys import KeyStore

    for r in KeyStore(keys_file).records():
        out.print(f"{r.id}\t{r.role}\t{r.created}\t{r.label}")


@app.command()
@friendly_errors
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option(min=0, max=65535)] = None,
    models_dir: Annotated[Optional[Path], typer.Option("--models-dir")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Model name under the models dir.")] = None,
    open_mode: Annotated[Optional[bool], typer.Option("--open", help="Allow anonymous use (loopback hosts only).")] = None,
    batching: Annotated[Optional[bool], typer.Option("--batching/--no-batching", help="Micro-batch concurrent images.")] = None,
    runtime: Annotated[Optional[str], typer.Option(help="auto, onnxruntime, onnxruntime-int8 or torch.")] = None,
    keys_file: Annotated[Optional[Path], typer.Option("--keys-file")] = None,
) -> None:
    """Serve the active model over HTTP (every setting is also SHOPLENS_<NAME> in the environment)."""
    from pydantic import ValidationError

    from shoplens.api.server import serve as run_server
    from shoplens.config import Settings

    given = {"host": host, "port": port, "models_dir": models_dir, "model_name": name, "open_mode": open_mode,
             "batching": batching, "runtime": runtime, "api_keys_file": keys_file}  # fmt: skip
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise typer.BadParameter("; ".join(str(x["msg"]).removeprefix("Value error, ") for x in e.errors())) from None
    raise typer.Exit(run_server(settings))


if __name__ == "__main__":
    app()
