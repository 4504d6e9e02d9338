"""`clinreason export`: a trained student as a self-contained folder that `serve` and `predict` load
without its run folder, and refuse when any file changed.

    <out>/model/           the checkpoint (weights, or a LoRA adapter naming its base model), tokenizer
    <out>/spec.json        what a request is read against: labels, prompt wording, finding templates
                           (names, units, normal ranges), categorical values, the fact sheet
    <out>/card.json, MODEL_CARD.md, decision_rule.json
    <out>/student.gguf     with `gguf=`: the same student for llama.cpp / Ollama (f32, f16 or q8_0), and
    <out>/Modelfile        an Ollama Modelfile for it (`ollama create NAME -f Modelfile`)
    <out>/export.json      model id, clinreason version, and the sha256 of every file above

A LoRA checkpoint needs its base model where it is loaded (a packaged name, a folder or a hub id).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from clinreason import __version__
from clinreason.checksums import file_sha256
from clinreason.errors import CheckpointError, ConfigError
from clinreason.evaluate.decision import DecisionRule
from clinreason.pipeline.card import StudentCard
from clinreason.records.schema import Cohort, Finding
from clinreason.serve.gguf import GGUF_TYPES, GgufType, ollama_modelfile, write_gguf
from clinreason.serve.model import Engine, ModelCard, ServedModel, load_run_student
from clinreason.teacher.speculation import Speculation

__all__ = ["ExportManifest", "ServingSpec", "export_student", "load_exported", "verify_export"]

MANIFEST = "export.json"
GGUF_FILE = "student.gguf"


class ServingSpec(BaseModel):
    """The cohort spec as a served student needs it, without any patient."""

    cohort: Cohort = Field(description="Name, labels, descriptions, text style and task; no records.")
    templates: list[Finding]
    categories: dict[str, list[str]]
    sheet: str


class ExportManifest(BaseModel):
    model_id: str
    variant: str
    objective: str
    clinreason_version: str
    created: str
    files: dict[str, str] = Field(description="Path inside the export -> sha256.")


def export_student(run: str | Path, out: str | Path, variant: str | None = None, gguf: GgufType | None = None) -> Path:
    """Write the export of one student of a finished run; returns `out`. `gguf`: also write it as a GGUF
    file of that type (and an Ollama Modelfile)."""
    model = load_run_student(run, variant)
    if gguf is not None and gguf not in GGUF_TYPES:
        raise ConfigError(f"GGUF type must be one of {list(GGUF_TYPES)}, got {gguf!r}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; give an empty or new folder")
    folder = Path(run)
    if not (folder / "config.yaml").is_file():  # a checkpoint path inside the run
        folder = folder.parents[2]
    checkpoint = folder / "students" / model.variant / "best"
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    shutil.copytree(checkpoint, out / "model")
    spec = ServingSpec(
        cohort=model.cohort.model_copy(update={"records": [], "skipped": []}),
        templates=list(model.templates.values()),
        categories={k: sorted(v) for k, v in model.categories.items()},
        sheet=model.sheet,
    )
    (out / "spec.json").write_text(spec.model_dump_json(indent=2) + "\n")
    (out / "card.json").write_text(model.card.model_dump_json(indent=2) + "\n")
    card_md = checkpoint.parent / "MODEL_CARD.md"
    if card_md.is_file():
        shutil.copy2(card_md, out / "MODEL_CARD.md")
    (out / "decision_rule.json").write_text(json.dumps(model.rule.model_dump() if model.rule else None) + "\n")
    if gguf is not None:
        from clinreason.student.data import STUDENT_SYSTEM

        write_gguf(model.student, out / GGUF_FILE, gguf, name=model.card.model_id)
        chatml = "<|im_start|>" in str(getattr(model.student.tokenizer, "chat_template", "") or "")
        (out / "Modelfile").write_text(ollama_modelfile(GGUF_FILE, STUDENT_SYSTEM, chatml=chatml))
    files = {str(path.relative_to(out)): file_sha256(path) for path in sorted(out.rglob("*")) if path.is_file()}
    manifest = ExportManifest(
        model_id=model.card.model_id,
        variant=model.variant,
        objective=model.objective,
        clinreason_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
    )
    (out / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    return out


def verify_export(folder: str | Path) -> ExportManifest:
    """The manifest, after checking every file's sha256 (a changed, missing or added file is refused)."""
    folder = Path(folder)
    try:
        manifest = ExportManifest.model_validate_json((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / MANIFEST}: not a readable clinreason export ({exc})") from exc
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing from the export; export the run again")
        if file_sha256(path) != expected:
            raise CheckpointError(f"{path}: its sha256 does not match the export's manifest; export the run again")
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    extra = sorted(present - set(manifest.files))
    if extra:
        raise CheckpointError(f"{folder / extra[0]}: not part of the export (the manifest does not list it)")
    return manifest


def load_exported(
    folder: str | Path, engine: Engine = "torch", slots: int = 4, speculation: Speculation | None = None
) -> ServedModel:
    """An export, checked against its manifest; `engine="llamacpp"` runs its GGUF file on llama.cpp with
    `slots` parallel sequences and `speculation` (default: none)."""
    from clinreason.student.checkpoint import load_checkpoint, read_meta

    folder = Path(folder)
    manifest = verify_export(folder)
    spec = ServingSpec.model_validate_json((folder / "spec.json").read_text())
    student: Any
    if engine == "llamacpp":
        from transformers import AutoTokenizer

        from clinreason.serve.llamacpp import LlamaCppStudent

        if not (folder / GGUF_FILE).is_file():
            raise CheckpointError(
                f"{folder}: this export has no {GGUF_FILE}; export again with --format gguf to serve it on llama.cpp"
            )
        meta = read_meta(folder / "model")
        tokenizer = AutoTokenizer.from_pretrained(str(folder / "model"))
        student = LlamaCppStudent(
            folder / GGUF_FILE, tokenizer, name=manifest.model_id, slots=slots, speculation=speculation
        )
    else:
        student, meta = load_checkpoint(folder / "model")
    raw_rule = json.loads((folder / "decision_rule.json").read_text())
    raw_card = json.loads((folder / "card.json").read_text())
    card: StudentCard | ModelCard = (
        StudentCard.model_validate(raw_card) if "evaluated_on" in raw_card else ModelCard.model_validate(raw_card)
    )
    return ServedModel(
        student=student,
        objective=meta.objective,
        variant=manifest.variant,
        cohort=spec.cohort,
        rule=DecisionRule.model_validate(raw_rule) if raw_rule else None,
        card=card,
        templates={f.name: f for f in spec.templates},
        categories={k: set(v) for k, v in spec.categories.items()},
        sheet=spec.sheet,
    )
