"""Versioned prompt templates shipped with the package, and the chat messages built from them.

A template is a YAML file (system, user and answer parts with `{field}` slots). Its name and version
are part of every cache key, and the rendered messages are too, so an edited template never reuses
stale generations.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from clinreason.errors import ConfigError
from clinreason.knowledge import fact_sheet
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.records.text import record_to_text
from clinreason.teacher.backend import Message
from clinreason.teacher.exemplars import Exemplar
from clinreason.yaml_models import load_named_model

Task = Literal["rationalize", "diagnose", "clinragen", "cers"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int
    task: Task
    status: Literal["ready", "slot"] = "ready"
    description: str = ""
    system: str
    user: str
    answer: str

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def fields(self, part: Literal["system", "user", "answer"]) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(getattr(self, part)) if name}

    def fill(self, part: Literal["system", "user", "answer"], **values: str) -> str:
        missing = self.fields(part) - set(values)
        if missing:
            raise ConfigError(f"prompt {self.id}: no value for {sorted(missing)} in its {part} part")
        return getattr(self, part).format(**values)


def _bundled() -> dict[str, str]:
    folder = resources.files("clinreason.teacher").joinpath("prompts")
    return {
        item.name.removesuffix(".yaml"): item.read_text() for item in folder.iterdir() if item.name.endswith(".yaml")
    }


def list_prompts() -> list[PromptTemplate]:
    return [load_prompt(name) for name in sorted(_bundled())]


@lru_cache(maxsize=32)
def load_prompt(name_or_path: str) -> PromptTemplate:
    """A bundled template by name (e.g. 'kwon-rationalize') or a YAML file of the same shape."""
    return load_named_model(name_or_path, _bundled(), PromptTemplate, "prompt", "prompt template")


def options(cohort: Cohort) -> list[tuple[str, str, str]]:
    """(letter, label, text shown) for each label, in the cohort's label order."""
    if len(cohort.labels) > len(LETTERS):
        raise ConfigError(f"cohort {cohort.name} has {len(cohort.labels)} labels; options go up to {len(LETTERS)}")
    return [(LETTERS[i], label, cohort.describe_label(label)) for i, label in enumerate(cohort.labels)]


def _options_text(cohort: Cohort) -> str:
    return "\n".join(f"({letter}) {shown}" for letter, _, shown in options(cohort))


def _letter(cohort: Cohort, label: str) -> tuple[str, str]:
    for letter, known, shown in options(cohort):
        if known == label:
            return letter, shown
    raise ConfigError(f"label '{label}' is not in cohort {cohort.name}'s label set {cohort.labels}")


def _user(template: PromptTemplate, cohort: Cohort, record: PatientRecord, label: str | None) -> str:
    values = {
        "patient": record_to_text(record, cohort.text_style),
        "options": _options_text(cohort),
        "question": cohort.task.prompt_question,
        "answer_kind": cohort.task.noun,
    }
    if label is not None:
        values["letter"], values["diagnosis"] = _letter(cohort, label)
    return template.fill("user", **values)


def build_messages(
    template: PromptTemplate,
    cohort: Cohort,
    record: PatientRecord,
    exemplars: Sequence[Exemplar] = (),
    sheet: str | None = None,
) -> list[Message]:
    """System prompt with the fact sheet, the exemplars as earlier turns, then this patient."""
    if template.status == "slot" or template.task not in ("rationalize", "diagnose"):
        raise ConfigError(
            f"prompt {template.id} is a slot for a later task ({template.task}); it cannot render records"
            if template.status == "slot"
            else f"prompt {template.id} is for another task ({template.task}); "
            "its messages come from clinreason.teacher.clinragen"
        )
    if template.task == "rationalize" and len(record.labels) != 1:
        raise ConfigError(f"rationalization needs one gold label; patient {record.id} has {record.labels}")
    sheet = fact_sheet(cohort) if sheet is None else sheet
    system = template.fill("system", fact_sheet=sheet or "(none)", answer_kind=cohort.task.noun)
    messages: list[Message] = [{"role": "system", "content": system}]
    for exemplar in exemplars:
        letter, shown = _letter(cohort, exemplar.label)
        messages.append({"role": "user", "content": _user(template, cohort, exemplar.record, exemplar.label)})
        answer = template.fill("answer", rationale=exemplar.rationale.strip(), letter=letter, diagnosis=shown)
        messages.append({"role": "assistant", "content": answer})
    gold = record.labels[0] if template.task == "rationalize" else None
    messages.append({"role": "user", "content": _user(template, cohort, record, gold)})
    return messages
