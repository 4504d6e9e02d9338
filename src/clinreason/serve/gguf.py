"""A trained student as one GGUF file, for llama.cpp, Ollama or LM Studio on a hospital's own machine.

Written with the `gguf` package (the llama.cpp project's own writer) the way llama.cpp's
`convert_hf_to_gguf.py` writes these architectures: Llama-family students (SmolLM2, the default) and
Qwen2-family ones (Qwen2.5). A LoRA student is merged into its base first. The tokenizer goes in as
llama.cpp's byte-level BPE ("gpt2") vocabulary with its merges, special tokens and chat template, so
the file is all a llama.cpp runtime needs. Numeric-aware students (value tokens) and seq2seq students
have no GGUF equivalent and are refused with the reason.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Literal

from clinreason.errors import ConfigError

__all__ = ["GGUF_TYPES", "GgufType", "ollama_modelfile", "write_gguf"]

log = logging.getLogger(__name__)

GgufType = Literal["f32", "f16", "q8_0"]
GGUF_TYPES: tuple[GgufType, ...] = ("f32", "f16", "q8_0")

# model_type -> (gguf architecture, llama.cpp pre-tokenizer name, q/k rotated as in convert_hf_to_gguf)
_ARCHES: dict[str, tuple[str, str, bool]] = {
    "llama": ("LLAMA", "smollm", True),
    "qwen2": ("QWEN2", "qwen2", False),
}


def _permute(weights: Any, heads: int, kv_heads: int | None) -> Any:
    """Llama's q/k rows reordered from Hugging Face's rotary layout to llama.cpp's (convert_hf_to_gguf)."""
    if kv_heads is not None and heads != kv_heads:
        heads = kv_heads
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _plain_model(student: Any) -> Any:
    model = student.model
    if getattr(model, "plan", None) is not None:
        raise ConfigError(
            "a numeric-aware student (value tokens) cannot be written as GGUF: llama.cpp has no input for its "
            "value embeddings; export it with --format pytorch and serve it with the PyTorch engine"
        )
    if student.kind != "causal":
        raise ConfigError("only causal students can be written as GGUF (this one is seq2seq)")
    if hasattr(model, "merge_and_unload"):  # a peft LoRA model: fold the adapter into the weights
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    return model


def _vocabulary(tokenizer: Any, vocab_size: int) -> tuple[list[str], list[int]]:
    """Token strings by id and their llama.cpp types, as convert_hf_to_gguf's `get_vocab_base`."""
    import gguf

    reverse = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):
        token = reverse.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(int(gguf.TokenType.UNUSED))
            continue
        if token in added:
            special = decoder[index].special if index in decoder else True
            types.append(int(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED))
        else:
            types.append(int(gguf.TokenType.NORMAL))
        tokens.append(token)
    return tokens, types


def write_gguf(student: Any, path: str | Path, dtype: GgufType = "f16", name: str | None = None) -> Path:
    """Write `student` (a clinreason `Student`) to `path` as GGUF with weights in `dtype`."""
    import gguf
    import numpy as np
    import torch

    if dtype not in GGUF_TYPES:
        raise ConfigError(f"GGUF type must be one of {list(GGUF_TYPES)}, got {dtype!r}")
    model = _plain_model(student)
    config = model.config
    if config.model_type not in _ARCHES:
        raise ConfigError(
            f"cannot write a {config.model_type!r} model as GGUF; clinreason writes {sorted(_ARCHES)} students"
        )
    arch_name, pre, rotate = _ARCHES[config.model_type]
    arch = getattr(gguf.MODEL_ARCH, arch_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    heads, kv_heads = config.num_attention_heads, getattr(config, "num_key_value_heads", None)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_name(name or student.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads or heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None) or _rope_theta(config)))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}
    writer.add_file_type(file_types.get(dtype, gguf.LlamaFileType.MOSTLY_Q8_0))

    tokens, types = _vocabulary(student.tokenizer, config.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    with tempfile.TemporaryDirectory() as folder:  # SpecialVocab reads merges and special ids from files
        student.tokenizer.save_pretrained(folder)
        special = gguf.SpecialVocab(Path(folder), load_merges=True, n_vocab=len(tokens))
        if student.tokenizer.pad_token_id is not None:
            special.special_token_ids.setdefault("pad", int(student.tokenizer.pad_token_id))
        special.add_to_gguf(writer, quiet=True)

    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reads the output projection from the embeddings
        if "rotary_emb" in hf_name:
            continue
        mapped = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise ConfigError(f"no GGUF name for tensor {hf_name!r} of this {config.model_type} model")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if rotate and hf_name.endswith("q_proj.weight"):
            data = _permute(data, heads, heads)
        elif rotate and hf_name.endswith("k_proj.weight"):
            data = _permute(data, heads, kv_heads)
        array, options = _encoded(data, dtype, np, gguf)
        writer.add_tensor(mapped, array, **options)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    path.chmod(0o600)
    return path


def _encoded(data: Any, dtype: GgufType, np: Any, gguf: Any) -> tuple[Any, dict[str, Any]]:
    """(array, writer options) of one tensor: 1-D tensors (norms, biases) stay f32, as llama.cpp expects."""
    if data.ndim <= 1 or dtype == "f32":
        return data.astype(np.float32), {}
    block = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0]
    if dtype == "f16" or data.shape[-1] % block:  # rows that do not split into Q8_0 blocks stay f16
        return data.astype(np.float16), {}
    quantized = gguf.quants.quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    return quantized, {"raw_dtype": gguf.GGMLQuantizationType.Q8_0}


def _rope_theta(config: Any) -> float:
    parameters = getattr(config, "rope_parameters", None) or {}
    return float(parameters.get("rope_theta", 10000.0))


_CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ .Response }}"
)


def ollama_modelfile(gguf_name: str, system: str | None = None, chatml: bool = False) -> str:
    """An Ollama Modelfile for the exported file: greedy decoding, as clinreason's own predictions, and
    the student's system prompt and chat format (ChatML for SmolLM2 and Qwen2.5)."""
    lines = [f"FROM ./{gguf_name}", "PARAMETER temperature 0", "PARAMETER num_ctx 2048"]
    if chatml:
        lines += [f'TEMPLATE """{_CHATML}"""', 'PARAMETER stop "<|im_end|>"']
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"
