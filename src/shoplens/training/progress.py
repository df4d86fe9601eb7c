"""A Rich progress bar for training: live loss and accuracy, ETA, one line per finished epoch."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    """Context manager around rich.progress; does nothing when disabled."""

    def __init__(self, enabled: bool, total: float, description: str, console: Console | None = None) -> None:
        self.enabled = enabled
        self.total = total
        self.description = description
        self._progress: Progress | None = None
        self._task = None
        self.console = console or Console(stderr=True)

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn(
                    "epoch {task.fields[epoch]}  loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.4f}"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.description, total=self.total, epoch=0, loss=0.0, acc=0.0
            )
        return self

    def update(self, completed: float, **fields: float) -> None:
        """Move the bar to `completed` and refresh the live numbers."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, **fields)

    def log_epoch(self, row: dict) -> None:
        """Print one summary line for a finished epoch above the bar."""
        if self._progress is not None:
            val = (
                f"  val_loss {row['val_loss']:.4f}  val_acc {row['val_acc']:.4f}" if "val_acc" in row else ""
            )
            self._progress.console.print(
                f"epoch {row['epoch']}: loss {row['train_loss']:.4f}  acc {row['train_acc']:.4f}{val}  "
                f"lr {row['lr']:.4g}  {row['seconds']:.0f}s"
            )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            if exc_type is None:  # a run that stopped early (an error, Ctrl-C) shows where it stopped
                self._progress.update(self._task, completed=self.total)
            self._progress.stop()
