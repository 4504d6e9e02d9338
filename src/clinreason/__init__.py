"""clinreason: reasoning-aware clinical AI.

The names most users need, importable from here (each loads its subpackage on first use)::

    from clinreason import RunConfig, run_pipeline

    output = run_pipeline(RunConfig(name="heart", data={"cohort": "heart-disease"}))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinreason._lazy import lazy_exports

__version__ = "0.1.0"

# each name maps to the module that defines it (a package face could hand out a submodule of the same name)
_EXPORTS = {
    # errors
    "ClinreasonError": "clinreason.errors",
    "ConfigError": "clinreason.errors",
    "DataError": "clinreason.errors",
    "CheckpointError": "clinreason.errors",
    # progress
    "Observer": "clinreason.progress",
    # records
    "Cohort": "clinreason.records.schema",
    "PatientRecord": "clinreason.records.schema",
    "load_cohort": "clinreason.records.catalog",
    "make_splits": "clinreason.records.splits",
    "select_records": "clinreason.records.splits",
    "record_to_text": "clinreason.records.text",
    # teacher
    "TeacherConfig": "clinreason.teacher.config",
    "connect": "clinreason.teacher.session",
    "run_teacher": "clinreason.teacher.runner",
    "rationalize": "clinreason.pipeline.rationalize",
    # student
    "TrainConfig": "clinreason.student.config",
    "load_student": "clinreason.student.model",
    "train": "clinreason.student.train",
    "load_checkpoint": "clinreason.student.checkpoint",
    "predict": "clinreason.student.predict",
    # evaluate
    "diagnosis_metrics": "clinreason.evaluate.diagnosis",
    "SegmentationMetrics": "clinreason.evaluate.segmentation",
    # runners
    "RunConfig": "clinreason.pipeline.config",
    "load_run_config": "clinreason.pipeline.config",
    "run_pipeline": "clinreason.pipeline.run",
    "RunMetrics": "clinreason.pipeline.results",
    "AblationConfig": "clinreason.pipeline.ablation",
    "run_ablation": "clinreason.pipeline.ablation",
    "SegmentConfig": "clinreason.vision.config",
    "run_segment": "clinreason.pipeline.segment",
}

__all__ = [
    "__version__",
    "AblationConfig",
    "CheckpointError",
    "ClinreasonError",
    "Cohort",
    "ConfigError",
    "DataError",
    "Observer",
    "PatientRecord",
    "RunConfig",
    "RunMetrics",
    "SegmentConfig",
    "SegmentationMetrics",
    "TeacherConfig",
    "TrainConfig",
    "connect",
    "diagnosis_metrics",
    "load_checkpoint",
    "load_cohort",
    "load_run_config",
    "load_student",
    "make_splits",
    "predict",
    "rationalize",
    "record_to_text",
    "run_ablation",
    "run_pipeline",
    "run_segment",
    "run_teacher",
    "select_records",
    "train",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from clinreason.errors import CheckpointError, ClinreasonError, ConfigError, DataError
    from clinreason.evaluate import SegmentationMetrics, diagnosis_metrics
    from clinreason.pipeline import (
        AblationConfig,
        RunConfig,
        RunMetrics,
        load_run_config,
        rationalize,
        run_ablation,
        run_pipeline,
        run_segment,
    )
    from clinreason.progress import Observer
    from clinreason.records import Cohort, PatientRecord, load_cohort, make_splits, record_to_text, select_records
    from clinreason.student import TrainConfig, load_checkpoint, load_student, predict, train
    from clinreason.teacher import TeacherConfig, connect, run_teacher
    from clinreason.vision import SegmentConfig
