"""Batch jobs on Ray Data (a local Ray with 2 CPUs): classify-batch, ingest and reindex end to end, the same
results as the local engine, and an ingest killed mid-way that resumes without duplicates."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from shoplens.catalog.batch import classify_sources
from shoplens.catalog.engines import classify_batch
from shoplens.catalog.fetch import FetchPolicy
from shoplens.catalog.jobs import BulkIngest
from shoplens.catalog.ray_jobs import ray_cluster
from shoplens.catalog.reindex import reindex
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.catalog.sources import rows_from_folder
from shoplens.db.catalog import Embedding, IngestRow, Product, ProductImage
from shoplens.errors import ShopLensError
from shoplens.imaging import decode_image
from shoplens.inference.store import ModelStore
from tests.support.bundles import NAME, PHOTO_PRE, add_detector, make_bundle
from tests.support.images import checkerboard, encode, product_photo, write_folder

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray start and its actor pools take tens of seconds on two cores


@pytest.fixture(scope="module", autouse=True)
def _one_ray_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under `make test`'s two workers, one worker at a time runs this module: two Ray clusters at once would
    starve each other on two cores (a lock file in the run's shared temporary folder)."""
    with (tmp_path_factory.getbasetemp().parent / "ray-tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray with 2 CPUs for the module's tests (the jobs join it rather than starting their own)."""
    with ray_cluster(num_cpus=2):
        yield


class FlakyStart:
    """Stands in for ray.init: fails its first `failures` calls the way Ray's node start-up does."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls, self.shutdowns = failures, 0, 0

    def init(self, **kwargs: object) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise Exception("The current node timed out during startup.")

    def shutdown(self) -> None:
        self.shutdowns += 1


def fake_ray(monkeypatch: pytest.MonkeyPatch, failures: int) -> FlakyStart:
    """Ray's start and stop replaced by a FlakyStart (no Ray is started)."""
    fake = FlakyStart(failures)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake.init)
    monkeypatch.setattr(ray, "shutdown", fake.shutdown)
    return fake


def test_a_local_start_that_times_out_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_ray(monkeypatch, failures=1)
    with ray_cluster(num_cpus=2):
        assert fake.calls == 2
    assert fake.shutdowns == 2  # what the failed start left, then the block's own Ray


@pytest.mark.parametrize(("address", "calls"), [(None, 2), ("10.0.0.9:6379", 1)])
def test_ray_that_never_starts_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, address: str | None, calls: int
) -> None:
    fake = fake_ray(monkeypatch, failures=2)
    with (
        pytest.raises(ShopLensError, match=r"Ray did not start .*timed out during startup"),
        ray_cluster(address, num_cpus=2),
    ):
        pass  # never entered
    assert fake.calls == calls  # a cluster to join is asked once


def test_classify_batch_on_ray_matches_local(local_ray: None, models_root: Path, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "photos", 10, seed=5)
    (root / "misc" / "broken.png").write_bytes(b"not an image")
    model = ModelStore(models_root, NAME).load("v1")
    sources = classify_sources(root)
    local = classify_batch(model, sources, tmp_path / "local.parquet")
    on_ray = classify_batch(model, sources, tmp_path / "ray.parquet", engine="ray", workers=2)
    assert (local.rows, local.failed) == (on_ray.rows, on_ray.failed) == (11, 1)
    a = pq.read_table(tmp_path / "local.parquet").to_pandas().set_index("key").sort_index()
    b = pq.read_table(tmp_path / "ray.parquet").to_pandas().set_index("key").sort_index()
    assert list(a.index) == list(b.index)
    assert "broken.png" in b.loc["misc/broken.png", "error"] and pd.isna(b.loc["misc/broken.png", "label"])
    ok = a["error"].isna()
    assert list(a.loc[ok, "label"]) == list(b.loc[ok, "label"])
    np.testing.assert_allclose(np.stack(a.loc[ok, "embedding"]), np.stack(b.loc[ok, "embedding"]), atol=1e-5)
    assert set(b["model_version"]) == {"v1"}


