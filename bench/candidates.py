"""Rationales chosen by verification: one trained rationale student, k = 1 against k > 1, side by side.

Writes the same patients' rationales greedily (k = 1) and with k candidates (greedy + sampled, the
verified one kept), in this one run, and prints the verified-claim rate, wrong claims per rationale,
label consistency, accuracy, AUROC and the time ratio.

    .venv/bin/python bench/candidates.py runs/benchmark/pima-diabetes/seed-0 --candidates 4

`--precisions auto fp32` writes the rationales both ways (auto: bf16 where the CPU computes it natively);
the diagnosis is scored in fp32 either way, so a stated label that differs from the scored one only in
bf16 is rounding, not the model's reasoning.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="A finished pipeline run folder with a rationale_then_label student.")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N test patients.")
    parser.add_argument("--objective", default="rationale_then_label")
    parser.add_argument(
        "--precisions", nargs="+", default=None, help="Generation precisions to compare (default: the run's)."
    )
    args = parser.parse_args()

    import numpy as np

    from clinreason.evaluate.claims import cohort_categories
    from clinreason.evaluate.diagnosis import diagnosis_metrics
    from clinreason.evaluate.summary import rationale_metrics
    from clinreason.knowledge import fact_sheet
    from clinreason.pipeline.config import load_run_config
    from clinreason.records import Splits, load_cohort
    from clinreason.student.checkpoint import load_checkpoint
    from clinreason.student.predict import predict

    config = load_run_config(args.run / "config.yaml")
    cohort = load_cohort(config.data.cohort)
    records = Splits.load(args.run / "splits.json").apply(cohort, config.evaluation.split).records[: args.limit]
    student, meta = load_checkpoint(args.run / "students" / args.objective / "best")
    by_id = {r.id: r for r in cohort.records}
    categories, sheet = cohort_categories(cohort), fact_sheet(cohort)
    rows = []
    for precision, k in [
        (precision, k)
        for precision in args.precisions or [config.student.train.precision]
        for k in sorted({1, args.candidates})
    ]:
        started = time.perf_counter()
        predictions = predict(
            student,
            cohort,
            records,
            meta.objective,
            max_new_tokens=config.evaluation.max_new_tokens,
            batch_size=config.evaluation.batch_size,
            precision=precision,
            candidates=k,
            seed=config.data.seed,
        )
        seconds = time.perf_counter() - started
        labels = cohort.labels
        diagnosis = diagnosis_metrics(
            [p.gold[0] for p in predictions],
            [p.predicted for p in predictions],
            labels,
            np.array([[p.probabilities[label] for label in labels] for p in predictions]),
        )
        rationale = rationale_metrics(
            {p.record_id: p.rationale or "" for p in predictions},
            by_id,
            predicted={p.record_id: p.predicted for p in predictions},
            stated={p.record_id: p.stated for p in predictions},
            categories=categories,
            reference_text=sheet,
            bertscore=False,
            classes={label: cohort.describe_label(label) for label in cohort.labels},
        )
        rows.append(
            {
                "candidates": k,
                "generation_precision": precision,
                "seconds": round(seconds, 1),
                "kept_not_greedy": sum(p.chosen != 0 for p in predictions),
                "verified_claim_rate": rationale.verified_claim_rate if rationale else None,
                "claims_checked": rationale.claims_checked if rationale else 0,
                "wrong_or_unsupported_per_rationale": rationale.hallucinations_per_rationale if rationale else None,
                "label_consistency": rationale.label_consistency if rationale else None,
                "conclusion_agreement": rationale.conclusion_agreement if rationale else None,
                "conclusions_named": rationale.conclusions_named if rationale else None,
                "accuracy": diagnosis.accuracy,
                "macro_f1": diagnosis.macro_f1,
                "auroc": diagnosis.auroc,
            }
        )
    print(
        json.dumps(
            {
                "run": str(args.run),
                "patients": len(records),
                "machine": f"{platform.system()} {platform.machine()}",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": rows,
                "time_ratios": [round(row["seconds"] / rows[0]["seconds"], 2) for row in rows],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
