"""Few-shot categories: a linear head trained on frozen, cached embeddings of a labelled folder.

The encoder is an image–text bundle (its image tower) or a ShopLens bundle (its penultimate features); nothing in
it is trained. Embeddings are cached per encoder and per photo (a digest of its bytes) under the user's cache
folder, so a second run over the same photos embeds nothing, and a photo replaced by another embeds again. The head
is a multinomial logistic regression (scikit-learn, L2-regularised, maximum likelihood), written as a "few-shot"
model version that serves like any other (shoplens.backbones.fewshot).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shoplens.backbones.fewshot import HEAD, FrozenEncoder
from shoplens.data.folder import folder_items
from shoplens.data.split import stratified_split
from shoplens.errors import DataNotFoundError, ImageError
from shoplens.files import sha256_file, write_atomic
from shoplens.imaging import read_image_file
from shoplens.inference.kinds import FEW_SHOT

BATCH = 64
HELD_OUT = 0.2  # share of each category scored by a head fitted without it


@dataclass(frozen=True)
class Embedded:
    """Unit embeddings (N, D), integer labels (N,) and class names of a labelled set, and the photos left out."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    cached: int = 0  # how many came from the cache
    skipped: tuple[dict[str, str], ...] = ()  # {"path", "error"} of each photo that could not be read


def cache_dir() -> Path:
    """Where embeddings are cached: $XDG_CACHE_HOME/shoplens/embeddings (default ~/.cache)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "shoplens" / "embeddings"


def labelled_photos(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(photo, category) for root/<category>/<photos>, sorted; at least two categories."""
    items = folder_items(root)
    if len({label for _, label in items}) < 2:
        raise DataNotFoundError(f"{root}: need photos in at least two category sub-folders")
    return items


def embed_items(
    encoder: FrozenEncoder, items: Sequence[tuple[Path, str]], cache: Path | None = None
) -> Embedded:
    """Embeddings of every readable photo, read from the cache where the encoder saw the same file before;
    unreadable photos are left out and listed (as the trainer leaves them out)."""
    cache = cache or cache_dir()
    folder = cache / encoder.identity[:24]
    keys = [_file_key(path) for path, _ in items]
    vectors: list[np.ndarray | None] = [
        None if k is None else _read(folder / f"{k}.npy", encoder.dim) for k in keys
    ]
    todo = [i for i, v in enumerate(vectors) if v is None]
    skipped: list[dict[str, str]] = []
    for start in range(0, len(todo), BATCH):
        chunk, images = [], []
        for i in todo[start : start + BATCH]:
            try:
                images.append(read_image_file(items[i][0]))
            except ImageError as e:
                skipped.append({"path": str(items[i][0]), "error": str(e)})
                continue
            chunk.append(i)
        emb = encoder.embed(encoder.to_batch(images)) if images else []
        folder.mkdir(parents=True, exist_ok=True)
        for i, v in zip(chunk, emb):
            if keys[i] is not None:  # read now though its bytes could not be hashed a moment ago: not cached
                np.save(folder / f"{keys[i]}.npy", v.astype(np.float32))
            vectors[i] = v
    kept = [i for i, v in enumerate(vectors) if v is not None]
    names = sorted({items[i][1] for i in kept})
    if len(names) < 2:
        first = f" (first unreadable: {skipped[0]['path']}: {skipped[0]['error']})" if skipped else ""
        raise DataNotFoundError(
            f"readable photos of at least two categories are needed, found {len(names)}{first}"
        )
    y = np.array([names.index(items[i][1]) for i in kept], np.int64)
    x = np.stack([vectors[i] for i in kept]).astype(np.float32)
    return Embedded(x, y, names, cached=len(items) - len(todo), skipped=tuple(skipped))


