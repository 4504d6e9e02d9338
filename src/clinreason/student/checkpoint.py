"""A student checkpoint folder (`best/`): the model's own files and `student.json`, which says how to
load and use it (objective, base model, full weights or a LoRA adapter) and where it came from (the
step and validation loss it was chosen at, the training config)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clinreason.errors import CheckpointError
from clinreason.student.config import TrainConfig
from clinreason.student.data import Objective
from clinreason.student.model import Kind, Student, load_student, prepare

__all__ = ["META_FILE", "CheckpointMeta", "load_checkpoint", "read_meta", "write_meta"]

META_FILE = "student.json"


class CheckpointMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    objective: Objective
    base: str = Field(description="The model the student was trained from; a LoRA adapter is loaded onto it.")
    kind: Kind = "causal"
    lora: bool = False
    step: int | None = Field(default=None, description="Optimizer step at which this checkpoint was chosen.")
    val_loss: float | None = Field(default=None, description="Its validation loss (the selection criterion).")
    config: TrainConfig | None = None


def write_meta(folder: str | Path, meta: CheckpointMeta) -> Path:
    path = Path(folder) / META_FILE
    tmp = path.with_name(META_FILE + ".tmp")  # whole or absent: its presence marks a complete checkpoint
    tmp.write_text(meta.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
    return path


def read_meta(folder: str | Path) -> CheckpointMeta:
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    path = folder / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a clinreason student checkpoint (no {META_FILE})")
    try:
        return CheckpointMeta.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata: {exc.errors()[0]['msg']}") from exc


def load_checkpoint(folder: str | Path, *, device: str | None = None) -> tuple[Student, CheckpointMeta]:
    """A checkpoint written by training (`best/`): full weights or a LoRA adapter on its base model."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.lora:
        from peft import PeftModel
        from transformers import AutoTokenizer

        base = load_student(meta.base, device=device)
        try:
            model = PeftModel.from_pretrained(base.model, str(folder))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{folder}: corrupt LoRA checkpoint: {exc}") from exc
        student = prepare(model, AutoTokenizer.from_pretrained(str(folder)), name=meta.base, device=device)
    elif (folder / "numeric.json").is_file():
        from transformers import AutoTokenizer

        from clinreason.student.numeric_model import NumericStudent

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        student = prepare(NumericStudent.from_pretrained(folder, tokenizer), tokenizer, name=meta.base, device=device)
    else:
        try:
            student = load_student(folder, device=device)
        except Exception as exc:  # a missing or truncated weight file: whatever transformers raises for it
            raise CheckpointError(
                f"{folder}: corrupt checkpoint ({exc}); train again or use another checkpoint"
            ) from exc
        student.name = meta.base
    student.model.eval()
    return student, meta
