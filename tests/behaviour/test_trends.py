"""Category trends: uploads, views, carts and purchases per category per UTC day; the CSV and the chart."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from shoplens.behaviour.events import EventIn, record_events
from shoplens.behaviour.trends import TrendRow, category_trends, trend_window, write_chart, write_csv
from shoplens.catalog.service import Catalog

TODAY = datetime.now(UTC).date()


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def test_counts_per_category_per_day(catalog: Catalog, shop: list[int]) -> None:
    coat, bag = shop[0], shop[1]
    d1 = TODAY - timedelta(days=2)
    events = [
        EventIn("1", "u1", "view", at(d1, 23), coat),
        EventIn("2", "u2", "view", at(d1, 1), coat),
        EventIn("3", "u1", "add_to_cart", at(d1, 23), coat),
        EventIn("4", "u1", "purchase", at(TODAY, 0), coat),
        EventIn("5", "u3", "view", at(TODAY, 0), bag),
        EventIn("6", "u3", "click", at(TODAY, 0), bag),
        EventIn(
            "7",
            "u3",
            "view",
            (datetime.combine(d1, datetime.min.time()) - timedelta(minutes=1)).isoformat() + "Z",
            bag,
        ),
    ]
    assert record_events(catalog.sessions, events).count("accepted") == 7
    start, end = trend_window(2)
    assert (start, end) == (TODAY - timedelta(days=1), TODAY)
    with catalog.sessions() as s:
        rows = category_trends(s, d1, TODAY)
        bags = category_trends(s, d1, TODAY, "Bag")
    assert TrendRow(d1, "Coat", 0, 2, 1, 0) in rows and TrendRow(TODAY, "Bag", 3, 1, 0, 0) in rows
    assert TrendRow(TODAY, "Coat", 3, 0, 0, 1) in rows  # three coats were stored today (uploads)
    assert {r.category for r in rows if r.day == TODAY} == {"Coat", "Bag", "Sneaker", "Dress"}
    assert all(r.day >= d1 for r in rows)  # the view one minute before d1 is outside the window
    assert bags == [r for r in rows if r.category == "Bag"]


def test_csv_and_chart_are_written(tmp_path: Path) -> None:
    start = date(2026, 11, 1)
    rows = [TrendRow(start, "Coat", 1, 5, 2, 1), TrendRow(start + timedelta(days=2), "Bag", 0, 3, 0, 0)]
    csv_path = write_csv(rows, tmp_path / "out" / "trends.csv")
    with csv_path.open() as fh:
        got = list(csv.reader(fh))
    assert got == [
        ["day", "category", "uploads", "views", "carts", "purchases"],
        ["2026-11-01", "Coat", "1", "5", "2", "1"],
        ["2026-11-03", "Bag", "0", "3", "0", "0"],
    ]
    png = write_chart(rows, tmp_path / "out" / "trends.png", start, start + timedelta(days=3))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
