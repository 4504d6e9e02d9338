from __future__ import annotations

from clinreason.judge.controls import CONTROL, altered_values
from clinreason.judge.llm import JudgeItem

REFERENCE = (
    "1. Age: 22 years, a young age with a low risk of type 2 diabetes.\n"
    "2. Number of pregnancies: 0.\n"
    "3. Plasma glucose 2 hours into an oral glucose tolerance test: 79 mg/dL, normal (reference up to 139 mg/dL).\n"
    "4. Body mass index: 25.4 kg/m2, high (reference 18.5 to 24.9 kg/m2).\n"
    "5. Diabetes pedigree function: 0.583, little family history of diabetes.\n"
    "6. Serum insulin: 846 mu U/ml.\n"
    "Conclusion: normal glucose tolerance and little family history indicate no diabetes."
)


def test_every_stated_value_is_made_wrong_and_nothing_else_changes() -> None:
    item = JudgeItem(record_id="p1", model="teacher", patient="...", rationale=REFERENCE, gold="no diabetes")
    control = altered_values(item)
    assert control is not None and control.model == CONTROL and control.record_id == "p1"
    assert control.rationale.splitlines() == [
        "1. Age: 55 years, a young age with a low risk of type 2 diabetes.",
        "2. Number of pregnancies: 3.",
        "3. Plasma glucose 2 hours into an oral glucose tolerance test: 198 mg/dL, normal (reference up to 139 mg/dL).",
        "4. Body mass index: 63.5 kg/m2, high (reference 18.5 to 24.9 kg/m2).",
        "5. Diabetes pedigree function: 1.458, little family history of diabetes.",
        "6. Serum insulin: 338 mu U/ml.",  # x2.5 would pass 1000: x0.4
        "Conclusion: normal glucose tolerance and little family history indicate no diabetes.",
    ]
    assert item.rationale == REFERENCE  # the original is untouched
    assert altered_values(item.model_copy(update={"rationale": "No values are stated here."})) is None
