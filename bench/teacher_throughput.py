"""Teacher throughput: rationales per hour with 1 slot vs 4 slots, measured side by side in one run.

Each configuration gets a fresh model server and an empty cache (nothing is served from a cache),
the same patients, prompt and exemplars. Every slot first prefills the shared prefix (system prompt,
fact sheet, exemplars) once; that warm-up is timed separately, then N rationales are timed.

    .venv/bin/python bench/teacher_throughput.py                 # default teacher, 1 vs 4 slots
    .venv/bin/python bench/teacher_throughput.py --model smollm2-135m --n 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clinreason.records import load_cohort, make_splits
from clinreason.teacher import Sampling, TeacherCache, TeacherConfig, load_exemplars, load_prompt, run_teacher
from clinreason.teacher.gguf_backend import EmbeddedGGUFBackend
from clinreason.teacher.models import DEFAULT_TEACHER
from clinreason.teacher.prompts import build_messages


def measure(model: str, slots: int, n: int, max_tokens: int, cohort_name: str) -> dict[str, float]:
    cohort = load_cohort(cohort_name)
    train = make_splits(cohort, seed=0).apply(cohort, "train").records
    warm, timed = train[:slots], train[slots : slots + n]
    template, shots = load_prompt("kwon-rationalize"), load_exemplars(cohort)
    backend = EmbeddedGGUFBackend(model, slots=slots)
    started = time.perf_counter()
    backend.check()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=slots) as pool:  # one request per slot: each prefills the shared prefix
        list(
            pool.map(
                lambda r: backend.chat(build_messages(template, cohort, r, shots), Sampling(max_tokens=1)),
                warm,
            )
        )
    warmup_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder, TeacherCache(Path(folder) / "cache.sqlite") as cache:
        run = run_teacher(
            cohort,
            timed,
            backend,
            cache,
            template,
            exemplars=shots,
            config=TeacherConfig(sampling=Sampling(max_tokens=max_tokens), max_attempts=1, slots=slots),
        )
    backend.close()
    seconds = run.summary.seconds
    return {
        "slots": slots,
        "rationales": n,
        "load_s": round(load_s, 1),
        "warmup_s": round(warmup_s, 1),
        "seconds": round(seconds, 1),
        "tokens": run.summary.completion_tokens,
        "tokens_per_s": round(run.summary.completion_tokens / seconds, 2),
        "rationales_per_hour": round(n / seconds * 3600, 1),
        "rationales_per_hour_with_warmup": round(n / (seconds + warmup_s) * 3600, 1),
        "kept": run.summary.kept,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_TEACHER)
    parser.add_argument("--n", type=int, default=8, help="rationales timed per configuration")
    parser.add_argument("--slots", default="1,4", help="comma-separated slot counts")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--cohort", default="heart-disease")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = [measure(args.model, int(s), args.n, args.max_tokens, args.cohort) for s in args.slots.split(",")]
    header = f"teacher {args.model}, cohort {args.cohort}, {args.n} rationales, max {args.max_tokens} tokens"
    print(header)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    columns = [
        "slots",
        "load_s",
        "warmup_s",
        "seconds",
        "tokens",
        "tokens_per_s",
        "rationales_per_hour",
        "rationales_per_hour_with_warmup",
        "kept",
    ]
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(str(row[c]) for c in columns))
    base = results[0]["rationales_per_hour"]
    for row in results[1:]:
        ratio = row["rationales_per_hour"] / base
        print(f"{row['slots']} slots vs {results[0]['slots']}: {ratio:.2f}x rationales per hour")
    if args.json:
        args.json.write_text(
            json.dumps({"config": vars(args) | {"json": str(args.json)}, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
