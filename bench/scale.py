"""How the data side grows with the cohort: generated cohorts of 1k, 10k and 100k patients through load
(CSV + YAML column spec), text, splits and the two baselines, and the teacher cache's lookups with up to
1M cached generations. Time and peak memory (RSS) per stage and size, and the cost per patient, so that
anything quadratic shows as a growing per-patient time.

Each size runs in a fresh child process, so its peak memory is its own.

    .venv/bin/python bench/scale.py                      # 1k, 10k, 100k; cache 10k and 1M rows
    .venv/bin/python bench/scale.py --sizes 1000 10000 --cache-rows 10000 100000
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SPEC = """
name: scale-{n}
title: generated cohort for bench/scale.py
source: {{name: generated, citation: bench/scale.py, licence: CC0}}
file: cohort.csv
id_column: id
label: {{column: outcome, map: {{"1": diabetes, "0": no diabetes}}}}
age: {{column: age}}
sex: {{column: sex, map: {{F: female, M: male}}}}
findings:
  - {{column: glucose, label: plasma glucose, unit: mg/dL, normal: [70, 140]}}
  - {{column: bmi, label: body mass index, unit: kg/m2, normal: [18.5, 25]}}
  - {{column: bp, label: diastolic blood pressure, unit: mm Hg, normal: [60, 80]}}
  - {{column: insulin, label: serum insulin, unit: uU/mL, normal: [16, 166]}}
  - {{column: pregnancies, label: number of pregnancies, decimals: 0}}
  - {{column: smoker, label: current smoker, type: boolean}}
  - {{column: activity, label: physical activity, type: categorical}}
