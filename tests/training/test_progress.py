"""The training bar: full when a run ends well, left where it stopped when it fails."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from shoplens.training.progress import TrainProgress


def _bar() -> TrainProgress:
    return TrainProgress(
        True, total=1.0, description="fast:shopnet", console=Console(file=io.StringIO(), width=120)
    )


def test_a_run_that_ends_well_leaves_a_full_bar() -> None:
    with _bar() as bar:
        bar.update(0.97, epoch=8, loss=0.3, acc=0.9)  # the last step's update lands short of 1 (rounding)
    assert bar._progress is not None and bar._progress.tasks[0].completed == 1.0


def test_a_run_that_fails_shows_where_it_stopped() -> None:
    with pytest.raises(KeyboardInterrupt), _bar() as bar:
        bar.update(0.4, epoch=3, loss=0.5, acc=0.8)
        raise KeyboardInterrupt
    assert bar._progress is not None and bar._progress.tasks[0].completed == 0.4
