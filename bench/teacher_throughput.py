"""Teacher throughput of the embedded GGUF backend, configurations measured side by side in one run.

Each configuration gets a fresh model server and the same patients, prompt and exemplars, greedy,
with no teacher cache in front (every answer is generated). Every slot first prefills the shared
prefix (system prompt, fact sheet, exemplars) once; that warm-up is timed separately, then N
rationales are timed. Texts are compared with the reference configuration's (prefix reuse, 1 slot,
no speculation: what the teacher did before speculation existed).

    .venv/bin/python bench/teacher_throughput.py                       # default teacher and rows
    .venv/bin/python bench/teacher_throughput.py --model smollm2-135m --n 4
    .venv/bin/python bench/teacher_throughput.py --rows prefix-1,ngram-1,ngram:4/2-1,draft-1 --draft qwen2.5-coder-0.5b
    .venv/bin/python bench/teacher_throughput.py --cross-slot          # does slot 2 reuse slot 1's prefix?
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clinreason.knowledge import fact_sheet
from clinreason.records import PatientRecord, load_cohort, make_splits
from clinreason.teacher import Sampling, load_exemplars, load_prompt
from clinreason.teacher.backend import Message
from clinreason.teacher.gguf_backend import EmbeddedGGUFBackend
from clinreason.teacher.models import DEFAULT_TEACHER
from clinreason.teacher.prompts import build_messages
from clinreason.teacher.speculation import Speculation

DEFAULT_ROWS = "naive-1,prefix-1,prefix-4,ngram-1,map:10/4-1,ngram-4"
MAX_SLOTS = 8


@dataclass(frozen=True)
class Row:
    name: str
    slots: int
    prefix_cache: bool
    speculation: Speculation


def parse_row(spec: str, draft: str | None) -> Row:
    """'prefix-4', 'naive-1', 'ngram-1' (the default 6 tokens on 3-grams), 'ngram:8/4-1', 'map:10/4-1',
    'draft:4-1' (4 tokens from the --draft model)."""
    kind, _, slots = spec.rpartition("-")
    name, _, numbers = kind.partition(":")
    parts = [int(x) for x in numbers.split("/")] if numbers else []
    tokens, ngram = (parts + [6, 3][len(parts) :])[:2]
    if name == "naive":
        return Row(spec, int(slots), False, Speculation(kind="none"))
    if name == "prefix":
        return Row(spec, int(slots), True, Speculation(kind="none"))
    if name in ("ngram", "map"):
        kind_name = "ngram" if name == "ngram" else "ngram_map"
        return Row(spec, int(slots), True, Speculation(kind=kind_name, draft_tokens=tokens, ngram=ngram))
    if name == "draft":
        return Row(spec, int(slots), True, Speculation(kind="draft", draft_model=draft, draft_tokens=tokens))
    raise SystemExit(f"unknown row '{spec}'")


def measure(model: str, row: Row, n: int, max_tokens: int, cohort_name: str) -> dict[str, object]:
    cohort = load_cohort(cohort_name)
    train = make_splits(cohort, seed=0).apply(cohort, "train").records
    # warm-up patients are never timed, and every row times the same patients (so texts compare)
    warm, timed = train[: row.slots], train[MAX_SLOTS : MAX_SLOTS + n]
    template, shots, sheet = load_prompt("kwon-rationalize"), load_exemplars(cohort), fact_sheet(cohort)

    def messages(record: PatientRecord) -> list[Message]:
        return build_messages(template, cohort, record, shots, sheet)

    backend = EmbeddedGGUFBackend(model, slots=row.slots, speculation=row.speculation, prefix_cache=row.prefix_cache)
    started = time.perf_counter()
    backend.check()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=row.slots) as pool:  # one request per slot: each prefills the prefix
        list(
            pool.map(
                lambda r: backend.chat(build_messages(template, cohort, r, shots, sheet), Sampling(max_tokens=1)), warm
            )
        )
    warmup_s = time.perf_counter() - started
    greedy = Sampling(max_tokens=max_tokens)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=row.slots) as pool:
        completions = list(
            pool.map(lambda r: backend.chat(build_messages(template, cohort, r, shots, sheet), greedy), timed)
        )
    seconds = time.perf_counter() - started
    backend.close()
    tokens = sum(c.completion_tokens or 0 for c in completions)
    prompt = sum(c.prompt_tokens or 0 for c in completions)
    drafted = sum(c.drafted_tokens or 0 for c in completions)
    return {
        "row": row.name,
        "slots": row.slots,
        "prefix_cache": row.prefix_cache,
        "speculation": row.speculation.label(),
        "load_s": round(load_s, 1),
        "warmup_s": round(warmup_s, 1),
        "seconds": round(seconds, 1),
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 2),
        "rationales_per_hour": round(n / seconds * 3600, 1),
        "cached_prompt_share": round(sum(c.cached_prompt_tokens or 0 for c in completions) / prompt, 3)
        if prompt
        else None,
        "accepted_draft_share": round(sum(c.accepted_tokens or 0 for c in completions) / drafted, 3)
        if drafted
        else None,
        "texts": [c.text for c in completions],
    }


def cross_slot(model: str, cohort_name: str) -> list[dict[str, object]]:
    """Prefill the shared prefix in slot 0 (one request pinned there), then send another patient pinned to
    slot 1 and read how many of its prompt tokens came from a cache, with and without llama.cpp's unified
    KV cache and cache reuse: whether one prefill of the prefix can serve every slot."""
    import xllamacpp as xlc

    from clinreason.teacher.models import resolve_gguf

    cohort = load_cohort(cohort_name)
    train = make_splits(cohort, seed=0).apply(cohort, "train").records
    template, shots, sheet = load_prompt("kwon-rationalize"), load_exemplars(cohort), fact_sheet(cohort)
    results = []
    for unified, reuse in ((False, 0), (True, 0), (True, 256)):
        params = xlc.CommonParams()
        params.model.path = str(resolve_gguf(model))
        params.n_parallel, params.n_ctx = 2, 2 * 4096
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = os.cpu_count() or 1
        params.kv_unified, params.n_cache_reuse, params.verbosity = unified, reuse, -1
        server = xlc.Server(params)
        cached = []
        for slot, record in ((0, train[0]), (0, train[1]), (1, train[2])):
            request = {
                "messages": build_messages(template, cohort, record, shots, sheet),
                "max_tokens": 1,
                "temperature": 0.0,
                "cache_prompt": True,
                "id_slot": slot,
            }
            response = server.handle_chat_completions(request)
            cached.append(((response.get("timings") or {}).get("cache_n"), response["usage"]["prompt_tokens"]))
        del server
        results.append({"kv_unified": unified, "n_cache_reuse": reuse, "same_slot": cached[1], "other_slot": cached[2]})
    return results


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_TEACHER)
    parser.add_argument("--n", type=int, default=8, help="rationales timed per configuration")
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma-separated configurations (default {DEFAULT_ROWS})")
    parser.add_argument("--draft", default=None, help="draft model for 'draft-N' rows, e.g. qwen2.5-coder-0.5b")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--cohort", default="pima-diabetes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--cross-slot", action="store_true", help="only probe prefix reuse across slots")
    args = parser.parse_args()
    if args.cross_slot:
        print("| kv_unified | n_cache_reuse | same slot: cached / prompt tokens | other slot: cached / prompt tokens |")
        print("|---|---|---|---|")
        for r in cross_slot(args.model, args.cohort):
            same, other = r["same_slot"], r["other_slot"]
            print(f"| {r['kv_unified']} | {r['n_cache_reuse']} | {same[0]} / {same[1]} | {other[0]} / {other[1]} |")  # type: ignore[index]
        return
    rows = [parse_row(spec, args.draft) for spec in args.rows.split(",")]
    if any(row.slots > MAX_SLOTS for row in rows):
        raise SystemExit(f"at most {MAX_SLOTS} slots")
    results = []
    for row in rows:
        results.append(measure(args.model, row, args.n, args.max_tokens, args.cohort))
        print(f"measured {row.name}: {results[-1]['rationales_per_hour']} rationales/h", flush=True)
    reference = next((r for r in results if r["row"] == "prefix-1"), results[0])
    print(f"\nteacher {args.model}, cohort {args.cohort}, {args.n} rationales, max {args.max_tokens} tokens, greedy")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {datetime.now(UTC):%Y-%m-%d}")
    print(f"ratios against {reference['row']} (prefix reuse, 1 slot, no speculation)\n")
    columns = ["row", "slots", "speculation", "warmup_s", "seconds", "tokens_per_s", "rationales_per_hour"]
    print("| " + " | ".join([*columns, "vs reference", "cached prompt", "accepted drafts", "same texts"]) + " |")
    print("|" + "---|" * (len(columns) + 4))
    for r in results:
        ratio = float(r["rationales_per_hour"]) / float(reference["rationales_per_hour"])  # type: ignore[arg-type]
        same = sum(a == b for a, b in zip(r["texts"], reference["texts"], strict=True))  # type: ignore[arg-type]
        cells = [str(r[c]) for c in columns] + [
            f"{ratio:.2f}x",
            "–" if r["cached_prompt_share"] is None else f"{r['cached_prompt_share']:.0%}",
            "–" if r["accepted_draft_share"] is None else f"{r['accepted_draft_share']:.0%}",
            f"{same}/{len(r['texts'])}",  # type: ignore[arg-type]
        ]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(
            json.dumps({"config": vars(args) | {"json": str(args.json)}, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
