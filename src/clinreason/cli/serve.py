"""`clinreason serve`: a trained student behind an HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clinreason.cli.app import app, err_console, user_errors


@app.command()
@user_errors
def serve(
    path: Annotated[
        Path, typer.Argument(help="A run folder, a student checkpoint in one (…/students/X/best), or an export.")
    ],
    student: Annotated[str | None, typer.Option(help="Which of the run's students (default: the first).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    max_batch: Annotated[int, typer.Option(min=1, help="Patients answered together at most.")] = 8,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="How long a request waits to batch with others.")] = 5.0,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding a bearer token (unset: no token needed).")
    ] = "CLINREASON_SERVE_TOKEN",
    engine: Annotated[
        str, typer.Option(help="torch, or llamacpp for an export made with --format gguf (the student on llama.cpp).")
    ] = "torch",
    speculation: Annotated[
        str,
        typer.Option(
            help="llamacpp: none, ngram or ngram_map (drafts copied from the prompt, verified by the model): "
            "one rationale sooner, less throughput with many at once (docs/benchmarks.md)."
        ),
    ] = "none",
    draft_tokens: Annotated[int, typer.Option(min=1, max=64, help="Tokens drafted per step.")] = 8,
    ngram: Annotated[int, typer.Option(min=1, max=16, help="Tokens matched to find a draft.")] = 2,
) -> None:
    """Serve a trained student: POST /v1/diagnose, GET /v1/model, /healthz, /readyz (docs/serving.md)."""
    import uvicorn

    from clinreason.errors import ConfigError
    from clinreason.serve import ServeSettings, create_app, load_served
    from clinreason.teacher.speculation import Speculation

    if engine not in ("torch", "llamacpp"):
        raise ConfigError(f"--engine must be torch or llamacpp, got {engine!r}")
    if speculation not in ("none", "ngram", "ngram_map"):
        raise ConfigError(f"--speculation must be none, ngram or ngram_map, got {speculation!r}")
    if speculation != "none" and engine != "llamacpp":
        raise ConfigError("--speculation applies to --engine llamacpp")
    chosen = Speculation(kind=speculation, draft_tokens=draft_tokens, ngram=ngram)  # type: ignore[arg-type]
    model = load_served(path, student, engine=engine, speculation=chosen)  # type: ignore[arg-type]
    settings = ServeSettings(max_batch=max_batch, max_wait_ms=max_wait_ms, token_env=token_env)
    err_console.print(f"serving {model.card.model_id} on http://{host}:{port} (OpenAPI: /docs)", highlight=False)
    uvicorn.run(create_app(model, settings), host=host, port=port, log_level="warning", access_log=False)


@app.command()
@user_errors
def export(
    run: Annotated[Path, typer.Argument(help="A finished run folder (or a student checkpoint in one).")],
    out: Annotated[Path, typer.Option(help="An empty or new folder for the export.")],
    student: Annotated[str | None, typer.Option(help="Which of the run's students (default: the first).")] = None,
    format: Annotated[
        str, typer.Option("--format", help="pytorch, or gguf to add the student as a GGUF file for llama.cpp / Ollama.")
    ] = "pytorch",
    quant: Annotated[str, typer.Option(help="GGUF weights: f32, f16 or q8_0 (with --format gguf).")] = "f16",
) -> None:
    """A self-contained folder of one student (weights, tokenizer, cohort spec, decision rule, card,
    checksums) that `serve` and `predict` load without the run folder."""
    from clinreason.errors import ConfigError
    from clinreason.serve.export import export_student

    if format not in ("pytorch", "gguf"):
        raise ConfigError(f"--format must be pytorch or gguf, got {format!r}")
    folder = export_student(run, out, student, gguf=quant if format == "gguf" else None)  # type: ignore[arg-type]
    err_console.print(f"exported to {folder} (serve it with `clinreason serve {folder}`)", highlight=False)
