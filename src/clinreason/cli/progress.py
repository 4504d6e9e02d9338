"""The progress bars every long command draws: one rich bar per phase of a library `Observer`."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from clinreason.cli.app import err_console
from clinreason.progress import Observer


class RichObserver(Observer):
    """One progress bar per phase of the run."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, name: str, total: int | None = None) -> None:
        self.finish()
        self.task = self.progress.add_task(name, total=total, info="")

    def advance(self, done: int, total: int | None = None, info: str = "") -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=done, total=total, info=info)

    def note(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False, emoji=False)

    def finish(self) -> None:
        """Mark the current phase done (its spinner stops; a bar without a total is shown full)."""
        if self.task is None:
            return
        task = next(t for t in self.progress.tasks if t.id == self.task)
        done = task.total if task.total is not None else max(task.completed, 1)
        self.progress.update(self.task, total=done, completed=done)
        self.progress.stop_task(self.task)
        self.task = None


class RateColumn(ProgressColumn):
    """Items per hour, the unit teacher throughput is planned in."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- /h" if not speed else f"{speed * 3600:,.0f}/h", style="progress.data.speed")


def progress_columns(eta: bool = True, rate: bool = False) -> tuple[ProgressColumn, ...]:
    """The columns of every long command's progress bars (the time remaining where steps are even
    enough). Long descriptions and statuses wrap instead of pushing the bar and the counts off an
    80-column terminal."""
    columns: tuple[ProgressColumn, ...] = (
        SpinnerColumn(),
        TextColumn(
            "{task.description}",
            style="progress.description",
            markup=False,
            table_column=Column(ratio=2, overflow="fold"),
        ),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=8)),
        MofNCompleteColumn(),
        *((RateColumn(),) if rate else ()),
        TextColumn("{task.fields[info]}", markup=False, table_column=Column(max_width=22, overflow="fold")),
        TimeElapsedColumn(),
    )
    return (*columns, TimeRemainingColumn()) if eta else columns


def progress_bars(eta: bool = True, rate: bool = False) -> Progress:
    """Progress bars on stderr (with the log lines; results go to stdout); use as a context manager."""
    return Progress(*progress_columns(eta=eta, rate=rate), console=err_console, expand=True)
