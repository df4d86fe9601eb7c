"""Training configuration: one typed dataclass, with named presets as defaults that options override."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from shoplens.fields import reject_unknown_keys
from shoplens.imaging.augment import AugmentConfig
from shoplens.training.photo_augment import PhotoAugmentConfig

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in checkpoints and bundles."""

    preset: str = "fast"
    model: str = "shopnet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    time_budget: float | None = None  # seconds of training; the LR schedule follows elapsed time when set
    batch_size: int = 256
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup: float = 0.2  # share of the run spent warming up (onecycle)
    label_smoothing: float = 0.1
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    photo_augment: PhotoAugmentConfig = field(default_factory=PhotoAugmentConfig)
    outlier_share: float = 0.0  # share of each batch replaced by synthetic non-products (outlier exposure)
    outlier_weight: float = 0.5  # weight of their uniform-target loss
    metric_loss: Literal["none", "supcon", "cosface", "proxy_anchor"] = (
        "none"  # on the embedding (metric_loss.py)
    )
    metric_weight: float = 1.0  # its weight next to the cross-entropy
    val_fraction: float = 0.1
    early_stopping: int | None = None  # epochs without validation improvement before stopping
    seed: int = 0
    tta_flip: bool = False
    normalize_mean: tuple[float, ...] = FASHION_MNIST_MEAN
    normalize_std: tuple[float, ...] = FASHION_MNIST_STD
    threads: int | None = None  # None: every CPU core (shared among the processes of a distributed run)
    loader_workers: int = 2  # processes decoding a streamed folder or manifest
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when torch can use it (inference/devices.py)
    # bf16: the forward pass under autocast (weights, gradients and losses stay fp32); auto: bf16 where the device
    # multiplies bf16 in hardware (a CPU's AVX-512 BF16 or AMX, a GPU that supports it), else fp32 (loop.autocast_dtype)
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    review_target_accuracy: float = 0.98

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = dataclasses.asdict(self)
        d["augment"] = self.augment.to_dict()
        d["photo_augment"] = self.photo_augment.to_dict()
        d["normalize_mean"], d["normalize_std"] = list(self.normalize_mean), list(self.normalize_std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict; unknown keys are an error."""
        d = dict(d)
        reject_unknown_keys(cls, d, "training option")
        if isinstance(d.get("augment"), dict):
            d["augment"] = AugmentConfig.from_dict(d["augment"])
        if isinstance(d.get("photo_augment"), dict):
            d["photo_augment"] = PhotoAugmentConfig.from_dict(d["photo_augment"])
        for key in ("normalize_mean", "normalize_std"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


PRESETS: dict[str, TrainConfig] = {
    # The classic Keras recipe: Adam at its default LR, batch 32, 5 epochs, no augmentation, pixels / 255.
    "seed": TrainConfig(
        preset="seed",
        model="seed_cnn",
        epochs=5,
        batch_size=32,
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        schedule="constant",
        label_smoothing=0.0,
        normalize_mean=(0.0,),
        normalize_std=(1.0,),
    ),
    # The default: a few minutes of training that holds up on photos (1.5× shopnet's width, bf16 where the CPU
    # multiplies it); within the classic recipe's own time it still beats that recipe (bench/train_vs_seed.py).
    "fast": TrainConfig(
        preset="fast",
        model="shopnet_wide",
        epochs=8,
        batch_size=256,
        optimizer="sgd",
        lr=0.2,
        weight_decay=5e-4,
        schedule="onecycle",
        label_smoothing=0.1,
        augment=AugmentConfig(hflip=True),
        photo_augment=PhotoAugmentConfig(probability=0.4),  # 40 %: bench/photo_share.py
        outlier_share=0.125,  # an eighth of each batch: synthetic non-products, uniform target
        metric_loss="supcon",  # the search embedding clustered by category (bench/embedding_losses.py)
        tta_flip=True,
        # shopnet_wide in bf16: Fashion-MNIST 92.4 % in 98 s on an AMX CPU, where shopnet in fp32 got 91.6 % in 68 s
        # (bench/results/precision_width.json); its embedding still transfers (few-shot k=50: 0.85, fewshot.json)
        precision="auto",
    ),
    # Highest accuracy within 15 minutes on a 2-core machine.
    "best": TrainConfig(
        preset="best",
        model="shopnet_large",  # 3× shopnet's width: affordable in bf16, +0.5 points over shopnet_wide
        epochs=100,
        time_budget=840.0,
        batch_size=256,
        optimizer="sgd",
        lr=0.2,
        weight_decay=5e-4,
        schedule="onecycle",
        label_smoothing=0.1,
        augment=AugmentConfig(crop_padding=2, hflip=True),
        photo_augment=PhotoAugmentConfig(probability=0.4),
        outlier_share=0.125,
        metric_loss="supcon",
        tta_flip=True,
        precision="auto",
    ),
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """A preset's config with the given fields replaced (None values keep the preset's)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    base = PRESETS[name]
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **changes)
