"""Where a model's training data comes from (Fashion-MNIST, a labelled folder, a CSV manifest), as bundles record it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shoplens.data.dataset import ImageDataset
from shoplens.data.fashion_mnist import load_fashion_mnist
from shoplens.data.folder import load_csv_manifest, load_image_folder
from shoplens.data.split import content_groups, near_copy_groups, stratified_split
from shoplens.data.stream import FileDataset
from shoplens.errors import DataFormatError
from shoplens.imaging import PreprocessConfig

SourceKind = Literal["fashion-mnist", "folder", "manifest"]
KINDS: tuple[str, ...] = ("fashion-mnist", "folder", "manifest")


@dataclass(frozen=True)
class DataSource:
    """Where training data comes from: Fashion-MNIST, a labelled folder, or a CSV manifest."""

    kind: SourceKind = "fashion-mnist"
    path: str | None = None  # the folder or manifest; for Fashion-MNIST an explicit --data-dir
    image_size: int = 28
    mode: Literal["L", "RGB"] = "L"
    test_fraction: float = 0.15  # held out from a folder/manifest (Fashion-MNIST has its own test split)
    verify: bool = True  # Fashion-MNIST: insist on the official checksums and counts
    stream: bool | None = (
        False  # folder/manifest: decode when read (None: above data.stream.STREAM_ABOVE photos)
    )

    def record(self) -> dict[str, Any]:
        """What a bundle keeps to find this data again (config.json's `data`): the path absolute, as the split."""
        path = str(Path(self.path).resolve()) if self.path else None
        return {"kind": self.kind, "path": path, "test_fraction": self.test_fraction, "stream": self.stream}

    def same_data(self, other: DataSource) -> bool:
        """Whether two sources name the same data (its own test split is then the one to evaluate on)."""
        if self.kind != other.kind:
            return False
        if self.kind == "fashion-mnist":
            return True
        return (
            self.path is not None
            and other.path is not None
            and Path(self.path).resolve() == Path(other.path).resolve()
        )

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> DataSource:
        """The source a bundle's `data` record names; older records only have `source` ("folder:/photos")."""
        kind, path = data.get("kind"), data.get("path")
        if kind is None:
            source = str(data.get("source") or "fashion-mnist")
            kind, _, rest = source.partition(":")
            if kind == "fashion-mnist":  # fashion-mnist:<split>:<root>
                rest = rest.partition(":")[2]
            path = rest or None
        if kind not in KINDS:
            raise DataFormatError(
                f"unknown training data source {kind!r} (expected one of {', '.join(KINDS)})"
            )
        stream = data.get("stream", False)
        return cls(
            kind,
            path,
            test_fraction=float(data.get("test_fraction", cls.test_fraction)),
            stream=stream if isinstance(stream, bool) else None,
        )


def load_data(
    source: DataSource, preprocess: PreprocessConfig, seed: int
) -> tuple[ImageDataset | FileDataset, ImageDataset | FileDataset]:
    """(training pool, test set); the test set is held out before any training decision.

    A streamed folder or manifest gives FileDatasets (`data.stream.in_memory` reads one whole).
    """
    if source.kind == "fashion-mnist":
        return (
            load_fashion_mnist("train", source.path, source.verify),
            load_fashion_mnist("test", source.path, source.verify),
        )
    loader = load_image_folder if source.kind == "folder" else load_csv_manifest
    if source.path is None:
        raise DataFormatError(f"a {source.kind} data source needs a path")
    full = loader(source.path, preprocess, stream=source.stream)
    groups = copy_groups(full)
    pool_idx, test_idx = stratified_split(full.labels, source.test_fraction, seed=seed + 1, groups=groups)
    full.meta["copies"] = len(groups) - len(np.unique(groups))  # photos that are copies of another
    full.meta["pool_groups"] = groups[pool_idx]  # the validation split keeps them together too (run_training)
    return full.subset(pool_idx), full.subset(test_idx)


def copy_groups(data: ImageDataset | FileDataset) -> np.ndarray:
    """A group per photo of a folder or manifest, shared by its copies: in memory, the same decoded pixels or a
    near-copy (`near_copy_groups`); streamed, the same file bytes (an unreadable file is its own group)."""
    if isinstance(data, ImageDataset):
        signatures = data.meta.pop(
            "copy_signatures", None
        )  # read once, by the loader: not kept with the data
        groups = content_groups(data.images)
        return groups if signatures is None else near_copy_groups(groups, signatures)
    return content_groups(_file_bytes(os.fsdecode(p)) or p for p in data.paths)


def _file_bytes(path: str) -> bytes:
    """A file's bytes, or nothing when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def load_whole(source: DataSource, preprocess: PreprocessConfig) -> ImageDataset:
    """Every photo of a folder or manifest, in memory: a hold-out set evaluated whole."""
    if source.kind == "fashion-mnist":
        return load_fashion_mnist("test", source.path, source.verify)
    if source.path is None:
        raise DataFormatError(f"a {source.kind} data source needs a path")
    loader = load_image_folder if source.kind == "folder" else load_csv_manifest
    whole = loader(source.path, preprocess, stream=False)
    assert isinstance(whole, ImageDataset)
    return whole