def test_ingest_and_reindex_on_ray(local_ray: None, catalog: Catalog, tmp_path: Path) -> None:
    from shoplens.catalog.ray_jobs import embed_pending_ray, ingest_outcomes_ray

    root = write_folder(tmp_path / "photos", 12, seed=6)
    (root / "misc" / "broken.png").write_bytes(b"not an image")
    rows = rows_from_folder(root, "acme", catalog.categories())
    job = BulkIngest(catalog, FetchPolicy(), batch_size=4)
    engine = ingest_outcomes_ray(catalog, workers=2, blur_faces=False, max_bytes=job.max_bytes, write_batch=4)
    summary = job.run("folder", root, rows, "acme", engine=engine)
    assert (summary.done, summary.failed) == (12, 1)
    again = job.run("folder", root, rows, "acme", engine=engine)
    assert (again.done, again.skipped, again.failed) == (0, 12, 1)  # rows done before are not redone
    with catalog.sessions() as s:
        assert s.scalar(select(func.count(Product.id))) == 12
        assert s.scalar(select(func.count(Embedding.image_id))) == 12
    model, _, emb, _ = catalog.embed([decode_image(catalog.store.open(catalog_image(catalog)))])
    assert catalog.space.index(model.version, emb.shape[1]).search(emb, 1)[0][0][0] > 0.99

    result = reindex(catalog, "v2", embedder=embed_pending_ray(catalog, workers=2))
    assert (result.version, result.indexed) == ("v2", 12)
    with catalog.sessions() as s:
        versions = s.execute(select(Embedding.model_version, func.count()).group_by(Embedding.model_version))
        assert dict(versions.all()) == {"v1": 12, "v2": 12}


def test_ray_jobs_tell_products_from_other_pictures_as_the_local_engine_does(
    local_ray: None, catalog: Catalog, models_root: Path, tmp_path: Path
) -> None:
    from shoplens.catalog.ray_jobs import ingest_outcomes_ray

    add_detector(make_bundle(models_root, "v3", seed=3, preprocess=PHOTO_PRE))  # flags the checkerboard
    (models_root / NAME / "ACTIVE").write_text("v3\n")
    root = tmp_path / "photos"
    (root / "Coat").mkdir(parents=True)
    (root / "Coat" / "good.png").write_bytes(encode(product_photo()))
    (root / "Coat" / "odd.png").write_bytes(encode(checkerboard()))
    model = ModelStore(models_root, NAME).load("v3")
    classify_batch(model, classify_sources(root), tmp_path / "local.parquet")
    classify_batch(model, classify_sources(root), tmp_path / "ray.parquet", engine="ray", workers=2)
    a = pq.read_table(tmp_path / "local.parquet").to_pandas().set_index("key").sort_index()
    b = pq.read_table(tmp_path / "ray.parquet").to_pandas().set_index("key").sort_index()
    assert a.loc["Coat/odd.png", "status"] == "not_recognised" != a.loc["Coat/good.png", "status"]
    assert list(a["status"]) == list(b["status"])
    np.testing.assert_allclose(a["ood_score"], b["ood_score"], atol=1e-5)  # as /v1/classify scores them

    job = BulkIngest(catalog, FetchPolicy(), batch_size=4)
    engine = ingest_outcomes_ray(catalog, workers=2, blur_faces=False, max_bytes=job.max_bytes, write_batch=4)
    assert (
        job.run(
            "folder", root, rows_from_folder(root, "acme", catalog.categories()), "acme", engine=engine
        ).done
        == 2
    )
    with catalog.sessions() as s:
        flags = dict(s.execute(select(Product.sku, ProductImage.quality_flags).join(ProductImage)).all())
    assert ["not_a_product" in f for _, f in sorted(flags.items())] == [False, True]  # good, odd


def catalog_image(catalog: Catalog) -> str:
    """The content id of some stored product image."""
    with catalog.sessions() as s:
        return s.scalars(select(ProductImage.sha256).limit(1)).one()


N_ROWS = 300


def test_killed_ray_ingest_resumes_without_duplicates(
    models_root: Path, database_url: str, tmp_path: Path
) -> None:
    root = write_folder(tmp_path / "photos", N_ROWS, seed=7)
    catalog_dir = tmp_path / "catalog"
    cmd = [
        sys.executable, "-m", "shoplens.cli", "ingest", str(root), "--models-dir", str(models_root),
        "--catalog-dir", str(catalog_dir), "--database-url", database_url, "--batch-size", "8",
        "--engine", "ray", "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RAY_ADDRESS": ""}
    # Its own session, so the kill takes the job's local Ray (GCS, raylet, workers) down with it.
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    cat = Catalog(
        CatalogConfig(data_dir=catalog_dir, database_url=database_url), ModelStore(models_root, NAME)
    )
    try:
        deadline = time.monotonic() + 240
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:  # kill it once some rows are in
            with cat.sessions() as s:
                n = s.scalar(select(func.count(IngestRow.row_key))) or 0
            if n >= 16:
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with cat.sessions() as s:
            killed_at = s.scalar(select(func.count(Product.id)))
        assert 0 < killed_at < N_ROWS, "the ingest should have been killed mid-way"
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        with cat.sessions() as s:
            assert s.scalar(select(func.count(Product.id))) == N_ROWS
            assert s.scalar(select(func.count(func.distinct(Product.sku)))) == N_ROWS
            assert s.scalar(select(func.count(ProductImage.id))) == N_ROWS
            assert s.scalar(select(func.count(Embedding.image_id))) == N_ROWS
            referenced = set(s.scalars(select(ProductImage.sha256)))
        assert set(cat.store.ids()) == referenced  # no orphan files, none missing
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        cat.close()