"""


def write_cohort(folder: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with (folder / "cohort.csv").open("w") as handle:
        handle.write("id,outcome,age,sex,glucose,bmi,bp,insulin,pregnancies,smoker,activity\n")
        for i in range(n):
            glucose = rng.gauss(120, 30)
            bmi = rng.gauss(31, 6)
            risk = (glucose - 120) / 30 + (bmi - 31) / 6 + rng.gauss(0, 1)
            insulin = "NA" if rng.random() < 0.3 else f"{max(10.0, rng.gauss(150, 80)):.0f}"
            handle.write(
                f"p{i},{int(risk > 0.8)},{rng.randint(21, 80)},{rng.choice('FM')},{max(40.0, glucose):.0f},"
                f"{max(15.0, bmi):.1f},{max(30.0, rng.gauss(72, 12)):.0f},{insulin},{rng.randint(0, 10)},"
                f"{rng.choice(['yes', 'no'])},{rng.choice(['low', 'moderate', 'high'])}\n"
            )
    spec = folder / "cohort.yaml"
    spec.write_text(SPEC.format(n=n))
    return spec


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cohort_worker(n: int) -> dict[str, Any]:
    from clinreason.evaluate.baselines import evaluate_baselines
    from clinreason.records import load_cohort, make_splits, record_to_text

    stages: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_cohort(Path(tmp), n)
        base = peak_mb()
        started = time.perf_counter()
        cohort = load_cohort(spec)
        stages["load"] = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    started = time.perf_counter()
    chars = sum(len(record_to_text(record, cohort.text_style)) for record in cohort.records)
    stages["text"] = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    started = time.perf_counter()
    splits = make_splits(cohort, seed=0)
    stages["splits"] = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    train, validation, test = (cohort.subset(splits.ids(name)).records for name in ("train", "validation", "test"))
    started = time.perf_counter()
    models = evaluate_baselines(train, validation, test, cohort.labels, bootstrap=0)
    stages["baselines"] = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    return {
        "patients": len(cohort),
        "baseline_mb": base,
        "text_chars": chars,
        "stages": stages,
        "auroc": {name: m.diagnosis.auroc for name, m in models.items()},
    }


def cache_worker(rows: int, lookups: int) -> dict[str, Any]:
    from clinreason.teacher.backend import Sampling
    from clinreason.teacher.cache import TeacherCache, cache_key

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.sqlite"
        with TeacherCache(path) as cache:
            started = time.perf_counter()
            batch: list[tuple[object, ...]] = []
            sampling = Sampling().model_dump_json()
            keys = []
            for i in range(rows):
                messages = [{"role": "user", "content": f"patient {i}"}]
                key = cache_key("gguf", "m", "p@v1", messages, Sampling())
                keys.append(key)
                text = f"rationale {i} " + "x" * 400
                batch.append((key, "gguf", "m", "p@v1", "c", f"r{i}", 1, json.dumps(messages), sampling, text,
                              "stop", 1000, 120, 1.0, time.time()))  # fmt: skip
                if len(batch) == 50_000 or i == rows - 1:
                    cache._db.execute("BEGIN")  # bulk fill as import_jsonl does
                    cache._db.executemany("INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
                    cache._db.execute("COMMIT")
                    batch.clear()
            fill = time.perf_counter() - started
            wanted = [keys[rng.randrange(rows)] for _ in range(lookups)]
            started = time.perf_counter()
            found = sum(cache.get(key) is not None for key in wanted)
            hit = time.perf_counter() - started
            started = time.perf_counter()
            missing = sum(cache.get(f"absent-{i}") is None for i in range(lookups))
            miss = time.perf_counter() - started
            size = path.stat().st_size
    assert found == lookups and missing == lookups
    return {
        "rows": rows,
        "fill_seconds": fill,
        "hit_us": 1e6 * hit / lookups,
        "miss_us": 1e6 * miss / lookups,
        "file_mb": size / 2**20,
        "peak_mb": peak_mb(),
    }


def child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--cache-rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--worker", choices=["cohort", "cache"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "cohort":
        print(json.dumps(cohort_worker(args.n)))  # noqa: T201 - a benchmark's output
        return
    if args.worker == "cache":
        print(json.dumps(cache_worker(args.n, args.lookups)))  # noqa: T201
        return

    print(f"# bench/scale.py on {platform.node()} ({platform.processor() or platform.machine()}), "  # noqa: T201
          f"{time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}")  # fmt: skip
    stages = ("load", "text", "splits", "baselines")
    header = (
        "| patients | "
        + " | ".join(f"{s} s" for s in stages)
        + " | load+splits s | peak MB | µs/patient (load, text, splits, baselines) |"
    )
    print("\n" + header)  # noqa: T201
    print("|" + "---|" * (len(stages) + 4))  # noqa: T201
    per: dict[int, list[float]] = {}
    for n in args.sizes:
        result = child(["--worker", "cohort", "--n", str(n)])
        s = result["stages"]
        per[n] = [1e6 * s[stage]["seconds"] / n for stage in stages]
        peak = max(v["peak_mb"] for v in s.values())
        print(  # noqa: T201
            f"| {n:,} | " + " | ".join(f"{s[stage]['seconds']:.2f}" for stage in stages)
            + f" | {s['load']['seconds'] + s['splits']['seconds']:.2f} | {peak:.0f} | "
            + ", ".join(f"{v:.0f}" for v in per[n]) + " |"
        )  # fmt: skip
    if len(per) > 1:
        small, large = min(per), max(per)
        ratios = ", ".join(f"{stage} {b / a:.2f}x" for stage, a, b in zip(stages, per[small], per[large], strict=True))
        print(f"\nPer-patient cost at {large:,} vs {small:,} patients: {ratios} (1.0x = linear)")  # noqa: T201
    print("\n| cached rows | fill s | lookup hit µs | lookup miss µs | file MB | peak MB |")  # noqa: T201
    print("|---|---|---|---|---|---|")  # noqa: T201
    hits = {}
    for rows in args.cache_rows:
        r = child(["--worker", "cache", "--n", str(rows)])
        hits[rows] = r["hit_us"]
        print(  # noqa: T201
            f"| {rows:,} | {r['fill_seconds']:.1f} | {r['hit_us']:.1f} | {r['miss_us']:.1f} | {r['file_mb']:.0f} | "
            f"{r['peak_mb']:.0f} |"
        )
    if len(hits) > 1:
        small, large = min(hits), max(hits)
        print(f"\nLookup time at {large:,} vs {small:,} cached rows: {hits[large] / hits[small]:.2f}x")  # noqa: T201


if __name__ == "__main__":
    main()
