"""Colours from the shell: `catalog list --colour/--attribute`, `catalog colours --backfill`, and
`catalog similar --colour-weight`, through Typer's runner on a catalogue ingested by the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.db.catalog import ImageColour
from shoplens.db.engine import default_url, open_database
from tests.support.images import garment, png

runner = CliRunner()
LOOKS = {"red-0": ((184, 50, 46), 0), "blue-0": ((53, 101, 168), 0), "red-1": ((184, 50, 46), 1)}


@pytest.fixture
def shop(models_root: Path, tmp_path: Path) -> tuple[list[str], Path]:
    """Two red Bags and a blue one ingested for merchant acme: the options naming that catalogue, its folder."""
    folder = tmp_path / "photos" / "Bag"
    folder.mkdir(parents=True)
    for name, (colour, seed) in LOOKS.items():
        (folder / f"{name}.png").write_bytes(png(garment(colour, seed)))
    opts = ["--models-dir", str(models_root), "--catalog-dir", str(tmp_path / "catalog")]
    r = runner.invoke(app, ["ingest", str(tmp_path / "photos"), "--merchant", "acme", *opts])
    assert r.exit_code == 0 and "3 done" in r.output, r.output
    return opts, folder


def listed(opts: list[str], *filters: str) -> dict[str, str]:
    """sku → colours of each product `catalog list` prints."""
    r = runner.invoke(app, ["catalog", "list", *filters, *opts])
    assert r.exit_code == 0, r.output
    rows = [line.split("\t") for line in r.stdout.splitlines() if line.count("\t") == 4]
    return {row[1].split("/")[1]: row[3] for row in rows}


def test_list_filters_by_colour_and_attribute(shop: tuple[list[str], Path]) -> None:
    opts, _ = shop
    assert listed(opts) == {"Bag-red-0": "red", "Bag-blue-0": "blue", "Bag-red-1": "red"}
    assert set(listed(opts, "--colour", "red")) == {"Bag-red-0", "Bag-red-1"}
    assert set(listed(opts, "--colour", "blue,red")) == set(
        listed(opts, "--colour", "blue", "--colour", "red")
    )
    assert listed(opts, "--colour", "red", "--attribute", "pattern:striped") == {}
    r = runner.invoke(app, ["catalog", "list", "--colour", "teal", *opts])
    assert r.exit_code == 2 and "unknown colour 'teal'" in r.output
    r = runner.invoke(app, ["catalog", "list", "--attribute", "striped", *opts])
    assert r.exit_code == 2 and "give attribute:value" in r.output
    r = runner.invoke(app, ["catalog", "list", "--category", "Bags", *opts])  # it printed "0 of 0 product(s)"
    assert r.exit_code == 2 and "unknown category 'Bags'; categories: " in r.output


def test_backfill_gives_old_images_their_colours(shop: tuple[list[str], Path], tmp_path: Path) -> None:
    opts, _ = shop
    engine, sessions = open_database(default_url(tmp_path / "catalog"))
    with sessions.begin() as s:
        s.execute(delete(ImageColour))  # as a catalogue from before colours were kept
    engine.dispose()
    r = runner.invoke(app, ["catalog", "colours", *opts])
    assert r.exit_code == 0 and "3 image(s) without colours" in r.output, r.output
    assert listed(opts, "--colour", "red") == {}
    r = runner.invoke(app, ["catalog", "colours", "--backfill", *opts])
    assert r.exit_code == 0 and "coloured 3 image(s)" in r.output, r.output
    assert set(listed(opts, "--colour", "red")) == {"Bag-red-0", "Bag-red-1"}
    r = runner.invoke(app, ["catalog", "colours", "--backfill", *opts])
    assert "coloured 0 image(s)" in r.output


def test_similar_with_a_colour_weight_prefers_the_same_colour(shop: tuple[list[str], Path]) -> None:
    opts, folder = shop

    def skus(*more: str) -> list[str]:
        r = runner.invoke(
            app, ["catalog", "similar", str(folder / "red-0.png"), "--min-similarity", "-1", *more, *opts]
        )
        assert r.exit_code == 0, r.output
        return [line.split("\t")[2] for line in r.stdout.splitlines() if line.count("\t") >= 5]

    assert skus()[:2] == ["acme/Bag-red-0", "acme/Bag-blue-0"]  # by look: the same shape in blue comes next
    assert skus("--colour-weight", "0.3")[:2] == ["acme/Bag-red-0", "acme/Bag-red-1"]
    r = runner.invoke(app, ["catalog", "similar", str(folder / "red-0.png"), "--colour-weight", "2", *opts])
    assert r.exit_code == 2
    r = runner.invoke(app, ["catalog", "similar", str(folder / "red-0.png"), "--category", "Bags", *opts])
    assert r.exit_code == 2 and "unknown category 'Bags'" in r.output
