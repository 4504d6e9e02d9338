"""The student through its GGUF export (llama.cpp, embedded through xllamacpp) against the PyTorch student,
measured side by side in this one run on the same patients.

1. One rationale at a time: latency per patient (median over `--single` test patients).
2. 8 patients at once: PyTorch in one batch of 8 (as `serve` micro-batches them), llama.cpp with 8
   parallel slots; patients per second.
3. What the quantization costs (and whether n-gram speculation, drafts copied from the prompt, changes
   an answer): every test patient scored and explained by each engine (PyTorch fp32,
   GGUF f16, GGUF q8_0): accuracy, macro-F1, AUROC (argmax), verified-claim rate and wrong claims
   per rationale; and how often the GGUF rationale is the PyTorch one word for word.

Each engine runs in a process of its own, as it would be served: in one process, llama.cpp ran 2x
slower after PyTorch had computed there (its OpenMP threads and PyTorch's share the 2 cores badly).

    .venv/bin/python bench/serve_gguf.py runs/demo --student rationale_then_label
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENGINES = ("pytorch fp32", "gguf f16", "gguf q8_0", "gguf f16 + ngram", "gguf q8_0 + ngram", "gguf q8_0 + ngram_map")
# n-gram drafts from the prompt: llama.cpp's ngram_simple with the teacher's settings (6 tokens on 3-grams),
# and ngram_map_k with 8 tokens on 2-grams, the best of a sweep on this student (serve's defaults)
SPECULATION = {
    "ngram": {"kind": "ngram", "draft_tokens": 6, "ngram": 3},
    "ngram_map": {"kind": "ngram_map", "draft_tokens": 8, "ngram": 2},
}


def measure(run: Path, export: Path, engine: str, single: int, limit: int) -> dict[str, Any]:
    """One engine's three measurements (run in a child process)."""
    import numpy as np

    from clinreason.evaluate.claims import check_claims
    from clinreason.evaluate.diagnosis import diagnosis_metrics
    from clinreason.pipeline.config import load_run_config
    from clinreason.records import Splits, load_cohort
    from clinreason.serve.export import load_exported
    from clinreason.student.predict import predict
    from clinreason.teacher.speculation import Speculation

    config = load_run_config(run / "config.yaml")
    tokens = config.evaluation.max_new_tokens
    cohort = load_cohort(config.data.cohort)
    test = Splits.load(run / "splits.json").apply(cohort, "test").records
    test = test[:limit] if limit else test
    _, _, drafts = engine.partition(" + ")
    speculation = Speculation.model_validate(SPECULATION[drafts]) if drafts else Speculation(kind="none")
    model = (
        load_exported(export)
        if engine == "pytorch fp32"
        else load_exported(export, engine="llamacpp", slots=8, speculation=speculation)
    )
    objective = model.objective
    predict(model.student, model.cohort, test[:1], objective, max_new_tokens=8)  # warm up
    times = []
    for record in test[:single]:
        started = time.perf_counter()
        predict(model.student, model.cohort, [record], objective, max_new_tokens=tokens)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    predict(model.student, model.cohort, test[:8], objective, max_new_tokens=tokens, batch_size=8)
    rate = 8 / (time.perf_counter() - started)
    started = time.perf_counter()
    predictions = predict(model.student, model.cohort, test, objective, max_new_tokens=tokens)
    seconds = time.perf_counter() - started
    labels = model.cohort.labels
    metrics = diagnosis_metrics(
        [r.labels[0] for r in test],
        [p.predicted for p in predictions],
        labels,
        np.array([[p.probabilities[label] for label in labels] for p in predictions]),
    )
    supported = checked = doubtful = 0
    for prediction, record in zip(predictions, test, strict=True):
        report = check_claims(
            prediction.rationale or "", record, categories=model.categories, reference_text=model.sheet
        )
        supported, checked, doubtful = (
            supported + report.count("supported"),
            checked + report.checked,
            doubtful + report.hallucinated,
        )
    return {
        "single_s": statistics.median(times),
        "rate": rate,
        "accuracy": metrics.accuracy,
        "macro_f1": metrics.macro_f1,
        "auroc": metrics.auroc,
        "verified": supported / checked if checked else None,
        "wrong": doubtful / len(test),
        "rationales": [p.rationale for p in predictions],
        "seconds": seconds,
        "patients": len(test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--student", default="rationale_then_label")
    parser.add_argument("--single", type=int, default=3, help="Patients for the one-at-a-time latency.")
    parser.add_argument("--test", type=int, default=0, help="Test patients for the quality rows (0: all).")
    parser.add_argument("--child", nargs=2, metavar=("EXPORT", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.run, Path(args.child[0]), args.child[1], args.single, args.test)))
        return

    from clinreason.pipeline.config import load_run_config
    from clinreason.serve.export import export_student

    tokens = load_run_config(args.run / "config.yaml").evaluation.max_new_tokens
    print(
        f"{platform.system()} {platform.machine()}, {time.strftime('%Y-%m-%d')}; student {args.student} of "
        f"{args.run}, {tokens} new tokens at most; each engine in its own process",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        exports = {}
        for quant in ("f16", "q8_0"):
            started = time.perf_counter()
            exports[quant] = export_student(args.run, Path(scratch) / quant, args.student, gguf=quant)  # type: ignore[arg-type]
            size = (exports[quant] / "student.gguf").stat().st_size / 2**20
            print(f"export {quant}: {time.perf_counter() - started:.1f} s, {size:.0f} MiB", flush=True)
        for engine in ENGINES:
            export = exports["f16" if engine == "pytorch fp32" else engine.split()[1]]
            command = [
                sys.executable,
                __file__,
                str(args.run),
                "--single",
                str(args.single),
                "--test",
                str(args.test),
                "--child",
                str(export),
                engine,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[engine] = row = json.loads(done.stdout.strip().splitlines()[-1])
            same = ""
            if engine != "pytorch fp32":
                equal = sum(
                    a == b for a, b in zip(row["rationales"], results["pytorch fp32"]["rationales"], strict=True)
                )
                same = f", rationale = PyTorch's for {equal}/{row['patients']}"
            print(
                f"{engine:21s} one rationale {row['single_s']:.2f} s; 8 at once {row['rate']:.2f} patients/s; "
                f"{row['patients']} test patients: accuracy {row['accuracy']:.3f}, macro-F1 {row['macro_f1']:.3f}, "
                f"AUROC {row['auroc']:.3f}, verified {row['verified']:.3f}, wrong/rationale {row['wrong']:.3f}{same} "
                f"({row['seconds']:.0f} s)",
                flush=True,
            )
    base = results["pytorch fp32"]
    for engine in ENGINES[1:]:
        row = results[engine]
        print(
            f"{engine}: one rationale {base['single_s'] / row['single_s']:.2f}x lower latency, 8 at once "
            f"{row['rate'] / base['rate']:.2f}x the throughput of PyTorch"
        )


if __name__ == "__main__":
    main()
