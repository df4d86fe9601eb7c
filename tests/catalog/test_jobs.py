"""Bulk ingestion: folder, CSV and URL sources, per-row results, resuming, and surviving SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from shoplens.catalog.declared import ProductIn
from shoplens.catalog.fetch import FetchPolicy
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.jobs import BulkIngest, resume_key
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.catalog.sources import UNREADABLE, rows_from_csv, rows_from_folder, rows_from_url_list
from shoplens.db.catalog import Embedding, IngestRow, Product, ProductImage
from shoplens.errors import DataFormatError, DataNotFoundError
from shoplens.inference import Predictor
from shoplens.inference.store import ModelStore
from tests.support.images import photos, png, write_folder


def test_folder_ingest_records_every_row_and_rerun_skips(catalog: Catalog, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "photos", 6)
    rows = rows_from_folder(root, "acme", catalog.categories())
    assert {r.product.category for r in rows} == {"Bag", None}
    first = BulkIngest(catalog, batch_size=4).run("folder", root, rows, "acme")
    assert (first.done, first.skipped, first.failed) == (6, 0, 0)
    again = BulkIngest(catalog, batch_size=4).run("folder", root, rows, "acme")
    assert (again.done, again.skipped, again.failed, again.job_id) == (0, 6, 0, first.job_id)
    with catalog.sessions() as s:
        assert s.scalar(select(func.count(Product.id))) == 6
        assert s.scalar(select(Product.title).where(Product.sku == "Bag-item_001")) == "Item 001"


def test_csv_rows_fail_alone_with_reasons(catalog: Catalog, tmp_path: Path) -> None:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, p in enumerate(photos(2)):
        (imgs / f"{i}.png").write_bytes(png(p))
    (imgs / "notes.png").write_text("<html>not an image</html>")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "sku,title,brand,price,category,image\n"
        "a,Good one,Brand,12.50,Bag,imgs/0.png\n"
        "b,Bad price,Brand,twelve,Bag,imgs/1.png\n"
        "c,No file,Brand,1,Bag,imgs/missing.png\n"
        "d,Not an image,Brand,1,Bag,imgs/notes.png\n"
        "e,Bad category,Brand,1,Spaceship,imgs/1.png\n"
        "f,Second good,,,,imgs/1.png\n"
        "g,Huge price,Brand,1e400,Bag,imgs/0.png\n"
        "h,Fine price,Brand,1.005,Bag,imgs/0.png\n"
    )
    with manifest.open("a") as fh:  # the optional columns: merchant, stock
        fh.write(
            "i,Huge stock,Brand,1,Bag,imgs/0.png,,99999999999\nj,Odd stock,Brand,1,Bag,imgs/0.png,,many\n"
        )
    text = manifest.read_text().splitlines()
    manifest.write_text("\n".join([text[0] + ",merchant,stock", *text[1:]]) + "\n")
    rows = rows_from_csv(manifest, "acme")
    summary = BulkIngest(catalog).run("csv", manifest, rows, "acme")
    assert (summary.done, summary.failed) == (2, 8)
    reasons = dict(summary.errors)
    assert (
        reasons["line 3"] == "bad value: price 'twelve' is not a number"
        and "cannot be read" in reasons["line 4"]
    )
    assert "supported" in reasons["line 5"] and "unknown category" in reasons["line 6"]
    assert (
        "price 1E+400 does not fit" in reasons["line 8"] and "at most 2 decimal places" in reasons["line 9"]
    )
    assert "stock 99999999999 is more than" in reasons["line 10"]
    assert reasons["line 11"] == "bad value: stock 'many' is not a whole number"
    with catalog.sessions() as s:
        stored = dict(s.execute(select(IngestRow.row_key, IngestRow.status)).all())
        assert stored[resume_key(rows[0])] == "done" and stored[resume_key(rows[1])] == "failed"
        price = s.scalar(select(Product.price).where(Product.sku == "a"))
        assert float(price) == 12.5


def test_a_source_edited_in_place_ingests_its_new_and_changed_rows(catalog: Catalog, tmp_path: Path) -> None:
    """Tomorrow's export at the same path: a row inserted at the top and a row renamed in place are ingested,
    rows as they were are skipped wherever they now stand (the rows were known by line number: the new product
    was never ingested, line 2 being done already), and failures come in the source's order."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, p in enumerate(photos(4, seed=6)):
        (imgs / f"{i}.png").write_bytes(png(p))
    manifest = tmp_path / "products.csv"
    head = "sku,title,brand,price,category,image\n"
    manifest.write_text(head + "A,Alpha,,,,imgs/0.png\nB,Beta,,,,imgs/1.png\nC,Gamma,,,,imgs/2.png\n")
    first = BulkIngest(catalog).run("csv", manifest, rows_from_csv(manifest, "acme"), "acme")
    assert (first.done, first.skipped) == (3, 0)
    bad = "".join(f"X{i},Broken,,,,imgs/none{i}.png\n" for i in range(11))
    manifest.write_text(
        head + "NEW,Newcomer,,,,imgs/3.png\nA,Alpha,,,,imgs/0.png\nB,Beta renamed,,,,imgs/1.png\n"
        "C,Gamma,,,,imgs/2.png\n" + bad
    )
    again = BulkIngest(catalog).run("csv", manifest, rows_from_csv(manifest, "acme"), "acme")
    assert (again.done, again.skipped, again.failed) == (2, 2, 11)
    assert [key for key, _ in again.errors] == [
        f"line {n}" for n in range(6, 17)
    ]  # not line 10 before line 6
    with catalog.sessions() as s:
        titles = dict(s.execute(select(Product.sku, Product.title)).all())
    assert titles == {"A": "Alpha", "B": "Beta renamed", "C": "Gamma", "NEW": "Newcomer"}
    third = BulkIngest(catalog).run("csv", manifest, rows_from_csv(manifest, "acme"), "acme")
    assert (third.done, third.skipped, third.failed) == (0, 4, 11)


