"""Fashion-MNIST (Zalando product photos, 10 categories) from the official IDX files."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from shoplens.data.dataset import ImageDataset
from shoplens.data.idx import decompress_idx, parse_idx, read_idx_bytes
from shoplens.errors import DataFormatError, DataNotFoundError
from shoplens.files import write_atomic

CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
# sha256 of the *decompressed* official IDX payloads: independent of how a distributor re-gzips them
# (Debian's package recompresses the files, so checksums of the .gz bytes differ between sources).
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
HOW_TO_GET = (
    "Fashion-MNIST not found. Install it with `sudo apt-get install -y dataset-fashion-mnist` (Debian), "
    "or put the four official *-ubyte.gz files in a folder and pass --data-dir (or set SHOPLENS_DATA_DIR), "
    "or run `shoplens data download` where the internet is reachable."
)


def user_cache_dir() -> Path:
    """Where downloaded datasets live: $XDG_CACHE_HOME/shoplens/fashion-mnist."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "shoplens" / "fashion-mnist"


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Places looked at, in order: --data-dir, $SHOPLENS_DATA_DIR, the Debian package, the user cache."""
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get("SHOPLENS_DATA_DIR"):
        dirs.append(Path(os.environ["SHOPLENS_DATA_DIR"]))
    return [*dirs, SYSTEM_DIR, user_cache_dir()]


def _has_files(d: Path) -> bool:
    return all((d / name).is_file() for files in FILES.values() for name in files[:2])


def find_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """The first folder holding all four Fashion-MNIST files; an explicit --data-dir must hold them."""
    if data_dir is not None and not _has_files(Path(data_dir)):
        missing = [n for f in FILES.values() for n in f[:2] if not (Path(data_dir) / n).is_file()]
        raise DataNotFoundError(f"{data_dir} lacks {', '.join(missing)}. {HOW_TO_GET}")
    for d in candidate_dirs(data_dir):
        if _has_files(d):
            return d
    looked = ", ".join(str(d) for d in candidate_dirs(data_dir))
    raise DataNotFoundError(f"{HOW_TO_GET} (looked in: {looked})")


@dataclass(frozen=True)
class FileInfo:
    """What `shoplens data info` shows about one file."""

    name: str
    shape: tuple[int, ...]
    sha256: str
    verified: bool


def _load_file(path: Path, verify: bool) -> tuple[np.ndarray, str]:
    data = read_idx_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if verify and digest != SHA256[path.name]:
        raise DataFormatError(
            f"{path}: sha256 of the decompressed data is {digest[:16]}…, expected {SHA256[path.name][:16]}… "
            "(not the official Fashion-MNIST file; pass --no-verify to use it anyway)"
        )
    return parse_idx(data, str(path)), digest


def load_fashion_mnist(
    split: Literal["train", "test"], data_dir: str | os.PathLike | None = None, verify: bool = True
) -> ImageDataset:
    """Load one split as an ImageDataset (N, 1, 28, 28), validating magic numbers, counts and checksums."""
    root = find_fashion_mnist(data_dir)
    img_name, lbl_name, expected = FILES[split]
    images, img_sha = _load_file(root / img_name, verify)
    labels, lbl_sha = _load_file(root / lbl_name, verify)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataFormatError(
            f"{root / img_name}: expected images (N, H, W) and labels (N,), got {images.shape} and {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataFormatError(
            f"{root}: {len(images)} images in {img_name} but {len(labels)} labels in {lbl_name}"
        )
    if verify and len(images) != expected:
        raise DataFormatError(
            f"{root / img_name}: {len(images)} images, the official {split} split has {expected}"
        )
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataFormatError(f"{root / lbl_name}: label {labels.max()} outside 0..{len(CLASS_NAMES) - 1}")
    checksum = hashlib.sha256((img_sha + lbl_sha).encode()).hexdigest()
    return ImageDataset(
        images[:, None].copy(),
        labels.astype(np.int64),
        list(CLASS_NAMES),
        source=f"fashion-mnist:{split}:{root}",
        checksum=checksum,
    )


def describe(data_dir: str | os.PathLike | None = None) -> tuple[Path, list[FileInfo]]:
    """The folder used and, for each file, its shape, checksum and whether it is the official one."""
    root = find_fashion_mnist(data_dir)
    infos = []
    for img_name, lbl_name, _ in FILES.values():
        for name in (img_name, lbl_name):
            data = read_idx_bytes(root / name)
            arr = parse_idx(data, str(root / name))
            digest = hashlib.sha256(data).hexdigest()
            infos.append(FileInfo(name, tuple(arr.shape), digest, digest == SHA256[name]))
    return root, infos


def download(
    dest: str | os.PathLike | None = None, base_url: str = OFFICIAL_URL, timeout: float = 30.0
) -> Path:
    """Fetch the four official files into the user cache, keeping each only if its checksum matches."""
    dest = Path(dest) if dest else user_cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name, want in SHA256.items():
        target = dest / name
        if target.is_file() and hashlib.sha256(read_idx_bytes(target)).hexdigest() == want:
            continue
        try:
            with urllib.request.urlopen(base_url + name, timeout=timeout) as r:
                raw = r.read()  # at most 26 MB; checked before anything is written
        except OSError as e:
            raise DataNotFoundError(f"download of {base_url + name} failed ({e}). {HOW_TO_GET}") from e
        got = hashlib.sha256(decompress_idx(raw, base_url + name)).hexdigest()
        if got != want:
            raise DataFormatError(
                f"{base_url + name}: checksum mismatch ({got[:16]}… != {want[:16]}…), file discarded"
            )
        write_atomic(target, raw)
    return dest
