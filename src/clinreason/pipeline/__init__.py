"""Runners: each composes the library into one resumable job with its own run folder (pipeline, the
ClinRaGen ablation, the CERS segmentation comparison, teacher rationalization).

Names load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinreason._lazy import lazy_exports

# Imported at once: it shares its module's name (see clinreason.student).
from clinreason.pipeline.rationalize import rationalize

_EXPORTS = {
    "RunConfig": "clinreason.pipeline.config",
    "load_run_config": "clinreason.pipeline.config",
    "parse_run_config": "clinreason.pipeline.config",
    "RunOutput": "clinreason.pipeline.run",
    "run_pipeline": "clinreason.pipeline.run",
    "AblationSummary": "clinreason.pipeline.results",
    "RunMetrics": "clinreason.pipeline.results",
    "AblationConfig": "clinreason.pipeline.ablation",
    "run_ablation": "clinreason.pipeline.ablation",
    "evaluate_run": "clinreason.pipeline.segment",
    "run_segment": "clinreason.pipeline.segment",
    "run_and_save": "clinreason.pipeline.rationalize",
}

__all__ = [
    "AblationConfig",
    "AblationSummary",
    "RunConfig",
    "RunMetrics",
    "RunOutput",
    "evaluate_run",
    "load_run_config",
    "parse_run_config",
    "rationalize",
    "run_ablation",
    "run_and_save",
    "run_pipeline",
    "run_segment",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from clinreason.pipeline.ablation import AblationConfig, run_ablation
    from clinreason.pipeline.config import RunConfig, load_run_config, parse_run_config
    from clinreason.pipeline.rationalize import run_and_save
    from clinreason.pipeline.results import AblationSummary, RunMetrics
    from clinreason.pipeline.run import RunOutput, run_pipeline
    from clinreason.pipeline.segment import evaluate_run, run_segment
