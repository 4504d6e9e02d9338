"""Metrics and reports: diagnosis (accuracy, F1, AUROC, calibration, bootstrap intervals), multi-label,
rationale text and claim checks, segmentation with explicit empty-mask cases, classical baselines.

Names load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinreason._lazy import lazy_exports

_EXPORTS = {
    "DiagnosisMetrics": "clinreason.evaluate.diagnosis",
    "diagnosis_metrics": "clinreason.evaluate.diagnosis",
    "expected_calibration_error": "clinreason.evaluate.diagnosis",
    "MultiLabelMetrics": "clinreason.evaluate.multilabel",
    "multilabel_metrics": "clinreason.evaluate.multilabel",
    "match_diseases": "clinreason.evaluate.multilabel",
    "Interval": "clinreason.evaluate.summary",
    "ModelMetrics": "clinreason.evaluate.summary",
    "RationaleMetrics": "clinreason.evaluate.summary",
    "model_metrics": "clinreason.evaluate.summary",
    "rationale_metrics": "clinreason.evaluate.summary",
    "TextMetrics": "clinreason.evaluate.text",
    "text_metrics": "clinreason.evaluate.text",
    "Claim": "clinreason.evaluate.claims",
    "ClaimReport": "clinreason.evaluate.claims",
    "check_claims": "clinreason.evaluate.claims",
    "cohort_categories": "clinreason.evaluate.claims",
    "verified_only": "clinreason.evaluate.claims",
    "check_series_claims": "clinreason.evaluate.series_claims",
    "verified_claims": "clinreason.evaluate.series_claims",
    "CaseMetrics": "clinreason.evaluate.segmentation",
    "SegmentationMetrics": "clinreason.evaluate.segmentation",
    "SegmentationScores": "clinreason.evaluate.segmentation",
    "case_metrics": "clinreason.evaluate.segmentation",
    "fit_predict_baseline": "clinreason.evaluate.baselines",
    "evaluate_baselines": "clinreason.evaluate.baselines",
    "ReportInput": "clinreason.evaluate.report",
    "render_report": "clinreason.evaluate.report",
    "ResultTable": "clinreason.evaluate.tables",
    "DecisionRule": "clinreason.evaluate.decision",
    "apply_rule": "clinreason.evaluate.decision",
    "fit_decision_rule": "clinreason.evaluate.decision",
    "FittedRuleMetrics": "clinreason.evaluate.summary",
}

__all__ = [
    "CaseMetrics",
    "Claim",
    "ClaimReport",
    "DecisionRule",
    "DiagnosisMetrics",
    "FittedRuleMetrics",
    "Interval",
    "ModelMetrics",
    "MultiLabelMetrics",
    "RationaleMetrics",
    "ReportInput",
    "ResultTable",
    "SegmentationMetrics",
    "SegmentationScores",
    "TextMetrics",
    "apply_rule",
    "case_metrics",
    "check_claims",
    "check_series_claims",
    "cohort_categories",
    "diagnosis_metrics",
    "expected_calibration_error",
    "fit_decision_rule",
    "evaluate_baselines",
    "fit_predict_baseline",
    "match_diseases",
    "model_metrics",
    "multilabel_metrics",
    "rationale_metrics",
    "render_report",
    "text_metrics",
    "verified_claims",
    "verified_only",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from clinreason.evaluate.baselines import fit_predict_baseline
    from clinreason.evaluate.claims import Claim, ClaimReport, check_claims, cohort_categories
    from clinreason.evaluate.decision import DecisionRule, apply_rule, fit_decision_rule
    from clinreason.evaluate.diagnosis import DiagnosisMetrics, diagnosis_metrics, expected_calibration_error
    from clinreason.evaluate.multilabel import MultiLabelMetrics, match_diseases, multilabel_metrics
    from clinreason.evaluate.report import ReportInput, render_report
    from clinreason.evaluate.segmentation import CaseMetrics, SegmentationMetrics, SegmentationScores, case_metrics
    from clinreason.evaluate.series_claims import check_series_claims, verified_claims
    from clinreason.evaluate.summary import (
        FittedRuleMetrics,
        Interval,
        ModelMetrics,
        RationaleMetrics,
        model_metrics,
        rationale_metrics,
    )
    from clinreason.evaluate.tables import ResultTable
    from clinreason.evaluate.text import TextMetrics, text_metrics
