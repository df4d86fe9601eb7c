"""`shoplens evaluate|export|predict|classify-batch`: using a trained model bundle."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from shoplens.cli.common import app, err, friendly_errors, out, stopped_cleanly_by_sigterm
from shoplens.cli.data import FashionMnistDir, Folder, Manifest, Mode, Verify, _source
from shoplens.cli.engines import Engine, EngineOption, RayAddress, Workers, on_engine
from shoplens.cli.options import DEVICE, MODEL, RUNTIME, with_settings
from shoplens.config import Settings
from shoplens.errors import ImageError, NotFoundError


@app.command()
@friendly_errors
def evaluate(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    data_dir: FashionMnistDir = None,
    folder: Folder = None,
    manifest: Manifest = None,
    verify: Verify = True,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Report folder (default BUNDLE/report; for a hold-out set BUNDLE/report-<its name>)."
        ),
    ] = None,
) -> None:
    """Evaluate a bundle on its own test split, or on every photo of another folder/manifest, and write a report.

    The bundle's own test split (the data it was trained on, split as training split it) updates its metrics.json
    and model card; another folder or manifest is a hold-out set, evaluated whole and only reported.
    """
    import dataclasses

    from shoplens.data.source import DataSource, load_data, load_whole
    from shoplens.data.stream import in_memory
    from shoplens.models import load_bundle
    from shoplens.training.evaluate import evaluate_bundle

    b = load_bundle(bundle)
    trained_on = DataSource.from_record(b.config.get("data") or {})
    given = data_dir is not None or folder is not None or manifest is not None
    mode = Mode(b.preprocess.mode)
    source = _source(data_dir, folder, manifest, b.preprocess.size[0], mode, verify) if given else trained_on
    own = source.same_data(trained_on)
    if own:
        split_as_trained = dataclasses.replace(
            source, test_fraction=trained_on.test_fraction, stream=trained_on.stream, verify=verify
        )
        seed = int(b.config.get("train_config", {}).get("seed", 0))
        test = in_memory(load_data(split_as_trained, b.preprocess, seed)[1])
        report = report or b.path / "report"
        extra = b.metrics.get("extra")  # training's own measurements stay on the card
    else:
        test = load_whole(source, b.preprocess)
        report = report or b.path / f"report-{Path(source.path or 'fashion-mnist').stem}"
        extra = None
    metrics = evaluate_bundle(b, test, report_dir=report, extra=extra, record=own)
    out.print(json.dumps({k: metrics[k] for k in ("accuracy", "top3_accuracy", "macro_f1", "ece")}, indent=2))
    if own:
        out.print(f"the bundle's own test split ({len(test)} images): its metrics.json and card updated")
    else:
        out.print(
            f"a hold-out set, every one of its {len(test)} images: the bundle's metrics and card are kept"
        )
    out.print(f"report: {report / 'report.md'}", soft_wrap=True)


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
        if t["kept"]:
            kept = f"kept: {bundle / t['file']}"
        elif t["accuracy_drop_points"] > max_drop:
            kept = f"discarded: it loses more than {max_drop} points"
        else:  # a test set too small to see such a drop, and an answer unlike fp32's
            kept = (
                f"discarded: {t['test_images']} test images are too few to see a {max_drop}-point drop, and it "
                f"answers {1 - t['agreement_with_fp32']:.0%} of them unlike fp32"
            )
        out.print(f"int8 model {kept}", soft_wrap=True)


@app.command()
@friendly_errors
@with_settings(RUNTIME, DEVICE)
def predict(
    bundle: Annotated[Path, typer.Argument(help="A model bundle folder.")],
    images: Annotated[list[Path], typer.Argument(help="JPEG, PNG, WebP, GIF, AVIF or HEIC photos.")],
    settings: Settings,
    top_k: Annotated[int, typer.Option(min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Top-k categories with probabilities, one line per photo, with its status as /v1/classify gives it
    (needs review, not a product); unreadable photos get an error line."""
    from shoplens.backbones.serving import model_loader
    from shoplens.imaging import read_image_file
    from shoplens.inference.ood import NOT_RECOGNISED

    # ONNX Runtime when the bundle was exported (auto: the fastest runtime that agrees with FP32); few- and
    # zero-shot versions too
    predictor = model_loader(settings.runtime, device=settings.device)(bundle)
    say_runtime(predictor)
    predictor.top_k = min(top_k, len(predictor.bundle.labels))
    failed = 0
    for path in images:
        try:  # decoded as /v1/classify decodes (a large JPEG at a reduced scale), so both answer alike
            pred = predictor.predict_images([read_image_file(path, at_least=predictor.decode_side)])[0]
        except ImageError as e:
            failed += 1
            line = json.dumps({"file": str(path), "error": str(e)}) if as_json else f"{path}\terror: {e}"
            print(line, file=sys.stderr if not as_json else sys.stdout)
            continue
        if as_json:
            top = [{"label": lbl, "probability": round(p, 4)} for lbl, p in pred.top]
            answer = {"file": str(path), "top": top, "needs_review": pred.needs_review, "status": pred.status}
            print(json.dumps(answer | ({"ood_score": pred.ood_score} if pred.ood_score is not None else {})))
        else:
            flag = ""
            if pred.status == NOT_RECOGNISED:
                flag = "\tnot a product"
            elif pred.needs_review:
                flag = "\tneeds review"
            print(f"{path}\t" + "\t".join(f"{lbl} {p:.3f}" for lbl, p in pred.top) + flag)
    if failed:
        raise typer.Exit(1)


