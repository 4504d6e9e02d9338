"""Serving benchmark: a real `clinreason serve` app on loopback under a bounded load, micro-batching
against one request at a time, measured side by side in this one run.

For 1, 4 and 16 concurrent clients (each sending `--requests` single-patient requests one after
another, patients drawn from the run's test split), diagnosis only and with the rationale: throughput
(patients/s), latency p50 / p95 / p99, failed requests. "one at a time" is the same server with
`max_batch=1`. Every configuration gets its own server; the model is loaded once.

    .venv/bin/python bench/serve.py runs/demo --student label+values+linear-lr-gated
    .venv/bin/python bench/serve.py runs/demo --student rationale_then_label --requests 4 --clients 1,4

The figures in docs/benchmarks.md (2026-12-02) are of the demo's text `label` student of then; a run
that still has one: `bench/serve.py runs/benchmark/pima-diabetes/seed-0 --student label`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback server helper


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def load(
    url: str, patients: list[dict[str, Any]], clients: int, requests: int, rationale: bool
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    failures = 0

    async def client(index: int, session: httpx.AsyncClient) -> None:
        nonlocal failures
        for n in range(requests):
            patient = patients[(index * requests + n) % len(patients)]
            started = time.perf_counter()
            reply = await session.post(f"{url}/v1/diagnose", json={"patient": patient, "rationale": rationale})
            latencies.append(time.perf_counter() - started)
            failures += reply.status_code != 200

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as session:
        await asyncio.gather(*(client(i, session) for i in range(clients)))
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": clients * requests,
        "failed": failures,
        "patients_per_s": clients * requests / wall,
        "p50_s": statistics.median(latencies),
        "p95_s": percentile(latencies, 95),
        "p99_s": percentile(latencies, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--student", default=None)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=8, help="Requests per client.")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from clinreason.pipeline.config import load_run_config
    from clinreason.records import Splits, load_cohort
    from clinreason.serve import ServeSettings, create_app, load_served
    from doubles import Server

    model = load_served(args.run, args.student)
    config = load_run_config(args.run / "config.yaml")
    cohort = load_cohort(config.data.cohort)
    test = Splits.load(args.run / "splits.json").apply(cohort, "test").records
    patients = [
        {"id": r.id, "age": r.age, "sex": r.sex, "findings": {k: f.value for k, f in r.findings.items()}} for r in test
    ]
    modes = [False] + ([True] if model.objective != "label" else [])
    rows = []
    for rationale in modes:
        for clients in (int(c) for c in args.clients.split(",")):
            for name, batch in (("micro-batched", args.max_batch), ("one at a time", 1)):
                settings = ServeSettings(
                    max_batch=batch, max_wait_ms=5.0, max_new_tokens=config.evaluation.max_new_tokens
                )
                with Server(create_app(model, settings)) as url:
                    row = asyncio.run(load(url, patients, clients, args.requests, rationale))
                rows.append({"mode": name, "rationale": rationale, **row})
                print(
                    f"{'rationale' if rationale else 'diagnosis'} {clients:2d} client(s), {name:13s}: "
                    f"{row['patients_per_s']:.2f} patients/s, p50 {row['p50_s']:.3f} s, p95 {row['p95_s']:.3f} s, "
                    f"p99 {row['p99_s']:.3f} s, {row['failed']} failed",
                    flush=True,
                )
    summary = {
        "model": model.card.model_id,
        "machine": f"{platform.system()} {platform.machine()}",
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    for rationale in modes:
        for clients in (int(c) for c in args.clients.split(",")):
            pair = [r for r in rows if r["rationale"] == rationale and r["clients"] == clients]
            fast = next(r for r in pair if r["mode"] == "micro-batched")["patients_per_s"]
            slow = next(r for r in pair if r["mode"] == "one at a time")["patients_per_s"]
            print(f"{'rationale' if rationale else 'diagnosis'} {clients} client(s): micro-batching {fast / slow:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
