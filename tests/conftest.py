"""Shared fixtures: tiny generated datasets in the official formats, and a catalogue database per backend."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from shoplens.data.fashion_mnist import FILES
from shoplens.data.idx import write_idx
from shoplens.db.engine import normalize_url


def synthetic_images(
    n: int, seed: int, num_classes: int = 10, size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Learnable uint8 images: class c is a stripe texture (orientation c % 2, period by c // 2), random phase."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    coords = np.arange(size)
    images = rng.integers(0, 50, size=(n, size, size)).astype(np.uint8)
    for i, c in enumerate(labels):
        period = (2, 4, 6, 8, 12)[int(c) // 2 % 5]
        stripes = ((coords + rng.integers(period)) // (period // 2)) % 2 == 0
        mask = stripes[:, None] if c % 2 == 0 else stripes[None, :]
        images[i][np.broadcast_to(mask, (size, size))] += 180
    return images, labels.astype(np.uint8)


def write_fashion_mnist_like(root: Path, n_train: int = 200, n_test: int = 60) -> Path:
    """The four official file names, holding synthetic data."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = synthetic_images(n, seed)
        img_name, lbl_name, _ = FILES[split]
        write_idx(root / img_name, images)
        write_idx(root / lbl_name, labels)
    return root


@pytest.fixture
def fmnist_dir(tmp_path: Path) -> Path:
    """A folder with tiny Fashion-MNIST-format files."""
    return write_fashion_mnist_like(tmp_path / "fmnist")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own data dir or cache."""
    for name in ("SHOPLENS_DATA_DIR", "DATABASE_URL", "SHOPLENS_DATABASE_URL", "SHOPLENS_CATALOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


BACKENDS = ("sqlite", "postgresql")


def reset_postgres(url: str) -> None:
    """An empty public schema (each test starts from nothing)."""
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalogue database: SQLite in the test's folder, or the test PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url = os.environ.get("SHOPLENS_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("SHOPLENS_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "SHOPLENS_TEST_DATABASE_URL is not set but PostgreSQL is required (see scripts/with-postgres.sh)"
            )
        pytest.skip("no PostgreSQL: run through `make test` (scripts/with-postgres.sh) to include it")
    reset_postgres(url)
    return url
