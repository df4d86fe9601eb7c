"""The catalogue operations the API offers, from the shell: delete, search by image, duplicate check, merchants,
and the most active shoppers — each through Typer's runner on a catalogue ingested by the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from tests.support.bundles import NAME, PHOTO_PRE, add_detector, make_bundle
from tests.support.images import checkerboard, encode, photos, png, product_photo

runner = CliRunner()


@pytest.fixture
def shop(models_root: Path, tmp_path: Path) -> tuple[list[str], list[Path]]:
    """Three photos of bags ingested for merchant acme: the options naming that catalogue, and the photo files."""
    folder = tmp_path / "photos" / "Bag"
    folder.mkdir(parents=True)
    files = [folder / f"{i}.png" for i in range(3)]
    for path, photo in zip(files, photos(3, seed=3)):
        path.write_bytes(png(photo))
    opts = ["--models-dir", str(models_root), "--catalog-dir", str(tmp_path / "catalog")]
    r = runner.invoke(app, ["ingest", str(tmp_path / "photos"), "--merchant", "acme", *opts])
    assert r.exit_code == 0 and "3 done" in r.output, r.output
    return opts, files


def hits(output: str) -> list[tuple[float, int, str, str]]:
    """(similarity, product id, merchant/sku, category) of each line `catalog similar|duplicates` printed."""
    rows = [line.split("\t") for line in output.splitlines() if line.count("\t") >= 5]
    return [(float(r[0]), int(r[1]), r[2], r[3]) for r in rows]


def search(opts: list[str], photo: Path, *more: str) -> list[tuple[float, int, str, str]]:
    """The hits of `catalog similar` for a photo (every product, however weak the match, unless `more` says)."""
    r = runner.invoke(app, ["catalog", "similar", str(photo), "--min-similarity", "-1", *more, *opts])
    assert r.exit_code == 0, r.output
    return hits(r.stdout)


def test_search_by_image_ranks_the_product_of_the_photo_first_and_filters(
    shop: tuple[list[str], list[Path]],
) -> None:
    opts, files = shop
    found = search(opts, files[1])
    assert found[0][2] == "acme/Bag-1" and found[0][0] > 0.99
    assert sorted(h[2] for h in found) == ["acme/Bag-0", "acme/Bag-1", "acme/Bag-2"]
    assert all(h[3] == "Bag" for h in found)
    assert [h[2] for h in search(opts, files[1], "-k", "1")] == ["acme/Bag-1"]
    assert search(opts, files[1], "--merchant", "other") == []
    assert search(opts, files[1], "--category", "Sneaker") == []


def test_search_with_a_photo_of_no_product_says_why_it_found_nothing(
    models_root: Path, tmp_path: Path
) -> None:
    add_detector(make_bundle(models_root, "v3", seed=3, preprocess=PHOTO_PRE))  # flags the checkerboard
    (models_root / NAME / "ACTIVE").write_text("v3\n")
    folder = tmp_path / "photos" / "Coat"
    folder.mkdir(parents=True)
    (folder / "coat.png").write_bytes(encode(product_photo()))
    (tmp_path / "board.png").write_bytes(encode(checkerboard()))
    opts = ["--models-dir", str(models_root), "--catalog-dir", str(tmp_path / "catalog")]
    assert (
        runner.invoke(app, ["ingest", str(tmp_path / "photos"), "--merchant", "acme", *opts]).exit_code == 0
    )
    assert [h[2] for h in search(opts, folder / "coat.png")] == ["acme/Coat-coat"]
    r = runner.invoke(
        app, ["catalog", "similar", str(tmp_path / "board.png"), "--min-similarity", "-1", *opts]
    )
    assert r.exit_code == 0 and hits(r.stdout) == []
    assert "no similar products: the photo does not look like a product" in " ".join(r.output.split())


def test_duplicate_check_finds_the_stored_copy_only(
    shop: tuple[list[str], list[Path]], tmp_path: Path
) -> None:
    opts, files = shop
    r = runner.invoke(app, ["catalog", "duplicates", str(files[2]), *opts])
    assert r.exit_code == 0, r.output
    assert [h[2] for h in hits(r.stdout)] == ["acme/Bag-2"]
    fresh = tmp_path / "fresh.png"
    fresh.write_bytes(png(photos(1, seed=99)[0]))
    r = runner.invoke(app, ["catalog", "duplicates", str(fresh), *opts])
    assert r.exit_code == 0 and hits(r.stdout) == [] and "no near-duplicates" in r.output


def test_delete_takes_the_product_out_of_search_duplicates_and_merchants(
    shop: tuple[list[str], list[Path]],
) -> None:
    opts, files = shop
    ids = {sku: pid for _, pid, sku, _ in search(opts, files[0])}
    gone = ids["acme/Bag-0"]
    r = runner.invoke(app, ["catalog", "delete", str(gone), "--merchant", "other", *opts])
    assert r.exit_code == 2 and "error" in r.output and "Traceback" not in r.output
    assert runner.invoke(app, ["catalog", "merchants", *opts]).stdout.startswith("acme\t3\t")
    r = runner.invoke(app, ["catalog", "delete", str(gone), "--merchant", "acme", *opts])
    assert r.exit_code == 0 and f"deleted product {gone} and 1 image(s)" in r.output, r.output
    assert sorted(h[2] for h in search(opts, files[0])) == ["acme/Bag-1", "acme/Bag-2"]
    r = runner.invoke(app, ["catalog", "duplicates", str(files[0]), *opts])
    assert r.exit_code == 0 and hits(r.stdout) == []
    assert runner.invoke(app, ["catalog", "merchants", *opts]).stdout.startswith("acme\t2\t")
    r = runner.invoke(app, ["catalog", "delete", str(gone), *opts])
    assert r.exit_code == 2 and f"no product {gone}" in r.output


def test_photos_that_cannot_be_read_are_errors_not_tracebacks(
    shop: tuple[list[str], list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, _ = shop
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for command in ("similar", "duplicates"):
        r = runner.invoke(app, ["catalog", command, str(tmp_path / "missing.png"), *opts])
        assert r.exit_code == 2 and "cannot read" in r.output and "Traceback" not in r.output
        r = runner.invoke(app, ["catalog", command, str(text), *opts])
        assert r.exit_code == 2 and "not a supported image" in r.output
    monkeypatch.setenv("SHOPLENS_MAX_UPLOAD_BYTES", "1024")
    big = tmp_path / "big.png"
    big.write_bytes(png(photos(1, seed=5, size=400)[0]))
    assert big.stat().st_size > 1024
    r = runner.invoke(app, ["catalog", "similar", str(big), *opts])
    assert r.exit_code == 2 and "larger than the limit" in r.output


def test_merchants_of_an_empty_catalogue(models_root: Path, tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["catalog", "merchants", "--models-dir", str(models_root), "--catalog-dir", str(tmp_path / "c")]
    )
    assert r.exit_code == 0 and "no merchants yet" in r.output


def test_shoppers_most_active_first_unless_ids_are_pseudonymised(
    shop: tuple[list[str], list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, files = shop
    product = search(opts, files[0])[0][1]
    source = tmp_path / "events.csv"
    source.write_text(
        "event_id,user_id,type,timestamp,product_id\n"
        f"1,bob,view,2026-11-27T10:00:00Z,{product}\n"
        f"2,ann,view,2026-11-27T11:00:00Z,{product}\n"
        f"3,ann,purchase,2026-11-27T12:00:00Z,{product}\n"
    )
    assert runner.invoke(app, ["events", "import", str(source), *opts]).exit_code == 0
    r = runner.invoke(app, ["events", "shoppers", *opts])
    assert r.exit_code == 0, r.output
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [(u, n) for u, n, _ in rows] == [("ann", "2"), ("bob", "1")]
    assert rows[0][2].startswith("2026-11-27T12:00:00")
    r = runner.invoke(app, ["events", "shoppers", "--limit", "1", *opts])
    assert [line.split("\t")[0] for line in r.stdout.splitlines()] == ["ann"]
    monkeypatch.setenv("SHOPLENS_USER_ID_SECRET", "k")
    r = runner.invoke(app, ["events", "shoppers", *opts])
    assert r.exit_code == 0 and "pseudonymised" in r.output and "ann" not in r.output
