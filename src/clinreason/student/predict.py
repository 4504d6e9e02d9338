"""Student predictions: a diagnosis with class probabilities, and a rationale where the objective has one.

Probabilities come from the model's scores of the option letters after "Final Diagnosis: (" (for
`rationale_then_label`, after the rationale the student generated), normalised over the options, so
AUROC and calibration can be measured on generative students too.

With `candidates` > 1 a student writes the greedy rationale and sampled alternatives, and keeps the
one whose checkable claims verify against the patient's own record (no wrong or unsupported claim,
the most supported ones) and whose stated diagnosis is the one it then scores highest. The check
needs only the input record, so it is available when serving, not only in evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from clinreason.progress import Observer
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.student.config import Precision
from clinreason.student.data import FINAL, Objective, TaskKind, common_length, prompt_ids, student_prompt
from clinreason.student.model import Student, keeps_logits, resolve_precision
from clinreason.teacher.parsing import parse_answer
from clinreason.teacher.prompts import options


class Prediction(BaseModel):
    record_id: str
    gold: list[str]
    probabilities: dict[str, float]
    predicted: str
    rationale: str | None = None
    stated: str | None = None
    text: str | None = None
    candidates: int = Field(default=1, description="Rationales written for this patient (greedy first).")
    chosen: int = Field(default=0, description="Which candidate was kept (0: the greedy one).")


@runtime_checkable
class Runtime(Protocol):
    """A student behind another inference engine (e.g. llama.cpp, `clinreason.serve.llamacpp`): the two
    operations `predict` needs, on the prompts the student was trained on; it keeps the tokenizer."""

    tokenizer: Any
    kind: str
    name: str

    def generate_texts(
        self, prompts: Sequence[str], max_new_tokens: int, samples: int = 0, temperature: float = 0.7, seed: int = 0
    ) -> list[str]:
        """Greedy answers, or `samples` sampled answers per prompt (consecutive), as `generate`."""
        ...

    def score_options(
        self, prompts: Sequence[str], prefixes: Sequence[str], letters: Sequence[str]
    ) -> list[list[float]]:
        """P(option) per prompt, as `option_probabilities_batch`."""
        ...


@dataclass(frozen=True)
class _Candidate:
    text: str
    rationale: str | None
    stated: str | None
    probabilities: list[float]
    supported: int
    doubtful: int  # wrong or unsupported claims

    def rank(self, labels: Sequence[str]) -> tuple[bool, int, int]:
        """Higher is better: agrees with its own score, then fewer doubtful claims, then more verified."""
        scored = labels[max(range(len(labels)), key=self.probabilities.__getitem__)]
        return (self.stated == scored, -self.doubtful, self.supported)


def choose_candidate(candidates: Sequence[_Candidate], labels: Sequence[str]) -> int:
    """The index of the kept candidate: the best rank, the earliest (greedy) one on ties."""
    ranks = [c.rank(labels) for c in candidates]
    return max(range(len(candidates)), key=lambda i: (ranks[i], -i))


def _for_generation(student: Student, precision: str) -> Student:
    """A bf16 copy for writing rationales where the device computes bf16 natively (about 2x faster on
    such CPUs). Option scoring keeps the model's own weights: in bf16 the nearly tied class scores of a
    weak student round together, which in the demo turned an AUROC of 0.72 into 0.33."""
    import copy

    import torch

    if resolve_precision(precision) != "bf16" or student.model.dtype != torch.float32:
        return student
    copied = copy.deepcopy(student.model).to(torch.bfloat16).eval()
    return Student(copied, student.tokenizer, student.kind, student.name)


def option_row(
    student: Student | Runtime, prompt: str, prefix: str, letters: Sequence[str]
) -> tuple[list[int], list[int]] | None:
    """(the tokens before the option letter, each option's letter token), or None when the options do not
    differ in one distinct token (then only the summed log-probabilities can score them)."""
    start, answers = _sequences(student, prompt, prefix, letters)
    common = common_length(answers)
    firsts = [a[common] if len(a) > common else -1 for a in answers]
    if student.kind != "causal" or len(set(firsts)) != len(firsts) or -1 in firsts:
        return None
    return start + answers[0][:common], firsts


def _sequences(
    student: Student | Runtime, prompt: str, prefix: str, letters: Sequence[str]
) -> tuple[list[int], list[list[int]]]:
    """Encoder/prompt ids, and for each option the answer tokens `prefix(X)`."""
    tokenizer = student.tokenizer
    start = prompt_ids(tokenizer, prompt, student.kind)
    answers = [list(tokenizer(f"{prefix}({letter})", add_special_tokens=False)["input_ids"]) for letter in letters]
    return start, answers


def option_probabilities(student: Student, prompt: str, prefix: str, letters: Sequence[str]) -> list[float]:
    """P(option) for one patient (see `option_probabilities_batch`)."""
    return option_probabilities_batch(student, [prompt], [prefix], letters)[0]


def option_probabilities_batch(
    student: Student,
    prompts: Sequence[str],
    prefixes: Sequence[str],
    letters: Sequence[str],
    batch_size: int = 16,
    values: Sequence[ValueInput] | None = None,
) -> list[list[float]]:
    """P(option) per patient: the model's probabilities of the first token where the options' answers
    `prefix(X)` differ (the letter), normalised over the options. Causal students score a batch of
    patients in one left-padded forward pass (one row per patient, only the last position projected to
    the vocabulary); seq2seq students, and tokenizers whose options share their first differing token,
    take the summed log-probabilities of each option's answer, one patient at a time. `values`: each
    patient's (values, observed) for a numeric-aware student."""
    import torch

    if len(prompts) != len(prefixes):
        raise ValueError("one prefix per prompt")
    rows: list[tuple[list[int], list[int]]] = []  # (the tokens before the letter, each option's letter token)
    for prompt, prefix in zip(prompts, prefixes, strict=True):
        found = option_row(student, prompt, prefix, letters)
        if found is None:
            if values is not None:
                raise ValueError("value tokens need a tokenizer whose option letters are single distinct tokens")
            pairs = zip(prompts, prefixes, strict=True)
            return [_summed_option_probabilities(student, p, f, letters) for p, f in pairs]
        rows.append(found)
    model, device, pad = student.model, student.device, student.tokenizer.pad_token_id
    results: list[list[float]] = []
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin : begin + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r, _ in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r, _ in chunk], device=device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.inference_mode():
            kwargs: dict[str, Any] = {"logits_to_keep": 1} if keeps_logits(model) else {}
            if values is not None:
                kwargs.update(_value_tensors(values[begin : begin + batch_size], device))
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, **kwargs).logits[:, -1, :]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, (_, firsts) in enumerate(chunk):
            results.append(_normalised([float(logprobs[row, token]) for token in firsts]))
    return results


