"""The catalogue commands through Typer's runner: demo-catalog, ingest, qa, sweep, reindex and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from tests.support.images import photos, png

runner = CliRunner()


def common(models_root: Path, tmp_path: Path) -> list[str]:
    """Options pointing the commands at the test's models and catalogue."""
    return ["--models-dir", str(models_root), "--catalog-dir", str(tmp_path / "catalog")]


@pytest.mark.slow
def test_demo_catalog_then_qa_and_reindex(models_root: Path, fmnist_dir: Path, tmp_path: Path) -> None:
    opts = common(models_root, tmp_path)
    out = tmp_path / "demo"
    r = runner.invoke(
        app, ["demo-catalog", "--out", str(out), "--products", "50", "--data-dir", str(fmnist_dir), *opts]
    )
    assert r.exit_code == 0, r.output
    assert "50 done" in r.output and (out / "LOADED").exists()
    assert "40 demo shoppers with" in r.output and "in 4 new campaigns" in r.output
    truth = json.loads((out / "truth.json").read_text())
    assert len(truth["duplicates"]) == 1 and len(truth["wrong_category"]) == 2
    qa = runner.invoke(app, ["catalog", "qa", "--limit", "2", *opts])
    assert qa.exit_code == 0 and json.loads(qa.stdout)["products"] == 50
    r = runner.invoke(app, ["reindex", "--version", "v2", *opts])
    assert r.exit_code == 0 and "search now uses v2 (was v1)" in r.output and "50 vectors indexed" in r.output
    r = runner.invoke(app, ["reindex", "--version", "v2", *opts])  # nothing new: no image runs again
    assert r.exit_code == 0 and "0 images embedded" in r.output
    r = runner.invoke(app, ["reindex", "--version", "v2", "--refresh", *opts])
    assert r.exit_code == 0 and "50 images embedded" in r.output and "50 vectors indexed" in r.output
    r = runner.invoke(app, ["catalog", "sweep", *opts])
    assert r.exit_code == 0 and "removed 0 orphan" in r.output


