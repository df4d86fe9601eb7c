"""Category trends: uploads, views, carts and purchases per category per UTC day, as rows, a CSV and a PNG chart.

An upload is a stored product image, counted on the day it was stored, under its product's declared category or,
when none was declared, the category the model predicted for that image. Views, carts and purchases are events,
counted under their product's category (declared, else predicted for its first image — `catalog.queries`).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import astuple, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoplens.catalog.queries import product_category
from shoplens.db.base import as_day, utc_day
from shoplens.db.behaviour import Event
from shoplens.db.catalog import Product, ProductImage

EVENT_MEASURES = {"view": "views", "add_to_cart": "carts", "purchase": "purchases"}
MEASURES = ("uploads", "views", "carts", "purchases")
UNKNOWN = "unknown"
MAX_DAYS = 366


@dataclass(frozen=True)
class TrendRow:
    """The counts of one category on one day."""

    day: date
    category: str
    uploads: int = 0
    views: int = 0
    carts: int = 0
    purchases: int = 0


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in UTC."""
    return (
        datetime.combine(start, time.min, UTC),
        datetime.combine(end + timedelta(days=1), time.min, UTC),
    )


def category_trends(session: Session, start: date, end: date, category: str | None = None) -> list[TrendRow]:
    """Rows for every (day, category) with any activity between start and end (inclusive), by day then category."""
    lo, hi = _bounds(start, end)
    counts: dict[tuple[date, str], dict[str, int]] = defaultdict(dict)
    img_day = utc_day(session, ProductImage.created_at)
    img_cat = func.coalesce(Product.declared_category, ProductImage.predicted_category)
    uploads = session.execute(
        select(img_day, img_cat, func.count())
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.created_at >= lo, ProductImage.created_at < hi)
        .group_by(img_day, img_cat)
    )
    for day, cat, n in uploads:
        counts[(as_day(day), cat or UNKNOWN)]["uploads"] = n
    cats = select(Product.id.label("product_id"), product_category().label("category")).subquery()
    ev_day = utc_day(session, Event.ts)
    events = session.execute(
        select(ev_day, cats.c.category, Event.type, func.count())
        .join(cats, cats.c.product_id == Event.product_id)
        .where(Event.ts >= lo, Event.ts < hi, Event.type.in_(EVENT_MEASURES))
        .group_by(ev_day, cats.c.category, Event.type)
    )
    for day, cat, kind, n in events:
        counts[(as_day(day), cat or UNKNOWN)][EVENT_MEASURES[kind]] = n
    rows = [TrendRow(day, cat, **c) for (day, cat), c in counts.items() if category in (None, cat)]
    return sorted(rows, key=lambda r: (r.day, r.category))


def write_csv(rows: list[TrendRow], path: Path) -> Path:
    """The rows as CSV: day,category,uploads,views,carts,purchases."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([f.name for f in fields(TrendRow)])
        writer.writerows((r.day.isoformat(), *astuple(r)[1:]) for r in rows)
    return path


def write_chart(rows: list[TrendRow], path: Path, start: date, end: date) -> Path:
    """A PNG with one panel per measure, one line per category, days on the x axis."""
    from matplotlib.figure import Figure  # the Agg canvas: no display needed

    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, dict[str, list[int]]] = defaultdict(lambda: {m: [0] * len(days) for m in MEASURES})
    for r in rows:
        for m in MEASURES:
            series[r.category][m][index[r.day]] = getattr(r, m)
    fig = Figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    for ax, measure in zip(axes.ravel(), MEASURES):
        for cat in sorted(series):
            ax.plot(days, series[cat][measure], label=cat, linewidth=1.2)
        ax.set_title(measure)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=45)
    if series:
        axes[0, 0].legend(fontsize=7, ncols=2)
    fig.suptitle(f"Category trends {start.isoformat()} – {end.isoformat()} (UTC days)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def trend_window(days: int, end: date | None = None) -> tuple[date, date]:
    """The last `days` UTC days up to `end` (today by default), both included."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}, got {days}")
    end = end or datetime.now(UTC).date()
    return end - timedelta(days=days - 1), end
