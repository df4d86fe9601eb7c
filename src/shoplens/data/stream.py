"""Folder and manifest data left on disk: a file list whose photos are decoded one at a time, when read.

`FileDataset` is a map-style dataset (`len`, `ds[i]`), so a torch DataLoader decodes it in worker processes;
paths live in one numpy bytes array, not a list of Python strings, so forked workers share them instead of
copying them page by page (reference counts). Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from shoplens.data.dataset import ImageDataset, Labelled, array_checksum
from shoplens.data.split import copy_signature
from shoplens.errors import DataFormatError, ImageError
from shoplens.imaging import PreprocessConfig, image_to_array, read_image_file

log = logging.getLogger(__name__)

STREAM_ABOVE = 20_000  # photos: a larger folder or manifest streams unless the caller says otherwise
FALLBACK_TRIES = 16  # an unreadable photo is replaced by the next readable one, at most this far on


def file_list_checksum(paths: np.ndarray, labels: np.ndarray) -> str:
    """sha256 over file names and labels (a streamed dataset's provenance: its pixels are never all read)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(bytes(p) + b"\0")
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


@dataclass
class FileDataset(Labelled):
    """Labelled photos on disk, decoded to the model's (C, H, W) uint8 input when an item is read."""

    paths: np.ndarray  # bytes (os.fsencode of each path)
    labels: np.ndarray
    class_names: list[str]
    preprocess: PreprocessConfig
    source: str = ""
    checksum: str = ""
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_items(
        cls,
        paths: Sequence[str | os.PathLike],
        labels: Sequence[int],
        class_names: list[str],
        preprocess: PreprocessConfig,
        source: str,
    ) -> FileDataset:
        """A dataset over these files; the checksum covers the file list."""
        encoded = np.array([os.fsencode(p) for p in paths], dtype=bytes)
        labels_arr = np.asarray(labels, dtype=np.int64)
        return cls(
            encoded, labels_arr, class_names, preprocess, source, file_list_checksum(encoded, labels_arr)
        )

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> str:
        """The file of item i."""
        return os.fsdecode(bytes(self.paths[i]))

    def decode(self, i: int) -> np.ndarray:
        """Item i's pixels at the model's input size; ImageError when the file cannot be read.

        Decoded as /v1/classify decodes (a large JPEG at the smallest scale the reading needs), so that a model
        learns from the same reads it will serve, and a folder of phone photos reads several times faster.
        """
        return image_to_array(self._image(i), self.preprocess)

    def _image(self, i: int) -> Image.Image:
        """Item i decoded as /v1/classify decodes it."""
        return read_image_file(self.path(i), at_least=self.preprocess.decode_side)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        """(pixels, label); an unreadable photo is logged and the next readable one stands in for it."""
        for k in range(min(FALLBACK_TRIES, len(self))):
            j = (int(i) + k) % len(self)
            try:
                return self.decode(j), int(self.labels[j])
            except ImageError as e:
                log.warning("skipping unreadable training photo %s: %s", self.path(j), e)
        raise DataFormatError(f"{self.source}: {FALLBACK_TRIES} photos in a row from item {i} cannot be read")

    def subset(self, indices: np.ndarray) -> FileDataset:
        """A dataset of only the given rows (same classes, same source and checksum)."""
        return dataclasses.replace(self, paths=self.paths[indices], labels=self.labels[indices])

    def materialize(self, signatures: bool = False) -> ImageDataset:
        """Every readable photo decoded into one in-memory array; unreadable ones are listed in meta["skipped"],
        with `signatures` each photo's `CopySignature` in meta["copy_signatures"]."""
        arrays, labels, skipped, signed = [], [], [], []
        for i in range(len(self)):
            try:
                image = self._image(i)
                arrays.append(image_to_array(image, self.preprocess))
            except ImageError as e:
                skipped.append({"path": self.path(i), "error": str(e)})
                continue
            labels.append(int(self.labels[i]))
            if signatures:
                signed.append(copy_signature(image))
        if not arrays:
            first = skipped[0]["error"] if skipped else "no images"
            raise DataFormatError(
                f"{self.source}: none of the {len(self)} images could be read (first: {first})"
            )
        images = np.stack(arrays)
        labels_arr = np.asarray(labels, dtype=np.int64)
        return ImageDataset(
            images,
            labels_arr,
            self.class_names,
            source=self.source,
            checksum=array_checksum(images, labels_arr),
            meta={**self.meta, "skipped": skipped} | ({"copy_signatures": signed} if signatures else {}),
        )


def in_memory(ds: ImageDataset | FileDataset) -> ImageDataset:
    """The dataset as arrays (validation, calibration and test sets are read whole)."""
    return ds.materialize() if isinstance(ds, FileDataset) else ds
