"""Load any causal or seq2seq Hugging Face model as the student, including the packaged SmolLM2.

The packaged SmolLM2-135M-Instruct ships as a 4-bit GGUF; transformers dequantises it (about 15 s)
and it is saved once as an ordinary checkpoint under the cache folder, so later loads are fast.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clinreason.errors import ClinreasonError
from clinreason.paths import cache_home

log = logging.getLogger(__name__)

DEFAULT_STUDENT = "smollm2-135m"
PACKAGED_STUDENTS = {"smollm2-135m": "smollm2-135m"}  # name -> packaged GGUF model name (teacher.models)

Kind = Literal["causal", "seq2seq"]


@dataclass
class Student:
    model: Any
    tokenizer: Any
    kind: Kind
    name: str

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device


def packaged_checkpoint(name: str) -> Path:
    """The ordinary checkpoint of a packaged student, made from its GGUF on first use."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from clinreason.teacher.models import resolve_gguf

    folder = cache_home() / "students" / name
    if (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file():
        return folder
    gguf = resolve_gguf(PACKAGED_STUDENTS[name])
    log.info("converting %s to a transformers checkpoint in %s (once)", gguf.name, folder)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    dequantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = dequantised.config
    if hasattr(config, "quantization_config"):  # transformers refuses to save a GGUF-loaded model as is
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(dequantised.state_dict())
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(folder)
    return folder


def load_student(name_or_path: str | Path = DEFAULT_STUDENT, *, device: str | None = None) -> Student:
    """A packaged name, a local folder or a hub id; the kind follows the model's config."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    key = str(name_or_path)
    source = packaged_checkpoint(key) if key in PACKAGED_STUDENTS else key
    try:
        config = AutoConfig.from_pretrained(source)
        kind: Kind = "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"
        tokenizer = AutoTokenizer.from_pretrained(source)
        loader = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
        model = loader.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ClinreasonError(f"could not load the student model '{key}': {exc}") from exc
    return prepare(model, tokenizer, name=key, device=device)


def prepare(model: Any, tokenizer: Any, *, name: str, device: str | None = None) -> Student:
    """Wrap a model and tokenizer already in memory (e.g. a tiny one built from a config in a test)."""
    import torch

    kind: Kind = "seq2seq" if getattr(model.config, "is_encoder_decoder", False) else "causal"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return Student(model=model, tokenizer=tokenizer, kind=kind, name=name)


def resolve_precision(setting: str) -> str:
    """What "auto" means here: bf16 where the device computes it natively, else fp32 (accelerate's "no")."""
    import torch

    if setting == "fp32":
        return "no"
    if setting == "bf16":
        return "bf16"
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    cpu_bf16 = getattr(torch.backends, "mkldnn", None) is not None and torch.backends.mkldnn.is_available()
    return "bf16" if cpu_bf16 and getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() else "no"


def keeps_logits(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters
