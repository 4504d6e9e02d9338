"""The typer application, shared consoles and the error handling every command uses."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from clinreason import __version__
from clinreason.errors import ClinreasonError

app = typer.Typer(
    name="clinreason",
    help="Reasoning-aware clinical AI: teacher rationales distilled into small, explainable models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="List, inspect and split cohorts.", no_args_is_help=True)
teacher_app = typer.Typer(help="Teacher models and prompt templates.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(teacher_app, name="teacher")

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

CohortArg = Annotated[
    str,
    typer.Argument(help="A bundled cohort (see `datasets list`), a YAML column spec, or an ADNIMERGE.csv."),
]


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a user's mistake as one red line and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ClinreasonError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"clinreason {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )
    for noisy in (
        "openai",
        "httpx",
        "httpx2",
        "httpcore",
    ):  # their per-request INFO lines drown progress bars
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