def test_ingest_folder_and_rerun(models_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos" / "Bag"
    folder.mkdir(parents=True)
    for i, p in enumerate(photos(3)):
        (folder / f"{i}.png").write_bytes(png(p))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    opts = common(models_root, tmp_path)
    r = runner.invoke(app, ["ingest", str(tmp_path / "photos"), "--merchant", "acme", *opts])
    assert r.exit_code == 0, r.output
    assert "3 done, 0 skipped, 1 failed" in r.output and "Bag/broken.png" in r.output
    again = runner.invoke(app, ["ingest", str(tmp_path / "photos"), "--merchant", "acme", *opts])
    assert "0 done, 3 skipped, 1 failed" in again.output


def test_every_failure_can_be_written_out(models_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos" / "Bag"
    folder.mkdir(parents=True)
    for i in range(23):
        (folder / f"broken{i:02d}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "ok.png").write_bytes(png(photos(1)[0]))
    opts = [str(tmp_path / "photos"), *common(models_root, tmp_path)]
    shown = runner.invoke(app, ["ingest", *opts])
    assert "… and 3 more failures (every one: --failures FILE)" in shown.output, shown.output
    listed = tmp_path / "failures.csv"
    again = runner.invoke(app, ["ingest", *opts, "--failures", str(listed)])
    assert again.exit_code == 0 and f"every failure: {listed}" in " ".join(again.output.split())
    rows = listed.read_text().splitlines()
    assert rows[0] == "row,reason" and len(rows) == 24 and rows[1].startswith("Bag/broken00.png,")


def test_ingest_names_the_columns_it_does_not_read(models_root: Path, tmp_path: Path) -> None:
    """A misspelt optional column ('Stock') left every stock at 0 without a word: the columns not read are named."""
    (tmp_path / "0.png").write_bytes(png(photos(1)[0]))
    manifest = tmp_path / "m.csv"
    manifest.write_text("sku,title,brand,price,category,image,Stock,colour\na,A,,,,0.png,5,red\n")
    r = runner.invoke(app, ["ingest", str(manifest), *common(models_root, tmp_path)])
    assert r.exit_code == 0 and "1 done" in r.output, r.output
    assert (
        "warning: column(s) not read: Stock, colour (read: sku,title,brand,price,category,image,merchant,stock)"
        in (" ".join(r.output.split()))
    )
    plain = tmp_path / "p.csv"
    plain.write_text("sku,title,brand,price,category,image,stock\nb,B,,,,0.png,5\n")
    r = runner.invoke(app, ["ingest", str(plain), *common(models_root, tmp_path)])
    assert r.exit_code == 0 and "not read" not in r.output, r.output


def test_ingest_errors_are_messages_not_tracebacks(models_root: Path, tmp_path: Path) -> None:
    opts = common(models_root, tmp_path)
    r = runner.invoke(app, ["ingest", str(tmp_path / "nothing.csv"), *opts])
    assert r.exit_code == 2 and "no manifest" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    r = runner.invoke(app, ["ingest", str(bad), *opts])
    assert r.exit_code == 2 and "missing column" in r.output
    r = runner.invoke(app, ["ingest", str(bad), "--database-url", "mysql://x@y/z", *opts])
    assert r.exit_code == 2 and "unsupported database" in r.output
    r = runner.invoke(
        app,
        [
            "ingest",
            str(tmp_path),
            "--models-dir",
            str(tmp_path / "none"),
            "--catalog-dir",
            str(tmp_path / "c"),
        ],
    )
    assert r.exit_code == 2 and "no active version" in r.output and "shoplens models activate" in r.output


def test_taxonomy_show_and_create(models_root: Path, tmp_path: Path) -> None:
    opts = common(models_root, tmp_path)
    r = runner.invoke(app, ["catalog", "taxonomy", *opts])
    assert r.exit_code == 0 and "fashion-mnist: T-shirt/top, Trouser" in r.output
    r = runner.invoke(app, ["catalog", "taxonomy", "--taxonomy", "shoes", "Sneaker", "Boot", *opts])
    assert r.exit_code == 0 and "shoes: Sneaker, Boot" in r.output
    r = runner.invoke(app, ["catalog", "taxonomy", "--taxonomy", "shoes", "Sandal", *opts])
    assert r.exit_code == 2 and r.output.startswith("error: taxonomy 'shoes' exists with other categories")
    # showing a typo made a taxonomy of it
    r = runner.invoke(app, ["catalog", "taxonomy", "--taxonomy", "shoez", *opts])
    assert r.exit_code == 2 and "no taxonomy 'shoez' (taxonomies: fashion-mnist, shoes)" in r.output, r.output
    r = runner.invoke(app, ["catalog", "taxonomy", "--taxonomy", "shoez", *opts])
    assert "no taxonomy 'shoez'" in r.output
    for names, said in ((["Boot", "Boot"], "'Boot' twice"), (["Boot", "x" * 65], "1 to 64 characters")):
        r = runner.invoke(app, ["catalog", "taxonomy", "--taxonomy", "bad", *names, *opts])
        assert r.exit_code != 0 and said in r.output and "Traceback" not in r.output, r.output


def test_classify_batch_from_a_parquet_manifest(models_root: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i, p in enumerate(photos(3, seed=9)):
        (tmp_path / f"p{i}.png").write_bytes(png(p))
    manifest = tmp_path / "m.parquet"
    pq.write_table(
        pa.table({"key": ["a", "b", "c", "d"], "image": ["p0.png", "p1.png", "p2.png", "gone.png"]}), manifest
    )
    out = tmp_path / "pred.parquet"
    r = runner.invoke(
        app, ["classify-batch", str(manifest), "--out", str(out), "--models-dir", str(models_root)]
    )
    assert r.exit_code == 0, r.output
    assert "4 images (1 failed)" in r.output
    table = pq.read_table(out).to_pylist()
    assert [t["key"] for t in table] == ["a", "b", "c", "d"]
    assert all(t["label"] and len(t["embedding"]) == 138 for t in table[:3])
    assert table[3]["label"] is None and "gone.png" in table[3]["error"]
    meta = pq.read_schema(out).metadata  # which category each probability is (the file named none)
    labels = json.loads(meta[b"shoplens.labels"])
    assert [labels[max(range(len(labels)), key=t["probabilities"].__getitem__)] for t in table[:3]] == [
        t["label"] for t in table[:3]
    ]
    missing = runner.invoke(app, ["classify-batch", str(tmp_path / "nope.csv"), "--out", str(out)])
    assert missing.exit_code != 0 and "no folder or file" in missing.output


def test_classify_batch_counts_what_it_cannot_read_and_leaves_hidden_files_out(
    models_root: Path, tmp_path: Path
) -> None:
    """A dangling link fails and is counted (it vanished), hidden files are left out as training leaves them (they
    were classified), an empty image cell says so, and a photo given as the source is named as one."""
    import pyarrow.parquet as pq

    root = tmp_path / "f"
    (root / ".cache").mkdir(parents=True)
    (root / "a.png").write_bytes(png(photos(1)[0]))
    (root / ".cache" / "thumb.png").write_bytes(png(photos(1)[0]))
    (root / "._a.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    (root / "gone.png").symlink_to(tmp_path / "nowhere.png")
    out, models = tmp_path / "o.parquet", ["--models-dir", str(models_root)]
    r = runner.invoke(app, ["classify-batch", str(root), "--out", str(out), *models])
    assert r.exit_code == 0 and "2 images (1 failed)" in r.output, r.output
    assert [t["key"] for t in pq.read_table(out).to_pylist()] == ["a.png", "gone.png"]
    (tmp_path / "m.csv").write_text("image\n\nf/a.png\n,\n")
    r = runner.invoke(app, ["classify-batch", str(tmp_path / "m.csv"), "--out", str(out), *models])
    assert r.exit_code == 0 and "no image given" in pq.read_table(out).to_pylist()[-1]["error"], r.output
    r = runner.invoke(app, ["classify-batch", str(root / "a.png"), "--out", str(out), *models])
    assert r.exit_code == 2 and "is a photo: give a folder or a manifest" in r.output, r.output


def test_ray_engine_refuses_url_lists_before_starting_ray(models_root: Path, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("https://cdn.example.com/a.png\n")
    r = runner.invoke(app, ["ingest", str(urls), "--engine", "ray", *common(models_root, tmp_path)])
    assert r.exit_code == 2 and "local engine" in r.output


def test_sources_and_outputs_of_the_wrong_kind_are_named(models_root: Path, tmp_path: Path) -> None:
    photo = tmp_path / "s0.png"
    photo.write_bytes(png(photos(1, seed=4)[0]))
    (tmp_path / "out").mkdir()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "s0.png").write_bytes(photo.read_bytes())
    models = ["--models-dir", str(models_root)]

    def said(*args: str) -> str:
        r = runner.invoke(app, list(args))
        assert r.exit_code != 0 and "Traceback" not in r.output, r.output
        return " ".join(r.output.split())

    assert "not a list of URLs" in said("ingest", str(photo), *common(models_root, tmp_path))
    batch = ("classify-batch", str(tmp_path / "photos"), *models, "--out")
    assert "is a folder: give a file to write" in said(*batch, str(tmp_path / "out"))
    assert not list((tmp_path / "out").iterdir()) and not list(tmp_path.glob(".*.tmp"))  # nothing left behind
    assert "s0.png: is a file, not a folder" in said(*batch, f"{photo}/x.parquet")
    assert "not a readable UTF-8 CSV file" in said(
        "events", "import", str(photo), "--catalog-dir", str(tmp_path / "c")
    )
