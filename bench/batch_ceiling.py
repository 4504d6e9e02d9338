"""How much can batching speed up diagnosis on this machine at all? The ceiling under `serve`'s
micro-batching, measured side by side in this one run, without a server.

The same test patients are scored (diagnosis only, no rationale) by `predict` at batch sizes 1, 4, 16
and 64, and the student's forward pass is counted in floating-point operations (2 x non-embedding
parameters per prompt token plus the output layer at the scored positions), so the achieved GFLOP/s
can be set beside the best a plain matrix product of the model's own shapes reaches on these cores.
If batch 64 without any queueing is not 3x batch 1, no micro-batching server is. The same patients are
then scored with the weights in bf16 (this CPU's bf16 products are about 4x its fp32 ones), once with
the output layer kept in fp32, once entirely in bf16, and the AUROC of each is set beside fp32's:
faster scoring that changes the model's ranking is not a speed-up of the same model.

    .venv/bin/python bench/batch_ceiling.py runs/benchmark/pima-diabetes/seed-0 --student label

A text student (the FLOP count and the bf16 variants assume a plain causal language model); the
recorded figures (docs/benchmarks.md, 2026-12-02) are of the demo's text `label` student of then,
which the demo no longer trains (it trains a numeric-aware one since 2026-12-07).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path


def gemm_gflops(dtype_name: str, rows: int, inner: int, cols: int, repeats: int = 20) -> float:
    """Best-of-repeats throughput of one matrix product shaped like the student's MLP."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(rows, inner, dtype=dtype)
    b = torch.randn(inner, cols, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * rows * inner * cols / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--student", default=None)
    parser.add_argument("--batches", default="1,4,16,64")
    args = parser.parse_args()

    import torch

    from clinreason.pipeline.config import load_run_config
    from clinreason.records import Splits, load_cohort
    from clinreason.serve import load_served
    from clinreason.student.predict import _prompt, predict

    model = load_served(args.run, args.student)
    config = load_run_config(args.run / "config.yaml")
    cohort = load_cohort(config.data.cohort)
    test = Splits.load(args.run / "splits.json").apply(cohort, "test").records
    records = test
    network = model.student.model
    parameters = sum(p.numel() for p in network.parameters())
    embedding = network.get_input_embeddings().weight
    body = parameters - embedding.numel()
    prompts = [_prompt(model.student, model.cohort, r, model.objective, "label") for r in records]  # type: ignore[arg-type]
    tokens = sum(len(model.student.tokenizer(p).input_ids) for p in prompts) / len(records)
    options = len(model.cohort.labels)
    flop_per_patient = 2 * body * tokens + 2 * embedding.numel() * options
    dtype = next(network.parameters()).dtype
    print(
        f"{platform.system()} {platform.machine()}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}; "
        f"model {model.card.model_id} ({parameters / 1e6:.0f}M parameters, {body / 1e6:.0f}M outside the "
        f"embedding, {dtype}); {len(records)} patients, prompts of about {tokens:.0f} tokens, "
        f"about {flop_per_patient / 1e9:.1f} GFLOP a patient",
        flush=True,
    )
    hidden = embedding.shape[1]
    for name in ("float32", "bfloat16"):
        rate = gemm_gflops(name, 64 * 200, hidden, hidden * 4)
        print(f"matrix product {64 * 200} x {hidden} x {hidden * 4} in {name}: {rate:.0f} GFLOP/s")

    objective = model.objective
    positive = model.cohort.labels[0]
    truth = [int(r.label == positive) for r in records]

    def score(batch: int) -> tuple[float, list[float]]:
        started = time.perf_counter()
        out = predict(model.student, model.cohort, records, objective, with_rationale=False, batch_size=batch)  # type: ignore[arg-type]
        return len(records) / (time.perf_counter() - started), [p.probabilities[positive] for p in out]

    score(4)  # warm-up
    rates: dict[int, float] = {}
    reference: list[float] = []
    for batch in (int(b) for b in args.batches.split(",")):
        rates[batch], reference = score(batch)
        print(
            f"fp32, batch {batch:3d}: {rates[batch]:.2f} patients/s ({1000 / rates[batch]:.0f} ms a patient, "
            f"{flop_per_patient * rates[batch] / 1e9:.0f} GFLOP/s), {rates[batch] / rates[min(rates)]:.2f}x batch 1",
            flush=True,
        )
    if len(set(truth)) < 2 or len(model.cohort.labels) != 2:
        return
    from sklearn.metrics import roc_auc_score

    print(f"fp32: AUROC {roc_auc_score(truth, reference):.3f} on these {len(records)} patients")
    head = network.get_output_embeddings()
    tied = head.weight
    network.to(torch.bfloat16)
    head.weight = torch.nn.Parameter(tied.detach().float().clone())  # untied, kept in fp32
    hook = head.register_forward_pre_hook(lambda _module, inputs: (inputs[0].float(),))
    for name in ("bf16 body, fp32 output layer", "bf16 throughout"):
        if name == "bf16 throughout":
            hook.remove()
            head.weight = network.get_input_embeddings().weight
        for batch in (1, 16):
            rate, probabilities = score(batch)
            change = max(abs(a - b) for a, b in zip(probabilities, reference, strict=True))
            print(
                f"{name}, batch {batch:2d}: {rate:.2f} patients/s ({rate / rates[min(rates)]:.2f}x fp32 batch 1), "
                f"AUROC {roc_auc_score(truth, probabilities):.3f}, {len(set(probabilities))} distinct probabilities, "
                f"largest change {change:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
