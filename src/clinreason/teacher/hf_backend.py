"""A local Hugging Face model (path or hub id) as the teacher, through transformers.

Slower than GGUF on a CPU, but it runs any checkpoint a user has, on a GPU when one is there.
Calls are serialised: `generate` on one model is not safe to run from several threads.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from clinreason.teacher.backend import BackendError, Completion, Message, Sampling, TeacherUnavailable

log = logging.getLogger(__name__)


def hf_model_id(model: str, gguf_file: str | None = None) -> str:
    return f"{model}/{gguf_file}" if gguf_file else model


class TransformersBackend:
    kind = "hf"
    max_concurrency = 1

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        device: str | None = None,
        model_obj: Any = None,
        tokenizer: Any = None,
    ) -> None:
        """`model` is a folder or hub id; pass `model_obj`/`tokenizer` to use objects already loaded."""
        self.model = model
        self.model_id = hf_model_id(model, gguf_file)
        self.gguf_file = gguf_file
        self.device = device
        self._model = model_obj
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        if self._model is None or self._tokenizer is None:
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise TeacherUnavailable("the transformers backend needs torch and transformers") from exc
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            try:
                self._tokenizer = self._tokenizer or AutoTokenizer.from_pretrained(self.model, gguf_file=self.gguf_file)
                # Any: PreTrainedModel.to is decorated with functools.wraps, whose typeshed type (_Wrapped)
                # is not a descriptor, so mypy would check `.to(device)` as if `device` were `self`.
                model: Any = AutoModelForCausalLM.from_pretrained(self.model, gguf_file=self.gguf_file)
                self._model = model.to(device)
            except (OSError, ValueError) as exc:
                raise TeacherUnavailable(f"could not load the transformers model '{self.model}': {exc}") from exc
            self._model.eval()
        return self._model, self._tokenizer

    def check(self) -> None:
        with self._lock:
            self._load()

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        import torch

        with self._lock:
            model, tokenizer = self._load()
            if tokenizer.chat_template is None:
                raise TeacherUnavailable(f"the tokenizer of '{self.model}' has no chat template")
            encoded = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(model.device)
            prompt_tokens = int(encoded["input_ids"].shape[1])
            generation: dict[str, Any] = {
                "max_new_tokens": sampling.max_tokens,
                "do_sample": sampling.temperature > 0,
            }
            if sampling.temperature > 0:
                generation.update(temperature=sampling.temperature, top_p=sampling.top_p)
                torch.manual_seed(sampling.seed)
            if tokenizer.pad_token_id is None:
                generation["pad_token_id"] = tokenizer.eos_token_id
            started = time.perf_counter()
            try:
                with torch.inference_mode():
                    output = model.generate(**encoded, **generation)
            except RuntimeError as exc:  # e.g. out of memory, sequence too long
                raise BackendError(f"generation failed: {exc}") from exc
            new_tokens = output[0, prompt_tokens:]
            text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        finished = len(new_tokens) < sampling.max_tokens
        return Completion(
            text=text,
            finish_reason="stop" if finished else "length",
            prompt_tokens=prompt_tokens,
            completion_tokens=int(len(new_tokens)),
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._tokenizer = None
