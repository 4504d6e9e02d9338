"""Re-score a finished run's saved rationales with the current claim checker (no model is run).

For a run whose metrics were computed by an older checker: the verified-claim rate and the wrong or
unsupported claims per rationale of each student's rationales, the teacher's few-shot rationales and
the teacher's reference rationales on the evaluation split, as the checker of this checkout sees them.

    .venv/bin/python bench/rescore_claims.py runs/demo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    args = parser.parse_args()

    from clinreason.evaluate.claims import check_claims, cohort_categories
    from clinreason.knowledge import fact_sheet
    from clinreason.pipeline.config import RunConfig
    from clinreason.records import load_cohort
    from clinreason.run_folder import read_folder_config

    config = read_folder_config(args.run, RunConfig)
    split = config.evaluation.split
    cohort = load_cohort(config.data.cohort)
    categories, sheet = cohort_categories(cohort), fact_sheet(cohort)
    records = {r.id: r for r in cohort.records}
    sources = {
        path.stem.replace("student-", "student:"): path
        for path in sorted((args.run / "predictions").glob("student-*.jsonl"))
        if not path.stem.endswith("-validation")
    }
    sources["teacher:few-shot"] = args.run / "teacher" / f"{split}-diagnose.jsonl"
    sources["teacher:reference"] = args.run / "rationales" / f"{split}.jsonl"
    for name, path in sources.items():
        if not path.is_file():  # a run without the teacher's few-shot answers or references
            continue
        supported = checked = doubtful = rationales = 0
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if not row.get("rationale"):
                continue
            report = check_claims(
                row["rationale"], records[row["record_id"]], categories=categories, reference_text=sheet
            )
            supported, checked = supported + report.count("supported"), checked + report.checked
            doubtful, rationales = doubtful + report.hallucinated, rationales + 1
        if rationales:
            print(
                f"{name}: {rationales} rationales, verified {supported / checked:.3f} ({supported} of {checked}), "
                f"wrong or unsupported per rationale {doubtful / rationales:.3f}"
            )


if __name__ == "__main__":
    main()
