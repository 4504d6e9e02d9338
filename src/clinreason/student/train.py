"""Fine-tune the student with Hugging Face Accelerate: checkpoints, model selection on validation,
early stopping and exact resume. `accelerate launch` runs the same code on many GPUs (DDP/FSDP).

Batches are made from a seeded shuffle per epoch, so a resumed run sees the batches it had not seen
yet, in the same order, and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from clinreason.errors import ClinreasonError, ConfigError
from clinreason.student.checkpoint import META_FILE, CheckpointMeta, write_meta
from clinreason.student.config import TrainConfig
from clinreason.student.data import Encoded, Example, encode
from clinreason.student.model import Student, keeps_logits, resolve_precision
from clinreason.student.validation import ValidationScore

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"


class EvalPoint(BaseModel):
    step: int
    epoch: float
    train_loss: float | None
    val_loss: float | None
    seconds: float
    val_auroc: float | None = None
    val_macro_f1: float | None = None
    val_accuracy: float | None = None
    val_patients: int | None = Field(default=None, description="Validation patients the diagnosis metrics scored.")


class TrainState(BaseModel):
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_val_loss: float | None = None
    best_step: int | None = None
    selected_on: str = Field(default="loss", description="The metric that chose the best checkpoint.")
    best_metric: float | None = Field(default=None, description="Its value at the best step.")
    bad_evals: int = 0
    stopped_early: bool = False
    finished: bool = False
    history: list[EvalPoint] = Field(default_factory=list)
    trained_tokens: int = 0
    train_seconds: float = 0.0


class TrainResult(BaseModel):
    best_checkpoint: Path
    state: TrainState
    truncated_examples: int
    train_examples: int
    val_examples: int


def training_finished(out_dir: str | Path) -> bool:
    """Whether a training in `out_dir` ran to its end (a call to `train` would then train nothing)."""
    path = Path(out_dir) / "last" / STATE_FILE
    try:
        return path.is_file() and TrainState.model_validate_json(path.read_text()).finished
    except ValueError:  # an unreadable state: training will say so
        return False


def _forget_previous_run() -> None:
    """Each call to `train` is its own run: a second student in the same process may use another precision or
    accumulation, which accelerate refuses while the first run's state is alive. The process group is kept."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


def collate(items: Sequence[Encoded], pad_id: int, kind: str) -> dict[str, Any]:
    """Causal batches are left-padded, so every answer ends at the last position; seq2seq right-padded.
    Time series (multimodal students) are stacked as `values` and `observed`."""
    import torch

    batch = _collate_text(items, pad_id, kind)
    if any(i.weight != 1.0 for i in items):
        batch["weights"] = torch.tensor([i.weight for i in items], dtype=torch.float32)
    if any(i.token_weights is not None for i in items):
        width = max(len(i.labels) for i in items)
        rows = [i.token_weights or [1.0] * len(i.labels) for i in items]
        padded = [r + [1.0] * (width - len(r)) if kind == "seq2seq" else [1.0] * (width - len(r)) + r for r in rows]
        batch["token_weights"] = torch.tensor(padded, dtype=torch.float32)
    with_series = [i.series for i in items if i.series is not None]
    if with_series:
        shape = (len(with_series[0][0]), len(with_series[0][0][0]))
        empty = ([[0.0] * shape[1]] * shape[0], [[False] * shape[1]] * shape[0])
        series = [i.series if i.series is not None else empty for i in items]
        batch["values"] = torch.tensor([s[0] for s in series], dtype=torch.float32)
        batch["observed"] = torch.tensor([s[1] for s in series], dtype=torch.float32)
    return batch


def _collate_text(items: Sequence[Encoded], pad_id: int, kind: str) -> dict[str, Any]:
    import torch

    if kind == "seq2seq":
        width = max(len(i.input_ids) for i in items)
        label_width = max(len(i.labels) for i in items)
        return {
            "input_ids": torch.tensor([i.input_ids + [pad_id] * (width - len(i.input_ids)) for i in items]),
            "attention_mask": torch.tensor([[1] * len(i.input_ids) + [0] * (width - len(i.input_ids)) for i in items]),
            "labels": torch.tensor([i.labels + [-100] * (label_width - len(i.labels)) for i in items]),
            "tasks": [i.task for i in items],
        }
    width = max(len(i.input_ids) for i in items)
    return {
        "input_ids": torch.tensor([[pad_id] * (width - len(i.input_ids)) + i.input_ids for i in items]),
        "attention_mask": torch.tensor([[0] * (width - len(i.input_ids)) + [1] * len(i.input_ids) for i in items]),
        "labels": torch.tensor([[-100] * (width - len(i.labels)) + i.labels for i in items]),
        "tasks": [i.task for i in items],
    }


