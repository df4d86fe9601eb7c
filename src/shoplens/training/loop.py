"""The training loop: batched augmentation, LR schedule by progress or wall time, checkpoints, early stopping."""

from __future__ import annotations

import copy
import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shoplens.data import ImageDataset
from shoplens.data.stream import FileDataset
from shoplens.errors import ShopLensError
from shoplens.files import write_atomic
from shoplens.imaging import PreprocessConfig
from shoplens.imaging.augment import augment_batch
from shoplens.imaging.preprocess import normalize_affine
from shoplens.inference.cpu import has_bf16_dot
from shoplens.inference.devices import torch_device
from shoplens.inference.predictor import forward
from shoplens.inference.torch_session import TorchSession
from shoplens.models import create_model
from shoplens.processes import usable_cpus
from shoplens.training.distributed import Dist
from shoplens.training.feed import EpochFeed
from shoplens.training.metric_loss import logits_and_features, metric_loss
from shoplens.training.outlier_exposure import synthetic_outliers, uniform_loss
from shoplens.training.photo_augment import photo_augment
from shoplens.training.presets import TrainConfig
from shoplens.training.progress import TrainProgress

CHECKPOINT_NAME = "last.pt"


@dataclass
class TrainResult:
    """A trained model with how it got there."""

    model: nn.Module
    history: list[dict]
    train_seconds: float
    images_seen: int
    stopped: str
    precision: str = "fp32"  # what the forward passes ran in ("bf16": autocast)


def lr_at(progress: float, cfg: TrainConfig) -> float:
    """Learning rate at a point of the run (0 = start, 1 = end)."""
    p = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "onecycle" and p < cfg.warmup:
        return cfg.lr * (0.04 + 0.96 * p / cfg.warmup)
    start = cfg.warmup if cfg.schedule == "onecycle" else 0.0
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * (p - start) / (1.0 - start)))


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser the config names; no weight decay on BatchNorm and bias parameters."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (sgd, adam, adamw)")


def build_model(cfg: TrainConfig, num_classes: int, preprocess: PreprocessConfig) -> nn.Module:
    """The config's architecture for these classes and this input."""
    return create_model(
        cfg.model,
        num_classes=num_classes,
        in_chans=preprocess.in_chans,
        img_size=preprocess.size,
        **cfg.model_kwargs,
    )


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    preprocess: PreprocessConfig,
    tta_flip: bool = False,
    batch_size: int = 1000,
) -> np.ndarray:
    """Logits for uint8 images (N, C, H, W); with tta_flip, the mean of the image's and its mirror's logits."""
    session = TorchSession(model)
    x_all = np.asarray(images)
    out = [
        forward(session, x_all[i : i + batch_size], preprocess, tta_flip)[0]
        for i in range(0, len(x_all), batch_size)
    ]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def _evaluate(model: nn.Module, ds: ImageDataset, preprocess: PreprocessConfig) -> tuple[float, float]:
    if next(model.parameters()).device.type != "cpu":  # predictions run on the CPU (numpy in, numpy out)
        model = copy.deepcopy(model).cpu()
    logits = torch.from_numpy(predict_logits(model, ds.images, preprocess))
    y = torch.from_numpy(ds.labels)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype a training run's forward pass is autocast to (None: fp32) for its `precision` on `device`."""
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        return None
    fast = torch.cuda.is_bf16_supported() if device.type == "cuda" else has_bf16_dot()
    return torch.bfloat16 if fast else None


