"""The typer application, shared consoles and the error handling every command uses.

Every user mistake ends in one line on stderr and exit code 2: our own errors (`ClinreasonError`, caught
by `user_errors`) and click's usage errors (a wrong option value, a missing argument) alike. Progress
bars and log lines share the stderr console, so they do not tear each other; results go to stdout.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from typer.core import TyperGroup

from clinreason import __version__
from clinreason.errors import ClinreasonError

try:  # typer 0.2x carries its own copy of click, whose exceptions are the ones raised
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]  # the same names either way

console = Console()
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """One red 'error:' line; the message is printed as is (user text is never read as rich markup)."""
    err_console.print("[bold red]error:[/] ", end="", highlight=False)
    err_console.print(message, markup=False, highlight=False, soft_wrap=True, emoji=False)


class OneLineErrors(TyperGroup):
    """Click's usage errors as one line instead of a usage block and a boxed panel."""

    def main(  # type: ignore[override]  # click's overloads; this keeps its parameters and passes them on
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:  # `clinreason` alone: the help, as typer draws it
            from typer import rich_utils

            rich_utils.rich_format_error(exc)
            sys.exit(exc.exit_code)
        except click_errors.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            print_error(exc.format_message() + hint)
            sys.exit(2)
        except click_errors.ClickException as exc:
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            err_console.print("Aborted.")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


def _flag_types(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """A flag takes no value, so its help shows no type (typer would show `<bool>`)."""
    if self.is_flag:
        return None
    return _typer_display_type(self, ctx)


_typer_display_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_types  # type: ignore[method-assign]  # a fix, see _flag_types

app = typer.Typer(
    name="clinreason",
    cls=OneLineErrors,
    help="Reasoning-aware clinical AI: teacher rationales distilled into small, explainable models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="List, inspect and split cohorts.", no_args_is_help=True)
teacher_app = typer.Typer(help="Teacher models and prompt templates.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(teacher_app, name="teacher")

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
            print_error(str(exc))
            raise typer.Exit(code=2) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        console.print(f"clinreason {__version__}")
        raise typer.Exit()


# Libraries whose INFO lines and progress bars would drown ours ("Loading weights", accelerate's
# "Saving current state", per-request HTTP lines); shown with --verbose.
# Warnings too for the first three: accelerate's "Removed shared tensor ... while saving" is expected.
NOISY = {"accelerate": logging.ERROR, "transformers": logging.ERROR, "sentence_transformers": logging.ERROR}
# absl: rouge-score's "Using default tokenizer."
NOISY.update(dict.fromkeys(("huggingface_hub", "openai", "httpx", "httpcore", "urllib3", "absl"), logging.WARNING))


def quiet_libraries(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name, level in NOISY.items():
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else level)
    if "transformers" in sys.modules and not verbose:  # already imported: set what the variables would have
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages (libraries' too).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, markup=False)],
        force=True,
    )
    quiet_libraries(verbose)
