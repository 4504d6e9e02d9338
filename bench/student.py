"""Student benchmark: training tokens/s and per-patient inference latency of the student vs the teacher.

CPU (always): the real SmolLM2-135M student, fine-tuned on real pima-diabetes examples in fp32 and in
bf16 autocast; per-patient latency of the student's label scoring and rationale generation next to
the embedded default teacher writing one rationale, all measured in this one run.
GPU (when CUDA is available): a SmolLM2-135M-sized model built from its config, trained in bf16,
reporting tokens/s and model FLOPs utilisation (MFU) against the GPU's dense bf16 peak.

    .venv/bin/python bench/student.py                  # CPU part (and GPU part if there is one)
    .venv/bin/python bench/student.py --skip-teacher   # without the 1.5B teacher (faster)
    python bench/student.py --gpu-only                 # on a GPU machine: only the from-config part
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

# Dense bf16 tensor-core peak (no sparsity), from the vendors' data sheets, in FLOP/s.
PEAK_BF16 = {
    "H100 SXM": 989e12,
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10": 125e12,
}
SMOLLM2_135M = {
    "vocab_size": 49152,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "max_position_embeddings": 8192,
    "tie_word_embeddings": True,
    "rope_theta": 100000.0,
}


def real_examples(n: int) -> tuple[Any, Any, list[Any]]:
    """The first `n` pima-diabetes training patients with the teacher's rationales shipped in the demo seed."""
    import tempfile

    from clinreason.pipeline.config import RunConfig
    from clinreason.pipeline.shipped import seed_file
    from clinreason.records import load_cohort, make_splits
    from clinreason.student.data import build_examples
    from clinreason.teacher import CacheOnlyBackend, TeacherCache, load_exemplars, load_prompt, run_teacher

    cohort = load_cohort("pima-diabetes")
    records = make_splits(cohort, seed=0).apply(cohort, "train").records
    seed = seed_file(cohort.name)
    if seed is None:
        raise SystemExit("no shipped pima-diabetes seed")
    with tempfile.TemporaryDirectory() as folder, TeacherCache(Path(folder) / "cache.sqlite") as cache:
        cache.import_jsonl(seed)
        teacher = RunConfig().teacher  # the demo's settings, as the seed was made with
        run = run_teacher(
            cohort,
            records,
            CacheOnlyBackend(teacher.backend, teacher.model),
            cache,
            load_prompt(teacher.prompt),
            exemplars=load_exemplars(cohort),
            config=teacher,
            stop_after_failures=10**6,
        )
    rationales = {r.record_id: r.rationale for r in run.results if r.status == "kept" and r.rationale}
    records = [r for r in records if r.id in rationales][:n]
    return cohort, records, build_examples(cohort, records, "rationale_then_label", rationales)


def train_speed(student: Any, examples: list[Any], precision: str, steps: int, batch_size: int) -> dict[str, float]:
    import torch
    from accelerate import Accelerator

    from clinreason.student.config import TrainConfig
    from clinreason.student.train import batch_loss, collate, encode

    config = TrainConfig(precision=precision, batch_size=batch_size)  # type: ignore[arg-type]
    from clinreason.student.model import keeps_logits, resolve_precision
    from clinreason.student.train import _checkpoint_activations, _forget_previous_run

    _forget_previous_run()
    if config.gradient_checkpointing:  # the training defaults (bench/student_training.py compares them)
        _checkpoint_activations(student.model)
    accelerator = Accelerator(mixed_precision=resolve_precision(precision), cpu=not torch.cuda.is_available())
    model = student.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model, optimizer = accelerator.prepare(model, optimizer)
    encoded = [encode(student.tokenizer, e, student.kind, config.max_length) for e in examples]
    keep = keeps_logits(model)
    times, tokens = [], []
    model.train()
    for step in range(steps + 1):
        items = encoded[(step * batch_size) % len(encoded) :][:batch_size]
        batch = collate(items, student.tokenizer.pad_token_id, student.kind)
        tasks = batch.pop("tasks")
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        started = time.perf_counter()
        with accelerator.autocast():
            loss = batch_loss(
                model,
                {**batch, "tasks": tasks},
                student.kind,
                "rationale_then_label",
                0.5,
                keep,
                chunked=config.chunked_loss,
            )
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        if step:  # the first step warms up
            times.append(time.perf_counter() - started)
            tokens.append(int(batch["attention_mask"].sum()))
    return {
        "precision": resolve_precision(precision),
        "steps": steps,
        "batch": batch_size,
        "tokens_per_s": round(sum(tokens) / sum(times), 1),
        "seconds_per_step": round(statistics.median(times), 2),
        "peak_rss_gb_so_far": round(_peak_rss_gb(), 2),
    }


