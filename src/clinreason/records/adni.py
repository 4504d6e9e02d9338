"""ADNI's ADNIMERGE.csv as a 3-class (AD / MCI / CN) cohort, prepared as in Kwon et al. (AAAI 2024).

One record per subject from the baseline visit. Regional MRI volumes are divided by intracranial
volume and graded No / Mild / Severe against the cognitively normal (CN) subjects' distribution, so
that the text a model reads says "Severe hippocampal atrophy" instead of "6,211 mm³". Kwon et al. did
not publish their thresholds; ours are z-scores against CN (atrophy: z <= -1 Mild, z <= -2 Severe;
ventricles: z >= 1 Mild enlargement, z >= 2 Severe), and the norms used are stored in the cohort's
metadata so that a held-out file can be graded with the same norms.

ADNI is credentialed (https://adni.loni.usc.edu): this module reads a file the user downloaded.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from clinreason.errors import ConfigError
from clinreason.records.dementia import APOE4, CDRSB, EDUCATION, MARITAL_STATUS, MMSE, MRI_GRADE_GROUP
from clinreason.records.schema import (
    Cohort,
    CohortSource,
    Finding,
    FindingValue,
    PatientRecord,
    ReferenceRange,
    SkipReport,
)
from clinreason.records.table import Row, as_code, is_missing, parse_number, read_table

ADNI_LABELS = ["AD", "MCI", "CN"]
ADNI_LABEL_DESCRIPTIONS = {
    "AD": "Alzheimer's Disease",
    "MCI": "Mild Cognitive Impairment",
    "CN": "Normal Cognition",
}
# DX uses CN / MCI / Dementia; DX_bl uses CN / SMC / EMCI / LMCI / AD; old releases use NL.
DIAGNOSIS_CODES = {
    "CN": "CN",
    "NL": "CN",
    "SMC": "CN",
    "EMCI": "MCI",
    "LMCI": "MCI",
    "MCI": "MCI",
    "AD": "AD",
    "Dementia": "AD",
}
SEX_CODES = {"male": "male", "female": "female", "1": "male", "2": "female", "m": "male", "f": "female"}
MISSING = ["", "NA", "N/A", "NaN", "nan", "-4"]  # ADNI codes "not done" as -4

NUMERIC_COLUMNS = ["AGE", "PTEDUCAT", "MMSE", "CDRSB", "APOE4", "ICV"]
REQUIRED_COLUMNS = [
    "RID",
    "VISCODE",
    "AGE",
    "PTGENDER",
    "PTEDUCAT",
    "PTMARRY",
    "MMSE",
    "CDRSB",
    "APOE4",
    "ICV",
]


@dataclass(frozen=True)
class Region:
    column: str
    key: str
    grade_label: str
    volume_label: str
    direction: Literal["atrophy", "enlargement"] = "atrophy"
    aliases: tuple[str, ...] = ()


REGIONS = [
    Region(
        "Hippocampus",
        "hippocampus",
        "hippocampal atrophy",
        "hippocampal volume",
        aliases=("hippocampal", "hippocampus"),
    ),
    Region("Entorhinal", "entorhinal", "entorhinal atrophy", "entorhinal cortex volume", aliases=("entorhinal",)),
    Region("Fusiform", "fusiform", "fusiform atrophy", "fusiform gyrus volume", aliases=("fusiform",)),
    Region(
        "MidTemp",
        "middle_temporal",
        "middle temporal lobe atrophy",
        "middle temporal gyrus volume",
        aliases=("middle temporal",),
    ),
    Region(
        "WholeBrain",
        "whole_brain",
        "overall brain atrophy",
        "whole-brain volume",
        aliases=("whole-brain", "overall brain", "brain atrophy"),
    ),
    Region(
        "Ventricles",
        "ventricles",
        "ventricle enlargement",
        "ventricular volume",
        "enlargement",
        aliases=("ventricle", "ventricles", "ventricular"),
    ),
]


class RegionNorm(BaseModel):
    mean: float
    sd: float = Field(gt=0)
    n: int


class AtrophyNorms(BaseModel):
    """Mean and SD of ICV-normalised volume (percent of ICV) in the reference group, per region."""

    reference: str = "CN subjects at baseline"
    mild_z: float = 1.0
    severe_z: float = 2.0
    regions: dict[str, RegionNorm]

    def grade(self, region: Region, percent_icv: float) -> str:
        norm = self.regions[region.column]
        z = (percent_icv - norm.mean) / norm.sd
        severity = -z if region.direction == "atrophy" else z
        if severity >= self.severe_z:
            return "Severe"
        if severity >= self.mild_z:
            return "Mild"
        return "No"


ADNI_SOURCE = CohortSource(
    name="ADNI ADNIMERGE (user-supplied, credentialed)",
    citation=(
        "Alzheimer's Disease Neuroimaging Initiative (ADNI), adni.loni.usc.edu. Preparation after "
        "Kwon et al., Large Language Models are Clinical Reasoners, AAAI 2024."
    ),
    licence="ADNI Data Use Agreement (not redistributable)",
    url="https://adni.loni.usc.edu",
)


@dataclass
class _Subject:
    rid: str
    row: Row
    label: str
    values: dict[str, float | None]
    sex: str | None
    marital: str | None


def load_adnimerge(
    path: str | Path,
    *,
    norms: AtrophyNorms | None = None,
    include_cdrsb: bool = True,
    name: str = "adni",
) -> Cohort:
    """Baseline visit per subject; `norms` defaults to those of this file's CN subjects."""
    table = read_table(path)
    table.require(REQUIRED_COLUMNS + [region.column for region in REGIONS], what="the ADNIMERGE layout")
    dx_columns = [column for column in ("DX", "DX_bl") if column in table.columns]
    if not dx_columns:
        table.require(["DX_bl"], what="the ADNIMERGE layout (a diagnosis column, DX or DX_bl)")

    not_baseline = SkipReport(reason="not the baseline visit (VISCODE != 'bl'); only baseline is used")
    no_dx = SkipReport(reason="no diagnosis at baseline (DX and DX_bl empty)")
    subjects: dict[str, _Subject] = {}
    for row in table:
        if as_code(row.values["VISCODE"]).lower() != "bl":
            not_baseline.add(row.number)
            continue
        rid = as_code(row.values["RID"])
        if is_missing(rid, MISSING):
            raise row.error("missing subject id", column="RID")
        if rid in subjects:
            first = subjects[rid].row.number
            raise row.error(f"duplicate patient id '{rid}': a second baseline visit (first on row {first})", "RID")
        label = _diagnosis(row, dx_columns)
        if label is None:
            no_dx.add(row.number)
            continue
        values = {
            column: parse_number(row.values[column], row.cell(column), MISSING)
            for column in NUMERIC_COLUMNS + [region.column for region in REGIONS]
        }
        subjects[rid] = _Subject(rid, row, label, values, _sex(row), _marital(row))
    if not subjects:
        raise ConfigError(f"{path}: no baseline subject with a diagnosis")

    percent = {rid: _percent_icv(subject) for rid, subject in subjects.items()}
    norms = norms or _cn_norms(subjects, percent, str(path))
    records = [_record(subject, percent[rid], norms, include_cdrsb) for rid, subject in subjects.items()]
    return Cohort(
        name=name,
        title="ADNI baseline visits (AD / MCI / CN)",
        description="One record per subject at baseline; MRI volumes graded against CN subjects.",
        source=ADNI_SOURCE,
        labels=list(ADNI_LABELS),
        label_descriptions=dict(ADNI_LABEL_DESCRIPTIONS),
        text_style="dementia",
        records=records,
        skipped=[report for report in (not_baseline, no_dx) if report.count],
        metadata={"atrophy_norms": norms.model_dump()},
    )


