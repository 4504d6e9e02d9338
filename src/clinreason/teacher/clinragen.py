"""ClinRaGen's multimodal rationalization (the `clinragen-rationalize` prompt).

The teacher reads an ICU stay's brief hospital course, the description of its vital signs and lab
tests (each variable marked against its reference range, as ClinRaGen's anomaly text), the diagnosed
diseases and what the knowledge base says about them, and writes a note rationale and a lab rationale.
The knowledge is retrieved per stay (the diseases' entries and the entries of the variables that were
out of range) so the prompt stays short for a small teacher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clinreason.errors import ConfigError
from clinreason.knowledge.base import by_name, entry
from clinreason.records.schema import PatientRecord
from clinreason.records.timeseries import load_points, summarise, timeseries_text
from clinreason.teacher.backend import Message
from clinreason.teacher.prompts import PromptTemplate

NO_DISEASE = "No disease is diagnosed"
NOTE = re.compile(r"\**note\s+rationale\**\s*:\**", re.IGNORECASE)
LAB = re.compile(r"\**lab(?:oratory)?\s+rationale\**\s*:\**", re.IGNORECASE)
MIN_WORDS = 4


@dataclass(frozen=True)
class ClinragenAnswer:
    note: str
    lab: str
    problem: str | None = None

    def text(self) -> str:
        """The canonical form kept in results and used as the student's target."""
        return f"Note rationale: {self.note}\nLab rationale: {self.lab}"


def knowledge_sheet(record: PatientRecord) -> str:
    """Knowledge-base sentences about the stay's diseases and its out-of-range variables, with sources."""
    lines: list[str] = []
    for label in record.labels:
        found = by_name(label)
        if found is not None:
            lines.append(f"- {found.sentence()} ({found.source})")
    for key, summary in summarise(load_points(record)).items():
        if summary.high or summary.low:
            try:
                found = entry(key)
            except KeyError:
                continue
            lines.append(f"- {found.sentence()} ({found.source})")
    return "\n".join(lines) or "(none)"


def build_clinragen_messages(template: PromptTemplate, record: PatientRecord) -> list[Message]:
    if template.task != "clinragen":
        raise ConfigError(f"prompt {template.id} is for task '{template.task}', not 'clinragen'")
    note = " ".join(n.text.strip() for n in record.notes) or "(no note)"
    points = load_points(record)
    values = {
        "note": note,
        "lab_description": timeseries_text(points) if points else "(no vital signs or lab tests recorded)",
        "diseases": ", ".join(record.labels) if record.labels else NO_DISEASE,
    }
    return [
        {"role": "system", "content": template.fill("system", fact_sheet=knowledge_sheet(record))},
        {"role": "user", "content": template.fill("user", **values)},
    ]


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*_`#]+", "", text)).strip()


def parse_clinragen_answer(text: str) -> ClinragenAnswer:
    """Split 'Note rationale: ... Lab rationale: ...' (either order); both parts must say something."""
    note, lab = NOTE.search(text), LAB.search(text)
    if note is None or lab is None:
        missing = " and ".join(name for name, m in (("'Note rationale:'", note), ("'Lab rationale:'", lab)) if not m)
        return ClinragenAnswer("", "", f"no {missing} section")
    if note.start() < lab.start():
        note_text, lab_text = text[note.end() : lab.start()], text[lab.end() :]
    else:
        lab_text, note_text = text[lab.end() : note.start()], text[note.end() :]
    answer = ClinragenAnswer(_clean(note_text), _clean(lab_text))
    short = [name for name, part in (("note", answer.note), ("lab", answer.lab)) if len(part.split()) < MIN_WORDS]
    if short:
        return ClinragenAnswer(answer.note, answer.lab, f"the {' and '.join(short)} rationale is empty or too short")
    return answer


def split_rationale(text: str) -> tuple[str, str]:
    """(note rationale, lab rationale) of a kept result's canonical text."""
    answer = parse_clinragen_answer(text)
    return answer.note, answer.lab
