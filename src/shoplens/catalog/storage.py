"""The image store: product images kept by content id, re-encoded without metadata, plus thumbnails.

`ImageStore` is the protocol the rest of the catalogue talks to (no file paths in it, so an object
store can stand in later); `LocalImageStore` keeps the files on a local disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import shutil
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from PIL import Image

from shoplens.errors import ShopLensError
from shoplens.files import TEMP_SUFFIX, write_atomic
from shoplens.imaging.decode import declared_size

Variant = Literal["full", "thumb"]
_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
_FAN_OUT = re.compile(r"[0-9a-f]{2}")
_FORMATS = {"PNG": ".png", "WEBP": ".webp"}
_PLAIN_MODES = ("L", "LA", "RGB", "RGBA")


class InvalidImageIdError(ShopLensError, ValueError):
    """An image id is not a 64-digit lowercase hex sha256."""

    exit_code = 2


class ImageNotFoundError(ShopLensError):
    """No image (or thumbnail) is stored under that id."""

    exit_code = 2


class StoreFullError(ShopLensError):
    """The image store has no room left (its disk or quota is full): nothing was stored."""

    exit_code = 2
    http_status = 507
    code = "insufficient_storage"


class StoreReadOnlyError(ShopLensError):
    """The image store cannot be written now (a read-only file system): nothing was stored."""

    exit_code = 2
    http_status = 503
    code = "service_unavailable"


@dataclass(frozen=True)
class StoredImage:
    """What the store holds for one image: its id, pixel size and the size of the stored file."""

    image_id: str
    width: int
    height: int
    bytes: int  # size of the stored full-size file


@runtime_checkable
class ImageStore(Protocol):
    """Where product images live, addressed by a sha256 hex id; implementations never expose paths."""

    def put(self, image_id: str, image: Image.Image) -> StoredImage:
        """Store an image (and its thumbnail) under an id; storing an existing id changes nothing."""
        ...

    def exists(self, image_id: str) -> bool:
        """Whether an image is stored under the id."""
        ...

    def open(self, image_id: str, variant: Variant = "full") -> bytes:
        """The encoded bytes of the stored image or its thumbnail."""
        ...

    def delete(self, image_id: str) -> None:
        """Remove an image and its thumbnail; a missing id is not an error."""
        ...

    def ids(self) -> Iterator[str]:
        """Every stored image id."""
        ...

    def sync(self) -> None:
        """Make every image put so far durable (a no-op for stores that write durably on put)."""
        ...

    def sweep(self, keep: Callable[[str], bool] | Collection[str]) -> int:
        """Delete stored images whose id is not kept and leftovers of interrupted writes; return the count."""
        ...


def content_id(data: bytes) -> str:
    """The id under which uploaded bytes are stored: their sha256 (the same bytes always give the same id)."""
    return hashlib.sha256(data).hexdigest()


def validate_image_id(image_id: str) -> str:
    """Return the id if it is a 64-digit lowercase hex sha256, else raise InvalidImageIdError."""
    if not isinstance(image_id, str) or _ID_PATTERN.fullmatch(image_id) is None:
        shown = repr(image_id)[:80]
        raise InvalidImageIdError(f"image id must be 64 lowercase hex digits (a sha256), got {shown}")
    return image_id


class LocalImageStore:
    """An ImageStore on a local folder: root/ab/<id>.png and <id>.thumb.png, written atomically."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        thumb_size: int = 128,
        fmt: str = "PNG",
        *,
        fsync: bool = True,
        compress_level: int = 1,
        max_side: int = 0,
    ) -> None:
        if fmt.upper() not in _FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(_FORMATS)}, got {fmt!r}")
        if thumb_size < 1:
            raise ValueError(f"thumb_size must be positive, got {thumb_size}")
        if max_side < 0:
            raise ValueError(f"max_side must be 0 (full size) or positive, got {max_side}")
        self.root = Path(root)
        self.thumb_size = thumb_size
        self.fmt = fmt.upper()
        self.fsync = fsync
        self.compress_level = compress_level
        self.max_side = max_side  # the stored copy's longest side; 0: full size
        self._ext = _FORMATS[self.fmt]
        self._name = re.compile(rf"([0-9a-f]{{64}})(\.thumb)?{re.escape(self._ext)}")
        self.root.mkdir(parents=True, exist_ok=True)
        self._full_at: int | None = None  # free bytes when a write last failed for want of room

    def __repr__(self) -> str:
        return f"LocalImageStore({str(self.root)!r}, thumb_size={self.thumb_size}, fmt={self.fmt!r})"

    # --- the ImageStore protocol ------------------------------------------------------------------

    def put(self, image_id: str, image: Image.Image) -> StoredImage:
        """Store a metadata-free re-encoding of the image (shrunk to max_side when that is set and the image is
        larger) and its thumbnail; an existing id is kept as is."""
        full = self._path(image_id, "full")
        existing = self._record(image_id, full)
        if existing is not None:
            _touch(full)  # a fresh mtime keeps a re-put image out of a concurrent sweep's grace window
            return existing
        if self.max_side and max(image.size) > self.max_side:
            image = thumbnail(image, self.max_side)  # only ever shrinks here
        clean = _pixels_only(image)
        size = self._write(full, self._encode(clean))  # the thumbnail is made on first request (open)
        return StoredImage(image_id, clean.width, clean.height, size)

    def exists(self, image_id: str) -> bool:
        """Whether an image is stored under the id."""
        return self._path(image_id, "full").is_file()

    def sync(self) -> None:
        """Flush written files to disk once for a whole batch (when puts skip their own fsync)."""
        if not self.fsync:
            os.sync()

    def open(self, image_id: str, variant: Variant = "full") -> bytes:
        """The encoded bytes of the stored image or its thumbnail (made and kept on first request)."""
        path = self._path(image_id, variant)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        if variant == "thumb" and self.exists(image_id):
            with Image.open(self._path(image_id, "full")) as full:
                data = self._encode(thumbnail(_pixels_only(full), self.thumb_size))
            with contextlib.suppress(
                StoreFullError, StoreReadOnlyError
            ):  # served all the same, kept next time
                self._write(path, data)
            return data
        raise ImageNotFoundError(f"no {variant} image stored under id {image_id}")

    def stat(self, image_id: str) -> StoredImage:
        """The record of a stored image, read from its file header."""
        record = self._record(image_id, self._path(image_id, "full"))
        if record is None:
            raise ImageNotFoundError(f"no readable image stored under id {image_id}")
        return record

    def delete(self, image_id: str) -> None:
        """Remove an image and its thumbnail; a missing id is not an error."""
        for variant in ("full", "thumb"):
            self._path(image_id, variant).unlink(missing_ok=True)

    def ids(self) -> Iterator[str]:
        """Every stored image id, in sorted order."""
        for path in self._files():
            match = self._name.fullmatch(path.name)
            if match and not match.group(2):
                yield match.group(1)

    def sweep(self, keep: Callable[[str], bool] | Collection[str], *, grace_s: float = 60.0) -> int:
        """Delete images whose id is not kept, orphan thumbnails and temp files; return how many went.

        keep is a set of ids or a predicate. The count is of images (each with its thumbnail), orphan
        thumbnails and temp files. Files modified less than grace_s seconds ago are left alone, so a put
        still in flight (or one whose database row is not committed yet) survives a sweep beside it.
        """
        is_kept = keep if callable(keep) else keep.__contains__
        cutoff = time.time() - grace_s
        removed = 0
        gone: set[str] = set()  # images this sweep removed: their thumbnails are not counted again
        for path in self._files():  # sorted, so <id>.png comes just before <id>.thumb.png
            match = self._name.fullmatch(path.name)
            image_id, is_thumb = (match.group(1), bool(match.group(2))) if match else ("", False)
            if not match:
                doomed = path.name.endswith(TEMP_SUFFIX)
            elif is_thumb:  # goes with its image, or alone once the image is gone
                doomed = not is_kept(image_id) or not path.with_name(image_id + self._ext).exists()
            else:
                doomed = not is_kept(image_id)
            if not doomed or not _older_than(path, cutoff):
                continue
            path.unlink(missing_ok=True)
            if match and not is_thumb:
                gone.add(image_id)
            removed += not (is_thumb and image_id in gone)
        return removed

    # --- internals --------------------------------------------------------------------------------

    def _path(self, image_id: str, variant: Variant) -> Path:
        """Where an id's file of the given variant lives; the id is validated first."""
        validate_image_id(image_id)
        if variant not in ("full", "thumb"):
            raise ValueError(f"variant must be 'full' or 'thumb', got {variant!r}")
        suffix = ".thumb" + self._ext if variant == "thumb" else self._ext
        return self.root / image_id[:2] / (image_id + suffix)

    def _record(self, image_id: str, path: Path) -> StoredImage | None:
        """The record of a stored full-size file read from its header; None if absent or unreadable."""
        try:
            with open(path, "rb") as fh:
                head = fh.read(64)
                size = os.fstat(fh.fileno()).st_size
        except FileNotFoundError:
            return None
        dims = declared_size(head)  # None for a damaged file, which put then writes anew
        return None if dims is None else StoredImage(image_id, dims[0], dims[1], size)

    def _encode(self, image: Image.Image) -> bytes:
        """The image encoded in the store's format, with nothing but pixels."""
        buffer = io.BytesIO()
        if self.fmt == "PNG":
            image.save(buffer, "PNG", compress_level=self.compress_level)
        else:
            image.save(buffer, "WEBP", lossless=True, method=0, exact=True)
        return buffer.getvalue()

    def _write(self, path: Path, data: bytes) -> int:
        """Write data under path atomically (fsynced when the store was made with fsync=True); a full or read-only
        disk is StoreFullError or StoreReadOnlyError, and leaves no partial file."""
        try:
            size = write_atomic(path, data, fsync=self.fsync)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                self._full_at = self._free()
                raise StoreFullError("the image store is full; nothing was stored") from e
            if e.errno == errno.EROFS:
                raise StoreReadOnlyError("the image store is read-only now; retry later") from e
            raise
        self._full_at = None
        return size

    def problem(self) -> str | None:
        """Why the store cannot take images now, for a readiness probe: its last write found no room and its disk
        has gained none since; None otherwise."""
        full_at = self._full_at
        if full_at is None:
            return None
        if self._free() > full_at:
            self._full_at = None
            return None
        return (
            "the image store is full (its last write found no room); nothing can be stored until it has some"
        )

    def _free(self) -> int:
        """Free bytes on the store's file system (0 when it cannot be asked)."""
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return 0

    def _files(self) -> Iterator[Path]:
        """Every file in the fan-out folders (by the id's first two hex digits), sorted."""
        for folder in _subdirs(self.root):
            yield from sorted(p for p in folder.iterdir() if p.is_file())


