from __future__ import annotations

import pytest

from clinreason.evaluate.claims import check_claims, equal, verified_only
from clinreason.records import Finding, PatientRecord, ReferenceRange

RECORD = PatientRecord(
    id="p",
    age=46,
    sex="female",
    labels=["diabetes"],
    findings={
        "glucose": Finding(
            name="glucose",
            label="plasma glucose",
            value=180,
            unit="mg/dL",
            normal=ReferenceRange(high=139),
            aliases=("glucose",),
        ),
        "bmi": Finding(
            name="bmi",
            label="body mass index",
            value=30.2,
            unit="kg/m2",
            decimals=1,
            normal=ReferenceRange(low=18.5, high=24.9),
            aliases=("BMI",),
        ),
        "chest_pain": Finding(name="chest_pain", label="chest pain type", value="typical angina"),
    },
)
CATEGORIES = {"chest_pain": {"typical angina", "atypical angina", "asymptomatic"}}


def test_hand_checked_rationale() -> None:
    rationale = (
        "1. Age: a 46-year-old woman.\n"
        "2. Plasma glucose: 180 mg/dL, high (reference up to 139 mg/dL).\n"
        "3. Body mass index: 25.0 kg/m2, normal.\n"
        "4. Her HbA1c is 7.1 mmol/l.\n"
        "5. Chest pain type: atypical angina."
    )
    report = check_claims(rationale, RECORD, categories=CATEGORIES)
    verdicts = sorted((c.kind, c.finding or "", c.verdict) for c in report.claims)
    assert verdicts == sorted(
        [
            ("age", "", "supported"),
            ("value", "glucose", "supported"),
            ("status", "glucose", "supported"),
            ("value", "bmi", "wrong"),
            ("status", "bmi", "wrong"),
            ("value", "", "unsupported"),
            ("category", "chest_pain", "wrong"),
        ]
    )
    assert report.rate == 3 / 7
    assert report.hallucinated == 4


def test_reference_values_and_scales_are_not_claims() -> None:
    text = "Glucose 180 mg/dL is above the cut-off of 139 mg/dL and 200 mg/dL or more means diabetes."
    report = check_claims(text, RECORD, reference_text="200 mg/dL or more meets the criterion")
    assert [(c.kind, c.verdict) for c in report.claims] == [("value", "supported")]


def test_no_claims_gives_no_rate() -> None:
    report = check_claims("The findings support the diagnosis.", RECORD)
    assert report.checked == 0 and report.rate is None


def test_equal_follows_shown_precision() -> None:
    assert equal(30.2, 30.2, 1) and equal(30.0, 30.04, 1) and not equal(30.3, 30.2, 1)
    assert equal(180, 180.0) and equal(0.36, 0.364) and not equal(0.35, 0.364)


def _statuses(text: str, record: PatientRecord = RECORD) -> list[tuple[str | None, str, str]]:
    return [(c.finding, c.stated, c.verdict) for c in check_claims(text, record).claims if c.kind == "status"]


def test_a_grade_after_a_semicolon_is_about_the_same_finding() -> None:
    """One phrase, one verdict: 'normal weight' beside a BMI of 30.2 is wrong in either form."""
    assert _statuses("Body mass index: 30.2 kg/m2, normal weight.") == [("bmi", "normal", "wrong")]
    assert _statuses("Body mass index: 30.2 kg/m2, high; normal weight.") == [
        ("bmi", "high", "supported"),
        ("bmi", "normal", "wrong"),
    ]
    assert _statuses("Body mass index: 30.2 kg/m2. Normal weight.") == []  # a new sentence carries nothing


def test_only_rationales_whose_every_claim_verifies_are_kept_for_training() -> None:
    other = RECORD.model_copy(update={"id": "q"})
    third = RECORD.model_copy(update={"id": "r"})
    rationales = {
        "p": "Plasma glucose: 180 mg/dL, high. Body mass index: 30.2 kg/m2, high.",
        "q": "Plasma glucose: 180 mg/dL, high. Body mass index: 30.2 kg/m2, normal weight.",  # one wrong grade
        "r": "The findings fit the diagnosis.",  # no checkable claim, nothing wrong
        "s": "Plasma glucose: 180 mg/dL.",  # not one of the records
    }
    kept = verified_only(rationales, [RECORD, other, third], categories=CATEGORIES)
    assert kept == {"p": rationales["p"], "r": rationales["r"]}
    assert verified_only(rationales, [other]) == {}


def test_an_inverse_alias_is_checked_inverted() -> None:
    """High glucose means low glucose tolerance: 'glucose tolerance is high' beside 180 mg/dL is wrong."""
    glucose = RECORD.findings["glucose"].model_copy(update={"inverse_aliases": ("glucose tolerance",)})
    high = RECORD.model_copy(update={"findings": {**RECORD.findings, "glucose": glucose}})
    normal = high.model_copy(
        update={"findings": {**high.findings, "glucose": glucose.model_copy(update={"value": 90.0})}}
    )
    assert _statuses("Glucose tolerance is high.", high) == [("glucose", "high glucose tolerance", "wrong")]
    assert _statuses("Glucose tolerance is low.", high) == [("glucose", "low glucose tolerance", "supported")]
    assert _statuses("Glucose tolerance is high.", normal) == [("glucose", "high glucose tolerance", "supported")]
    assert _statuses("Plasma glucose: 180 mg/dL, high.", high) == [("glucose", "high", "supported")]


@pytest.mark.parametrize(
    ("rationale", "stated", "expected"),
    [
        (  # the teacher's te-209 reference: label-conditioned, arguing against its own findings
            "1. Glucose: 171 mg/dL.\nHigh glucose tolerance, high blood pressure and strong family history "
            "indicate no diabetes.",
            "no diabetes",
            True,
        ),
        ("Glucose and BMI are high, which indicates diabetes.", "diabetes", False),
        ("Glucose is normal and blood pressure is normal, which suggests diabetes.", "diabetes", True),
        ("Normal glucose and normal BMI suggest no diabetes.", "no diabetes", False),
        ("Glucose: 171 mg/dL. BMI: 35.", "diabetes", None),  # no concluding sentence
        ("High glucose indicates diabetes.", None, None),
    ],
)
def test_a_conclusion_against_its_own_findings_is_flagged(
    rationale: str, stated: str | None, expected: bool | None
) -> None:
    from clinreason.evaluate.claims import conclusion_conflict

    assert conclusion_conflict(rationale, stated) is expected


def test_rationale_metrics_count_conclusion_conflicts() -> None:
    from clinreason.evaluate.summary import rationale_metrics

    texts = {"p": "High glucose and high BMI indicate no diabetes.", "q": "High glucose indicates diabetes."}
    records = {"p": RECORD, "q": RECORD.model_copy(update={"id": "q"})}
    metrics = rationale_metrics(
        texts,
        records,
        stated={"p": "no diabetes", "q": "diabetes"},
        predicted={"p": "no diabetes", "q": "diabetes"},
        bertscore=False,
    )
    assert metrics is not None and metrics.conclusion_conflicts == 1
    assert rationale_metrics(texts, records, bertscore=False).conclusion_conflicts is None  # type: ignore[union-attr]
