"""`shoplens events import` and `shoplens report trends` through Typer's runner, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from shoplens.behaviour.events import user_key
from shoplens.catalog.service import Catalog
from shoplens.cli import app
from shoplens.db.behaviour import Event

runner = CliRunner()


def options(catalog: Catalog, models_root: Path) -> list[str]:
    """The options naming the test catalogue."""
    url = catalog.engine.url.render_as_string(hide_password=False)
    return [
        "--models-dir",
        str(models_root),
        "--catalog-dir",
        str(catalog.config.data_dir),
        "--database-url",
        url,
    ]


def test_events_import_then_trends_report(
    catalog: Catalog, shop: list[int], models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLENS_USER_ID_SECRET", "k")
    source = tmp_path / "events.csv"
    source.write_text(
        "event_id,user_id,type,timestamp,product_id\n"
        f"1,ann,view,2026-11-27T10:00:00Z,{shop[0]}\n2,ann,teleport,2026-11-27T10:00:00Z,{shop[0]}\n"
    )
    result = runner.invoke(app, ["events", "import", str(source), *options(catalog, models_root)])
    assert result.exit_code == 0, result.output
    assert (
        "1 accepted, 0 duplicates (ignored), 1 rejected" in result.output
        and "line 3: unknown event type" in result.output
    )
    with catalog.sessions() as s:
        assert s.scalars(select(Event.user_id)).all() == [user_key("ann", SecretStr("k"))]
    again = runner.invoke(app, ["events", "import", str(source), *options(catalog, models_root)])
    assert "0 accepted, 1 duplicates" in again.output
    missing = runner.invoke(
        app, ["events", "import", str(tmp_path / "nope.csv"), *options(catalog, models_root)]
    )
    assert missing.exit_code == 2 and "no events file" in missing.output

    out = tmp_path / "report"
    result = runner.invoke(
        app, ["report", "trends", "--out", str(out), "--days", "400", *options(catalog, models_root)]
    )
    assert result.exit_code != 0
    result = runner.invoke(
        app, ["report", "trends", "--out", str(out), "--days", "7", *options(catalog, models_root)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "trends.csv").read_text().startswith("day,category,uploads,views,carts,purchases\n")
    assert (out / "trends.png").read_bytes()[:4] == b"\x89PNG"
