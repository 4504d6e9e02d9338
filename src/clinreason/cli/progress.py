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
from rich.text import Text

from clinreason.cli.app import console
from clinreason.progress import Observer


class RichObserver(Observer):
    """One progress bar per phase of the run."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, name: str, total: int | None = None) -> None:
        if self.task is not None:
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(name, total=total, info="")

    def advance(self, done: int, total: int | None = None, info: str = "") -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=done, total=total, info=info)

    def note(self, message: str) -> None:
        self.progress.console.print(message, highlight=False)


class RateColumn(ProgressColumn):
    """Items per hour, the unit teacher throughput is planned in."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- /h" if not speed else f"{speed * 3600:,.0f}/h", style="progress.data.speed")


def progress_columns(eta: bool = True, rate: bool = False) -> tuple[ProgressColumn, ...]:
    """The columns of every long command's progress bars (the ETA where steps are even enough)."""
    columns: tuple[ProgressColumn, ...] = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *((RateColumn(),) if rate else ()),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    return (*columns, TextColumn("ETA"), TimeRemainingColumn()) if eta else columns


def progress() -> Progress:
    """A progress display on the shared console; use as a context manager."""
    return Progress(*progress_columns(), console=console)
