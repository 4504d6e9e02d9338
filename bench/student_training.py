"""Student training throughput and memory, configurations measured side by side in one run.

The real SmolLM2-135M student trains on the same real pima-diabetes examples (the shipped teacher
rationales, `rationale_then_label`) for one pass in each configuration, each in its own process so
that its peak resident memory is its own. Throughput counts real tokens only (padding excluded).

    .venv/bin/python bench/student_training.py                       # default rows, 64 examples
    .venv/bin/python bench/student_training.py --rows before,grouped --examples 32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE = {
    "group_by_length": False,
    "chunked_loss": False,
    "checkpointing": False,
    "compile": False,
    "foreach": True,
    "mmap_threshold_mb": 0,  # 0: glibc's default (a threshold that grows as large blocks are freed)
}
TUNED = {**BASE, "group_by_length": True, "chunked_loss": True, "checkpointing": True}
ROWS: dict[str, dict[str, Any]] = {
    "before": BASE,
    "grouped": {**BASE, "group_by_length": True},
    "grouped+chunked": {**BASE, "group_by_length": True, "chunked_loss": True},
    "grouped+chunked+ckpt": {**BASE, "group_by_length": True, "chunked_loss": True, "checkpointing": True},
    "grouped+chunked+ckpt+loop-adamw": {**TUNED, "foreach": False},
    "grouped+chunked+ckpt+compile": {**TUNED, "compile": True},
    "grouped+chunked+ckpt+mmap": {**TUNED, "mmap_threshold_mb": 1},
    "grouped+chunked+ckpt+mmap+compile": {**TUNED, "mmap_threshold_mb": 1, "compile": True},
    "grouped+chunked+ckpt+mmap16+compile": {**TUNED, "mmap_threshold_mb": 16, "compile": True},
}
DEFAULT_ROWS = "before,grouped,grouped+chunked,grouped+chunked+ckpt"


def child(row: str, examples: int, batch_size: int, precision: str) -> dict[str, Any]:
    """One configuration, in this process: train one pass over the examples and report."""
    import torch
    from accelerate import Accelerator

    from clinreason.student.config import TrainConfig
    from clinreason.student.data import encode
    from clinreason.student.model import keeps_logits, load_student, resolve_precision
    from clinreason.student.train import (
        _checkpoint_activations,
        _forget_previous_run,
        batch_loss,
        collate,
        make_batches,
    )

    sys.path.insert(0, str(Path(__file__).parent))
    from student import real_examples  # the benchmark's shared helper: shipped teacher rationales

    settings = ROWS[row]
    _, _, chosen = real_examples(examples)
    config = TrainConfig(
        precision=precision,  # type: ignore[arg-type]
        batch_size=batch_size,
        group_by_length=settings["group_by_length"],
        chunked_loss=settings["chunked_loss"],
        gradient_checkpointing=settings["checkpointing"],
    )
    student = load_student(device="cpu")
    torch.manual_seed(0)
    _forget_previous_run()
    accelerator = Accelerator(mixed_precision=resolve_precision(precision), cpu=True)
    model = student.model
    if config.gradient_checkpointing:
        _checkpoint_activations(model)  # as training does
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, foreach=settings["foreach"])
    model, optimizer = accelerator.prepare(model, optimizer)
    if settings["compile"]:
        model = torch.compile(model, dynamic=True)
    encoded = [encode(student.tokenizer, e, student.kind, config.max_length) for e in chosen]
    batches = make_batches([len(e.input_ids) for e in encoded], batch_size, 0, 0, config.group_by_length)
    keep = keeps_logits(student.model)
    model.train()
    real = padded = 0
    first_step = 0.0
    losses, seconds = [], 0.0
    for number, indices in enumerate(batches):
        items = [encoded[i] for i in indices]
        batch = collate(items, student.tokenizer.pad_token_id, student.kind)
        tasks = batch.pop("tasks")
        started = time.perf_counter()
        with accelerator.autocast():
            loss = batch_loss(
                model, {**batch, "tasks": tasks}, student.kind, config.objective, 0.5, keep, chunked=config.chunked_loss
            )
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        elapsed = time.perf_counter() - started
        if number == 0:
            first_step = elapsed
        if number or len(batches) == 1:  # the first step warms up (and compiles)
            seconds += elapsed
            real += int(batch["attention_mask"].sum())
            padded += int(batch["attention_mask"].numel())
        losses.append(float(loss.detach()))
    return {
        "row": row,
        **settings,
        "precision": resolve_precision(precision),
        "batches": len(batches),
        "real_tokens_per_s": round(real / seconds, 1),
        "padding_share": round(1 - real / padded, 3),
        "seconds": round(seconds, 1),
        "first_step_s": round(first_step, 1),
        "mean_loss": round(sum(losses) / len(losses), 4),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.examples, args.batch_size, args.precision)))
        return
    results = []
    for row in args.rows.split(","):
        command = [sys.executable, __file__, "--child", row, "--examples", str(args.examples)]
        command += ["--batch-size", str(args.batch_size), "--precision", args.precision]
        env = dict(os.environ)
        if ROWS[row]["mmap_threshold_mb"]:  # glibc maps blocks this large on their own, unmapped when freed
            env["MALLOC_MMAP_THRESHOLD_"] = str(ROWS[row]["mmap_threshold_mb"] << 20)
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"measured {row}: {results[-1]['real_tokens_per_s']} real tokens/s", flush=True)
    base = results[0]
    print(f"\nSmolLM2-135M, {args.examples} real examples, batch {args.batch_size}, one pass each, {base['precision']}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {datetime.now(UTC):%Y-%m-%d}\n"
    )
    columns = ["row", "real_tokens_per_s", "padding_share", "first_step_s", "seconds", "mean_loss", "peak_rss_gb"]
    print("| " + " | ".join([*columns, f"vs {base['row']}"]) + " |")
    print("|" + "---|" * (len(columns) + 1))
    for r in results:
        ratio = r["real_tokens_per_s"] / base["real_tokens_per_s"]
        print("| " + " | ".join([*(str(r[c]) for c in columns), f"{ratio:.2f}x"]) + " |")
    if args.json:
        args.json.write_text(
            json.dumps({"config": vars(args) | {"json": str(args.json)}, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
