"""`python train_process.py OUT_DIR`: the tests' tiny Llama trained on the toy cohort (a checkpoint after
every step), in its own process so that a test can kill it with SIGKILL and start it again. The final
weights go to OUT_DIR/final.pt."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # as pytest's pythonpath setting does


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(out_dir: Path) -> None:
    import logging

    import torch

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the test reads "resumed at step"
    from transformers import AutoTokenizer

    from clinreason.student.config import TrainConfig
    from clinreason.student.data import build_examples
    from clinreason.student.model import prepare
    from clinreason.student.train import train
    from clinreason.teacher.models import resolve_gguf

    shared = _module(TESTS / "conftest.py", "tests_conftest")
    student_fixtures = _module(TESTS / "student" / "conftest.py", "student_conftest")
    gguf = resolve_gguf("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = shared.make_tiny_llama(
        tokenizer, max_position_embeddings=1024, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True
    )
    student = prepare(model, tokenizer, name="tiny-llama", device="cpu")
    cohort = student_fixtures.make_toy_cohort()
    rationales = student_fixtures.make_toy_rationales(cohort)
    examples = build_examples(cohort, cohort.records[:16], "label", rationales)
    validation = build_examples(cohort, cohort.records[16:], "label", rationales)
    config = TrainConfig(
        objective="label", epochs=3, learning_rate=1e-2, batch_size=4, warmup_ratio=0.0, precision="fp32",
        eval_every=1, patience=10, max_length=256,
    )  # fmt: skip
    train(student, examples, validation, config, out_dir)
    torch.save({k: v.detach().clone() for k, v in student.model.state_dict().items()}, out_dir / "final.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
