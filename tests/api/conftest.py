"""Fixtures for the service: two tiny real bundles on disk (v2 the newest) and apps with their lifespan running."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from tests.support.bundles import NAME, make_bundle
from tests.support.service import serving, settings_for


@pytest.fixture(scope="session")
def bundles_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions, v1 (older) and v2 (active), built once per session."""
    root = tmp_path_factory.mktemp("bundles")
    make_bundle(root, "v1", seed=1, accuracy=0.81)
    time.sleep(0.02)  # v2's config is newer
    make_bundle(root, "v2", seed=2, accuracy=0.83)
    (root / NAME / "ACTIVE").write_text("v2\n")
    return root


@pytest.fixture
def models_root(bundles_template: Path, tmp_path: Path) -> Path:
    """A private copy of the two-version models folder (tests may activate, corrupt, add)."""
    root = tmp_path / "models"
    shutil.copytree(bundles_template, root)
    (root / NAME / "v1" / "model.safetensors").touch()  # copytree keeps times; make v2 the newest again
    time.sleep(0.01)
    (root / NAME / "v2" / "model.safetensors").touch()
    return root


@pytest.fixture
async def client(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A ready app serving v2 (the newest), with the reader key sent by default."""
    app = create_app(settings_for(models_root, keys_file))
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        yield c


@pytest.fixture
async def api(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A ready app with a catalogue on the backend under test; no key sent by default."""
    app = create_app(settings_for(models_root, keys_file, database_url=database_url))
    async with serving(app) as c:
        yield c
