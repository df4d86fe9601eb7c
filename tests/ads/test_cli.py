"""`shoplens ads report` and `shoplens ads simulate` through Typer's runner (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplens.ads.feedback import record_ad_event
from shoplens.catalog.service import Catalog
from shoplens.cli import app
from tests.support.images import photos
from tests.support.shop import add_products, new_campaign, new_creative, paid_click

runner = CliRunner()


def options(catalog: Catalog, models_root: Path) -> list[str]:
    """Options pointing the commands at the test's models and catalogue."""
    return [
        "--models-dir",
        str(models_root),
        "--catalog-dir",
        str(catalog.config.data_dir),
        "--database-url",
        catalog.engine.url.render_as_string(hide_password=False),
    ]


def test_report_lists_campaigns_and_one_campaigns_creatives(catalog: Catalog, models_root: Path) -> None:
    campaign = new_campaign(catalog, "Spring", budget="10", bid="0.5")
    creative = new_creative(catalog, campaign, photos(1)[0], "Hello")
    with catalog.sessions.begin() as session:
        for i in range(4):
            record_ad_event(
                session, event_id=f"i{i}", kind="ad_impression", creative_id=creative.id, user_id="u"
            )
        paid_click(session, "c", creative.id)
    r = runner.invoke(app, ["ads", "report", *options(catalog, models_root)])
    assert r.exit_code == 0, r.output
    assert "Spring" in r.output and "25.00%" in r.output and "9.50" in r.output
    r = runner.invoke(app, ["ads", "report", str(campaign), *options(catalog, models_root)])
    assert r.exit_code == 0 and "Hello" in r.output
    r = runner.invoke(app, ["ads", "report", "999", *options(catalog, models_root)])
    assert r.exit_code == 2 and "no campaign 999" in r.output
    for outside in ("0", str(2**63)):  # 0 listed every campaign; 2**63 was a traceback
        r = runner.invoke(app, ["ads", "report", outside, *options(catalog, models_root)])
        assert r.exit_code == 2 and "Spring" not in r.output and "Traceback" not in r.output, r.output
        assert "than or equal to" in r.output, r.output  # greater than or equal to 1 / less than … 2147483647


@pytest.mark.slow
def test_simulate_prints_json(catalog: Catalog, models_root: Path, tmp_path: Path) -> None:
    pictures = photos(8, seed=2)
    add_products(catalog, pictures[:4], category="Bag")
    add_products(catalog, pictures[4:], category="Coat")
    chart = tmp_path / "ads.png"
    r = runner.invoke(
        app,
        [
            "ads",
            "simulate",
            "--users",
            "10",
            "--rounds",
            "200",
            "--chart",
            str(chart),
            *options(catalog, models_root),
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["rounds"] == 200 and {"random_ctr", "best_single_ctr", "shoplens_ctr"} <= set(result)
    assert chart.stat().st_size > 0
