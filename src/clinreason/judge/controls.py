"""Control rationales for an LLM judge: a copy of a good rationale with every stated value made wrong.

A judge that scores these as high as the originals cannot see whether a rationale is true to the
record, whatever it says about the others (the perturbation check of judge-reliability studies). The
values a rationale states are the numbers right after a finding's name ("Body mass index: 25.4");
each is scaled far from the record's value (x2.5, or x0.4 when that would exceed 1000), keeping its
decimals, so the sentence around it is unchanged and now contradicts the record.
"""

from __future__ import annotations

import re

from clinreason.judge.llm import JudgeItem

__all__ = ["CONTROL", "altered_values"]

CONTROL = "control:values altered (from the teacher's reference)"
STATED = re.compile(r"(?<=: )(\d+(?:\.\d+)?)")


def _wrong(number: str) -> str:
    value = float(number)
    changed = value * 2.5 if value * 2.5 <= 1000 else value * 0.4
    if changed == value:  # a stated 0
        changed = 3.0
    decimals = len(number.partition(".")[2])
    return f"{changed:.{decimals}f}"


def altered_values(item: JudgeItem) -> JudgeItem | None:
    """The control copy of `item` (model `CONTROL`), or None when it states no value to alter."""
    text, count = STATED.subn(lambda m: _wrong(m.group(1)), item.rationale)
    if not count:
        return None
    return item.model_copy(update={"model": CONTROL, "rationale": text})
