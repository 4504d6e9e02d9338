from __future__ import annotations

from clinreason.records import record_to_text
from clinreason.records.synthetic import DISEASES, make_multimodal_cohort, reference_rationales
from clinreason.records.timeseries import summarise


def test_generator_is_seeded_and_follows_its_rules() -> None:
    cohort = make_multimodal_cohort(n=200, seed=1)
    again = make_multimodal_cohort(n=200, seed=1)
    assert cohort == again and cohort != make_multimodal_cohort(n=200, seed=2)
    assert cohort.multilabel and cohort.labels == [d.name for d in DISEASES]
    counts = cohort.label_counts()
    for disease in DISEASES:  # prevalence within a generous binomial band
        assert abs(counts[disease.name] / 200 - disease.prevalence) < 0.12, disease.name
    sepsis = [r for r in cohort if "Septicemia (except in labor)" in r.labels]
    healthy = [r for r in cohort if not r.labels]
    mean_temp = lambda records: sum(summarise(r.time_series)["temperature"].last for r in records) / len(records)  # noqa: E731
    assert mean_temp(sepsis) > mean_temp(healthy) + 1.0


def test_notes_and_rationales_state_the_evidence() -> None:
    cohort = make_multimodal_cohort(n=100, seed=3)
    record = next(
        r
        for r in cohort
        if "Pneumonia (except that caused by tuberculosis or sexually transmitted disease)" in r.labels
        and "consolidation" in r.notes[0].text
    )
    note_rationale, series_rationale = reference_rationales(record)
    assert "consolidation on chest x-ray" in note_rationale
    assert "oxygen saturation lower than normal" in series_rationale
    text = record_to_text(record, cohort.text_style)
    assert text.startswith("Brief hospital course:\n") and "Oxygen saturation is lower than normal" in text