LOSS_CHUNK = 64  # answer positions whose logits exist at one time in the chunked loss


def batch_loss(
    model: Any,
    batch: dict[str, Any],
    kind: str,
    objective: str,
    alpha: float,
    keep: bool,
    *,
    chunked: bool = False,
    parts: dict[str, float] | None = None,
) -> Any:
    """Token-averaged cross-entropy per task; multitask mixes them as alpha * label + (1 - alpha) * rationale.
    A numeric student with a gated language model (`NumericPlan.lm_gate`) adds its language model's own
    loss in training: the gate starts closed, and the model needs to learn the answer to be worth opening it.
    `parts`, when given, receives the student's loss alone under "student" (what the validation loss
    measures, so that the training curve compares like with like) and the auxiliary one under "language_model".

    `chunked` (causal models without time series): the vocabulary projection is applied to the answer
    positions 64 at a time and recomputed in the backward pass, so full-vocabulary logits (batch x
    answer x 49k in fp32 for SmolLM2) never exist at once; the loss is the same."""

    labels = batch["labels"]
    series = {k: batch[k] for k in ("values", "observed") if k in batch}
    own_losses = None
    if kind == "seq2seq":
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels, **series)
        targets = labels
        losses = _token_losses(out.logits, targets)
        if (own := getattr(out, "lm_logits", None)) is not None:  # a gated student's language model alone
            own_losses = _token_losses(own, targets)
    else:
        answer = int((labels != -100).sum(dim=1).max()) + 1
        targets = labels[:, -(answer - 1) :]
        if chunked and not series and model_head(model) is not None:
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                output_hidden_states=True,
                **({"logits_to_keep": 1} if keep else {}),
            )
            hidden = out.hidden_states[-1][:, -answer:-1, :]
            losses = _chunked_token_losses(hidden, model_head(model), targets)
        else:
            kwargs = {"logits_to_keep": answer} if keep else {}
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs, **series)

            def answer_logits(logits: Any) -> Any:
                return logits[:, -answer:-1, :] if keep else logits[:, :-1, :][:, -(answer - 1) :, :]

            losses = _token_losses(answer_logits(out.logits), targets)
            if (own := getattr(out, "lm_logits", None)) is not None:  # a gated student's language model alone
                own_losses = _token_losses(answer_logits(own), targets)
    mask = (targets != -100).float()
    if "weights" in batch:  # class-balanced: each example's tokens count with its class's weight
        mask = mask * batch["weights"].to(mask.device)[:, None]
    if "token_weights" in batch:  # claim tokens count more (encode's claim_weight)
        token_weights = batch["token_weights"].to(mask.device)
        mask = mask * (token_weights if kind == "seq2seq" else token_weights[:, -targets.shape[1] :])
    loss = _reduce(losses, mask, objective, alpha, batch.get("tasks"))
    if parts is not None:
        parts["student"] = float(loss.detach())
    if own_losses is not None:
        auxiliary = _reduce(own_losses, mask, objective, alpha, batch.get("tasks"))
        if parts is not None:
            parts["language_model"] = float(auxiliary.detach())
        loss = loss + auxiliary
    return loss


def _reduce(losses: Any, mask: Any, objective: str, alpha: float, tasks: list[str] | None) -> Any:
    """The masked token mean, per task for multitask."""
    import torch

    if objective != "multitask":
        return (losses * mask).sum() / mask.sum().clamp(min=1)
    assert tasks is not None, "a multitask batch names each example's task"
    total, weight = losses.new_zeros(()), 0.0
    for task, task_weight in (("label", alpha), ("rationale", 1 - alpha)):
        rows = torch.tensor([t == task for t in tasks], device=losses.device)
        if rows.any() and task_weight > 0:
            task_mask = mask * rows[:, None]
            total = total + task_weight * (losses * task_mask).sum() / task_mask.sum().clamp(min=1)
            weight += task_weight
    return total / weight if weight else total