ValueInput = tuple[list[float], list[bool]]  # a numeric-aware student's standardised values and mask


def _value_tensors(values: Sequence[ValueInput], device: Any) -> dict[str, Any]:
    import torch

    return {
        "values": torch.tensor([v for v, _ in values], dtype=torch.float32, device=device),
        "observed": torch.tensor([o for _, o in values], dtype=torch.float32, device=device),
    }


def _value_inputs(student: Student | Runtime, records: Sequence[PatientRecord]) -> list[ValueInput] | None:
    plan = getattr(getattr(student, "model", None), "plan", None)
    return None if plan is None else [plan.values(record) for record in records]


def _prompt(
    student: Student | Runtime, cohort: Cohort, record: PatientRecord, objective: Objective, task: TaskKind
) -> str:
    """The prompt the student was trained on: with the value-token block for a numeric-aware student."""
    from clinreason.student.numeric import numeric_block

    plan = getattr(getattr(student, "model", None), "plan", None)
    text = student_prompt(cohort, record, objective, task)
    return text if plan is None else text + numeric_block(plan)


def _normalised(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    return [w / sum(weights) for w in weights]


def _summed_option_probabilities(student: Student, prompt: str, prefix: str, letters: Sequence[str]) -> list[float]:
    """P(option) from the summed log-probabilities of the tokens where the options' answers differ."""
    import torch

    start, answers = _sequences(student, prompt, prefix, letters)
    common = common_length(answers)
    model, device = student.model, student.device
    pad = student.tokenizer.pad_token_id
    with torch.inference_mode():
        if student.kind == "seq2seq":
            width = max(len(a) for a in answers)
            encoder = torch.tensor([start] * len(answers), device=device)
            labels = torch.tensor([a + [-100] * (width - len(a)) for a in answers], device=device)
            logits = model(input_ids=encoder, labels=labels).logits
            offsets = [0] * len(answers)
        else:
            rows = [start + a for a in answers]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            # Only the positions that predict the differing answer tokens need the vocabulary projection.
            keep = width - (len(start) + common - 1)
            if keeps_logits(model):
                logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
            else:
                logits = model(input_ids=ids, attention_mask=mask).logits[:, -keep:, :]
            offsets = [len(start) - (width - keep)] * len(answers)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
    scores = []
    for row, answer in enumerate(answers):
        total = 0.0
        for position in range(common, len(answer)):
            at = offsets[row] + position - (0 if student.kind == "seq2seq" else 1)
            total += float(logprobs[row, at, answer[position]])
        scores.append(total)
    return _normalised(scores)


def generate(
    student: Student,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    values: Sequence[ValueInput] | None = None,
    samples: int = 0,
    temperature: float = 0.7,
) -> list[str]:
    """Greedy answers, batched (left padding for causal models); with `samples` > 0, that many sampled
    answers per prompt instead (at `temperature`, nucleus 0.95; seed torch first for repeatable ones),
    `samples` consecutive texts per prompt."""
    import torch

    tokenizer, model, device = student.tokenizer, student.model, student.device
    pad = tokenizer.pad_token_id
    texts: list[str] = []
    for begin in range(0, len(prompts), batch_size):
        rows = [prompt_ids(tokenizer, p, student.kind) for p in prompts[begin : begin + batch_size]]
        width = max(len(r) for r in rows)
        if student.kind == "seq2seq":
            ids = [r + [pad] * (width - len(r)) for r in rows]
            mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
        else:
            ids = [[pad] * (width - len(r)) + r for r in rows]
            mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
        extra: dict[str, Any] = {} if values is None else _value_tensors(values[begin : begin + batch_size], device)
        if samples:
            extra.update(do_sample=True, temperature=temperature, top_p=0.95, num_return_sequences=samples)
        else:
            extra["do_sample"] = False
        with torch.inference_mode():
            output = model.generate(
                input_ids=torch.tensor(ids, device=device),
                attention_mask=torch.tensor(mask, device=device),
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                eos_token_id=tokenizer.eos_token_id,
                **extra,
            )
        # generation from embeddings (value tokens) returns the new tokens only
        new = output if student.kind == "seq2seq" or values is not None else output[:, width:]
        texts.extend(tokenizer.decode(row, skip_special_tokens=True).strip() for row in new)
    return texts


def predict(
    student: Student | Runtime,
    cohort: Cohort,
    records: Sequence[PatientRecord],
    objective: Objective,
    *,
    with_rationale: bool = True,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    precision: Precision = "fp32",
    candidates: int = 1,
    seed: int = 0,
    observer: Observer | None = None,
) -> list[Prediction]:
    """Diagnosis + probabilities for every record; a rationale too when the objective produces one.

    `precision` applies to rationale generation only ("auto": bf16 where the device computes it natively);
    class probabilities are always scored with the model's own weights. `candidates` > 1: the greedy
    rationale and `candidates - 1` sampled ones (seeded by `seed`), the verified one kept (module
    docstring). `observer` sees two phases: writing the rationales (when there are any), then scoring
    the diagnosis options, each per patient. `student` may be a `Runtime` (another engine): the same
    prompts, its own generation and scoring."""
    import torch

    observer = observer or Observer()
    choices = options(cohort)
    letters = [letter for letter, _, _ in choices]
    labels = [label for _, label, _ in choices]
    runtime = student if isinstance(student, Runtime) else None
    if not isinstance(student, Runtime):
        student.model.eval()
    value_inputs = _value_inputs(student, records)
    writes = objective != "label" and with_rationale
    k = max(1, candidates) if writes else 1
    texts: dict[str, list[str]] = {}
    if writes:
        task: TaskKind = "rationale" if objective == "multitask" else "label"
        prompts = [_prompt(student, cohort, r, objective, task) for r in records]
        writer = student if isinstance(student, Runtime) else _for_generation(student, precision)
        observer.phase(
            f"writing {len(records)} rationale(s)" + (f", {k} candidates each" if k > 1 else ""), len(records)
        )
        if k > 1:
            torch.manual_seed(seed)
        for begin in range(0, len(records), batch_size):
            chunk = records[begin : begin + batch_size]
            chunk_values = None if value_inputs is None else value_inputs[begin : begin + batch_size]
            batch = prompts[begin : begin + batch_size]
            if isinstance(writer, Runtime):
                greedy = writer.generate_texts(batch, max_new_tokens)
                sampled = writer.generate_texts(batch, max_new_tokens, samples=k - 1, seed=seed) if k > 1 else []
            else:
                options_ = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "values": chunk_values}
                greedy = generate(writer, batch, **options_)  # type: ignore[arg-type]
                sampled = generate(writer, batch, samples=k - 1, **options_) if k > 1 else []  # type: ignore[arg-type]
            for index, (record, first) in enumerate(zip(chunk, greedy, strict=True)):
                texts[record.id] = [first, *sampled[index * (k - 1) : (index + 1) * (k - 1)]]
            observer.advance(min(begin + batch_size, len(records)), len(records))
    observer.phase(f"scoring the diagnosis of {len(records)} patient(s)", len(records))
    # one row per (patient, candidate): its rationale, the stated label and the scoring prefix
    rows: list[tuple[int, str | None, str | None, str | None]] = []  # record index, text, rationale, stated
    prefixes: list[str] = []
    nothing: list[str | None] = [None]
    written: list[list[str | None]] = [[*texts[r.id]] if r.id in texts else nothing for r in records]
    for index in range(len(records)):
        for text in written[index]:
            prefix, stated, rationale = FINAL, None, None
            if text is not None:
                parsed = parse_answer(text, choices)
                rationale, stated = parsed.rationale, parsed.label
                if objective == "rationale_then_label":
                    prefix = f"{rationale}\n\n{FINAL}" if rationale else FINAL
                elif objective == "multitask":
                    rationale = text.strip()
            rows.append((index, text, rationale, stated))
            prefixes.append(prefix)
    prompts = [_prompt(student, cohort, records[i], objective, "label") for i, _, _, _ in rows]
    row_values = None if value_inputs is None else [value_inputs[i] for i, _, _, _ in rows]
    scores: list[list[float]] = []
    for begin in range(0, len(rows), batch_size):
        if runtime is not None:
            scores += runtime.score_options(
                prompts[begin : begin + batch_size], prefixes[begin : begin + batch_size], letters
            )
        else:
            scores += option_probabilities_batch(
                student,  # type: ignore[arg-type]
                prompts[begin : begin + batch_size],
                prefixes[begin : begin + batch_size],
                letters,
                batch_size,
                values=None if row_values is None else row_values[begin : begin + batch_size],
            )
        done = rows[min(begin + batch_size, len(rows)) - 1][0] + 1
        observer.advance(done, len(records))
    checker = _claim_checker(cohort) if k > 1 else None
    predictions: list[Prediction] = []
    position = 0
    for index, record in enumerate(records):
        count = len(written[index])
        own = list(range(position, position + count))
        position += count
        chosen = 0
        if checker is not None and count > 1:
            found = [
                _Candidate(rows[r][1] or "", rows[r][2], rows[r][3], scores[r], *checker(rows[r][2], record))
                for r in own
            ]
            chosen = choose_candidate(found, labels)
        row = own[chosen]
        probabilities = scores[row]
        best = max(range(len(labels)), key=probabilities.__getitem__)
        predictions.append(
            Prediction(
                record_id=record.id,
                gold=list(record.labels),
                probabilities=dict(zip(labels, probabilities, strict=True)),
                predicted=labels[best],
                rationale=rows[row][2],
                stated=rows[row][3],
                text=rows[row][1],
                candidates=count,
                chosen=chosen,
            )
        )
    return predictions


def _claim_checker(cohort: Cohort) -> Any:
    """(supported, wrong or unsupported) claims of a rationale about its own patient's record."""
    from clinreason.evaluate.claims import check_claims, cohort_categories
    from clinreason.knowledge import fact_sheet

    categories, sheet = cohort_categories(cohort), fact_sheet(cohort)

    def check(rationale: str | None, record: PatientRecord) -> tuple[int, int]:
        if not rationale:
            return 0, 0
        report = check_claims(rationale, record, categories=categories, reference_text=sheet)
        return report.count("supported"), report.count("wrong") + report.count("unsupported")

    return check
