"""`shoplens ads …`: campaign reports and the ads simulation from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shoplens.cli.catalog import open_catalog
from shoplens.cli.common import app, friendly_errors, out
from shoplens.cli.options import CATALOG, with_settings
from shoplens.config import Settings
from shoplens.fields import MAX_INT

ads_app = typer.Typer(help="Ads: campaign reports, simulation.", no_args_is_help=True)
app.add_typer(ads_app, name="ads")


@ads_app.command("report")
@friendly_errors
@with_settings(CATALOG)
def report(
    settings: Settings,
    campaign_id: Annotated[
        int | None, typer.Argument(min=1, max=MAX_INT, help="One campaign (default: every campaign).")
    ] = None,
    merchant: Annotated[str | None, typer.Option(help="Only this merchant's campaigns.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Campaigns at most, newest first.")] = 100,
) -> None:
    """Impressions, clicks, CTR, spend and budget left per campaign (and per creative for one campaign)."""
    from shoplens.ads.reports import campaign_report, campaign_reports

    with open_catalog(settings) as catalog, catalog.sessions() as session:
        reports = (
            [campaign_report(session, campaign_id)]
            if campaign_id is not None
            else campaign_reports(session, merchant, limit)
        )
    table = Table(title="Campaigns")
    for column in (
        "id",
        "name",
        "merchant",
        "status",
        "impressions",
        "clicks",
        "CTR",
        "spend",
        "budget left",
    ):
        table.add_column(column, justify="right" if column not in ("name", "merchant", "status") else "left")
    for r in reports:
        table.add_row(
            str(r.campaign_id),
            r.name,
            r.merchant or "",
            r.status,
            str(r.impressions),
            str(r.clicks),
            f"{r.ctr:.2%}",
            f"{r.spent:.2f}",
            f"{r.budget_left:.2f}",
        )
    out.print(table if reports else "no campaigns")
    if campaign_id and reports:
        creatives = Table(title=f"Creatives of campaign {campaign_id}")
        for column in ("id", "headline", "category", "status", "impressions", "clicks", "CTR"):
            creatives.add_column(column)
        for c in reports[0].creatives:
            creatives.add_row(
                str(c.creative_id),
                c.headline,
                c.predicted_category or "",
                c.status,
                str(c.impressions),
                str(c.clicks),
                f"{c.ctr:.2%}",
            )
        out.print(creatives)


@ads_app.command("simulate")
@friendly_errors
@with_settings(CATALOG)
def simulate(
    settings: Settings,
    users: Annotated[int, typer.Option(min=1, max=1_000_000, help="Simulated shoppers.")] = 500,
    rounds: Annotated[int, typer.Option(min=1, max=10_000_000, help="Ads shown (one per round).")] = 20_000,
    seed: int = 0,
    chart: Annotated[
        Path | None, typer.Option(help="Write cumulative CTR and regret curves here (PNG).")
    ] = None,
) -> None:
    """Simulate shoppers on the catalogue: ShopLens ad selection vs random vs the best single creative (JSON out)."""
    from shoplens.ads.simulate import simulate_ads, write_ads_chart

    with open_catalog(settings) as catalog:
        result = simulate_ads(catalog, n_users=users, rounds=rounds, seed=seed)
    if chart:
        write_ads_chart(result, chart)
    result.pop("curves")
    out.print_json(json.dumps(result))
