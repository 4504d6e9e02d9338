"""Split a teacher's answer into its rationale and the diagnosis it states.

Answers end with "Final Diagnosis: (B) Mild Cognitive Impairment". Small models drift (bold
markers, the letter after the name, a missing letter), so both the letter and the option text are
read; when they disagree the answer counts as unparseable rather than guessing. Without a "Final
Diagnosis" line, a last line that states an option by letter and name ("(B) survived.", "Answer: B
survived") is accepted when both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FINAL = re.compile(r"final\s+diagnosis\s*(?:is)?\s*[:\-]?", re.IGNORECASE)
LETTER = re.compile(r"\(\s*([A-Za-z])\s*\)|^\s*([A-Z])\s*[).:]|^\s*([A-Z])\s*$")
LEADING_LETTER = re.compile(r"^\s*([A-Z])\s+(?=\w)")  # "B survived": only where the name must agree
LAST_LINE = re.compile(r"^\W*(?:(?:the\s+)?(?:answer|diagnosis|outcome|prediction)\s*(?:is)?\s*[:\-]?\s*)?", re.I)
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
        return _from_last_line(text, options)
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


def _from_last_line(text: str, options: list[Option]) -> ParsedAnswer:
    """An answer without a "Final Diagnosis" line whose last line names an option by letter and name."""
    lines = [line for line in text.rstrip().splitlines() if _clean(line)]
    missing = ParsedAnswer(rationale=text.strip(), label=None, problem="no 'Final Diagnosis' line")
    if not lines:
        return missing
    statement = _clean(LAST_LINE.sub("", _clean(lines[-1]), count=1))
    found = LETTER.search(statement) or LEADING_LETTER.search(statement)
    letter = next((group.upper() for group in found.groups() if group), None) if found else None
    by_letter = {o[0]: o[1] for o in options}.get(letter) if letter else None
    if by_letter is None or _by_name(statement, options) != by_letter:
        return missing
    rationale = _clean_rationale("\n".join(lines[:-1]))
    if len(rationale.split()) < MIN_RATIONALE_WORDS:
        return ParsedAnswer(rationale, by_letter, "the rationale is empty or too short")
    return ParsedAnswer(rationale, by_letter)


def _clean_rationale(text: str) -> str:
    lines = text.rstrip().splitlines()
    while lines and not _clean(lines[-1]):  # drop trailing blank or markdown-only lines
        lines.pop()
    return "\n".join(lines).strip()


def repeated_line(text: str, times: int = 3, min_words: int = 4) -> tuple[str, int] | None:
    """The most repeated line of at least `min_words` words when it occurs `times` or more: the sign of a
    small model caught in a loop (e.g. "... are not relevant to the diagnosis" over and over)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        cleaned = re.sub(r"^\W*\d*[.)]?\s*", "", _clean(line)).lower()  # without its numbering
        if len(cleaned.split()) >= min_words:
            counts[cleaned] = counts.get(cleaned, 0) + 1
    if not counts:
        return None
    line, count = max(counts.items(), key=lambda item: item[1])
    return (line, count) if count >= times else None
