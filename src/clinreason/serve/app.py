"""The HTTP API of a served student (FastAPI): `POST /v1/diagnose`, `GET /v1/model`, `/healthz`, `/readyz`.

Bound to 127.0.0.1 by default (`clinreason serve`). With a token in the environment variable the
settings name, `/v1/*` need `Authorization: Bearer <token>`. Bodies above `max_body_bytes` get 413;
bad patients get 422 with the path of each problem; an internal failure gets 500 with a request id
and no stack trace (the trace goes to the server's log). CORS is off (no CORS headers are sent).
Patient data never reaches the log.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from clinreason import __version__
from clinreason.evaluate.claims import check_claims
from clinreason.evaluate.decision import apply_rule
from clinreason.pipeline.card import StudentCard
from clinreason.records.schema import PatientRecord
from clinreason.serve.batching import MicroBatcher
from clinreason.serve.inputs import InputError, Problem, to_record
from clinreason.serve.model import ModelCard, ServedModel

__all__ = ["DiagnoseRequest", "DiagnoseResponse", "ServeSettings", "create_app"]

log = logging.getLogger(__name__)

EXAMPLE: dict[str, Any] = {"patient": {"age": 50, "sex": "female", "findings": {"glucose_2h": 171, "bmi": 35.1}}}


class ServeSettings(BaseModel):
    max_batch: int = Field(default=8, ge=1, description="Patients answered together at most.")
    max_wait_ms: float = Field(default=5.0, ge=0, description="How long a request waits for others to batch with.")
    max_patients: int = Field(default=64, ge=1, description="Patients one request may hold.")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_new_tokens: int = Field(default=256, ge=8, description="Longest rationale.")
    token_env: str = Field(default="CLINREASON_SERVE_TOKEN", description="Bearer token variable (unset: no check).")


class DiagnoseRequest(BaseModel):
    patient: dict[str, Any] | None = Field(default=None, description="One patient: flat form or PatientRecord.")
    patients: list[dict[str, Any]] | None = Field(default=None, description="Several patients.")
    rationale: bool = Field(default=True, description="Write the rationale (rationale students only).")

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})


class ClaimOut(BaseModel):
    kind: str
    finding: str | None
    stated: str
    record: str | None = Field(description="What the input says about it.")
    verdict: str = Field(description="supported, wrong or unsupported (against this request's input).")


class Diagnosis(BaseModel):
    id: str
    label: str = Field(description="Under the decision rule fitted on the validation split (argmax without one).")
    argmax_label: str
    probabilities: dict[str, float]
    rationale: str | None = None
    stated: str | None = Field(default=None, description="The diagnosis the rationale states.")
    rationale_agrees: bool | None = Field(
        default=None,
        description="Whether the rationale's stated diagnosis is `label`; false means the decision rule moved the "
        "answer away from what the rationale argues (show both to a clinician). None when no diagnosis is stated.",
    )
    claims: list[ClaimOut] = Field(default_factory=list)
    batch_size: int = Field(description="Patients answered in the same batch.")
    queued_ms: float
    batch_ms: float


class DiagnoseResponse(BaseModel):
    model: str
    version: str
    results: list[Diagnosis]
    total_ms: float


@dataclass(frozen=True)
class _Job:
    record: PatientRecord
    rationale: bool


def _answer(model: ServedModel, settings: ServeSettings, jobs: Sequence[_Job]) -> list[Diagnosis]:
    """One batch through `predict` (those asking for a rationale together), then the rule and the claims."""
    import numpy as np

    from clinreason.student.predict import predict

    out: dict[int, Diagnosis] = {}
    labels = model.cohort.labels
    for wants in (False, True):
        indices = [i for i, job in enumerate(jobs) if job.rationale == wants]
        if not indices:
            continue
        predictions = predict(
            model.student,
            model.cohort,
            [jobs[i].record for i in indices],
            model.objective,  # type: ignore[arg-type]
            with_rationale=wants,
            max_new_tokens=settings.max_new_tokens,
            batch_size=settings.max_batch,
        )
        matrix = np.array([[p.probabilities[label] for label in labels] for p in predictions])
        ruled = apply_rule(model.rule, matrix) if model.rule is not None else [p.predicted for p in predictions]
        for i, prediction, label in zip(indices, predictions, ruled, strict=True):
            claims = []
            if prediction.rationale:
                report = check_claims(
                    prediction.rationale, jobs[i].record, categories=model.categories, reference_text=model.sheet
                )
                claims = [
                    ClaimOut(kind=c.kind, finding=c.finding, stated=c.stated, record=c.actual, verdict=c.verdict)
                    for c in report.claims
                ]
            out[i] = Diagnosis(
                id=jobs[i].record.id,
                label=label,
                argmax_label=prediction.predicted,
                probabilities=prediction.probabilities,
                rationale=prediction.rationale,
                stated=prediction.stated,
                rationale_agrees=None if prediction.stated is None else prediction.stated == label,
                claims=claims,
                batch_size=len(jobs),
                queued_ms=0.0,
                batch_ms=0.0,
            )
    return [out[i] for i in range(len(jobs))]


def create_app(model: ServedModel, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    batcher: MicroBatcher[_Job, Diagnosis] = MicroBatcher(
        lambda jobs: _answer(model, settings, jobs), settings.max_batch, settings.max_wait_ms / 1000
    )
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        batcher.start()
        state["ready"] = True
        yield
        state["ready"] = False
        await batcher.stop()

    app = FastAPI(
        title="clinreason student",
        version=__version__,
        description=f"{model.card.model_id}: {model.card.intended_use}",
        lifespan=lifespan,
    )

    def authorised(request: Request) -> None:
        token = os.environ.get(settings.token_env)
        if not token:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and secrets.compare_digest(given[7:].encode(), token.encode())):
            raise _Unauthorised

    @app.middleware("http")
    async def limit_size(request: Request, call_next: Any) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return JSONResponse({"detail": f"body over {settings.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(_UnauthorisedError)
    async def unauthorised(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "missing or wrong bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        return JSONResponse({"detail": [p.model_dump() for p in exc.problems]}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.error(
            "request %s %s failed (reference %s): %s", request.method, request.url.path, reference, type(exc).__name__
        )
        log.debug("reference %s", reference, exc_info=exc)
        return JSONResponse({"detail": f"internal error (reference {reference}); see the server log"}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = state["ready"]
        return JSONResponse({"ready": ready, "model": model.card.model_id}, status_code=200 if ready else 503)

    @app.get("/v1/model", response_model=StudentCard | ModelCard, dependencies=[Depends(authorised)])
    async def model_card() -> StudentCard | ModelCard:
        return model.card

    @app.post("/v1/diagnose", response_model=DiagnoseResponse, dependencies=[Depends(authorised)])
    async def diagnose(body: DiagnoseRequest) -> DiagnoseResponse:
        started = time.perf_counter()
        if (body.patient is None) == (body.patients is None):
            raise InputError([Problem(loc=["body"], msg="give exactly one of 'patient' or 'patients'")])
        given = [body.patient] if body.patient is not None else list(body.patients or [])
        if not given:
            raise InputError([Problem(loc=["body", "patients"], msg="no patient given")])
        if len(given) > settings.max_patients:
            raise InputError([Problem(loc=["body", "patients"], msg=f"at most {settings.max_patients} patients")])
        where = "patient" if body.patient is not None else "patients"
        records, problems = [], []
        for index, patient in enumerate(given):
            at: list[str | int] = ["body", where] if body.patient is not None else ["body", where, index]
            try:
                records.append(
                    to_record(
                        patient,
                        model.templates,
                        model.categories,
                        at,
                        f"patient-{index + 1}",
                        model.codes,
                        model.limits,
                        model.age_limits,
                    )
                )
            except InputError as exc:
                problems.extend(exc.problems)
        if problems:
            raise InputError(problems)
        wants = body.rationale and model.objective != "label"
        served = await batcher.submit([_Job(record, wants) for record in records])
        results = [
            s.result.model_copy(update={"batch_size": s.batch_size, "queued_ms": s.queued_ms, "batch_ms": s.batch_ms})
            for s in served
        ]
        return DiagnoseResponse(
            model=model.card.model_id,
            version=__version__,
            results=results,
            total_ms=(time.perf_counter() - started) * 1000,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(
            {"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]},
            status_code=422,
        )

    return app


class _UnauthorisedError(Exception):
    pass


_Unauthorised = _UnauthorisedError()
