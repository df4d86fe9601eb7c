"""From data to an evaluated bundle: load, split, train, calibrate, save, evaluate, report."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shoplens.data import stratified_split
from shoplens.data.dataset import ImageDataset
from shoplens.data.source import DataSource, load_data
from shoplens.data.stream import FileDataset, in_memory
from shoplens.errors import BundleError, DataFormatError
from shoplens.imaging import PreprocessConfig
from shoplens.inference.predictor import Predictor
from shoplens.inference.projection import SEARCH_FILE, SEARCH_WIDTH, SearchProjection
from shoplens.inference.store import VERSION_PATTERN
from shoplens.models.bundle import (
    CONFIG,
    METRICS,
    UNFINISHED,
    load_bundle,
    read_bundle_spec,
    read_config,
    save_bundle,
    write_json,
)
from shoplens.training.card import PHOTO_BENCHMARK, write_model_card
from shoplens.training.distributed import Dist, from_env
from shoplens.training.evaluate import calibrate, evaluate_bundle
from shoplens.training.loop import train_model
from shoplens.training.ood_fit import (
    CALIBRATION_PHOTOS,
    MIN_PHOTOS,
    PhotoSet,
    calibration_photos,
    fit_bundle_detector,
    model_outputs,
    product_photos,
    validation_split,
)
from shoplens.training.presets import TrainConfig
from shoplens.training.small_data import adapt_to_data, thin_classes

CHECKPOINTS = "checkpoints"  # the folder of a bundle its training checkpoints are written to
log = logging.getLogger(__name__)
__all__ = ["DataSource", "default_output", "load_data", "preprocess_for", "run_training"]


def preprocess_for(source: DataSource, cfg: TrainConfig) -> PreprocessConfig:
    """The preprocessing a model trained on this source needs, at training and prediction time alike."""
    size = (source.image_size, source.image_size)
    if source.kind == "fashion-mnist":  # photos read as Zalando prepared these: the product light on black
        return PreprocessConfig(
            size=(28, 28), mode="L", reader="photo", mean=cfg.normalize_mean, std=cfg.normalize_std
        )
    chans = 1 if source.mode == "L" else 3
    mean = cfg.normalize_mean * chans if len(cfg.normalize_mean) == 1 else cfg.normalize_mean
    std = cfg.normalize_std * chans if len(cfg.normalize_std) == 1 else cfg.normalize_std
    return PreprocessConfig(size=size, mode=source.mode, resize="pad", mean=mean, std=std)


def unread(skipped: Sequence[Mapping[str, str]]) -> list[str]:
    """A warning naming the photos that could not be read and were left out (none: no warning)."""
    if not skipped:
        return []
    first = skipped[0]
    return [
        f"{len(skipped)} photo(s) could not be read and were left out (first: {first['path']}: {first['error']})"
    ]


def kept_epoch(history: Sequence[Mapping[str, Any]], early_stopping: bool) -> int | None:
    """The epoch whose weights the bundle holds: the best on validation under early stopping, else the last."""
    if not history:
        return None
    row = max(history, key=lambda r: r.get("val_acc", 0.0)) if early_stopping else history[-1]
    return int(row["epoch"])


def default_output(root: str | os.PathLike, name: str) -> Path:
    """A new version folder: <root>/<name>/<UTC timestamp>."""
    return Path(root) / name / datetime.now(UTC).strftime("v%Y%m%d-%H%M%S")


def run_training(
    cfg: TrainConfig,
    source: DataSource,
    output: str | os.PathLike,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    keep: Collection[str] = (),
    dist: Dist | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train, calibrate on validation, save the bundle, evaluate it on the test set; returns (bundle path, metrics).

    Batch size, LR and epochs adapt to a small training set unless named in `keep` (options the user set).
    Under torchrun (or `distributed.launch`) every rank trains; rank 0 alone writes the bundle and returns
    metrics, the others return an empty dict.
    """
    dist = dist or from_env()
    output = Path(dist.share(str(output)))  # one timestamped folder for all ranks
    preprocess = preprocess_for(source, cfg)
    pool, test = load_data(source, preprocess, cfg.seed)
    if len(pool.class_names) < 2:
        raise DataFormatError(
            f"{pool.source}: photos of at least two categories are needed to train a classifier, found "
            f"{len(pool.class_names)} ({', '.join(pool.class_names) or 'none'})"
        )
    if len(test) == 0:
        raise DataFormatError(
            f"{pool.source}: too few photos to hold any out as the test set ({len(pool)} in all): a category needs at "
            "least 2 photos, and 20 or more to learn it"
        )
    if dist.main:  # no store lists the folder as a version until its evaluation is written
        output.mkdir(parents=True, exist_ok=True)
        (output / UNFINISHED).touch()
    # A folder's or manifest's copies of one photo stay together (load_data); Fashion-MNIST: none, as published.
    groups = pool.meta.get("pool_groups")
    train_idx, val_idx = stratified_split(pool.labels, cfg.val_fraction, seed=cfg.seed, groups=groups)
    train, val = pool.subset(train_idx), in_memory(pool.subset(val_idx))
    cfg, adapted = adapt_to_data(cfg, len(train), keep)
    warnings = thin_classes(train.class_counts()) + unread(pool.meta.get("skipped", ()))
    if repeated := pool.meta.get("copies"):
        warnings.append(
            f"{repeated} photo(s) are copies of another photo: each kept with its original on one side of the test and "
            + (
                "validation splits (a streamed folder finds only copies byte for byte)"
                if isinstance(pool, FileDataset)
                else "validation splits (the same pixels, or the photo resized or re-encoded)"
            )
        )
    for warning in warnings if dist.main else ():
        log.warning(warning)
    result = train_model(
        cfg,
        train,
        val,
        preprocess,
        checkpoint_dir=output / CHECKPOINTS,
        resume=resume,
        progress=progress and dist.main,
        dist=dist,
    )
    if not dist.main:
        return output, {}
    test = in_memory(test)
    cal = calibrate(result.model, val, preprocess, cfg.tta_flip, cfg.review_target_accuracy)
    save_bundle(
        output,
        result.model,
        architecture=cfg.model,
        model_kwargs=cfg.model_kwargs,
        labels=pool.class_names,
        preprocess=preprocess,
        train_config=cfg.to_dict(),
        temperature=cal.temperature,
        review_threshold=cal.review_threshold,
        review_thresholds=cal.review_thresholds,
        review_rule=cal.review_rule,
        tta_flip=cfg.tta_flip,
        data={
            **source.record(),
            "source": pool.source,
            "checksum": pool.checksum,
            "train_samples": len(train),
            "val_samples": len(val),
            "test_samples": len(test),
            "class_counts": train.class_counts(),
        },
    )
    extra = {
        "train_seconds": round(result.train_seconds, 2),
        "images_per_second": round(result.images_seen / max(result.train_seconds, 1e-9), 1),
        "epochs": len(result.history),
        "stopped": result.stopped,
        "precision": result.precision,
        "best_val_acc": max((r.get("val_acc", 0.0) for r in result.history), default=None),
        "kept_epoch": kept_epoch(result.history, bool(cfg.early_stopping)),
        "adapted_to_small_data": adapted,
        "warnings": warnings,
        "review_rule": cal.review_rule,
    }
    photos = None
    if preprocess.reader == "photo" and len(val) >= MIN_PHOTOS:  # validation garments' photos, read once
        photos = calibration_photos(val.images, val.labels, preprocess, CALIBRATION_PHOTOS, cfg.seed)
    extra["search_width"] = fit_search_projection(output, val, photos=photos[0] if photos else None)
    if photos is not None:  # "not a product": from those photos and synthetic non-products
        extra["ood_held_out"] = {
            k: round(v, 4) for k, v in fit_bundle_detector(output, val, seed=cfg.seed, photos=photos).items()
        }
    elif preprocess.reader == "photo":
        warnings.append(
            f"no not-a-product detector: the validation split holds {len(val)} images, fewer than {MIN_PHOTOS}"
        )
        log.warning(warnings[-1])
    metrics = evaluate_bundle(load_bundle(output), test, history=result.history, extra=extra)
    (output / UNFINISHED).unlink(missing_ok=True)
    return output, metrics


