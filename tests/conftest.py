"""Fixtures every folder may use: isolation from the developer's environment, tiny datasets, a catalogue database
per backend, models on disk, API keys. The builders behind them live in tests/support/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from shoplens.api.keys import KeyStore
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.db.engine import normalize_url
from shoplens.inference.store import ModelStore
from tests.support.bundles import NAME, confident_bundle
from tests.support.data import write_fashion_mnist_like
from tests.support.shop import stock_shop

PG_URL = "SHOPLENS_TEST_DATABASE_URL"  # set by scripts/with-postgres.sh around the test run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `longest` first (otherwise in their order), so a parallel run does not end on one of them."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own data dir or cache."""
    for name in ("SHOPLENS_DATA_DIR", "DATABASE_URL", "SHOPLENS_DATABASE_URL", "SHOPLENS_CATALOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def fmnist_dir(tmp_path: Path) -> Path:
    """A folder with tiny Fashion-MNIST-format files."""
    return write_fashion_mnist_like(tmp_path / "fmnist")


def reset_postgres(url: str) -> None:
    """An empty public schema (each test starts from nothing)."""
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def postgres_url() -> str:
    """The test cluster's URL; the test skips without one (fails instead under SHOPLENS_REQUIRE_POSTGRES=1).

    Under pytest-xdist each worker gets a database of its own on the cluster, so workers never reset each
    other's tables.
    """
    url = os.environ.get(PG_URL)
    if not url:
        if os.environ.get("SHOPLENS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{PG_URL} is not set but PostgreSQL is required (see scripts/with-postgres.sh)")
        pytest.skip("no PostgreSQL: run through `make test` (scripts/with-postgres.sh) to include it")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _worker_database(url, worker) if worker else url


_WORKER_DATABASES: dict[str, str] = {}


def _worker_database(url: str, worker: str) -> str:
    """The URL of this worker's own database on the cluster behind url, created on first use."""
    if url not in _WORKER_DATABASES:
        base = make_url(normalize_url(url))
        name = f"{base.database}_{worker}"
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            known = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if known is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        _WORKER_DATABASES[url] = make_url(url).set(database=name).render_as_string(hide_password=False)
    return _WORKER_DATABASES[url]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalogue database: SQLite in the test's folder, or the test PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def models_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Versions v1 (active) and v2 of an untrained, confident model, built once per session."""
    root = tmp_path_factory.mktemp("catalog-models")
    confident_bundle(root, "v1", seed=1)
    confident_bundle(root, "v2", seed=2)
    (root / NAME / "ACTIVE").write_text("v1\n")
    return root


@pytest.fixture
def models_root(models_template: Path, tmp_path: Path) -> Path:
    """A private copy of the models folder (tests/api/ has its own: two versions, the newest served)."""
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


@pytest.fixture
def shop(catalog: Catalog) -> list[int]:
    """Twelve products in four categories, all in stock."""
    return stock_shop(catalog)


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    """Where this test's API keys live."""
    return tmp_path / "api-keys.json"


@pytest.fixture
def api_keys(keys_file: Path) -> dict[str, str]:
    """One key per role."""
    store = KeyStore(keys_file)
    return {
        "reader": store.create("reader", "test reader"),
        "merchant": store.create("merchant", "test merchant", merchant="acme"),
        "admin": store.create("admin", "test admin"),
    }


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (uvicorn's loop)."""
    return "asyncio"
