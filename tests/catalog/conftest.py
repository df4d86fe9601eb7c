"""Fixtures for the catalogue: model versions on disk, a database per backend (SQLite, PostgreSQL), product photos."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.inference.store import ModelStore
from shoplens.models import create_model, save_bundle
from tests.api.conftest import FMNIST_PRE

NAME = "fashion-mnist"
DIM = 128 + 10  # search vectors: shopnet features joined to the ten category probabilities


def make_version(root: Path, version: str, seed: int) -> Path:
    """An untrained shopnet bundle made very sure of itself (temperature 0.001), so its predictions are confident."""
    torch.manual_seed(seed)
    model = create_model("shopnet", num_classes=10).eval()
    return save_bundle(
        root / NAME / version,
        model,
        architecture="shopnet",
        model_kwargs={},
        labels=list(CLASS_NAMES),
        preprocess=FMNIST_PRE,
        train_config={"seed": seed},
        data={"source": "test"},
        temperature=0.001,
    )


@pytest.fixture(scope="session")
def models_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Versions v1 (active) and v2 of an untrained model."""
    root = tmp_path_factory.mktemp("catalog-models")
    make_version(root, "v1", seed=1)
    make_version(root, "v2", seed=2)
    (root / NAME / "ACTIVE").write_text("v1\n")
    return root


@pytest.fixture
def models_root(models_template: Path, tmp_path: Path) -> Path:
    """A private copy of the models folder."""
    import shutil

    root = tmp_path / "models"
    shutil.copytree(models_template, root)
    return root


@pytest.fixture
def vector_backend() -> str:
    """Where the catalogue keeps its vectors: faiss files; a test parametrised on this name runs on Milvus too."""
    return "faiss"


@pytest.fixture
def catalog(models_root: Path, database_url: str, vector_backend: str, tmp_path: Path) -> Iterator[Catalog]:
    """A catalogue on the database and vector backend under test, its files in the test's folder (milvus-lite's
    too, its engine stopped afterwards)."""
    config = CatalogConfig(
        data_dir=tmp_path / "catalog", database_url=database_url, vector_backend=vector_backend
    )
    cat = Catalog(config, ModelStore(models_root, NAME))
    yield cat
    cat.close()
    if vector_backend == "milvus":
        from shoplens.search.milvus import release

        release(str(config.data_dir / "index" / "milvus.db"))


def photos(n: int, seed: int = 0, size: int = 28) -> list[Image.Image]:
    """Distinct shop-style product photos: a few dark shapes at random places on white, size × size."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("L", (size, size), 255)
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            x0, y0 = (int(v) for v in rng.integers(0, size * 2 // 3, 2))
            w, h = (int(v) for v in rng.integers(size // 5, size // 2, 2))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([x0, y0, x0 + w, y0 + h], fill=int(rng.integers(0, 160)))
        out.append(img)
    return out


def png(image: Image.Image) -> bytes:
    """A photo as PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def jpeg_with_gps(image: Image.Image) -> bytes:
    """A photo as JPEG bytes carrying EXIF with GPS coordinates and a camera make."""
    exif = Image.Exif()
    exif[0x010F] = "PrivateCam"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 18.0)}
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def as_array(data: bytes) -> np.ndarray:
    """Decoded pixels of image bytes."""
    return np.asarray(Image.open(io.BytesIO(data)))
