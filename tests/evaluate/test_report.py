from __future__ import annotations

import re

import numpy as np
import pytest

from clinreason.evaluate.figures import contrast_ratio, heat_colors
from clinreason.evaluate.report import RESEARCH_USE, Answer, ReportInput, render_report
from clinreason.evaluate.summary import model_metrics, verdict
from doubles import toy_cohort


def _report() -> str:
    cohort = toy_cohort(6)
    gold = [r.labels[0] for r in cohort.records]
    wrong_once = ["no diabetes", *gold[1:]]
    probabilities = np.array([[0.3, 0.7]] + [[0.9, 0.1] if g == "diabetes" else [0.2, 0.8] for g in gold[1:]])
    models = {
        "student:label": model_metrics("student", gold, wrong_once, cohort.labels, probabilities, bootstrap=50),
        "baseline:logistic_regression": model_metrics("baseline", gold, gold, cohort.labels, None, bootstrap=50),
    }
    return render_report(
        ReportInput(
            title="t",
            cohort=cohort,
            split="test",
            metrics=models,
            patients=cohort.records[:2],
            predictions={
                "student:label": {
                    r.id: Answer(p, "probability 0.70") for r, p in zip(cohort.records, wrong_once, strict=True)
                }
            },
            provenance=["computed 2026-12-01T10:00:00+00:00", "clinreason 0.1.0", "config sha256 0123456789ab"],
            verdict=verdict(models),
        )
    )


def test_confusion_matrix_text_is_readable_on_every_cell() -> None:
    html = _report()
    cells = re.findall(r'<td class=cm style="background:(#[0-9a-f]{6});color:(#[0-9a-f]{6})">(\d+)</td>', html)
    assert len(cells) == 2 * 4  # two models, 2 x 2 labels
    assert all(contrast_ratio(background, text) >= 4.5 for background, text, _ in cells)
    assert {background for background, _, _ in cells} != {"#ffffff"}  # counts are shaded


@pytest.mark.parametrize("fraction", np.linspace(0, 1, 21))
def test_heat_colours_always_reach_aa_contrast(fraction: float) -> None:
    background, text = heat_colors(float(fraction))
    assert contrast_ratio(background, text) >= 4.5


def test_the_report_says_when_by_what_for_what_and_who_wins() -> None:
    html = _report()
    assert "2026-12-01" in html and "clinreason 0.1.0" in html and "config sha256 0123456789ab" in html
    assert RESEARCH_USE in html
    assert "Best macro-F1 on this split: baseline:logistic_regression (1.000)" in html
    assert "(student:label, macro-F1 0.829) is 0.171 below the best baseline" in html
    assert "✓ right" in html and "✗ wrong" in html and "probability 0.70" in html


def test_contrast_ratio_matches_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
