"""The student on llama.cpp (xllamacpp, embedded): `clinreason serve EXPORT --engine llamacpp`.

It answers exactly as the PyTorch student does, from the same prompts: the tokenizer the student was
trained with turns a prompt into token ids (llama.cpp never re-tokenizes it), rationales are greedy
completions, and class probabilities are the probabilities of the option letters after
"Final Diagnosis: (", normalised over the options. llama.cpp returns the top probabilities after its
sampler chain, so the options are lifted above every other token by an equal logit bias, which leaves
their ratios unchanged. Concurrent patients share the server's parallel slots (continuous batching),
and a patient's scoring reuses the key/value cache of its own prompt.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clinreason.errors import CheckpointError, ClinreasonError
from clinreason.student.data import prompt_ids
from clinreason.student.predict import option_row
from clinreason.teacher.speculation import Speculation, configure_speculation

__all__ = ["LlamaCppStudent"]

log = logging.getLogger(__name__)

_LIFT = 100.0  # logit bias on every option: all other tokens end up ~e^-100 below them


class LlamaCppStudent:
    """A `clinreason.student.predict.Runtime` on an exported GGUF file."""

    kind = "causal"

    def __init__(
        self,
        gguf: str | Path,
        tokenizer: Any,
        *,
        name: str = "student",
        slots: int = 4,
        context_per_slot: int = 2048,
        threads: int | None = None,
        speculation: Speculation | None = None,
    ) -> None:
        self.path, self.tokenizer, self.name, self.slots = Path(gguf), tokenizer, name, slots
        # n-gram drafts copy the record's values from the prompt: one rationale ~1.2x sooner, but ~0.9x the
        # throughput with 8 slots busy (bench/serve_gguf.py), so serving leaves them off unless asked
        self.speculation = speculation or Speculation(kind="none")
        try:
            import xllamacpp as xlc
        except ImportError as exc:
            raise ClinreasonError("the llamacpp engine needs xllamacpp: pip install xllamacpp") from exc
        params = xlc.CommonParams()
        params.model.path = str(self.path)
        params.n_parallel = slots
        params.n_ctx = context_per_slot * slots
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads or os.cpu_count() or 1
        params.cache_prompt = True
        params.verbosity = -1
        if self.speculation.kind == "draft":
            raise ClinreasonError("a served student speculates with ngram or ngram_map, not a draft model")
        configure_speculation(xlc, params, self.speculation, params.cpuparams.n_threads)
        try:
            self._server = xlc.Server(params)
        except Exception as exc:  # the C++ side reports load failures as generic exceptions
            raise CheckpointError(f"{self.path}: llama.cpp could not load it ({exc}); export the run again") from exc
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="llamacpp")

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self._server.handle_completions({**request, "cache_prompt": True})
        if not isinstance(response, dict) or "error" in response:
            error = response.get("error") if isinstance(response, dict) else response
            raise ClinreasonError(f"llama.cpp refused a request: {error}")
        return response

    def _ids(self, prompt: str) -> list[int]:
        return prompt_ids(self.tokenizer, prompt, "causal")

    def generate_texts(
        self, prompts: Sequence[str], max_new_tokens: int, samples: int = 0, temperature: float = 0.7, seed: int = 0
    ) -> list[str]:
        def one(job: tuple[int, int]) -> str:
            index, sample = job
            request: dict[str, Any] = {"prompt": self._ids(prompts[index]), "n_predict": max_new_tokens}
            if samples:
                request.update(temperature=temperature, top_p=0.95, top_k=0, min_p=0.0, seed=seed + sample)
            else:
                request.update(temperature=0.0)
            return str(self._call(request)["choices"][0]["text"]).strip()

        jobs = [(i, s) for i in range(len(prompts)) for s in range(samples or 1)]
        return list(self._pool.map(one, jobs))

    def score_options(
        self, prompts: Sequence[str], prefixes: Sequence[str], letters: Sequence[str]
    ) -> list[list[float]]:
        def one(job: tuple[str, str]) -> list[float]:
            prompt, prefix = job
            row = option_row(self, prompt, prefix, letters)
            if row is None:
                raise ClinreasonError(
                    "the llamacpp engine needs option letters that are single distinct tokens; serve with "
                    "--engine torch"
                )
            ids, firsts = row
            response = self._call(
                {
                    "prompt": ids,
                    "n_predict": 1,
                    "n_probs": len(firsts),
                    "post_sampling_probs": True,
                    "samplers": ["temperature"],
                    "temperature": 1.0,
                    "logit_bias": [[token, _LIFT] for token in firsts],
                }
            )
            top = response["choices"][0]["logprobs"]["content"][0]["top_probs"]
            found = {int(entry["id"]): float(entry["prob"]) for entry in top}
            missing = [token for token in firsts if token not in found]
            if missing:
                raise ClinreasonError(f"llama.cpp returned no probability for option token(s) {missing}")
            weights = [max(found[token], math.ulp(0.0)) for token in firsts]
            return [w / sum(weights) for w in weights]

        return list(self._pool.map(one, zip(prompts, prefixes, strict=True)))

    def close(self) -> None:
        """Stops taking requests. The llama.cpp server itself lives until the process ends: dropping it
        from Python (its destructor joins a server thread while the interpreter lock is held) hung the
        process in xllamacpp 2026.10."""
        self._pool.shutdown(wait=False)