def embed_images(encoder: FrozenEncoder, images: Sequence[Image.Image]) -> np.ndarray:
    """Unit embeddings of decoded photos, a batch at a time (no cache)."""
    chunks = [encoder.embed(encoder.to_batch(images[i : i + BATCH])) for i in range(0, len(images), BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float32)


def fit_head(
    x: np.ndarray, y: np.ndarray, c: float = 10.0, balanced: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (K, D) and bias (K,) of a multinomial logistic regression on unit embeddings.

    `balanced` weighs each class by the inverse of its count, so that k new examples are not drowned by
    thousands of an old class.
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=c, max_iter=2000, class_weight="balanced" if balanced else None, random_state=seed
    )
    model.fit(x, y)
    weights, bias = model.coef_, model.intercept_
    if weights.shape[0] == 1:  # two classes: scikit-learn keeps one row; softmax needs both
        weights, bias = np.concatenate([-weights / 2, weights / 2]), np.array([-bias[0] / 2, bias[0] / 2])
    return weights.astype(np.float32), bias.astype(np.float32)


def save_few_shot(
    output: str | os.PathLike,
    encoder: FrozenEncoder,
    labels: list[str],
    head: tuple[np.ndarray, np.ndarray],
    *,
    review_threshold: float = 0.5,
    data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write a few-shot model version (config.json + head.npz)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with open(output / HEAD, "wb") as f:
        np.savez(f, weights=head[0], bias=head[1])
    config = {
        "kind": FEW_SHOT,
        "format_version": 1,
        "name": output.parent.name,
        "version": output.name,
        "encoder": str(encoder.path),
        "encoder_kind": encoder.kind,
        "encoder_sha256": encoder.fingerprint,  # a head fits one encoder: loading it with another is refused
        "labels": labels,
        "temperature": 1.0,
        "review_threshold": review_threshold,
        "embedding_dim": encoder.dim,
        "data": data or {},
        "created": datetime.now(UTC).isoformat(),
    }
    write_atomic(output / "config.json", (json.dumps(config, indent=2) + "\n").encode())
    if metrics is not None:
        write_atomic(output / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    return output


def train_few_shot(
    encoder_path: str | os.PathLike,
    folder: str | os.PathLike,
    output: str | os.PathLike,
    *,
    c: float = 10.0,
    threads: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[Path, dict[str, Any]]:
    """Embed a labelled folder with a frozen encoder (cached), fit the head, write the version; (path, facts)."""
    start = time.perf_counter()
    encoder = FrozenEncoder(encoder_path, threads)
    items = labelled_photos(folder)
    embedded = embed_items(encoder, items)
    log(
        f"{len(items)} photos embedded ({embedded.cached} from the cache) in {time.perf_counter() - start:.1f}s"
    )
    held_out = held_out_accuracy(embedded, c)
    head = fit_head(embedded.x, embedded.y, c=c)
    train_acc = float(((embedded.x @ head[0].T + head[1]).argmax(axis=1) == embedded.y).mean())
    facts = {
        "photos": len(embedded.y),
        "from_cache": embedded.cached,
        "classes": embedded.class_names,
        "train_accuracy": round(train_acc, 4),
        "held_out_accuracy": None if held_out is None else held_out["accuracy"],
        "skipped": list(embedded.skipped),
        "seconds": round(time.perf_counter() - start, 2),
    }
    data = {"kind": "folder", "path": str(Path(folder).resolve()), "c": c, "skipped": list(embedded.skipped)}
    version = save_few_shot(output, encoder, embedded.class_names, head, data=data, metrics=held_out)
    return version, facts


def held_out_accuracy(embedded: Embedded, c: float, share: float = HELD_OUT) -> dict[str, Any] | None:
    """A head fitted on the rest, scored on a stratified share of each category (the saved head is then fitted on
    every photo); None when a category has fewer than two photos."""
    if np.bincount(embedded.y).min() < 2:
        return None
    fit, test = stratified_split(embedded.y, share, seed=0)
    weights, bias = fit_head(embedded.x[fit], embedded.y[fit], c=c)
    right = (embedded.x[test] @ weights.T + bias).argmax(axis=1) == embedded.y[test]
    return {
        "accuracy": round(float(right.mean()), 4),
        "num_samples": len(test),
        "evaluated": f"a head fitted on the other photos, scored on {share:.0%} of each category held out; the "
        "version's head is fitted on every photo",
    }


def _file_key(path: Path) -> str | None:
    """A photo's cache key: a digest of its bytes (None when it cannot be read; it is then reported as unreadable).

    Not the path, size and modification time: a photo replaced by another of the same size keeping its time (`cp -p`,
    `rsync -t`, an unpacked archive) was answered with the old photo's embedding. Hashing costs ~1 ms a MB, far
    less than embedding."""
    try:
        return sha256_file(path)[:32]
    except OSError:
        return None


def _read(path: Path, dim: int) -> np.ndarray | None:
    """A cached embedding, or None when absent or not of this width."""
    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return v if v.shape == (dim,) else None
