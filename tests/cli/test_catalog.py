"""The catalogue commands' progress bar: full once a job ends well, though rows it skipped never advanced it."""

from __future__ import annotations

import pytest

from shoplens.cli.catalog import bar


def test_the_bar_is_full_once_the_job_ends_though_skipped_rows_never_advanced_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bar(10, "embed") as advance:
        advance(7)  # 3 images were embedded already: `reindex` skips them
    assert "10/10" in capsys.readouterr().err


def test_a_job_that_fails_leaves_the_bar_where_it_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(OSError), bar(10, "ingest") as advance:
        advance(4)
        raise OSError("disk full")
    err = capsys.readouterr().err
    assert "4/10" in err and "10/10" not in err