def _diagnosis(row: Row, dx_columns: Sequence[str]) -> str | None:
    for column in dx_columns:
        raw = row.values[column]
        if is_missing(raw, MISSING):
            continue
        code = as_code(raw)
        if code not in DIAGNOSIS_CODES:
            raise row.error(f"unknown diagnosis {code!r}; expected one of {sorted(DIAGNOSIS_CODES)}", column)
        return DIAGNOSIS_CODES[code]
    return None


def _sex(row: Row) -> str | None:
    raw = row.values["PTGENDER"]
    if is_missing(raw, MISSING):
        return None
    code = as_code(raw).lower()
    if code not in SEX_CODES:
        raise row.error(f"unknown sex {raw!r}; expected Male or Female", column="PTGENDER")
    return SEX_CODES[code]


def _marital(row: Row) -> str | None:
    raw = row.values["PTMARRY"]
    if is_missing(raw, MISSING) or as_code(raw).lower() == "unknown":
        return None
    return as_code(raw).lower()


def _percent_icv(subject: _Subject) -> dict[str, float | None]:
    icv = subject.values["ICV"]
    if icv is not None and icv <= 0:
        raise subject.row.error(f"intracranial volume must be positive, got {icv}", column="ICV")
    out: dict[str, float | None] = {}
    for region in REGIONS:
        volume = subject.values[region.column]
        out[region.column] = None if volume is None or icv is None else 100.0 * volume / icv
    return out


