"""Split a teacher's answer into its rationale and the diagnosis it states.

Answers end with "Final Diagnosis: (B) Mild Cognitive Impairment". Small models drift (bold
markers, the letter after the name, a missing letter), so both the letter and the option text are
read; when they disagree the answer counts as unparseable rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FINAL = re.compile(r"final\s+diagnosis\s*(?:is)?\s*[:\-]?", re.IGNORECASE)
LETTER = re.compile(r"\(\s*([A-Za-z])\s*\)|^\s*([A-Z])\s*[).:]|^\s*([A-Z])\s*$")
MIN_RATIONALE_WORDS = 5

Option = tuple[str, str, str]  # letter, label, text shown


@dataclass(frozen=True)
class ParsedAnswer:
    rationale: str
    label: str | None
    problem: str | None = None


def _clean(text: str) -> str:
    return re.sub(r"[*_`#]+", "", text).strip()


def _statement(text: str, end: int) -> str:
    for line in text[end:].splitlines():
        if _clean(line):
            return _clean(line)
    return ""


def _by_name(statement: str, options: list[Option]) -> str | None:
    """The option whose name (or label) occurs in the statement; the longest match wins."""
    lowered = statement.lower()
    best: tuple[int, str] | None = None
    for _, label, shown in options:
        for name in {label, shown}:
            found = re.search(rf"(?<![a-z]){re.escape(name.lower())}(?![a-z])", lowered)
            if found and (best is None or len(name) > best[0]):
                best = (len(name), label)
    return best[1] if best else None


def parse_answer(text: str, options: list[Option]) -> ParsedAnswer:
    matches = list(FINAL.finditer(text))
    if not matches:
        return ParsedAnswer(rationale=text.strip(), label=None, problem="no 'Final Diagnosis' line")
    last = matches[-1]
    rationale = _clean_rationale(text[: last.start()])
    statement = _statement(text, last.end())
    if len(rationale.split()) < MIN_RATIONALE_WORDS:  # diagnosis first, reasoning after it
        after = text[last.end() :].lstrip()
        after = after[after.find(statement) + len(statement) :] if statement in after else after
        rationale = _clean_rationale(after)
    letters = {letter: label for letter, label, _ in options}
    found = LETTER.search(statement)
    letter = next((group.upper() for group in found.groups() if group), None) if found else None
    by_letter = letters.get(letter) if letter else None
    by_name = _by_name(statement, options)
    if letter and by_letter is None:
        return ParsedAnswer(rationale, None, f"option ({letter}) does not exist")
    if by_letter and by_name and by_letter != by_name:
        return ParsedAnswer(rationale, None, f"letter ({letter}) and name in '{statement}' disagree")
    label = by_letter or by_name
    if label is None:
        return ParsedAnswer(rationale, None, f"'{statement[:80]}' matches no option")
    if len(rationale.split()) < MIN_RATIONALE_WORDS:
        return ParsedAnswer(rationale, label, "the rationale is empty or too short")
    return ParsedAnswer(rationale, label)


def _clean_rationale(text: str) -> str:
    lines = text.rstrip().splitlines()
    while lines and not _clean(lines[-1]):  # drop trailing blank or markdown-only lines
        lines.pop()
    return "\n".join(lines).strip()