def _batch_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    preprocess: PreprocessConfig,
    gen: torch.Generator,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, logits, labels) of one uint8 batch; with outlier exposure its tail is replaced by non-products."""
    photo_domain = (
        preprocess.reader == "photo"
    )  # the non-product renderers draw what the photo reader outputs
    k = round(cfg.outlier_share * len(y)) if cfg.outlier_share and photo_domain else 0
    if k:
        x = torch.cat([x[: len(x) - k], synthetic_outliers(x[len(x) - k :], gen)])
        y = y[: len(y) - k]
    device = next(model.parameters()).device
    x, y = _normalized(x, preprocess), y.to(device)  # train_model moved x to the model's device
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        logits, features = logits_and_features(model, x)
    logits, features = logits.float(), features.float()  # losses in fp32
    loss = F.cross_entropy(logits[: len(y)], y, label_smoothing=cfg.label_smoothing)
    if cfg.metric_loss != "none":  # shapes the search embedding; the outlier tail has no class to cluster in
        loss = loss + cfg.metric_weight * metric_loss(cfg.metric_loss, features[: len(y)], y, model)
    if k:
        loss = loss + cfg.outlier_weight * uniform_loss(logits[len(y) :])
    return loss, logits[: len(y)], y


def _normalized(x: torch.Tensor, preprocess: PreprocessConfig) -> torch.Tensor:
    """A uint8 batch as the model's float input (channels-last): imaging.normalize, on the batch's device."""
    scale, shift = (torch.from_numpy(a).to(x.device) for a in normalize_affine(preprocess))
    return (x.float() * scale + shift).contiguous(memory_format=torch.channels_last)


def _set_threads(cfg: TrainConfig, dist: Dist) -> None:
    torch.set_num_threads(cfg.threads or max(1, usable_cpus() // dist.local_world))


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a checkpoint atomically (a crash never leaves a half-written file)."""
    write_atomic(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str | os.PathLike, cfg: TrainConfig) -> dict:
    """A checkpoint written by this loop, checked against the run's architecture."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise ShopLensError(f"cannot resume from {path}: not a training checkpoint ({e})") from e
    if not isinstance(state, dict) or "model" not in state:
        raise ShopLensError(f"cannot resume from {path}: not a checkpoint of `shoplens train`")
    if state.get("train_config", {}).get("model") != cfg.model:
        raise ShopLensError(
            f"{path} is a checkpoint of {state.get('train_config', {}).get('model')!r}, not {cfg.model!r}"
        )
    return state


def check_resumable(
    state: dict,
    path: str | os.PathLike,
    cfg: TrainConfig,
    train: ImageDataset | FileDataset,
    pre: PreprocessConfig,
) -> None:
    """ShopLensError when a checkpoint's run had other data, input or seed than this one (its split would differ)."""
    was = state.get("data") or {}
    differences = [
        what
        for what, differs in (
            ("other categories", "class_names" in was and was["class_names"] != list(train.class_names)),
            ("other photos", bool(was.get("checksum")) and was.get("checksum") != train.checksum),
            (
                "another input (size, mode or preprocessing)",
                "preprocess" in state and state["preprocess"] != pre.to_dict(),
            ),
            ("another seed", state.get("train_config", {}).get("seed", cfg.seed) != cfg.seed),
        )
        if differs
    ]
    if differences:
        raise ShopLensError(
            f"{path} was trained with {', '.join(differences)} than this run: resume it with the data and options "
            "it was trained with (--resume continues a run exactly)"
        )