def test_an_oversized_cell_fails_its_row_alone(catalog: Catalog, tmp_path: Path) -> None:
    """A 200 KB title stopped the whole manifest (the csv module's 128 KiB field limit); now its row fails."""
    (tmp_path / "0.png").write_bytes(png(photos(1)[0]))
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "sku,title,brand,price,category,image\nH1,ok,,,,0.png\nH2," + "B" * 200_000 + ",,,,0.png\n"
    )
    summary = BulkIngest(catalog).run("csv", manifest, rows_from_csv(manifest, "acme"), "acme")
    assert (summary.done, summary.failed) == (1, 1)
    assert summary.errors == [("line 3", "bad value: title is longer than 300 characters")]


def test_worker_processes_store_what_one_process_stores(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, p in enumerate(photos(9, seed=4)):
        (imgs / f"{i}.png").write_bytes(png(p))
    (imgs / "notes.png").write_text("<html>not an image</html>")
    lines = [f"s{i},Item {i},Brand,1,{'Bag' if i % 2 else ''},imgs/{i}.png" for i in range(9)]
    lines += ["bad,Not an image,Brand,1,Bag,imgs/notes.png", "odd,Bad category,Brand,1,Spaceship,imgs/1.png"]
    manifest = tmp_path / "m.csv"
    manifest.write_text("sku,title,brand,price,category,image\n" + "\n".join(lines) + "\n")

    alone = BulkIngest(catalog, batch_size=4, workers=1)
    one = alone.run("csv", manifest, rows_from_csv(manifest, "one"), "one")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two worker processes on any machine

    def no_reading_here(*_args: object) -> None:
        raise AssertionError("the workers read the photos for the model: this process must not")

    monkeypatch.setattr(Predictor, "read_batch", no_reading_here)
    pool = BulkIngest(catalog, batch_size=4, workers=2)
    two = pool.run("csv", manifest, rows_from_csv(manifest, "two"), "two")
    assert (alone.processes, pool.processes) == (1, 2)
    assert (one.done, one.failed, two.done, two.failed) == (9, 2, 9, 2)
    assert sorted(one.errors) == sorted(two.errors)
    columns = (
        Product.sku,
        ProductImage.sha256,
        ProductImage.predicted_category,
        ProductImage.confidence,
        ProductImage.quality_flags,
        ProductImage.phash,
        ProductImage.mismatch,
        Embedding.vector,
    )
    with catalog.sessions() as s:
        stored = {
            merchant: [
                (*row[:-1], np.asarray(row[-1]).tobytes())
                for row in s.execute(
                    select(*columns)
                    .join(ProductImage, ProductImage.product_id == Product.id)
                    .join(Embedding, Embedding.image_id == ProductImage.id)
                    .where(Product.merchant_id == merchant)
                    .order_by(Product.sku)
                )
            ]
            for merchant in ("one", "two")
        }
    assert len(stored["one"]) == 9 and stored["one"] == stored["two"]


def test_sweep_keeps_product_and_creative_images(catalog: Catalog) -> None:
    from shoplens.catalog.queries import referenced_images
    from shoplens.db.ads import Campaign, Creative

    a, b, c = photos(3, seed=12)
    (_out,) = catalog.ingestor().ingest([IngestItem("p", ProductIn("acme", "p", "P"), [png(a)])])
    for sha, img in (("b" * 64, b), ("c" * 64, c)):
        catalog.store.put(sha, img)
    with catalog.sessions.begin() as s:
        campaign = Campaign(name="c", budget=10, bid=1)
        s.add(campaign)
        s.flush()
        s.add(Creative(campaign_id=campaign.id, headline="h", sha256="b" * 64))
    with catalog.sessions() as s:
        keep = referenced_images(s)
    assert catalog.store.sweep(keep, grace_s=0) == 1
    assert sorted(catalog.store.ids()) == sorted({"b" * 64, *keep} - {"c" * 64})


def test_csv_without_the_columns_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,picture\nx,y.png\n")
    with pytest.raises(DataFormatError, match="missing column"):
        rows_from_csv(bad, "acme")
    for text in ("", "sku,title,brand,price,category,image\n"):  # nothing to ingest is no success either
        bad.write_text(text)
        with pytest.raises(DataFormatError, match="no products in it"):
            rows_from_csv(bad, "acme")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="no images in it"):
        rows_from_folder(tmp_path / "empty", "acme", ["Bag"])


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving a folder of photos."""
    root = tmp_path / "www"
    root.mkdir()
    for i, p in enumerate(photos(3, seed=7)):
        (root / f"p{i}.png").write_bytes(png(p))
    (root / "page.html").write_text("<html></html>")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_list_fetches_allowed_hosts_only(catalog: Catalog, tmp_path: Path, image_server: str) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(
        f"# photos\n{image_server}/p0.png\n{image_server}/p1.png\n{image_server}/page.html\n"
        f"{image_server}/nothing.png\nhttp://example.invalid/x.png\n"
    )
    rows = rows_from_url_list(urls, "acme")
    policy = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}), allow_private=True, retries=0)
    summary = BulkIngest(catalog, policy).run("urls", urls, rows, "acme")
    assert (summary.done, summary.failed) == (2, 3)
    reasons = " | ".join(r for _, r in summary.errors)
    assert "not an image" in reasons and "404" in reasons and "not allowed" in reasons
    internal = tmp_path / "internal.txt"
    internal.write_text(f"{image_server}/p2.png\n")
    default = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}))  # internal addresses refused by default
    refused = BulkIngest(catalog, default).run("urls", internal, rows_from_url_list(internal, "acme"), "acme")
    assert refused.failed == 1 and "internal" in refused.errors[0][1]


N_ROWS = 400  # in batches of 8: the kill lands mid-way even on a fast machine


def ingest_cmd(source: Path, models: Path, catalog_dir: Path, database_url: str) -> list[str]:
    """The CLI command that ingests a source into this catalogue."""
    return [
        sys.executable,
        "-m",
        "shoplens.cli",
        "ingest",
        str(source),
        "--models-dir",
        str(models),
        "--catalog-dir",
        str(catalog_dir),
        "--database-url",
        database_url,
        "--batch-size",
        "8",
    ]


def children(pid: int) -> list[int]:
    """The processes a process started, from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun_gives_every_row_once_and_no_orphans(
    models_root: Path, database_url: str, tmp_path: Path
) -> None:
    root = write_folder(tmp_path / "photos", N_ROWS, seed=3)
    catalog_dir = tmp_path / "catalog"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    stderr = tmp_path / "ingest.stderr"
    with stderr.open("w") as err:  # the ingest opens the new database while the catalogue below does too
        proc = subprocess.Popen(
            ingest_cmd(root, models_root, catalog_dir, database_url),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    cat = Catalog(
        CatalogConfig(data_dir=catalog_dir, database_url=database_url),
        ModelStore(models_root, "fashion-mnist"),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it once some rows are in but not all
            with cat.sessions() as s:
                n = s.scalar(select(func.count(Product.id))) or 0
            if n >= 32 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the ingest ended before the kill: {stderr.read_text()[-2000:]}"
        workers = children(proc.pid)  # the worker processes preparing images (and multiprocessing's tracker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with cat.sessions() as s:
            killed_at = s.scalar(select(func.count(Product.id)))
        assert 0 < killed_at < N_ROWS, "the ingest should have been killed mid-way"
        assert len(workers) >= 2 or (os.cpu_count() or 1) < 2, "two CPUs: the ingest runs worker processes"
        gone_by = time.monotonic() + 10
        while [w for w in workers if running(w)] and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert not [w for w in workers if running(w)], "worker processes outlived the killed ingest"
        rerun = subprocess.run(
            ingest_cmd(root, models_root, catalog_dir, database_url),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert rerun.returncode == 0, rerun.stderr
        with cat.sessions() as s:
            assert s.scalar(select(func.count(Product.id))) == N_ROWS
            assert s.scalar(select(func.count(func.distinct(Product.sku)))) == N_ROWS
            assert s.scalar(select(func.count(ProductImage.id))) == N_ROWS
            referenced = set(s.scalars(select(ProductImage.sha256)))
        assert set(cat.store.ids()) == referenced  # no orphan files, none missing
        hidden = [p for p in (catalog_dir / "images").rglob("*") if p.is_file() and p.name.startswith(".")]
        assert all(p.name.endswith(".tmp") for p in hidden), hidden  # at most the killed write's temp file,
        cat.store.sweep(referenced, grace_s=0)  # kept by the rerun's sweep for its grace period, then swept
        assert [
            p for p in (catalog_dir / "images").rglob("*") if p.is_file() and p.name.startswith(".")
        ] == []
        assert set(cat.store.ids()) == referenced
    finally:
        if proc.poll() is None:
            proc.kill()
        cat.close()


def test_csv_rows_are_read_as_csv_and_file_uris_stay_in_the_folder(tmp_path: Path) -> None:
    shop, private = tmp_path / "shop", tmp_path / "private"
    (shop / "img").mkdir(parents=True)
    private.mkdir()
    (shop / "img" / "ok.png").write_bytes(png(photos(1)[0]))
    (private / "secret.png").write_bytes(png(photos(1, seed=2)[0]))
    manifest = shop / "m.csv"
    with manifest.open("w", newline="") as fh:
        fh.write("sku,title,brand,price,category,image\n")
        fh.write("a,Summer dress\u2028b-injected,x,1,Dress,img/ok.png\n")  # U+2028 is no line end in CSV
        fh.write('c,"two\nlines",x,1,Dress,img/ok.png\n')
        fh.write(f"d,Outside,x,1,Dress,{(private / 'secret.png').as_uri()}\n")
        fh.write(f"e,Inside,x,1,Dress,{(shop / 'img' / 'ok.png').as_uri()}\n")
        fh.write(f"{'s' * 101},Long SKU,x,1,Dress,img/ok.png\n")
    rows = {r.key: r for r in rows_from_csv(manifest, "acme")}
    assert list(rows) == ["line 2", "line 3", "line 5", "line 6", "line 7"]  # the quoted line end is one row
    assert rows["line 2"].product.title == "Summer dress\u2028b-injected"
    assert rows["line 3"].product.title == "two\nlines"
    assert rows["line 5"].error == UNREADABLE  # a file:// URI out of the folder, told as any unusable file
    assert rows["line 6"].error is None and rows["line 6"].image == str((shop / "img" / "ok.png").resolve())
    assert rows["line 7"].error == "bad value: sku is longer than 100 characters"
