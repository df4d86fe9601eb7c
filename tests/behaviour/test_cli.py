"""`shoplens events import|erase|expire` and `shoplens report trends` through Typer's runner, on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from shoplens.behaviour.events import ERASED, EventIn, record_events, user_key
from shoplens.catalog.service import Catalog
from shoplens.cli import app
from shoplens.db.base import utcnow
from shoplens.db.behaviour import CachedRecommendation, Event

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


@pytest.mark.slow
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
    misspelt = tmp_path / "misspelt.csv"  # productId: every event would lose its product without a word
    misspelt.write_text("event_id,user_id,type,timestamp,productId\n9,bo,view,2026-11-27T10:00:00Z,1\n")
    warned = runner.invoke(app, ["events", "import", str(misspelt), *options(catalog, models_root)])
    assert "warning: column(s) not read: productId (read: event_id," in warned.output, warned.output
    assert "not read" not in result.output  # the file with known columns only

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


def test_events_erase_and_expire(
    catalog: Catalog, shop: list[int], models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLENS_USER_ID_SECRET", "k")
    monkeypatch.setenv("SHOPLENS_SHOPPER_CACHE_TTL_S", "60")
    event = EventIn("1", "ann", "view", "2026-11-27T10:00:00Z", shop[0])
    assert record_events(catalog.sessions, [event], SecretStr("k")).count("accepted") == 1
    with catalog.sessions.begin() as s:
        old = utcnow() - timedelta(seconds=61)
        s.add(CachedRecommendation(user_id="bob", k=10, payload="{}", created_at=old))
    result = runner.invoke(app, ["events", "expire", *options(catalog, models_root)])
    assert result.exit_code == 0 and "deleted 1 expired cached rows (older than 60 s)" in result.output

    blank = runner.invoke(app, ["events", "erase", "  ", *options(catalog, models_root)])
    assert blank.exit_code == 2 and "blank" in blank.output  # it tombstoned the empty id
    result = runner.invoke(app, ["events", "erase", "ann", "--vacuum", *options(catalog, models_root)])
    assert result.exit_code == 0, result.output
    assert "1 from events" in result.output and "database file rewritten" in result.output
    with catalog.sessions() as s:
        assert s.scalars(select(Event.user_id)).all() == []
    again = record_events(
        catalog.sessions, [EventIn("2", "ann", "view", "2026-11-27T10:01:00Z", shop[0])], SecretStr("k")
    )
    assert again.results[0].reason == ERASED


def test_erasing_without_the_servers_secret_warns_when_nothing_was_held(
    catalog: Catalog, shop: list[int], models_root: Path
) -> None:
    event = EventIn("1", "ann", "view", "2026-11-27T10:00:00Z", shop[0])
    assert record_events(catalog.sessions, [event], SecretStr("k")).count("accepted") == 1  # pseudonymised
    result = runner.invoke(app, ["events", "erase", "ann", *options(catalog, models_root)])  # no secret here
    assert result.exit_code == 0 and "nothing was held under this id" in result.output
    assert "SHOPLENS_USER_ID_SECRET" in result.output


def test_imported_ad_events_count_for_their_campaign(
    catalog: Catalog, models_root: Path, tmp_path: Path
) -> None:
    from shoplens.ads.reports import campaign_report
    from tests.support.images import photos
    from tests.support.shop import new_campaign, new_creative

    campaign = new_campaign(catalog, "csv", budget="10", bid="1")
    creative = new_creative(catalog, campaign, photos(1, seed=5)[0])
    now = utcnow()
    source = tmp_path / "ads.csv"
    rows = [
        f"i{i},ann,ad_impression,{(now - timedelta(minutes=5 - i)).isoformat()},,{creative.id}"
        for i in range(2)
    ]
    rows.append(f"c0,ann,ad_click,{now.isoformat()},,{creative.id}")
    source.write_text("event_id,user_id,type,timestamp,product_id,ad_id\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["events", "import", str(source), *options(catalog, models_root)])
    assert result.exit_code == 0 and "3 accepted" in result.output, result.output
    with catalog.sessions() as s:
        report = campaign_report(s, campaign)
    assert report.impressions == 2  # as POST /v1/events counts them
    assert (report.clicks, report.refused_clicks, report.spent) == (0, 1, 0)  # a click without a token