@app.command("classify-batch")
@friendly_errors
@with_settings(MODEL, RUNTIME, DEVICE, {"max_pixels": ()})
def classify_batch(
    source: Annotated[
        Path, typer.Argument(help="A folder of images, or a CSV / Parquet manifest with an 'image' column.")
    ],
    output: Annotated[Path, typer.Option("--out", help="The Parquet file of predictions to write.")],
    settings: Settings,
    version: Annotated[str | None, typer.Option(help="Model version (default: the active one).")] = None,
    engine: EngineOption = Engine.local,
    ray_address: RayAddress = None,
    workers: Workers = 2,
) -> None:
    """Classify and embed many images into Parquet: key, image, label, confidence, status, ood_score, probabilities,
    embedding."""
    from shoplens.catalog.batch import classify_sources
    from shoplens.catalog.engines import classify_batch as run
    from shoplens.catalog.service import NoModelError
    from shoplens.inference.store import ModelStore, predictor_loader

    if not source.exists():
        raise NotFoundError(f"no folder or file {source}")
    loader = predictor_loader(settings.runtime, device=settings.device)
    store = ModelStore(settings.models_dir, settings.model_name, loader)
    version = version or store.active_version()
    if version is None:
        raise NoModelError(f"no model version of {store.name!r} in {store.root}: train one first")
    model = store.load(version)
    say_runtime(model.predictor)
    sources = classify_sources(source)
    start = time.perf_counter()
    with on_engine(engine, ray_address), stopped_cleanly_by_sigterm():  # stopped: no hidden partial file left
        written = run(
            model, sources, output, engine=engine.value, workers=workers, max_pixels=settings.max_pixels
        )
    elapsed = time.perf_counter() - start
    out.print(
        f"{written.rows} images ({written.failed} failed) → {output} in {elapsed:.1f} s "
        f"({written.rows / max(elapsed, 1e-9):.0f} images/s)"
    )
    if written.failed and written.failed == written.rows:
        raise typer.Exit(1)


def say_runtime(predictor: object) -> None:
    """A line on stderr when a runtime other than FP32 answers (auto may choose int8 or bf16 on this CPU)."""
    runtime = getattr(getattr(predictor, "session", None), "runtime", None)
    if runtime in ("onnxruntime-int8", "openvino-bf16", "openvino-int8"):
        err.print(f"runtime: {runtime} (chosen by --runtime auto; --runtime onnxruntime answers in FP32)")
