"""CERS reasoning text per image: Texture / Boundary / Context / Summary, under 128 tokens.

The teacher gets the measured lesion descriptors as a fact sheet (`cers-reasoning` prompt) and writes
the four steps. Generations go through the same SQLite cache as every teacher output, so a rerun asks
nothing twice. `rule_reasoning` writes the same four steps from the descriptors with fixed sentences:
it is the offline fallback when no LLM teacher is wanted (`--teacher rules`) and for images the teacher
never answered in the format (counted in the result, never silent).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clinreason.teacher.backend import Message, Sampling, TeacherBackend
from clinreason.teacher.cache import TeacherCache, cached_chat, retry_sampling
from clinreason.teacher.prompts import PromptTemplate
from clinreason.vision.data import Slice2D
from clinreason.vision.descriptors import LesionDescriptors

REASONING_PROMPT = "cers-reasoning"
STEPS = ("Texture", "Boundary", "Context", "Summary")
STEP = re.compile(r"^\W*(texture|boundary|context|summary)\W*\s*[:\-]\s*(.+)$", re.IGNORECASE)
MAX_WORDS = 96  # ~128 tokens of English text


@dataclass(frozen=True)
class Reasoning:
    steps: dict[str, str]
    problem: str | None = None

    def text(self) -> str:
        return "\n".join(f"{step}: {self.steps.get(step, '')}" for step in STEPS)


def image_data_url(image: Slice2D) -> str:
    """The slice as a PNG data URL (OpenAI-style `image_url` content) for a vision-capable teacher."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.clip(image.image, 0, 1).T * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def messages_for(
    template: PromptTemplate, image: Slice2D, descriptors: LesionDescriptors, *, with_image: bool = False
) -> list[Message]:
    """With `with_image`, the user turn also carries the slice itself (for a vision-capable server);
    the descriptors stay in the text either way."""
    values = {
        "modality": image.modality,
        "anatomy": image.anatomy,
        "target": image.target,
        "descriptors": descriptors.fact_sheet(),
    }
    text = template.fill("user", **values)
    content: str | list[dict[str, object]] = text
    if with_image:
        content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": image_data_url(image)}}]
    return [
        {"role": "system", "content": template.fill("system")},
        {"role": "user", "content": content},
    ]


def parse_reasoning(text: str) -> Reasoning:
    steps: dict[str, str] = {}
    for line in text.splitlines():
        match = STEP.match(line.strip().replace("**", ""))
        if match:
            steps.setdefault(match.group(1).capitalize(), match.group(2).strip())
    missing = [s for s in STEPS if not steps.get(s)]
    if missing:
        return Reasoning(steps, f"missing step(s): {', '.join(missing)}")
    words = sum(len(v.split()) for v in steps.values())
    if words > MAX_WORDS:
        return Reasoning(steps, f"{words} words, over the ~128-token limit")
    return Reasoning(steps)


def rule_reasoning(image: Slice2D, d: LesionDescriptors) -> str:
    if not d.present:
        return "\n".join(
            [
                f"Texture: No region stands out from the {image.anatomy} tissue.",
                "Boundary: No lesion boundary is seen.",
                f"Context: The {image.modality} image shows {image.anatomy} without a {image.target}.",
                f"Summary: No {image.target} is expected in this image.",
            ]
        )
    sheet = d.fact_sheet()
    texture = "homogeneous" if "homogeneous" in sheet else "heterogeneous"
    relative = "brighter than" if d.contrast > 0.03 else "darker than" if d.contrast < -0.03 else "similar to"
    edge = (
        "sharp" if d.boundary_sharpness >= 1.5 else "moderately defined" if d.boundary_sharpness >= 1.0 else "blurred"
    )
    shape = "round" if d.circularity >= 0.75 else "lobulated" if d.circularity >= 0.45 else "irregular"
    size = "small" if d.area_fraction < 0.01 else "medium" if d.area_fraction < 0.05 else "large"
    return "\n".join(
        [
            f"Texture: A {texture} region {relative} the surrounding tissue.",
            f"Boundary: The margin is {edge} and the outline {shape}.",
            f"Context: A {size} {image.target} in the {d.location} part of the {image.anatomy}, "
            f"seen on {image.modality}.",
            f"Summary: Segment the {texture}, {edge}, {shape} region that is {relative} its surroundings.",
        ]
    )


@dataclass
class ReasoningRun:
    texts: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # id -> "teacher" | "rules"
    generated: int = 0
    cached: int = 0
    fallback: int = 0
    imported: int = 0  # generations added to the cache from a shipped seed before asking the teacher
    problems: dict[str, list[str]] = field(default_factory=dict)


def generate_reasoning(
    images: Sequence[Slice2D],
    descriptors: dict[str, LesionDescriptors],
    template: PromptTemplate,
    backend: TeacherBackend | None,
    cache: TeacherCache | None,
    *,
    sampling: Sampling | None = None,
    max_attempts: int = 2,
    retry_temperature: float = 0.7,
    with_image: bool = False,
    on_result: Callable[[str], None] | None = None,
) -> ReasoningRun:
    """Teacher reasoning per image (cached); images without a usable answer get `rule_reasoning`.
    A teacher error (BackendError) stops the run and propagates: finished answers are in the cache."""
    run = ReasoningRun()
    sampling = sampling or Sampling(max_tokens=192)
    for image in images:
        d = descriptors[image.id]
        text = None
        if backend is not None and cache is not None:
            messages = messages_for(template, image, d, with_image=with_image)
            for attempt in range(1, max_attempts + 1):
                settings = retry_sampling(sampling, attempt, retry_temperature)
                completion, _, from_cache = cached_chat(  # BackendError propagates
                    backend,
                    cache,
                    template.id,
                    messages,
                    settings,
                    cohort=image.case_id,
                    record_id=image.id,
                    attempt=attempt,
                )
                run.cached += from_cache
                run.generated += not from_cache
                parsed = parse_reasoning(completion.text)
                if parsed.problem is None:
                    text = parsed.text()
                    break
                run.problems.setdefault(image.id, []).append(parsed.problem)
        if text is None:
            text = rule_reasoning(image, d)
            run.source[image.id] = "rules"
            run.fallback += backend is not None
        else:
            run.source[image.id] = "teacher"
        run.texts[image.id] = text
        if on_result is not None:
            on_result(image.id)
    return run


def teacher_reasoning(
    teacher: str,
    images: Sequence[Slice2D],
    descriptors: dict[str, LesionDescriptors],
    *,
    base_url: str | None = None,
    with_image: bool = False,
    backend: TeacherBackend | None = None,
    on_result: Callable[[str], None] | None = None,
    seed: Path | None = None,
    cache_path: Path | None = None,
) -> ReasoningRun:
    """Reasoning for `images` from a run's teacher: 'rules' (the descriptor sentences) or backend:model,
    connected to the teacher cache (`cache_path`, default the shared one; `backend` replaces the one the
    spec names, e.g. a test double). A `seed` (generations exported from the cache) is imported first,
    so that whatever it answers is not asked again."""
    from clinreason.teacher import TeacherConfig, connect, load_prompt

    template = load_prompt(REASONING_PROMPT)
    if teacher == "rules":
        return generate_reasoning(images, descriptors, template, None, None, on_result=on_result)
    with connect(TeacherConfig.from_spec(teacher, base_url=base_url), cache_path, backend=backend) as session:
        imported = session.cache.import_jsonl(seed) if seed is not None else 0
        run = generate_reasoning(
            images, descriptors, template, session.backend, session.cache, with_image=with_image, on_result=on_result
        )
    run.imported = imported
    return run
