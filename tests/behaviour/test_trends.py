"""Category trends: uploads, views, carts and purchases per category per UTC day; the CSV and the chart."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from shoplens.behaviour.events import EventIn, record_events
from shoplens.behaviour.trends import TrendRow, category_trends, trend_window, write_chart, write_csv
from shoplens.catalog.service import Catalog


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def test_counts_per_category_per_day(catalog: Catalog, shop: list[int]) -> None:
    # The test's own day, taken when it runs (a module-level date went stale when a run crossed midnight UTC).
    today = datetime.now(UTC).date()
    coat, bag = shop[0], shop[1]
    d1 = today - timedelta(days=2)
    events = [
        EventIn("1", "u1", "view", at(d1, 23), coat),
        EventIn("2", "u2", "view", at(d1, 1), coat),
        EventIn("3", "u1", "add_to_cart", at(d1, 23), coat),
        EventIn("4", "u1", "purchase", at(today, 0), coat),
        EventIn("5", "u3", "view", at(today, 0), bag),
        EventIn("6", "u3", "click", at(today, 0), bag),
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
    assert (start, end) == (today - timedelta(days=1), today)
    with catalog.sessions() as s:
        rows = category_trends(s, d1, today)
        bags = category_trends(s, d1, today, "Bag")
    assert TrendRow(d1, "Coat", 0, 2, 1, 0) in rows and TrendRow(today, "Bag", 3, 1, 0, 0) in rows
    assert TrendRow(today, "Coat", 3, 0, 0, 1) in rows  # three coats were stored today (uploads)
    assert {r.category for r in rows if r.day == today} == {"Coat", "Bag", "Sneaker", "Dress"}
    assert all(r.day >= d1 for r in rows)  # the view one minute before d1 is outside the window
    assert bags == [r for r in rows if r.category == "Bag"]


@pytest.mark.slow
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
