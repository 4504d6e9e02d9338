from __future__ import annotations

import pytest

from clinreason.evaluate.claims import CHECKER_VERSION, check_claims, equal, verified_only
from clinreason.records import Finding, GradeTerm, PatientRecord, ReferenceRange, load_cohort

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
    assert metrics.checker_version == CHECKER_VERSION == 2  # rates of different checkers are not compared
    assert rationale_metrics(texts, records, bertscore=False).conclusion_conflicts is None  # type: ignore[union-attr]


def _graded(bmi: float, age: float = 46) -> PatientRecord:
    terms = (
        GradeTerm(term="normal weight", range=ReferenceRange(low=18.5, high=24.9)),
        GradeTerm(term="obesity", range=ReferenceRange(low=30)),
    )
    findings = dict(RECORD.findings)
    findings["bmi"] = findings["bmi"].model_copy(update={"value": bmi, "terms": terms})
    glucose = findings["glucose"].model_copy(update={"inverse_aliases": ("glucose tolerance",)})
    return RECORD.model_copy(update={"age": age, "findings": {**findings, "glucose": glucose}})


def _claims(text: str, record: PatientRecord, kinds: tuple[str, ...]) -> list[tuple[str | None, str, str]]:
    return [(c.finding, c.stated, c.verdict) for c in check_claims(text, record).claims if c.kind in kinds]


# The shipped Pima seed's conclusion for tr-003 (BMI 35.8, glucose 77 mg/dL, age 35).
TEACHER_CONCLUSION = (
    "Conclusion: normal glucose tolerance, normal weight and little family history indicate no diabetes."
)


@pytest.mark.parametrize(
    ("text", "bmi", "expected"),
    [
        (TEACHER_CONCLUSION, 35.8, [("bmi", "normal weight", "wrong")]),
        (TEACHER_CONCLUSION, 22.0, [("bmi", "normal weight", "supported")]),
        (TEACHER_CONCLUSION, 24.94, [("bmi", "normal weight", "supported")]),  # shown as 24.9
        ("Raised glucose together with obesity supports diabetes.", 25.1, [("bmi", "obesity", "wrong")]),
        ("Raised glucose together with obesity supports diabetes.", 30.1, [("bmi", "obesity", "supported")]),
        ("There is no obesity.", 35.8, [("bmi", "not obesity", "wrong")]),
        ("There is no obesity.", 22.0, [("bmi", "not obesity", "supported")]),
        ("Obesity is a major risk factor for type 2 diabetes.", 22.0, []),  # a general statement
        ("A body mass index of 30 or more is obesity.", 22.0, []),  # a reference value
    ],
)
def test_a_grading_word_is_checked_wherever_it_stands(text: str, bmi: float, expected: list) -> None:
    assert _claims(text, _graded(bmi), ("term",)) == expected


def test_a_grading_word_is_one_claim_not_also_a_grade() -> None:
    """'normal weight' after a BMI is the term's claim only, in the clause and after a semicolon."""
    for text in ("Body mass index: 35.8 kg/m2, normal weight.", "Body mass index: 35.8 kg/m2, high; normal weight."):
        kinds = [(c.kind, c.stated, c.verdict) for c in check_claims(text, _graded(35.8)).claims if c.kind != "value"]
        assert ("term", "normal weight", "wrong") in kinds and ("status", "normal", "wrong") not in kinds


def test_a_grade_before_the_name_is_its_own_and_not_the_next_findings() -> None:
    """'high glucose tolerance, normal weight': 'normal' belongs to the weight, 'high' to the tolerance."""
    text = "Conclusion: high glucose tolerance, normal weight and little family history indicate no diabetes."
    high_glucose = _graded(35.8)  # glucose 180 mg/dL: high glucose is low tolerance
    assert _claims(text, high_glucose, ("status", "term")) == [
        ("bmi", "normal weight", "wrong"),
        ("glucose", "high glucose tolerance", "wrong"),
    ]
    assert _claims("Elevated glucose suggests diabetes.", high_glucose, ("status",)) == [
        ("glucose", "high", "supported")
    ]


@pytest.mark.parametrize(
    ("text", "age", "expected"),
    [
        (
            "Age: 35 years, a young age with a low risk of type 2 diabetes.",
            35,
            [("35", "supported"), ("young", "supported")],
        ),
        (
            "Age: 52 years, a young age with a low risk of type 2 diabetes.",
            52,
            [("52", "supported"), ("young", "wrong")],
        ),
        ("Age: 52 years, a young age.", 60, [("52", "wrong"), ("young", "wrong")]),
        ("80 years old with 12 years of education.", 80, [("80", "supported")]),
        ("An elderly woman; she is not young.", 70, [("elderly", "supported"), ("not young", "supported")]),
    ],
)
def test_age_and_its_grading_words_are_claims(text: str, age: float, expected: list) -> None:
    record = _graded(30.2, age=age)
    assert [(c.stated, c.verdict) for c in check_claims(text, record).claims if c.kind == "age"] == expected


def test_the_bundled_pima_spec_grades_body_mass_index() -> None:
    record = load_cohort("pima-diabetes").records[0]
    terms = {t.term: (t.range.low, t.range.high) for t in record.findings["bmi"].terms}
    assert terms["normal weight"] == (18.5, 24.9) and terms["obesity"] == (30, None)


PIMA_CLASSES = {"diabetes": "Diabetes mellitus", "no diabetes": "No diabetes"}


@pytest.mark.parametrize(
    ("rationale", "expected"),
    [
        (TEACHER_CONCLUSION + "\n\nFinal Diagnosis: (A) Diabetes mellitus", "no diabetes"),  # not the final line
        ("1. Glucose: 180 mg/dL, high.\nConclusion: raised glucose and obesity support diabetes mellitus.", "diabetes"),
        ("Obesity raises the risk of diabetes, but normal glucose indicates no diabetes.", None),  # names both
        ("1. Glucose: 180 mg/dL, high.", None),  # no concluding sentence
        ("Conclusion: normal cognition now fits a nondemented person.", None),  # names no class of these
    ],
)
def test_the_class_a_conclusion_names(rationale: str, expected: str | None) -> None:
    from clinreason.evaluate.claims import concluded_label

    assert concluded_label(rationale, PIMA_CLASSES) == expected


def test_conclusion_agreement_counts_conclusions_that_name_the_predicted_class() -> None:
    from clinreason.evaluate.summary import rationale_metrics

    texts = {
        "p": TEACHER_CONCLUSION,  # concludes no diabetes
        "q": "Conclusion: high glucose supports diabetes mellitus.",
        "r": "1. Glucose: 180 mg/dL, high.",  # names no class: not counted
    }
    records = {i: RECORD.model_copy(update={"id": i}) for i in texts}
    predicted = {"p": "diabetes", "q": "diabetes", "r": "no diabetes"}
    metrics = rationale_metrics(texts, records, predicted=predicted, classes=PIMA_CLASSES, bertscore=False)
    assert metrics is not None and metrics.conclusions_named == 2 and metrics.conclusion_agreement == 0.5
    assert rationale_metrics(texts, records, predicted=predicted, bertscore=False).conclusion_agreement is None  # type: ignore[union-attr]