def train_model(
    cfg: TrainConfig,
    train: ImageDataset | FileDataset,
    val: ImageDataset | None,
    preprocess: PreprocessConfig,
    checkpoint_dir: Path | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
    dist: Dist | None = None,
) -> TrainResult:
    """Train the config's model on `train`, validating on `val` after every epoch (then checkpointing).

    With `dist`, this process is one rank of a DistributedDataParallel run: it trains on its shard of each
    epoch, metrics are summed over ranks, and only rank 0 writes checkpoints.
    """
    dist = dist or Dist()
    _set_threads(cfg, dist)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    device = dist.device if dist.world > 1 else torch.device(torch_device(cfg.device))
    model = build_model(cfg, train.num_classes, preprocess).to(device, memory_format=torch.channels_last)
    opt = build_optimizer(model, cfg)
    dtype = autocast_dtype(cfg.precision, device)
    feed = EpochFeed(train, cfg.batch_size, gen, cfg.seed, dist, cfg.loader_workers)
    steps_per_epoch = feed.steps
    total_steps = steps_per_epoch * cfg.epochs
    history: list[dict] = []
    step, epoch, elapsed0 = 0, 0, 0.0
    best = (-1.0, None, 0)  # (val acc, state, epoch)
    if resume:
        state = load_checkpoint(resume, cfg)
        check_resumable(state, resume, cfg, train, preprocess)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:  # its head or input differ: trained on other categories or another input
            raise ShopLensError(
                f"{resume} was trained on other data than this run's ({train.num_classes} categories at "
                f"{preprocess.size[0]}×{preprocess.size[1]}): resume it with the data it was trained on"
            ) from e
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step, epoch, elapsed0, history = state["step"], state["epoch"], state["elapsed"], state["history"]
        best = (state["best_val_acc"], state.get("best_model"), state.get("best_epoch", epoch))
    trainee = dist.wrap(model)  # what steps; `model` is the network itself
    checkpoint_dir = checkpoint_dir if dist.main else None
    if checkpoint_dir:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter() - elapsed0
    images_seen, stopped = step * cfg.batch_size, ""

    def progress_now() -> float:
        p = step / total_steps
        if cfg.time_budget:  # ranks agree, so that all stop at the same step
            p = dist.max(max(p, (time.perf_counter() - start) / cfg.time_budget))
        return p

    with TrainProgress(enabled=progress, total=1.0, description=f"{cfg.preset}:{cfg.model}") as bar:
        while epoch < cfg.epochs and progress_now() < 1.0:
            trainee.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in feed.epoch(epoch):
                p = progress_now()
                if p >= 1.0:
                    break
                x = x.to(device)  # a GPU prepares its batches itself (same random draws as on the CPU)
                for group in opt.param_groups:
                    group["lr"] = lr_at(p, cfg)
                x = augment_batch(x, cfg.augment, gen) if cfg.augment.enabled else x
                if cfg.photo_augment.enabled and preprocess.reader == "photo":  # looks like a read photo
                    x = photo_augment(x, cfg.photo_augment, gen)
                loss, logits, y = _batch_loss(trainee, x, y, cfg, preprocess, gen, dtype)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                seen += len(y)
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                bar.update(p, epoch=epoch + 1, loss=loss_sum / seen, acc=correct / seen)
            epoch += 1
            loss_sum, correct, seen = dist.sum(loss_sum, correct, seen)
            dist.sync_buffers(model)
            images_seen += int(seen)
            row = {
                "epoch": epoch,
                "train_loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "lr": opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
            if val is not None and len(val):
                row["val_loss"], row["val_acc"] = _evaluate(model, val, preprocess)
                if row["val_acc"] > best[0]:
                    best = (
                        row["val_acc"],
                        copy.deepcopy(model.state_dict()) if cfg.early_stopping else None,
                        epoch,
                    )
            history.append(row)
            bar.log_epoch(row)
            if checkpoint_dir:
                save_checkpoint(
                    checkpoint_dir / CHECKPOINT_NAME,
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "generator": gen.get_state(),
                        "step": step,
                        "epoch": epoch,
                        "elapsed": time.perf_counter() - start,
                        "history": history,
                        "best_val_acc": best[0],
                        "best_model": best[1],
                        "best_epoch": best[2],
                        "train_config": cfg.to_dict(),
                        "preprocess": preprocess.to_dict(),
                        "data": {"checksum": train.checksum, "class_names": list(train.class_names)},
                    },
                )
            if on_epoch_end:
                on_epoch_end(row)
            if cfg.early_stopping and epoch - best[2] >= cfg.early_stopping:
                stopped = "early stopping"
                break
    stopped = stopped or ("epochs" if epoch >= cfg.epochs else "time budget")
    if cfg.early_stopping and best[1] is not None:
        model.load_state_dict(best[1])
    return TrainResult(
        model.cpu().eval(),
        history,
        time.perf_counter() - start,
        images_seen,
        stopped,
        "bf16" if dtype is not None else "fp32",
    )