def thumbnail(image: Image.Image, size: int) -> Image.Image:
    """The image scaled to fit a size x size square, keeping its aspect ratio; small images are enlarged."""
    scale = size / max(image.size)
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if target == image.size:
        return image
    # Enlarging a tiny image (a 28 px product) twofold or more shows its pixels as crisp blocks, which
    # reads better than a smooth blur and costs a tenth of the time to resize and to compress.
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    return image.resize(target, resample)


def _pixels_only(image: Image.Image) -> Image.Image:
    """A fresh image holding only the pixels (no EXIF, ICC, text or any other info) in L, LA, RGB or RGBA."""
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert(image.mode + "A")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode not in _PLAIN_MODES:  # palette, CMYK, ...: images from decode_image never get here
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image.load()
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _subdirs(folder: Path) -> list[Path]:
    """The two-hex-digit fan-out folders directly in folder, sorted."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    fan_out = (e for e in entries if e.is_dir(follow_symlinks=False) and _FAN_OUT.fullmatch(e.name))
    return sorted(Path(e.path) for e in fan_out)


def _older_than(path: Path, cutoff: float) -> bool:
    """Whether the file was last modified before the cutoff (a vanished file counts as not)."""
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _touch(path: Path) -> None:
    """Set a file's modification time to now, ignoring a file that vanished meanwhile."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(path)
