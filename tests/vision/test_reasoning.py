from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clinreason.teacher import Completion, Sampling, TeacherCache, load_prompt
from clinreason.teacher.backend import Message
from clinreason.vision.data import Slice2D
from clinreason.vision.descriptors import describe
from clinreason.vision.reasoning import generate_reasoning, messages_for, parse_reasoning, rule_reasoning


def _disc(size: int = 32, radius: int = 5, blur: bool = False) -> Slice2D:
    yy, xx = np.mgrid[:size, :size]
    mask = (yy - 16) ** 2 + (xx - 16) ** 2 <= radius**2
    image = np.where(mask, 0.8, 0.2).astype(np.float32)
    if blur:
        from scipy import ndimage

        image = ndimage.gaussian_filter(image, 2.0)
    return Slice2D("d1", "d", image, mask, (0.5, 0.5), "MRI", "brain", "brain tumour")


def test_descriptors_of_a_disc() -> None:
    s = _disc()
    d = describe(s.image, s.mask, s.spacing)
    area = int(s.mask.sum())  # 81 pixels of 0.25 mm2
    assert d.present and d.components == 1 and d.area_mm2 == pytest.approx(area * 0.25)
    assert d.mean_intensity == pytest.approx(0.8) and d.std_intensity == pytest.approx(0.0, abs=1e-6)
    assert d.contrast == pytest.approx(0.6) and d.location == "central"
    assert d.elongation == pytest.approx(1.0, abs=0.05)
    blurred = _disc(blur=True)
    assert describe(blurred.image, blurred.mask).boundary_sharpness < d.boundary_sharpness
    assert not describe(s.image, np.zeros_like(s.mask)).present


def test_prompt_carries_the_descriptors_and_parse_checks_four_steps() -> None:
    s = _disc()
    d = describe(s.image, s.mask, s.spacing)
    system, user = messages_for(load_prompt("cers-reasoning"), s, d)
    assert "Modality: MRI. Anatomy: brain. Target: brain tumour." in user["content"]
    assert "the lesion is brighter (contrast +0.60)" in user["content"]
    good = "Texture: bright.\n**Boundary:** sharp.\nContext: centre of the brain.\nSummary: a bright round mass."
    assert parse_reasoning(good).problem is None and parse_reasoning(good).steps["Boundary"] == "sharp."
    assert parse_reasoning("Texture: x\nBoundary: y").problem == "missing step(s): Context, Summary"
    assert "over the ~128-token limit" in (parse_reasoning(good.replace("sharp.", "very " * 120)).problem or "")
    rules = rule_reasoning(s, d)
    assert parse_reasoning(rules).problem is None and "brighter than" in rules


class Scripted:
    kind, model_id, max_concurrency = "scripted", "cers-v1", 1

    def __init__(self) -> None:
        self.calls = 0

    def check(self) -> None: ...

    def close(self) -> None: ...

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        self.calls += 1
        if "no lesion" in messages[-1]["content"]:
            return Completion(text="I see nothing to describe.", completion_tokens=5)
        return Completion(text="Texture: a.\nBoundary: b.\nContext: c.\nSummary: d.", completion_tokens=9)


def test_generation_is_cached_and_falls_back_to_rules_visibly(tmp_path: Path) -> None:
    lesion = _disc()
    empty = Slice2D("e1", "e", lesion.image, np.zeros_like(lesion.mask), (1.0, 1.0), "MRI", "brain", "brain tumour")
    images = [lesion, empty]
    descriptors = {s.id: describe(s.image, s.mask, s.spacing) for s in images}
    backend = Scripted()
    with TeacherCache(tmp_path / "c.sqlite") as cache:
        run = generate_reasoning(images, descriptors, load_prompt("cers-reasoning"), backend, cache, max_attempts=2)
        again = generate_reasoning(images, descriptors, load_prompt("cers-reasoning"), backend, cache, max_attempts=2)
    assert run.source == {"d1": "teacher", "e1": "rules"} and run.fallback == 1
    assert run.texts["d1"].startswith("Texture: a.") and run.texts["e1"].startswith("Texture: No region")
    assert run.problems["e1"] == ["missing step(s): Texture, Boundary, Context, Summary"] * 2
    assert (run.generated, backend.calls, again.generated, again.cached) == (3, 3, 0, 3)


def test_a_vision_teacher_gets_the_slice_as_a_png_next_to_the_descriptors() -> None:
    import base64
    import io

    from PIL import Image

    s = _disc()
    _, user = messages_for(load_prompt("cers-reasoning"), s, describe(s.image, s.mask), with_image=True)
    text, picture = user["content"]
    assert text["type"] == "text" and "Measured lesion descriptors" in text["text"]
    url = picture["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert decoded.shape == (32, 32) and decoded[16, 16] == round(0.8 * 255) and decoded[0, 0] == round(0.2 * 255)


def test_a_shipped_seed_answers_the_teacher_for_the_slices_it_covers(tmp_path: Path) -> None:
    """Reasoning exported from one cache (one prompt, these slices only) and imported as a seed into a
    fresh cache: the teacher is not asked again for the slices the seed covers."""
    from clinreason.vision.reasoning import REASONING_PROMPT, teacher_reasoning

    lesion = _disc()
    other = Slice2D("d2", "d", lesion.image * 0.9, lesion.mask, (0.5, 0.5), "MRI", "brain", "brain tumour")
    descriptors = {s.id: describe(s.image, s.mask, s.spacing) for s in (lesion, other)}
    first = Scripted()
    made = teacher_reasoning("gguf:cers-v1", [lesion, other], descriptors, backend=first, cache_path=tmp_path / "a")
    assert first.calls == 2 and made.imported == 0
    seed = tmp_path / "seed.jsonl.gz"
    with TeacherCache(tmp_path / "a") as cache:
        cache.put("k", backend="x", model="y", prompt="kwon-rationalize", messages=[], sampling=Sampling(),
                  completion=Completion(text="another prompt's"), record_id="d1")  # fmt: skip
        assert cache.export_jsonl(seed, prompt=load_prompt(REASONING_PROMPT).id, record_ids={"d1"}) == 1
    again = Scripted()
    run = teacher_reasoning(
        "gguf:cers-v1", [lesion, other], descriptors, backend=again, cache_path=tmp_path / "b", seed=seed
    )
    assert run.imported == 1 and again.calls == 1 and (run.cached, run.generated) == (1, 1)
    assert run.texts == made.texts
