from __future__ import annotations

import pytest

from clinreason.teacher.parsing import parse_answer

OPTIONS = [
    ("A", "AD", "Alzheimer's Disease"),
    ("B", "MCI", "Mild Cognitive Impairment"),
    ("C", "CN", "Normal Cognition"),
]
BINARY = [
    ("A", "heart disease", "Coronary artery disease"),
    ("B", "no heart disease", "No coronary artery disease"),
]
REASONING = "The MMSE of 22/30 is low and the hippocampus shows Severe atrophy."


@pytest.mark.parametrize(
    ("ending", "label"),
    [
        ("Final Diagnosis: (A) Alzheimer's Disease", "AD"),
        ("**Final Diagnosis:** (B) Mild Cognitive Impairment", "MCI"),
        ("FINAL DIAGNOSIS: (c) normal cognition", "CN"),
        ("Final Diagnosis: Mild Cognitive Impairment (B)", "MCI"),
        ("Final Diagnosis: Normal Cognition", "CN"),
        ("Final Diagnosis: B) Mild Cognitive Impairment", "MCI"),
        ("Final diagnosis is (A).", "AD"),
        ("Final Diagnosis:\n(B) Mild Cognitive Impairment", "MCI"),
        ("Final Diagnosis: (B) MCI", "MCI"),
        ("Final Diagnosis: B Mild Cognitive Impairment", "MCI"),
        ("(B) Mild Cognitive Impairment.", "MCI"),  # no "Final Diagnosis" line: letter and name agree
        ("Answer: B Mild Cognitive Impairment", "MCI"),
        ("The diagnosis is (C) Normal Cognition.", "CN"),
    ],
)
def test_stated_diagnosis_is_found(ending: str, label: str) -> None:
    parsed = parse_answer(f"{REASONING}\n\n{ending}", OPTIONS)
    assert parsed.label == label
    assert parsed.problem is None
    assert parsed.rationale == REASONING


def test_diagnosis_stated_before_the_reasoning() -> None:
    parsed = parse_answer(f"Final Diagnosis: (B) Mild Cognitive Impairment\n\n{REASONING}", OPTIONS)
    assert (parsed.label, parsed.rationale, parsed.problem) == ("MCI", REASONING, None)


def test_longest_option_name_wins() -> None:
    assert parse_answer(f"{REASONING}\nFinal Diagnosis: No coronary artery disease", BINARY).label == (
        "no heart disease"
    )
    assert parse_answer(f"{REASONING}\nFinal Diagnosis: Coronary artery disease", BINARY).label == "heart disease"


def test_last_final_diagnosis_line_counts() -> None:
    first = "Final Diagnosis: (A) Alzheimer's Disease was considered."
    text = f"{first}\n{REASONING}\nFinal Diagnosis: (C) Normal Cognition"
    assert parse_answer(text, OPTIONS).label == "CN"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (REASONING, "no 'Final Diagnosis' line"),
        (f"{REASONING}\n(A) Normal Cognition.", "no 'Final Diagnosis' line"),  # letter and name disagree
        (f"{REASONING}\nB is not likely here.", "no 'Final Diagnosis' line"),
        (f"{REASONING}\nFinal Diagnosis: (A) Normal Cognition", "disagree"),
        (f"{REASONING}\nFinal Diagnosis: (E) Something", "option (E) does not exist"),
        (f"{REASONING}\nFinal Diagnosis: vascular dementia", "matches no option"),
        ("Final Diagnosis: (A) Alzheimer's Disease", "too short"),
    ],
)
def test_unusable_answers_say_why(text: str, problem: str) -> None:
    parsed = parse_answer(text, OPTIONS)
    assert parsed.problem is not None and problem in parsed.problem


def test_a_looping_answer_is_recognised() -> None:
    from clinreason.teacher.parsing import repeated_line

    loop = "1. Age: 70.\n" + "".join(
        f"{i}. The other findings are not relevant to the diagnosis.\n" for i in range(2, 7)
    )
    assert repeated_line(loop) == ("the other findings are not relevant to the diagnosis.", 5)
    assert repeated_line("1. Glucose is high.\n2. BMI is high.\n3. Age is 50 years.") is None
    assert repeated_line("Yes.\nYes.\nYes.\nYes.") is None  # too short to call a loop
