"""`shoplens events import|shoppers|erase|expire` and `shoplens report trends`: shopper behaviour from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoplens.cli.catalog import bar, open_catalog
from shoplens.cli.common import app, err, friendly_errors, out
from shoplens.cli.options import CATALOG, with_settings
from shoplens.config import Settings

events_app = typer.Typer(
    help="Shopper events: import, the most active shoppers, erasure, cache expiry.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports: category trends.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(report_app, name="report")


def _count_lines(path: Path) -> int:
    """Data rows of a CSV file (for the progress bar; 0 when it cannot be read)."""
    try:
        with path.open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    except OSError:
        return 0


@events_app.command("import")
@friendly_errors
@with_settings(CATALOG)
def import_events(
    source: Annotated[
        Path, typer.Argument(help="CSV: event_id,user_id,type,timestamp[,product_id,ad_id,session_id].")
    ],
    settings: Settings,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per transaction.")] = 1000,
) -> None:
    """Record the events of a CSV file (ids pseudonymised with SHOPLENS_USER_ID_SECRET when set); re-runs add none."""
    from shoplens.ads.feedback import apply_ad_event
    from shoplens.behaviour.events import EVENT_COLUMNS, import_csv, unread_event_columns

    if extra := unread_event_columns(source):
        read = ",".join(EVENT_COLUMNS)
        err.print(f"warning: column(s) not read: {', '.join(extra)} (read: {read})", highlight=False)

    with (
        open_catalog(settings) as catalog,
        bar(_count_lines(source), f"import {source.name}") as advance,
    ):
        summary = (
            import_csv(  # ad events count as POST /v1/events counts them (a CSV's clicks carry no token)
                catalog.sessions,
                source,
                settings.user_id_secret,
                batch_size,
                progress=advance,
                on_new=apply_ad_event,
            )
        )
    out.print(
        f"{summary.accepted} accepted, {summary.duplicates} duplicates (ignored), {summary.rejected} rejected"
        f" — {len(summary.users)} shoppers got new events"
    )
    for line, reason in summary.errors[:20]:
        err.print(f"  line {line}: {reason}", highlight=False)
    if len(summary.errors) > 20:
        err.print(f"  … and {len(summary.errors) - 20} more rejected lines", highlight=False)
    if summary.rejected and not (summary.accepted or summary.duplicates):
        raise typer.Exit(1)


@events_app.command("shoppers")
@friendly_errors
@with_settings(CATALOG)
def shoppers(
    settings: Settings,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many shoppers.")] = 20,
) -> None:
    """Shoppers with the most events, most active first (user id, events, latest event; tab-separated)."""
    from shoplens.behaviour.events import list_shoppers

    with open_catalog(settings) as catalog, catalog.sessions() as session:
        found = list_shoppers(session, settings.user_id_secret, limit)
    if found is None:
        out.print("user ids are pseudonymised (SHOPLENS_USER_ID_SECRET is set): stored keys name nobody")
        return
    if not found:
        out.print("no shopper events yet")
    for s in found:
        print(f"{s.user_id}\t{s.events}\t{s.last_event.isoformat()}")


@events_app.command("erase")
@friendly_errors
@with_settings(CATALOG)
def erase(
    user_id: Annotated[str, typer.Argument(help="The shopper's id, as sent in events.")],
    settings: Settings,
    vacuum: Annotated[
        bool,
        typer.Option(help="SQLite: also rewrite the database file, so no freed page keeps a trace (slow)."),
    ] = False,
) -> None:
    """Delete a shopper's events, profile and cached recommendations, refuse their later events; repeatable.

    A running server's co-visitation counts (no shopper ids in them) follow within a minute, at their rebuild.
    """
    from shoplens.behaviour.erasure import erase_shopper
    from shoplens.behaviour.events import user_key

    if not user_id.strip():
        raise typer.BadParameter("the shopper's id is blank", param_hint="USER_ID")
    keys = {user_id.strip(), user_key(user_id, settings.user_id_secret)}
    with open_catalog(settings) as catalog:
        deleted = erase_shopper(catalog.sessions, catalog.engine, keys, vacuum)
    rows = ", ".join(f"{n} from {table}" for table, n in deleted.items())
    out.print(f"erased the shopper: {rows}{'; database file rewritten' if vacuum else ''}")
    if not any(deleted.values()) and settings.user_id_secret is None:
        err.print(
            "[yellow]warning:[/yellow] nothing was held under this id. If the server pseudonymises shopper ids "
            "(SHOPLENS_USER_ID_SECRET), run this with the same secret: without it the shopper's data stays and "
            "their later events are still accepted"
        )


@events_app.command("expire")
@friendly_errors
@with_settings(CATALOG)
def expire(settings: Settings) -> None:
    """Delete cached profiles and recommendations older than SHOPLENS_SHOPPER_CACHE_TTL_S."""
    from shoplens.behaviour.erasure import expire_cached
    from shoplens.db.base import utcnow

    with open_catalog(settings) as catalog:
        n = expire_cached(catalog.sessions, utcnow(), settings.shopper_cache_ttl_s)
    out.print(f"deleted {n} expired cached rows (older than {settings.shopper_cache_ttl_s:g} s)")


@report_app.command("trends")
@friendly_errors
@with_settings(CATALOG)
def report_trends(
    settings: Settings,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for trends.csv and trends.png.")] = Path(
        "var/reports"
    ),
    days: Annotated[
        int, typer.Option(min=1, max=366, help="The last this many UTC days, today included.")
    ] = 30,
) -> None:
    """Uploads, views, carts and purchases per category per day: a CSV and a PNG chart."""
    from shoplens.behaviour.trends import category_trends, trend_window, write_chart, write_csv

    start, end = trend_window(days)
    with open_catalog(settings) as catalog, catalog.sessions() as session:
        rows = category_trends(session, start, end)
    csv_path = write_csv(rows, out_dir / "trends.csv")
    png_path = write_chart(rows, out_dir / "trends.png", start, end)
    out.print(f"{len(rows)} rows ({start} – {end}): wrote {csv_path} and {png_path}")
