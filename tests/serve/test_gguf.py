"""GGUF export: llama.cpp reads the written file and computes what PyTorch computes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinreason.errors import CheckpointError, ConfigError
from clinreason.serve.gguf import ollama_modelfile, write_gguf
from clinreason.student.model import prepare
from conftest import make_tiny_llama
from doubles import Server

PROMPT = "A 50-year-old woman has a plasma glucose of 171 mg/dL and a BMI of 35.1."


def _tiny_qwen2(tokenizer: Any) -> Any:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        initializer_range=0.1,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(config)


def _server(path: Path) -> Any:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(path)
    params.n_ctx = 512
    params.verbosity = -1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    # an f32 key/value cache, so that only the file's weights can make llama.cpp differ from PyTorch
    params.cache_type_k = params.cache_type_v = xlc.ggml_type.GGML_TYPE_F32
    return xlc.Server(params)


def _torch_next(student: Any, ids: list[int], k: int = 5) -> list[tuple[int, float]]:
    import torch

    with torch.inference_mode():
        logprobs = torch.log_softmax(student.model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
    top = torch.topk(logprobs, k)
    return list(zip(top.indices.tolist(), top.values.tolist(), strict=True))


@pytest.mark.parametrize(
    ("arch", "dtype", "tolerance"),
    [("llama", "f32", 2e-3), ("qwen2", "f32", 2e-3), ("llama", "f16", 0.05), ("llama", "q8_0", 0.1)],
)
def test_llama_cpp_reads_the_file_and_agrees_with_pytorch(
    tmp_path: Path, tokenizer: Any, arch: str, dtype: str, tolerance: float
) -> None:
    from clinreason.student.data import prompt_ids

    model = (
        make_tiny_llama(tokenizer, initializer_range=0.1, tie_word_embeddings=False)
        if arch == "llama"
        else _tiny_qwen2(tokenizer)
    )
    student = prepare(model, tokenizer, name="tiny", device="cpu")
    path = write_gguf(student, tmp_path / "tiny.gguf", dtype)  # type: ignore[arg-type]
    assert path.stat().st_mode & 0o777 == 0o600
    ids = prompt_ids(tokenizer, PROMPT, "causal")
    reply = _server(path).handle_completions(
        {"prompt": ids, "n_predict": 8, "temperature": 0, "n_probs": 5, "cache_prompt": False}
    )
    first = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    expected = _torch_next(student, ids)
    assert [entry["id"] for entry in first][:3] == [token for token, _ in expected][:3]
    for entry, (_, logprob) in zip(first, expected, strict=True):
        assert math.isclose(entry["logprob"], logprob, abs_tol=tolerance), (entry, logprob)
    if dtype == "f32":  # greedy continuation, token for token
        import torch

        with torch.inference_mode():
            out = student.model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False)
        assert [e["id"] for e in reply["choices"][0]["logprobs"]["content"]] == out[0, len(ids) :].tolist()


@pytest.mark.parametrize("speculation", ["none", "ngram"])
def test_the_llama_cpp_engine_writes_and_scores_as_pytorch(tmp_path: Path, tokenizer: Any, speculation: str) -> None:
    from clinreason.serve.llamacpp import LlamaCppStudent
    from clinreason.student.predict import generate, option_probabilities_batch
    from clinreason.teacher.speculation import Speculation

    student = prepare(make_tiny_llama(tokenizer, initializer_range=0.1), tokenizer, name="tiny", device="cpu")
    engine = LlamaCppStudent(
        write_gguf(student, tmp_path / "tiny.gguf", "f32"),
        tokenizer,
        slots=2,
        speculation=Speculation(kind=speculation),  # type: ignore[arg-type]
    )  # n-gram drafts are verified by the model: the greedy text must not change
    prompts = [PROMPT, "A 31-year-old man with a BMI of 22.0 and a glucose of 92 mg/dL."]
    texts = engine.generate_texts(prompts, max_new_tokens=10)
    assert all(texts) and texts == generate(student, prompts, max_new_tokens=10)
    prefixes = ["Final Diagnosis: ", f"{texts[1]}\n\nFinal Diagnosis: "]
    expected = option_probabilities_batch(student, prompts, prefixes, ["A", "B", "C"])
    for mine, theirs in zip(engine.score_options(prompts, prefixes, ["A", "B", "C"]), expected, strict=True):
        assert sum(mine) == pytest.approx(1.0)
        assert mine == pytest.approx(theirs, abs=2e-3)
    sampled = engine.generate_texts(prompts[:1], max_new_tokens=10, samples=2, seed=3)
    assert len(sampled) == 2 and sampled == engine.generate_texts(prompts[:1], max_new_tokens=10, samples=2, seed=3)


def test_refusals_name_the_reason(tmp_path: Path, tokenizer: Any) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = prepare(
        GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=len(tokenizer))), tokenizer, name="g"
    )
    with pytest.raises(ConfigError, match="cannot write a 'gpt2' model as GGUF"):
        write_gguf(gpt2, tmp_path / "g.gguf")
    llama = prepare(make_tiny_llama(tokenizer), tokenizer, name="t")
    with pytest.raises(ConfigError, match="must be one of"):
        write_gguf(llama, tmp_path / "t.gguf", "q4")  # type: ignore[arg-type]


def test_ollama_modelfile_carries_the_chat_format_and_greedy_decoding() -> None:
    text = ollama_modelfile("student.gguf", "You are a clinical assistant.", chatml=True)
    assert text.startswith("FROM ./student.gguf\n") and "PARAMETER temperature 0" in text
    assert "<|im_start|>assistant" in text and 'SYSTEM """You are a clinical assistant."""' in text


@pytest.mark.slow
def test_an_export_with_gguf_serves_on_llama_cpp_as_on_pytorch(run_folder: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clinreason.cli import app
    from clinreason.records import load_cohort
    from clinreason.serve import create_app
    from clinreason.serve.export import load_exported, verify_export
    from clinreason.student.predict import predict

    out = tmp_path / "export"
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(run_folder),
            "--out",
            str(out),
            "--student",
            "rationale_then_label",
            "--format",
            "gguf",
            "--quant",
            "f32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert {"student.gguf", "Modelfile"} <= set(verify_export(out).files)
    torch_model = load_exported(out)
    cpp_model = load_exported(out, engine="llamacpp")
    records = load_cohort("pima-diabetes").records[:4]
    options = {"max_new_tokens": 12, "with_rationale": True}
    expected = predict(torch_model.student, torch_model.cohort, records, "rationale_then_label", **options)
    served = predict(cpp_model.student, cpp_model.cohort, records, "rationale_then_label", **options)
    for mine, theirs in zip(served, expected, strict=True):
        assert mine.text == theirs.text
        for label, probability in theirs.probabilities.items():
            assert math.isclose(mine.probabilities[label], probability, abs_tol=2e-3), (mine, theirs)
    with Server(create_app(cpp_model)) as url:
        reply = httpx.post(
            f"{url}/v1/diagnose",
            json={"patient": {"age": 50, "findings": {"glucose_2h": 171, "bmi": 35.1}}},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        assert set(reply.json()["results"][0]["probabilities"]) == set(cpp_model.cohort.labels)


def test_serving_a_run_on_llama_cpp_says_how_to_export(tmp_path: Path) -> None:
    from clinreason.serve import load_served

    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError, match="--format gguf"):
        load_served(tmp_path, engine="llamacpp")


@pytest.mark.slow
def test_an_export_without_gguf_refuses_the_llama_cpp_engine(run_folder: Path, tmp_path: Path) -> None:
    from clinreason.serve.export import export_student, load_exported

    out = export_student(run_folder, tmp_path / "plain", "label")
    with pytest.raises(CheckpointError, match="export again with --format gguf"):
        load_exported(out, engine="llamacpp")