def model_head(model: Any) -> Any:
    """The vocabulary projection of a Hugging Face causal model (under DDP or PEFT wrappers), or None."""
    getter = getattr(accelerate_inner(model), "get_output_embeddings", None)
    return getter() if callable(getter) else None


def _token_losses(logits: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100, reduction="none")


def _chunked_token_losses(hidden: Any, head: Any, targets: Any) -> Any:
    import torch
    from torch.utils.checkpoint import checkpoint

    def chunk_losses(h: Any, t: Any) -> Any:
        return _token_losses(head(h), t)

    parts = [
        checkpoint(
            chunk_losses,
            hidden[:, start : start + LOSS_CHUNK],
            targets[:, start : start + LOSS_CHUNK],
            use_reentrant=False,
        )
        for start in range(0, hidden.shape[1], LOSS_CHUNK)
    ]
    return torch.cat(parts, dim=1)


GROUP_WINDOW = 16  # batches per window within which examples are grouped by length


def make_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """The epoch's batches of example indices, a pure function of its arguments (so a resumed run sees
    the same batches). With `group_by_length`, examples of similar length share a batch, which pads
    less: the seeded shuffle is cut into windows of 16 batches, each window sorted by length and cut
    into batches, and the batches shuffled again, so batch order stays random."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    window = batch_size * GROUP_WINDOW
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: (-lengths[i], i))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def train(
    student: Student,
    train_examples: Sequence[Example],
    val_examples: Sequence[Example],
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    on_step: Callable[[int, int, float], None] | None = None,
    on_eval: Callable[[EvalPoint], None] | None = None,
    validator: Callable[[Student], ValidationScore] | None = None,
) -> TrainResult:
    """Train, evaluate on `val_examples` (and with `validator`, diagnosis metrics on the validation
    patients), keep the best checkpoint by `config.select_on` in `out_dir/best`; resume from `out_dir/last`."""
    import torch
    from accelerate import Accelerator
    from transformers import get_scheduler

    out_dir = Path(out_dir)
    if not train_examples:
        raise ClinreasonError("no training examples (did the teacher keep any rationale?)")
    torch.manual_seed(config.seed)
    _forget_previous_run()
    accelerator = Accelerator(
        mixed_precision=resolve_precision(config.precision),
        cpu=not torch.cuda.is_available(),
        gradient_accumulation_steps=config.gradient_accumulation,
    )
    tokenizer, kind = student.tokenizer, student.kind
    model = student.model
    from clinreason.student.soft_tokens import SoftTokenLM

    if config.lora is not None and isinstance(model, SoftTokenLM):
        raise ConfigError(
            f"LoRA is not supported for {type(model).__name__} students (their soft-token layers and the "
            "language model train together); train them without lora"
        )
    if config.lora is not None and not hasattr(model, "peft_config"):
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=config.lora.r,
                lora_alpha=config.lora.alpha,
                lora_dropout=config.lora.dropout,
                target_modules=config.lora.target_modules,
                task_type="SEQ_2_SEQ_LM" if kind == "seq2seq" else "CAUSAL_LM",
            ),
        )
        student.model = model
    if config.gradient_checkpointing:
        _checkpoint_activations(model)
    encoded = [encode(tokenizer, e, kind, config.max_length, config.claim_weight) for e in train_examples]
    if config.class_weighting == "balanced":
        for item, weight in zip(encoded, class_weights(train_examples), strict=True):
            item.weight = weight
    val_encoded = [encode(tokenizer, e, kind, config.max_length) for e in val_examples]
    truncated = sum(e.truncated for e in encoded + val_encoded)
    if truncated:
        log.warning("%d example(s) longer than max_length=%d were truncated", truncated, config.max_length)
    keep = kind == "causal" and keeps_logits(model)

    per_epoch = max(math.ceil(len(encoded) / config.batch_size) // accelerator.num_processes, 1)
    if accelerator.num_processes == 1:
        per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = math.ceil(per_epoch * config.epochs / config.gradient_accumulation)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    groups = getattr(model, "parameter_groups", None)  # a numeric-aware student's linear path has its own rate
    optimizer = torch.optim.AdamW(
        groups(config.learning_rate, config.weight_decay)
        if callable(groups)
        else [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    scheduler = get_scheduler(
        "linear",
        optimizer,
        num_warmup_steps=int(config.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    state = TrainState()
    last = out_dir / "last"
    if accelerator.is_main_process:
        _recover_best(out_dir / "best")
    accelerator.wait_for_everyone()
    if resume and (last / STATE_FILE).is_file():
        state = TrainState.model_validate_json((last / STATE_FILE).read_text())
        if not state.finished:  # a finished run has dropped its resume weights
            weights = _resume_folder(last, state.global_step)
            if not weights.is_dir() and (last / "accelerate").is_dir():  # saved before folders were per step
                weights = last / "accelerate"
            accelerator.load_state(str(weights))
            log.info("resumed at step %d (epoch %d, batch %d)", state.global_step, state.epoch, state.step_in_epoch)
    if state.finished:
        log.info("training in %s already finished", out_dir)
        return _result(out_dir, state, truncated, len(encoded), len(val_encoded))

    pad = tokenizer.pad_token_id
    running, running_count, started = 0.0, 0, time.perf_counter()

    def evaluate_and_save() -> bool:
        nonlocal running, running_count
        model.eval()
        val_loss = mean_loss(model, val_encoded, pad, kind, config, keep, accelerator) if val_encoded else None
        score = None
        if validator is not None and config.select_on != "loss":
            inner = accelerator.unwrap_model(model)
            with _full_precision(inner):  # bf16 rounding reorders a weak student's close class scores
                score = validator(Student(inner, tokenizer, kind, student.name))
        model.train()
        point = EvalPoint(
            step=state.global_step,
            epoch=state.epoch + state.step_in_epoch / max(per_epoch, 1),
            train_loss=running / running_count if running_count else None,
            val_loss=val_loss,
            seconds=state.train_seconds + time.perf_counter() - started,
            val_auroc=score.auroc if score else None,
            val_macro_f1=score.macro_f1 if score else None,
            val_accuracy=score.accuracy if score else None,
            val_patients=score.patients if score else None,
        )
        state.history.append(point)
        running, running_count = 0.0, 0
        metric_name, value = _selection_value(config.select_on, point)
        if state.best_step is not None and metric_name != state.selected_on:
            value = None  # never compare an AUROC with a loss: keep the first kind the run chose on
        improved = state.best_step is None or (
            value is not None
            and (state.best_metric is None or _better(metric_name, value, state.best_metric, config.min_delta))
        )
        if improved:
            state.best_val_loss, state.best_step, state.bad_evals = val_loss, state.global_step, 0
            state.selected_on, state.best_metric = metric_name, value
            _save_best(accelerator, model, tokenizer, student, config, out_dir / "best", state)
        else:
            state.bad_evals += 1
        if on_eval is not None:
            on_eval(point)
        return state.bad_evals >= config.patience

    mean_tokens = sum(len(e.input_ids) for e in encoded) / max(len(encoded), 1)
    remaining = (total_steps - state.global_step) * config.batch_size * config.gradient_accumulation * mean_tokens
    forward = _compiled(model, config, remaining, accelerator.num_processes)

    def step_loss(module: Any, batch: dict[str, Any], tasks: list[str]) -> float:
        """Backpropagates the training loss; returns the student's own part of it, what the curve shows."""
        parts: dict[str, float] = {}
        loss = batch_loss(
            module,
            {**batch, "tasks": tasks},
            kind,
            config.objective,
            config.alpha,
            keep,
            chunked=config.chunked_loss,
            parts=parts,
        )
        accelerator.backward(loss)
        return parts["student"]

    stop = False
    if config.eval_on_start and state.global_step == 0 and not state.history:
        stop = evaluate_and_save()  # step 0: the untrained (or warm-started) model is a candidate too
    model.train()
    while state.epoch < config.epochs and not stop:
        batches = make_batches(
            [len(e.input_ids) for e in encoded], config.batch_size, config.seed, state.epoch, config.group_by_length
        )
        if accelerator.num_processes > 1:  # every process needs the same number of steps, or DDP hangs
            batches = batches[: max(len(batches) // accelerator.num_processes, 1) * accelerator.num_processes]
        mine = batches[accelerator.process_index :: accelerator.num_processes]
        # evaluation points spread evenly over the epoch, the last at its end (a global step counter would
        # put one at the epoch's end and another a step later when the epoch length is not a multiple)
        marks = {math.ceil(len(mine) * j / config.evals_per_epoch) for j in range(1, config.evals_per_epoch + 1)}
        evaluated_upto = state.step_in_epoch
        for index in range(state.step_in_epoch, len(mine)):
            items = [encoded[i] for i in mine[index]]
            batch = collate(items, pad, kind)
            tasks = batch.pop("tasks")
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.accumulate(model), accelerator.autocast():
                try:
                    loss = step_loss(forward, batch, tasks)
                except Exception as exc:  # compiling failed (no C++ compiler, an unsupported op): train eagerly
                    if forward is model:
                        raise
                    log.warning("torch.compile failed (%s); training without it", str(exc).splitlines()[0][:200])
                    forward = model
                    optimizer.zero_grad()
                    loss = step_loss(model, batch, tasks)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state.step_in_epoch = index + 1
            state.trained_tokens += sum(len(i.input_ids) + (len(i.labels) if kind == "seq2seq" else 0) for i in items)
            running += loss
            running_count += 1
            if accelerator.sync_gradients:
                state.global_step += 1
                if on_step is not None:
                    on_step(state.global_step, total_steps, loss)
                at_end = state.global_step >= total_steps
                if config.eval_every:
                    due = state.global_step % config.eval_every == 0 or index + 1 == len(mine)
                else:
                    due = any(evaluated_upto < mark <= index + 1 for mark in marks)
                evaluated_upto = index + 1
                if due or at_end:
                    stop = evaluate_and_save()
                    _save_last(accelerator, last, state, started)
                if stop or at_end:
                    stop = True
                    break
        else:
            state.epoch += 1
            state.step_in_epoch = 0
    state.stopped_early = state.bad_evals >= config.patience
    state.finished = True
    state.train_seconds += time.perf_counter() - started
    _save_last(accelerator, last, state, None, weights=False)
    return _result(out_dir, state, truncated, len(encoded), len(val_encoded))


@contextlib.contextmanager
def _full_precision(model: Any) -> Iterator[None]:
    """The model's own forward for a while: accelerate wraps a prepared model's forward in autocast for
    mixed precision (keeping the original as `_original_forward`); validation scores like `predict`
    does after loading the checkpoint, in the weights' own precision."""
    original = model.__dict__.get("_original_forward")
    if original is None:
        yield
        return
    patched = model.__dict__["forward"]
    model.forward = original
    try:
        yield
    finally:
        model.forward = patched


def class_weights(examples: Sequence[Example]) -> list[float]:
    """n / (classes x n_class) per example, by its gold label (examples without one weigh 1)."""
    counts: dict[str, int] = {}
    for example in examples:
        if example.label is not None:
            counts[example.label] = counts.get(example.label, 0) + 1
    total = sum(counts.values())
    return [total / (len(counts) * counts[e.label]) if e.label is not None else 1.0 for e in examples]


def _selection_value(select_on: str, point: EvalPoint) -> tuple[str, float | None]:
    """The metric the run selects on at this point, falling back to the loss where it is undefined."""
    value = {"auroc": point.val_auroc, "macro_f1": point.val_macro_f1}.get(select_on)
    if value is not None:
        return select_on, value
    return "loss", point.val_loss


def _better(metric: str, value: float, best: float, min_delta: float = 0.0) -> bool:
    return value < best - min_delta if metric == "loss" else value > best + min_delta


def _checkpoint_activations(model: Any) -> None:
    """Recompute each layer's activations in the backward pass (non-reentrant, so frozen inputs under LoRA
    still pass gradients); soft-token students pass it to their language model."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


# Compiling SmolLM2-135M takes about 50 s on a 2-core CPU and then saves about 0.5 ms per token
# (bench/student_training.py): below about 100k tokens it costs more than it saves.
COMPILE_MIN_TOKENS = 150_000


def accelerate_inner(model: Any) -> Any:
    """The module under DistributedDataParallel or PEFT wrappers."""
    inner = getattr(model, "module", model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def _compiled(model: Any, config: TrainConfig, tokens: float, processes: int) -> Any:
    """The module the training steps call: `torch.compile`d where it pays (measured 1.3x on a 2-core CPU
    for SmolLM2-135M), else the model itself. Evaluation and saving always use the model itself."""
    import torch

    from clinreason.student.soft_tokens import SoftTokenLM

    # soft-token students place their embeddings by a data-dependent mask: graph breaks, no gain
    plain = not isinstance(accelerate_inner(model), SoftTokenLM)
    wanted = config.compile == "on" or (
        config.compile == "auto" and tokens >= COMPILE_MIN_TOKENS and processes == 1 and plain
    )
    if not wanted or not hasattr(torch, "compile"):
        return model
    log.info("compiling the student with torch.compile (the first step takes longer)")
    return torch.compile(model, dynamic=True)


def mean_loss(
    model: Any,
    items: Sequence[Encoded],
    pad: int,
    kind: str,
    config: TrainConfig,
    keep: bool,
    accelerator: Any = None,
) -> float:
    """Validation loss with the training objective (the model-selection criterion)."""
    import torch

    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(items), config.eval_batch_size):
            chunk = items[start : start + config.eval_batch_size]
            batch = collate(chunk, pad, kind)
            tasks = batch.pop("tasks")
            device = accelerator.device if accelerator is not None else next(model.parameters()).device
            batch = {k: v.to(device) for k, v in batch.items()}
            context = accelerator.autocast() if accelerator is not None else torch.autocast("cpu", enabled=False)
            with context:
                loss = batch_loss(
                    model,
                    {**batch, "tasks": tasks},
                    kind,
                    config.objective,
                    config.alpha,
                    keep,
                    chunked=config.chunked_loss,
                )
            total += float(loss) * len(chunk)
            count += len(chunk)
    return total / max(count, 1)


def _save_best(
    accelerator: Any, model: Any, tokenizer: Any, student: Student, config: TrainConfig, folder: Path, state: TrainState
) -> None:
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    accelerator.unwrap_model(model).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    meta = CheckpointMeta(
        objective=config.objective,
        base=student.name,
        kind=student.kind,
        lora=config.lora is not None,
        step=state.global_step,
        val_loss=state.best_val_loss,
        config=config,
    )
    write_meta(tmp, meta)  # written last: its presence marks a complete folder
    # two renames, each atomic: a kill at any point leaves best/ or a complete best.tmp/best.old
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.replace(old)
    tmp.replace(folder)
    shutil.rmtree(old, ignore_errors=True)


def _recover_best(folder: Path) -> None:
    """Finish a swap of the best checkpoint that a kill interrupted (see `_save_best`)."""
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    if not folder.exists():
        if (tmp / META_FILE).is_file():
            tmp.replace(folder)
        elif old.exists():
            old.replace(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _resume_folder(last: Path, step: int) -> Path:
    """The accelerate state of step `step`: one folder per step, written before the state file names it,
    so a kill while weights are written leaves the previous step's folder and state intact."""
    return last / f"accelerate-{step:08d}"


def _save_last(accelerator: Any, folder: Path, state: TrainState, started: float | None, weights: bool = True) -> None:
    """The resume point; a finished run keeps only its state file (the best weights are in best/)."""
    accelerator.wait_for_everyone()
    folder.mkdir(parents=True, exist_ok=True)
    current = _resume_folder(folder, state.global_step) if weights else None
    if current is not None:
        if accelerator.is_main_process:  # a partial folder of a killed run: cleared once, before any rank writes
            shutil.rmtree(current, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(current))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        elapsed = 0.0 if started is None else time.perf_counter() - started
        saved = state.model_copy(update={"train_seconds": state.train_seconds + elapsed})
        tmp = folder / (STATE_FILE + ".tmp")
        tmp.write_text(saved.model_dump_json(indent=2))
        tmp.replace(folder / STATE_FILE)
        # the state file now names `current` (or says the run is finished): older weights can go
        for previous in folder.glob("accelerate*"):
            if previous != current:
                shutil.rmtree(previous, ignore_errors=True)


def _result(out_dir: Path, state: TrainState, truncated: int, n_train: int, n_val: int) -> TrainResult:
    return TrainResult(
        best_checkpoint=out_dir / "best",
        state=state,
        truncated_examples=truncated,
        train_examples=n_train,
        val_examples=n_val,
    )