def _cn_norms(subjects: dict[str, _Subject], percent: dict[str, dict[str, float | None]], source: str) -> AtrophyNorms:
    regions: dict[str, RegionNorm] = {}
    for region in REGIONS:
        values = [
            value
            for rid, subject in subjects.items()
            if subject.label == "CN" and (value := percent[rid][region.column]) is not None
        ]
        if len(values) < 2 or statistics.stdev(values) == 0:
            raise ConfigError(
                f"{source}: cannot grade {region.column}: {len(values)} CN subject(s) with a volume and ICV; "
                "at least 2 with different volumes are needed (or pass norms from another file)"
            )
        regions[region.column] = RegionNorm(mean=statistics.fmean(values), sd=statistics.stdev(values), n=len(values))
    return AtrophyNorms(regions=regions)


def _record(
    subject: _Subject, percent: dict[str, float | None], norms: AtrophyNorms, include_cdrsb: bool
) -> PatientRecord:
    v = subject.values
    findings: list[Finding] = [
        Finding(
            name=EDUCATION,
            label="education",
            value=v["PTEDUCAT"],
            unit="years",
            group="demographics",
            aliases=("years of education",),
        ),
        Finding(name=MARITAL_STATUS, label="marital status", value=subject.marital, group="demographics"),
        Finding(
            name=MMSE,
            label="Mini-Mental State Examination",
            value=v["MMSE"],
            unit="/30",
            normal=ReferenceRange(low=24, high=30),
            group="cognition",
            aliases=("MMSE", "Mini-mental State Examination", "mini-mental"),
        ),
    ]
    if include_cdrsb:
        findings.append(
            Finding(
                name=CDRSB,
                label="Clinical Dementia Rating sum of boxes",
                value=v["CDRSB"],
                unit="/18",
                normal=ReferenceRange(low=0, high=0),
                decimals=1,
                group="cognition",
                aliases=("CDR-SB", "CDR", "Clinical Dementia Rating", "sum of boxes"),
            )
        )
    findings.append(
        Finding(
            name=APOE4,
            label="APOE4 alleles",
            value=v["APOE4"],
            group="genetics",
            aliases=("APOE4", "APOE e4"),
        )
    )
    for region in REGIONS:
        share = percent[region.column]
        findings.append(
            Finding(
                name=f"{region.key}_volume",
                label=f"{region.volume_label} (share of intracranial volume)",
                value=share,
                unit="%",
                decimals=3,
                group="mri_volume",
            )
        )
        grade: FindingValue = None if share is None else norms.grade(region, share)
        findings.append(
            Finding(
                name=f"{region.key}_grade",
                label=region.grade_label,
                value=grade,
                group=MRI_GRADE_GROUP,
                aliases=region.aliases,
            )
        )
    return PatientRecord(
        id=subject.rid,
        age=v["AGE"],
        sex=subject.sex,
        findings={finding.name: finding for finding in findings},
        labels=[subject.label],
    )


def adni_columns() -> list[str]:
    """The ADNIMERGE columns this loader reads (DX or DX_bl is needed as well)."""
    return REQUIRED_COLUMNS + ["DX", "DX_bl"] + [region.column for region in REGIONS]
