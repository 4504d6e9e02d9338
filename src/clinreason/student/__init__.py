"""The student: any causal or seq2seq Hugging Face model, trained to give the diagnosis and a rationale
(Accelerate; checkpoints, selection on validation, exact resume), and its predictions. The multimodal
student (ClinRaGen) adds time-series tokens and knowledge-augmented attention.

Names load on first use (torch is imported only then)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinreason._lazy import lazy_exports

# Imported at once: these functions share their module's name, and a loaded submodule would otherwise
# stand where the function is expected (`clinreason.student.train` the module, not the function).
from clinreason.student.predict import predict
from clinreason.student.train import train

_EXPORTS = {
    "Student": "clinreason.student.model",
    "load_student": "clinreason.student.model",
    "DEFAULT_STUDENT": "clinreason.student.model",
    "Example": "clinreason.student.data",
    "Objective": "clinreason.student.data",
    "build_examples": "clinreason.student.data",
    "LoraSettings": "clinreason.student.config",
    "TrainConfig": "clinreason.student.config",
    "TrainResult": "clinreason.student.train",
    "EvalPoint": "clinreason.student.train",
    "CheckpointMeta": "clinreason.student.checkpoint",
    "load_checkpoint": "clinreason.student.checkpoint",
    "Prediction": "clinreason.student.predict",
    "MultimodalStudent": "clinreason.student.multimodal_model",
    "MultimodalPrediction": "clinreason.student.sequential",
    "train_stage": "clinreason.student.sequential",
    "predict_multimodal": "clinreason.student.sequential",
}

__all__ = [
    "CheckpointMeta",
    "DEFAULT_STUDENT",
    "EvalPoint",
    "Example",
    "LoraSettings",
    "MultimodalPrediction",
    "MultimodalStudent",
    "Objective",
    "Prediction",
    "Student",
    "TrainConfig",
    "TrainResult",
    "build_examples",
    "load_checkpoint",
    "load_student",
    "predict",
    "predict_multimodal",
    "train",
    "train_stage",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from clinreason.student.checkpoint import CheckpointMeta, load_checkpoint
    from clinreason.student.config import LoraSettings, TrainConfig
    from clinreason.student.data import Example, Objective, build_examples
    from clinreason.student.model import DEFAULT_STUDENT, Student, load_student
    from clinreason.student.multimodal_model import MultimodalStudent
    from clinreason.student.predict import Prediction
    from clinreason.student.sequential import MultimodalPrediction, predict_multimodal, train_stage
    from clinreason.student.train import EvalPoint, TrainResult