def fit_search_projection(
    bundle_dir: str | os.PathLike,
    val: ImageDataset,
    width: int = SEARCH_WIDTH,
    photos: PhotoSet | None = None,
) -> int | None:
    """Fit a saved bundle's search projection on its validation features (and on `photos` of validation garments,
    each against the garment it shows) and store it; its width, or None."""
    if not len(val):
        return None
    predictor = Predictor(load_bundle(bundle_dir))
    _, features = model_outputs(predictor, val.images)
    pairs = None
    if photos is not None and photos.sources is not None:
        pairs = (model_outputs(predictor, photos.arrays)[1], features[photos.sources])
    projection = SearchProjection.fit(features, val.labels, width, pairs)
    if projection is None:  # features already narrow, or too few images to find their directions
        return None
    projection.save(bundle_dir)
    return projection.width


def refit_bundle_search(
    bundle_dir: str | os.PathLike,
    output: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    verify: bool = True,
    n: int = CALIBRATION_PHOTOS,
) -> int | None:
    """Copy a trained bundle to `output`, a new version, with its search projection fitted again by today's fitter
    on its own validation split (and photos of it, for a photo-reading bundle); the new projection's width, or None.

    A new version, because a catalogue indexed with a version keeps the vectors it stored: changing that version's
    projection in place would search them with queries projected otherwise. The copy is built in a hidden folder
    beside `output` (no store lists it) and renamed at the end.
    """
    spec = read_bundle_spec(bundle_dir)
    output = Path(output)
    if not VERSION_PATTERN.match(output.name):
        raise BundleError(f"{output.name!r} is not a version name (letters, digits, '.', '_' and '-')")
    if output.exists():
        raise BundleError(f"{output} already exists: name another version")
    val, seed = validation_split(spec, data_dir, verify)
    staging = output.parent / f".{output.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    # neither its checkpoints nor its photo benchmark, whose search numbers were measured with the old projection
    shutil.copytree(spec.path, staging, ignore=shutil.ignore_patterns(CHECKPOINTS, PHOTO_BENCHMARK))
    try:
        config = read_config(staging)
        config.update(version=output.name, created=datetime.now(UTC).isoformat())
        write_json(staging / CONFIG, config)
        (staging / SEARCH_FILE).unlink(missing_ok=True)
        photos = None
        if spec.preprocess.reader == "photo" and len(val) >= MIN_PHOTOS:
            # calibration_photos(..., seed) draws its product photos first from this generator: the same photos
            # training fitted on, without reading the non-products
            photos = product_photos(val.images, val.labels, spec.preprocess, n, np.random.default_rng(seed))
        width = fit_search_projection(staging, val, photos=photos)
        if spec.metrics:
            extra = {
                **spec.metrics.get("extra", {}),
                "search_width": width,
                "search_refitted_from": spec.version,
            }
            write_json(staging / METRICS, {**spec.metrics, "extra": extra})
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    copied = read_bundle_spec(output)
    if copied.metrics and "macro_f1" in copied.metrics:
        write_model_card(copied, copied.metrics)
    return width
