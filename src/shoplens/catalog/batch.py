"""Batch jobs' building blocks, the same for the local engine and for Ray Data: where images are read from,
the per-image stages (read + decode + preprocess, the model), and the Parquet output of `classify-batch`.

A stage takes and returns a batch as a dict of equal-length numpy columns (Ray Data's "numpy" batch format):
rows that fail carry their reason in `error` and go on, so one bad image never stops a job.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from shoplens.data.folder import hidden
from shoplens.errors import DataFormatError, DataNotFoundError, ShopLensError
from shoplens.files import tree_entries
from shoplens.imaging import IMAGE_SUFFIXES, PreprocessConfig, decode_image, read_image
from shoplens.imaging.decode import DEFAULT_MAX_BYTES
from shoplens.imaging.photo import CUE_NAMES
from shoplens.imaging.quality import QualityConfig
from shoplens.inference.store import LoadedModel

REMOTE_RETRY_S = 5  # how long object storage is retried for one image before its row fails
DEFAULT_BATCH = 256  # images per model call unless the bundle says (ONNX Runtime peaked at 32-256 here)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WEB = re.compile(r"^https?://", re.IGNORECASE)
Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class Source:
    """One image of a batch job: the key its result is reported under and where it is read from."""

    key: str
    image: str


def is_uri(location: str) -> bool:
    """Whether an image location is a URI (s3://, gs://, file://, http://…) rather than a local path."""
    return bool(_URI.match(location))


def is_web_url(location: str) -> bool:
    """Whether an image location is an http(s) URL: fetched under a FetchPolicy, never read directly."""
    return bool(_WEB.match(location))


def batch_size_of(config: dict[str, Any]) -> int:
    """Images per model call: the bundle's `inference.batch_size` in config.json, else DEFAULT_BATCH."""
    return int(config.get("inference", {}).get("batch_size") or DEFAULT_BATCH)


def read_bytes(location: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """An image file's bytes from a local path or object storage (s3://, gs://, hdfs://… via pyarrow), at most
    max_bytes."""
    if not location:
        raise FileNotFoundError("no image given")
    if is_uri(location):
        import pyarrow.fs

        try:
            if location.lower().startswith("gs://"):  # from_uri's client retries without end, tokenless
                fs = pyarrow.fs.GcsFileSystem(retry_time_limit=timedelta(seconds=REMOTE_RETRY_S))
                path = location[len("gs://") :]
            else:
                fs, path = pyarrow.fs.FileSystem.from_uri(location)
        except (pyarrow.ArrowInvalid, ValueError) as e:  # type: ignore[attr-defined]
            raise ValueError(f"{location}: not a readable file URI ({e})") from e
    else:
        fs, path = None, location
    if fs is None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no file {location}")
        if p.stat().st_size > max_bytes:
            raise ValueError(f"file larger than {max_bytes} bytes")
        return p.read_bytes()
    with fs.open_input_file(path) as fh:
        if fh.size() > max_bytes:
            raise ValueError(f"file larger than {max_bytes} bytes")
        return fh.read()


def image_files(root: Path) -> list[Path]:
    """Every file under root named like an image, sorted — a dangling link among them, so that it fails rather than
    vanishes — leaving out hidden files and folders (a `.cache`, macOS's `._x.png`), as training does; linked
    folders are followed (what they hold must still lie inside root to be read)."""
    return [
        p
        for p in tree_entries(root)
        if p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p.relative_to(root))
    ]


def classify_sources(source: Path) -> list[Source]:
    """The images of a folder (sorted, keyed by relative path), or of a CSV / Parquet manifest with an `image`
    column (a path relative to the manifest, or a URI) and an optional `key` column (default: line number)."""
    if source.is_dir():
        return [Source(str(p.relative_to(source)), str(p)) for p in image_files(source)]
    if source.suffix.lower() in IMAGE_SUFFIXES:
        raise DataFormatError(
            f"{source} is a photo: give a folder or a manifest (`shoplens predict` answers for photos)"
        )
    rows = manifest_rows(source)
    if rows and "image" not in rows[0][1]:
        raise DataFormatError(f"{source}: no 'image' column")
    out = []
    for n, rec in rows:
        image = (rec.get("image") or "").strip()
        if image and not is_uri(image):
            image = str((source.parent / image).resolve())
        out.append(Source(str(rec.get("key") or f"line {n}"), image))
    return out


def manifest_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line where it starts, as a spreadsheet numbers them; the row as strings, '' for missing values) for each
    row of a CSV (UTF-8) or Parquet manifest."""
    if not path.is_file():
        raise DataNotFoundError(f"no manifest {path}")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several kinds for a file that is not Parquet
            raise DataFormatError(f"{path}: not a readable Parquet file ({e})") from e
        rows = table.to_pylist()
        return [
            (n, {k: "" if v is None else str(v) for k, v in row.items()}) for n, row in enumerate(rows, 2)
        ]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: not a readable UTF-8 CSV file ({e})") from e
    # a cell may be as long as the file (it is in memory already): an oversized title fails its row, not the file
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.DictReader(io.StringIO(text, newline=""))  # rows end at line ends only, not at U+2028 & co.
    out, line = [], 2
    try:
        for record in reader:
            out.append((line, {k: v or "" for k, v in record.items()}))
            line = reader.line_num + 1  # a quoted field may have spanned lines
    except csv.Error as e:
        raise DataFormatError(f"{path}: line {line}: not a readable CSV row ({e})") from e
    return out


def source_batch(sources: Sequence[Source]) -> Batch:
    """Sources as a batch (columns key, image)."""
    return {
        "key": np.array([s.key for s in sources], object),
        "image": np.array([s.image for s in sources], object),
    }


def decode_stage(
    batch: Batch,
    pre: PreprocessConfig,
    max_pixels: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    reader: Callable[[str, int], bytes] = read_bytes,
) -> Batch:
    """Read (with `reader`), safely decode and preprocess each image: adds `input` (N, C, H, W) uint8, the photo
    reader's `cues` (see cue_rows) and `error`."""
    inputs = np.zeros((len(batch["key"]), pre.in_chans, *pre.size), np.uint8)
    cues = cue_rows(len(batch["key"]))
    errors = np.full(len(batch["key"]), "", object)
    for i, location in enumerate(batch["image"]):
        try:
            data = reader(str(location), max_bytes)
            image = decode_image(data, max_pixels=max_pixels, at_least=pre.decode_side)  # as /v1/classify
            inputs[i], cues[i] = _read(image, pre)
        except (OSError, ValueError, ShopLensError) as e:
            errors[i] = f"{location}: {e}"
    return {**batch, "input": inputs, "cues": cues, "error": errors}