def _peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB); each configuration's own peak
    is in bench/student_training.py, which runs every configuration in its own process."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def student_latency(student: Any, cohort: Any, records: list[Any], new_tokens: int) -> dict[str, Any]:
    """As the pipeline predicts: label scoring with the fp32 weights; rationales written by a bf16 copy
    where the CPU computes bf16 natively. Rationales are forced to `new_tokens` tokens (the untrained
    base model would not stop where a fine-tuned student does), one patient at a time and 8 at once."""
    import torch

    from clinreason.student.data import FINAL, prompt_ids, student_prompt
    from clinreason.student.predict import _for_generation, option_probabilities

    letters = ["A", "B"]
    prompts = [student_prompt(cohort, r, "rationale_then_label") for r in records]
    scoring = []
    for prompt in prompts:
        started = time.perf_counter()
        option_probabilities(student, prompt, FINAL, letters)
        scoring.append(time.perf_counter() - started)
    writer = _for_generation(student, "auto")
    tokenizer = student.tokenizer

    def write(batch: list[str]) -> float:
        rows = [prompt_ids(tokenizer, p, student.kind) for p in batch]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        started = time.perf_counter()
        with torch.inference_mode():
            writer.model.generate(
                input_ids=ids,
                attention_mask=mask,
                min_new_tokens=new_tokens,
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        return time.perf_counter() - started

    write(prompts[:1])  # warm-up
    single = [write([p]) for p in prompts[:2]]
    batch = prompts[:8]
    batched = write(batch) / len(batch)
    return {
        "generation_dtype": str(writer.model.dtype),
        "label_scoring_s": round(statistics.median(scoring), 3),
        "rationale_tokens": new_tokens,
        "rationale_s": round(statistics.median(single), 2),
        "rationale_s_per_patient_batch_8": round(batched, 2),
    }


def teacher_latency(cohort: Any, records: list[Any]) -> dict[str, float]:
    from clinreason.teacher import Sampling, build_messages, load_exemplars, load_prompt
    from clinreason.teacher.gguf_backend import EmbeddedGGUFBackend

    backend = EmbeddedGGUFBackend("qwen2.5-coder-1.5b", slots=1)
    template, shots = load_prompt("kwon-rationalize"), load_exemplars(cohort)
    backend.chat(build_messages(template, cohort, records[0], shots), Sampling(max_tokens=1))  # prefill the prefix
    seconds, tokens = [], []
    for record in records[1:]:
        completion = backend.chat(build_messages(template, cohort, record, shots), Sampling(max_tokens=384))
        seconds.append(completion.seconds)
        tokens.append(completion.completion_tokens or 0)
    backend.close()
    return {
        "rationale_s": round(statistics.median(seconds), 2),
        "rationale_tokens": int(statistics.median(tokens)),
        "tokens_per_s": round(sum(tokens) / sum(seconds), 1),
    }


def gpu_from_config(batch_size: int, seq_len: int, steps: int) -> dict[str, Any]:
    """A SmolLM2-135M-sized Llama from its config, bf16 autocast, full training steps on CUDA."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M)).to(device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    ids = torch.randint(0, SMOLLM2_135M["vocab_size"], (batch_size, seq_len), device=device)
    times = []
    for step in range(steps + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    tokens_per_s = batch_size * seq_len / seconds
    layers, hidden = SMOLLM2_135M["num_hidden_layers"], SMOLLM2_135M["hidden_size"]
    # Training FLOPs per token: 6 N for the weights plus 12 L d s for attention scores (PaLM appendix B).
    flops_per_token = 6 * params + 12 * layers * hidden * seq_len
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k.lower().replace(" sxm", "") in name.lower()), None)
    return {
        "device": name,
        "params": params,
        "batch": batch_size,
        "seq_len": seq_len,
        "tokens_per_s": round(tokens_per_s),
        "seconds_per_step": round(seconds, 4),
        "model_tflops": round(flops_per_token * tokens_per_s / 1e12, 1),
        "mfu": round(flops_per_token * tokens_per_s / peak, 3) if peak else None,
        "peak_bf16_tflops": peak / 1e12 if peak else None,
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 1) if device == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patients", type=int, default=4, help="patients timed for inference latency")
    parser.add_argument("--skip-teacher", action="store_true")
    parser.add_argument("--gpu-only", action="store_true")
    parser.add_argument("--gpu-batch", type=int, default=32)
    parser.add_argument("--gpu-seq", type=int, default=1024)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch": torch.__version__}
    if not args.gpu_only:
        from clinreason.student.model import load_student

        cohort, records, examples = real_examples(max(args.steps + 1, 2) * args.batch_size)
        results["cpu_training"] = [
            train_speed(load_student(device="cpu"), examples, precision, args.steps, args.batch_size)
            for precision in ("fp32", "auto")
        ]
        student = load_student(device="cpu")
        teacher = None if args.skip_teacher else teacher_latency(cohort, records[: args.patients + 1])
        new_tokens = teacher["rationale_tokens"] if teacher else 200  # the same length for both
        results["student_latency"] = student_latency(student, cohort, records[: max(args.patients, 8)], new_tokens)
        if teacher:
            results["teacher_latency"] = teacher
    if torch.cuda.is_available():
        results["gpu_training"] = gpu_from_config(args.gpu_batch, args.gpu_seq, args.steps + 5)
    print(json.dumps(results, indent=2))
    if "student_latency" in results and "teacher_latency" in results:
        s, t = results["student_latency"], results["teacher_latency"]
        one, eight, label = s["rationale_s"], s["rationale_s_per_patient_batch_8"], s["label_scoring_s"]
        slow = t["rationale_s"]
        print(
            f"per-patient rationale of {s['rationale_tokens']} tokens: student {one} s ({eight} s in batches of 8) "
            f"vs teacher {slow} s ({slow / one:.1f}x, batched {slow / eight:.1f}x); "
            f"diagnosis only (label scoring): {label} s ({slow / label:.0f}x)"
        )
    if "cpu_training" in results and len(results["cpu_training"]) == 2:
        fp32, auto = results["cpu_training"]
        print(
            f"training: {auto['precision']} {auto['tokens_per_s']} tok/s vs fp32 {fp32['tokens_per_s']} tok/s "
            f"({auto['tokens_per_s'] / fp32['tokens_per_s']:.2f}x)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
