"""Peak memory of reading discharge-summary courses from a NOTEEVENTS table of MIMIC-III's size.

Generates a NOTEEVENTS.csv with MIMIC-III v1.4's shape (2,083,180 notes; 59,652 discharge summaries;
other categories filling the rest; note lengths drawn to give a file of about the real size), then
measures, in one run and each in a fresh process: `read_courses` (chunked, the loader's way) and
pandas reading the whole table at once (the naive way), reporting wall time and peak resident memory.

    .venv/bin/python bench/mimic_memory.py --scale 1.0        # full size (about 3.5 GB on disk)
    .venv/bin/python bench/mimic_memory.py --scale 0.05       # a quick look
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

NOTES, SUMMARIES = 2_083_180, 59_652
CATEGORIES = ["Nursing/other", "Radiology", "Nursing", "ECG", "Physician ", "Echo", "Respiratory ", "Nutrition"]
WORDS = (
    "patient admitted with fever hypotension started antibiotics cultures pending chest x-ray showed consolidation "
    "diuresed furosemide insulin sliding scale creatinine improved stable discharged"
).split()


def generate(path: Path, scale: float, seed: int = 0) -> None:
    rng = random.Random(seed)
    notes, summaries = int(NOTES * scale), int(SUMMARIES * scale)
    # One discharge summary per admission, as the loader expects; other notes share admissions.
    summary_hadm = {row: 100000 + i for i, row in enumerate(sorted(rng.sample(range(notes), summaries)))}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "ROW_ID",
                "SUBJECT_ID",
                "HADM_ID",
                "CHARTDATE",
                "CHARTTIME",
                "STORETIME",
                "CATEGORY",
                "DESCRIPTION",
                "CGID",
                "ISERROR",
                "TEXT",
            ]
        )
        for row in range(notes):
            hadm = summary_hadm.get(row, 100000 + row % (summaries or 1))
            if row in summary_hadm:
                course = " ".join(rng.choices(WORDS, k=rng.randint(80, 400)))
                filler = " ".join(rng.choices(WORDS, k=rng.randint(600, 1600)))
                text = (
                    f"Admission Date: x\nHistory: {filler}\nBrief Hospital Course:\n{course}\n"
                    "Discharge Medications:\nnone"
                )
                category = "Discharge summary"
            else:
                text = " ".join(rng.choices(WORDS, k=rng.randint(60, 300)))
                category = rng.choice(CATEGORIES)
            writer.writerow([row, row // 10, hadm, "2101-01-01", "", "", category, "Report", "", "", text])


def measure(mode: str, path: Path) -> dict[str, float]:
    code = (
        "import time, resource, sys\n"
        "t = time.perf_counter()\n"
        + (
            "from clinreason.records.mimic import read_courses\nn = len(read_courses(sys.argv[1]))\n"
            if mode == "chunked"
            else "import pandas as pd\nframe = pd.read_csv(sys.argv[1])\n"
            "n = int((frame['CATEGORY'] == 'Discharge summary').sum())\n"
        )
        + "print(n, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    count, seconds, peak_mb = done.stdout.split()
    return {
        "mode": mode,
        "rows_found": int(count),
        "seconds": round(float(seconds), 1),
        "peak_rss_mb": round(float(peak_mb)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--folder", type=Path, default=Path("runs/bench"))
    parser.add_argument("--skip-naive", action="store_true", help="do not load the whole table with pandas")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / f"NOTEEVENTS-{args.scale:g}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.scale)
        print(f"generated {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s")
    results = [measure("chunked", path)]
    if not args.skip_naive:
        results.append(measure("whole table", path))
    print(json.dumps(results, indent=2))
    if len(results) == 2:
        print(
            f"peak memory: chunked {results[0]['peak_rss_mb']} MB vs whole table {results[1]['peak_rss_mb']} MB "
            f"({results[1]['peak_rss_mb'] / results[0]['peak_rss_mb']:.1f}x)"
        )


if __name__ == "__main__":
    main()
