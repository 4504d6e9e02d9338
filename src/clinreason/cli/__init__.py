"""The `clinreason` command line: a thin layer over the library's functions."""

from clinreason.cli import benchmark, datasets, judge, run, segment, serve, teacher  # noqa: F401  (register the commands)
from clinreason.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
