"""The IDX file format (Fashion-MNIST, MNIST): validated reading and writing, gzip or plain."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from shoplens.errors import DataFormatError

_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """The decompressed bytes of an IDX file (gzip recognised by its magic)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataFormatError(f"{path}: cannot read ({e.strerror or e})") from e
    return decompress_idx(raw, str(path))


def decompress_idx(raw: bytes, name: str = "<bytes>") -> bytes:
    """The IDX payload of a file's bytes: gunzipped when they are gzip (recognised by its magic)."""
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataFormatError(f"{name}: corrupt gzip stream ({e})") from e
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the magic number and that the size matches the header."""
    if len(data) < 4:
        raise DataFormatError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _DTYPES or ndim == 0:
        raise DataFormatError(
            f"{name}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000 then type and ndim)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{name}: header truncated")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataFormatError(
            f"{name}: header says shape {shape} ({expected} bytes of data) but the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read and validate one IDX file (optionally gzipped)."""
    return parse_idx(read_idx_bytes(path), str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as an IDX file; gzip when the name ends in .gz (or compress=True)."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype not in _CODES:
        raise ValueError(f"write_idx supports uint8/int8 arrays, got {array.dtype}")
    head = struct.pack(">HBB", 0, _CODES[array.dtype], array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = head + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