def cue_rows(n: int) -> np.ndarray:
    """Room for n images' photo cues as a float array (one column per CUE_NAMES entry), NaN where none: the
    "not a product" detector needs them after the model has run, wherever the image was read."""
    return np.full((n, len(CUE_NAMES)), np.nan, np.float64)


def cue_maps(rows: np.ndarray) -> list[dict[str, float] | None]:
    """cue_rows' rows as the cue mappings Predictor.predictions takes (None where an image has none)."""
    return [None if np.isnan(r).all() else dict(zip(CUE_NAMES, r.tolist())) for r in rows]


def _read(image: Any, pre: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """An image as the model's input and its cues as one row of cue_rows."""
    array, cues = read_image(image, pre)
    return array, np.array([cues.get(name, np.nan) for name in CUE_NAMES], np.float64)


def prepare_stage(
    batch: Batch, pre: PreprocessConfig, max_pixels: int, quality: QualityConfig, blur: bool, max_bytes: int
) -> Batch:
    """Ingestion's per-image work before the model: read, make safe (decode, blur), measure, hash, preprocess.

    Adds `prepared` (the pickled result the catalogue writer stores), `input`, `cues` and `error`.
    """
    from shoplens.catalog.ingest import prepare

    n = len(batch["key"])
    inputs = np.zeros((n, pre.in_chans, *pre.size), np.uint8)
    cues = cue_rows(n)
    prepared = np.full(n, b"", object)
    errors = np.full(n, "", object)
    for i, location in enumerate(batch["image"]):
        if batch["error"][i]:
            errors[i] = batch["error"][i]
            continue
        try:
            p = prepare(read_bytes(str(location), max_bytes), blur, max_pixels, quality, pre.decode_side)
            inputs[i], cues[i] = _read(p.seen, pre)
            prepared[i] = pickle.dumps(p)
        except (OSError, ValueError, ShopLensError) as e:
            errors[i] = f"{location}: {e}"
    return {**batch, "prepared": prepared, "input": inputs, "cues": cues, "error": errors}


class ModelStage:
    """One model per worker: calibrated probabilities and search vectors of a batch's `input` column."""

    def __init__(self, bundle_path: str, runtime: str = "auto", threads: int | None = 1) -> None:
        from shoplens.inference.runtime import load_predictor

        self.predictor = load_predictor(bundle_path, runtime=runtime, threads=threads)  # type: ignore[arg-type]

    @classmethod
    def of(cls, model: LoadedModel) -> ModelStage:
        """The stage around a model already loaded in this process."""
        stage = cls.__new__(cls)
        stage.predictor = model.predictor
        return stage

    def __call__(self, batch: Batch) -> Batch:
        """The batch with `probs` (N, K), `vector` (N, D + K), `status` and `ood_score` (NaN: none) added, as
        /v1/classify would answer for each image."""
        probs, features = self.predictor.run(np.ascontiguousarray(batch["input"]))
        cues = cue_maps(batch["cues"]) if "cues" in batch else None
        seen = self.predictor.predictions(probs, features, cues)
        rest = {k: v for k, v in batch.items() if k not in ("input", "cues")}  # not needed downstream
        return {
            **rest,
            "probs": probs.astype(np.float32),
            "vector": self.predictor.search_vectors(probs, features),
            "status": np.array([p.status for p in seen], object),
            "ood_score": np.array([np.nan if p.ood_score is None else p.ood_score for p in seen], np.float32),
        }


class PredictionsFile:
    """Writes `classify-batch` results batch by batch to one Parquet file, put in place atomically on close."""

    def __init__(self, path: Path, labels: Sequence[str], model_version: str) -> None:
        import pyarrow.parquet as pq

        self.path, self.labels, self.version = path, list(labels), model_version
        if path.is_dir():
            raise ShopLensError(
                f"{path} is a folder: give a file to write, e.g. {path / 'predictions.parquet'}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self.rows = self.failed = 0

    def write(self, batch: Batch) -> None:
        """Append a batch that went through the model (failed rows get nulls and their error)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        ok = np.array([not e for e in batch["error"]], bool)
        probs = np.asarray(batch["probs"], np.float32)
        top = probs.argmax(axis=1)
        failed = pa.array(~ok)
        labels = np.array(self.labels, object)[top]
        table = pa.table(
            {
                "key": pa.array(batch["key"].astype(str)),
                "image": pa.array(batch["image"].astype(str)),
                "label": pa.array(labels, pa.string(), mask=~ok),
                "confidence": pa.array(probs[np.arange(len(ok)), top], pa.float32(), mask=~ok),
                "status": pa.array(batch["status"].astype(str), pa.string(), mask=~ok),
                "ood_score": pa.array(
                    batch["ood_score"], pa.float32(), mask=~ok | np.isnan(batch["ood_score"])
                ),
                "probabilities": _vectors(probs, failed),
                "embedding": _vectors(np.asarray(batch["vector"], np.float32), failed),
                "model_version": pa.array([self.version] * len(ok)),
                "error": pa.array([e or None for e in batch["error"]], pa.string()),
            }
        )
        table = table.replace_schema_metadata(self.metadata())
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema)
        self._writer.write_table(table)
        self.rows += len(ok)
        self.failed += int((~ok).sum())

    def metadata(self) -> dict[str, str]:
        """What the columns mean, in the file's schema metadata (pyarrow: `pq.read_schema(path).metadata`)."""
        return {
            "shoplens.labels": json.dumps(self.labels),  # the order of `probabilities`
            "shoplens.model_version": self.version,
            "shoplens.embedding": "the search vector the catalogue indexes (unit length; the model's features, "
            "projected, joined to its category probabilities), not /v1/classify's `embedding` (the features)",
        }

    def close(self) -> None:
        """Finish the file and move it into place (an empty job writes an empty file with no columns)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            if self._writer is None:
                pq.write_table(pa.table({"key": pa.array([], pa.string())}), self._tmp)
            else:
                self._writer.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        """Drop the unfinished file."""
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def _vectors(rows: np.ndarray, missing: Any) -> Any:
    """A (N, D) float32 array as a fixed-size list column, null where `missing` (a pyarrow bool array)."""
    import pyarrow as pa

    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1], mask=missing)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def classify_batch_local(
    model: LoadedModel, sources: Sequence[Source], out: Path, max_pixels: int = 40_000_000
) -> PredictionsFile:
    """Predictions and embeddings of every source into a Parquet file, in this process."""
    writer = PredictionsFile(out, model.predictor.bundle.labels, model.version)
    stage = ModelStage.of(model)
    try:
        for part in chunks(sources, batch_size_of(model.predictor.bundle.config)):
            writer.write(stage(decode_stage(source_batch(part), model.preprocess, max_pixels)))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer
