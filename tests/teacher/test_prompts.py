from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clinreason.errors import ConfigError
from clinreason.records import load_adnimerge, load_cohort
from clinreason.teacher.exemplars import load_exemplars
from clinreason.teacher.prompts import build_messages, list_prompts, load_prompt


def test_bundled_prompts_are_versioned_and_include_the_slots() -> None:
    prompts = {p.name: p for p in list_prompts()}
    assert {"kwon-rationalize", "diagnose", "clinragen-rationalize", "cers-reasoning"} <= set(prompts)
    assert prompts["kwon-rationalize"].id == "kwon-rationalize@v2"
    assert prompts["clinragen-rationalize"].id == "clinragen-rationalize@v1"
    assert prompts["cers-reasoning"].id == "cers-reasoning@v1"
    assert {p.status for p in prompts.values()} == {"ready"}


def test_rationalization_prompt_layout() -> None:
    cohort = load_cohort("heart-disease")
    record = cohort.get("3")
    messages = build_messages(load_prompt("kwon-rationalize"), cohort, record, load_exemplars(cohort))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert "Reference facts:" in system and "thallium" in system.lower()  # the fact sheet is in the system prompt
    last = messages[-1]["content"]
    assert last.startswith("This patient is a 67-year-old male.")
    assert "(A) Coronary artery disease\n(B) No coronary artery disease" in last
    assert last.endswith(
        "The confirmed diagnosis is (A) Coronary artery disease. Explain the clinical reasoning that leads to it."
    )
    assert messages[2]["content"].endswith("Final Diagnosis: (A) Coronary artery disease")


def test_shared_prefix_is_identical_across_patients() -> None:
    cohort = load_cohort("pima-diabetes")
    template, shots = load_prompt("kwon-rationalize"), load_exemplars(cohort)
    first = build_messages(template, cohort, cohort.records[0], shots)
    second = build_messages(template, cohort, cohort.records[1], shots)
    assert first[:-1] == second[:-1] and first[-1] != second[-1]


def test_diagnosis_prompt_hides_the_label() -> None:
    cohort = load_cohort("breast-cytology")
    messages = build_messages(load_prompt("diagnose"), cohort, cohort.records[0], [])
    assert len(messages) == 2
    assert "confirmed diagnosis" not in messages[-1]["content"].lower()
    assert messages[-1]["content"].endswith("(A) Malignant tumour\n(B) Benign lesion")


def test_dementia_prompt_uses_kwon_text_and_options(adni_csv: Path) -> None:
    cohort = load_adnimerge(adni_csv)
    messages = build_messages(load_prompt("kwon-rationalize"), cohort, cohort.get("7"), load_exemplars(cohort))
    assert "(A) Alzheimer's Disease\n(B) Mild Cognitive Impairment\n(C) Normal Cognition" in messages[-1]["content"]
    assert "The confirmed diagnosis is (A) Alzheimer's Disease." in messages[-1]["content"]
    assert "Clinical Dementia Rating (CDR) measures dementia severity" in messages[0]["content"]


@pytest.mark.parametrize("name", ["clinragen-rationalize", "cers-reasoning"])
def test_multimodal_and_image_prompts_do_not_render_through_the_tabular_builder(name: str) -> None:
    cohort = load_cohort("pima-diabetes")
    with pytest.raises(ConfigError, match="is for another task"):
        build_messages(load_prompt(name), cohort, cohort.records[0], [])


def test_custom_prompt_file(tmp_path: Path) -> None:
    raw = yaml.safe_load((Path(__file__).parents[2] / "src/clinreason/teacher/prompts/diagnose.yaml").read_text())
    raw.update(name="my-diagnose", version=3, user="{patient}\nOptions:\n{options}")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    template = load_prompt(str(path))
    assert template.id == "my-diagnose@v3"
    cohort = load_cohort("pima-diabetes")
    assert build_messages(template, cohort, cohort.records[0], [])[-1]["content"].endswith("(B) No diabetes")


def test_unknown_prompt() -> None:
    with pytest.raises(ConfigError, match="unknown prompt 'nope'; shipped prompts: cers-reasoning"):
        load_prompt("nope")


def test_exemplars_are_rendered_with_the_cohort_format() -> None:
    cohort = load_cohort("heart-disease")
    shots = load_exemplars(cohort)
    assert [s.label for s in shots] == ["heart disease", "no heart disease"]
    bp = shots[0].record.findings["resting_bp"]
    assert bp.value == 142 and bp.unit == "mm Hg" and bp.status == "high"


def test_exemplar_errors(tmp_path: Path) -> None:
    cohort = load_cohort("pima-diabetes")
    bad_label = tmp_path / "a.yaml"
    bad_label.write_text(yaml.safe_dump({"cohort": "x", "exemplars": [{"id": "e", "label": "flu", "rationale": "r"}]}))
    with pytest.raises(ConfigError, match="label 'flu', not one of"):
        load_exemplars(cohort, bad_label)
    bad_type = tmp_path / "b.yaml"
    bad_type.write_text(
        yaml.safe_dump(
            {
                "cohort": "x",
                "exemplars": [{"id": "e", "label": "diabetes", "values": {"bmi": "obese"}, "rationale": "r"}],
            }
        )
    )
    with pytest.raises(ConfigError, match="'bmi' should be a number, got 'obese'"):
        load_exemplars(cohort, bad_type)
    with pytest.raises(ConfigError, match="exemplar file not found"):
        load_exemplars(cohort, tmp_path / "missing.yaml")


def test_every_bundled_cohort_has_exemplars_one_per_class() -> None:
    from clinreason.records import bundled_names

    for name in bundled_names():
        cohort = load_cohort(name)
        assert sorted(s.label for s in load_exemplars(cohort)) == sorted(cohort.labels)


def test_the_cohort_task_words_the_question() -> None:
    from clinreason.records.schema import TaskSpec

    cohort = load_cohort("pima-diabetes")
    record = cohort.records[0]
    default = build_messages(load_prompt("kwon-rationalize"), cohort, record)
    assert "What is the diagnosis of this patient?" in default[-1]["content"]
    assert "the confirmed diagnosis." in default[0]["content"]
    outcome = cohort.model_copy(
        update={"task": TaskSpec(kind="outcome", question="Did this patient develop diabetes within five years?")}
    )
    messages = build_messages(load_prompt("kwon-rationalize"), outcome, record)
    assert "Did this patient develop diabetes within five years?" in messages[-1]["content"]
    assert "What is the diagnosis" not in messages[-1]["content"]
    assert "The confirmed outcome is (" in messages[-1]["content"]
    assert "the confirmed outcome." in messages[0]["content"] and "to the outcome." in messages[0]["content"]
    diagnose = build_messages(
        load_prompt("diagnose"), outcome.model_copy(update={"task": TaskSpec(kind="risk")}), record
    )
    assert "Which risk group does this patient belong to?" in diagnose[-1]["content"]
    assert "the most likely risk group" in diagnose[0]["content"]


def test_a_spec_file_sets_the_task(tmp_path: Path) -> None:
    from clinreason.records import load_cohort as load

    (tmp_path / "icu.csv").write_text("id,age,lactate,died\n1,70,4.1,yes\n2,55,1.2,no\n3,61,2.0,no\n")
    (tmp_path / "icu.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "icu",
                "file": "icu.csv",
                "source": {"name": "test", "citation": "test", "licence": "CC0"},
                "id_column": "id",
                "label": {"column": "died", "map": {"yes": "died", "no": "survived"}},
                "age": {"column": "age"},
                "findings": [{"column": "lactate", "unit": "mmol/L"}],
                "task": {"kind": "outcome", "question": "Did this patient die in hospital?"},
            }
        )
    )
    cohort = load(str(tmp_path / "icu.yaml"))
    assert cohort.task.kind == "outcome" and cohort.task.noun == "outcome"
    assert (
        "Did this patient die in hospital?"
        in build_messages(load_prompt("diagnose"), cohort, cohort.records[0])[-1]["content"]
    )
