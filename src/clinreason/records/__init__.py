"""Patient records, cohorts, loaders, splits and data-to-text."""

from clinreason.records.adni import AtrophyNorms, load_adnimerge
from clinreason.records.catalog import BUNDLED, bundled_names, load_cohort
from clinreason.records.omop import OmopSpec, load_omop, load_omop_spec
from clinreason.records.schema import (
    Cohort,
    CohortSource,
    Finding,
    GradeTerm,
    Note,
    PatientRecord,
    ReferenceRange,
    SkipReport,
    TimeSeriesPoint,
)
from clinreason.records.spec import CohortSpec, load_spec
from clinreason.records.splits import Splits, make_splits, select_records
from clinreason.records.tabular import load_tabular_cohort
from clinreason.records.text import record_to_text

__all__ = [
    "BUNDLED",
    "AtrophyNorms",
    "Cohort",
    "CohortSource",
    "CohortSpec",
    "Finding",
    "GradeTerm",
    "Note",
    "OmopSpec",
    "PatientRecord",
    "ReferenceRange",
    "SkipReport",
    "Splits",
    "TimeSeriesPoint",
    "bundled_names",
    "load_adnimerge",
    "load_cohort",
    "load_omop",
    "load_omop_spec",
    "load_spec",
    "load_tabular_cohort",
    "make_splits",
    "record_to_text",
    "select_records",
]
