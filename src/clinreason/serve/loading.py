"""What `clinreason serve PATH` loads: an export (checked against its manifest), or a run folder's student."""

from __future__ import annotations

from pathlib import Path

from clinreason.errors import ConfigError
from clinreason.serve.export import MANIFEST, load_exported
from clinreason.serve.model import Engine, ServedModel, load_run_student
from clinreason.teacher.speculation import Speculation

__all__ = ["load_served"]


def load_served(
    path: str | Path,
    variant: str | None = None,
    precision: str = "fp32",
    engine: Engine = "torch",
    speculation: Speculation | None = None,
) -> ServedModel:
    """An export folder, a run folder (its first student, or `variant`), or a checkpoint inside a run.
    `engine="llamacpp"` needs an export made with a GGUF file (`clinreason export --format gguf`)."""
    if (Path(path) / MANIFEST).is_file():
        return load_exported(path, engine=engine, speculation=speculation)
    if engine != "torch":
        raise ConfigError(
            f"the {engine} engine serves an export with a GGUF file: clinreason export {path} --out DIR "
            "--format gguf, then clinreason serve DIR --engine llamacpp"
        )
    return load_run_student(path, variant, precision)
